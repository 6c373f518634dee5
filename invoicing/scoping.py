"""Entity (主体) scoping: a user limited to some entities sees and touches nothing of the others.

Used by every face: the admin (``EntityScopedAdminMixin``), the API, exports and file links.
Fail closed: a staff user without an ``EntityScope`` row sees no entity's data.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from invoicing.models import EntityScope, Taxpayer

MaybeUser: TypeAlias = User | AnonymousUser | None  # request.user, a service's actor, or nobody
_QS = TypeVar("_QS", bound=QuerySet[Any])
_CACHE_ATTRIBUTE = "_fapiao_entity_ids"  # the user object remembers its scope for the request


def allowed_taxpayer_ids(user: MaybeUser) -> set[int] | None:
    """The ids of the entities ``user`` may act on, or ``None`` meaning all of them."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser:
        return None
    if hasattr(user, _CACHE_ATTRIBUTE):
        cached: set[int] | None = getattr(user, _CACHE_ATTRIBUTE)
        return cached
    if User.entity_scope.is_cached(user):  # the scope row is already loaded: an all-entities scope costs nothing
        scope: EntityScope | None = user.entity_scope
        if scope is not None and scope.all_entities:
            setattr(user, _CACHE_ATTRIBUTE, None)
            return None
    # One query: the scope's flag with each of its entities (a scope without entities gives one row, id NULL).
    rows = list(EntityScope.objects.filter(user_id=user.pk).values_list("all_entities", "taxpayers__id"))
    result: set[int] | None
    if not rows:
        result = set()
    elif rows[0][0]:
        result = None
    else:
        result = {taxpayer_id for _all, taxpayer_id in rows if taxpayer_id is not None}
    setattr(user, _CACHE_ATTRIBUTE, result)
    return result


def scope_queryset(qs: _QS, user: MaybeUser, field: str = "taxpayer") -> _QS:
    """Filter ``qs`` to rows whose ``field`` (a path to a Taxpayer FK) the user may see."""
    ids = allowed_taxpayer_ids(user)
    if ids is None:
        return qs
    if field in ("", "pk", "id"):
        return qs.filter(pk__in=ids)
    return qs.filter(**{f"{field}__in": ids})


def allowed_taxpayers(user: MaybeUser) -> QuerySet[Taxpayer]:
    return scope_queryset(Taxpayer.objects.all(), user, field="pk")


def user_may_act_on(user: MaybeUser, taxpayer_id: int | None) -> bool:
    ids = allowed_taxpayer_ids(user)
    return ids is None or (taxpayer_id is not None and taxpayer_id in ids)


def example_entity(user: MaybeUser) -> Taxpayer | None:
    """The entity a downloadable template's example row names: the first one the user may see, or ``None`` (the
    example then leaves it blank). Never another entity's name or tax id (a user limited to some entities sees
    nothing of the others anywhere)."""
    return allowed_taxpayers(user).order_by("pk").first()
