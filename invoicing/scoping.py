"""Entity (主体) scoping: a user limited to some entities sees and touches nothing of the others.

Used by every face: the admin (``EntityScopedAdminMixin``), the API, exports and file links.
Fail closed: a staff user without an ``EntityScope`` row sees no entity's data.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from invoicing.models import EntityScope, Taxpayer


def allowed_taxpayer_ids(user: Any) -> set[int] | None:
    """The ids of the entities ``user`` may act on, or ``None`` meaning all of them."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser:
        return None
    cached = getattr(user, "_fapiao_entity_ids", "unset")
    if cached != "unset":
        return cached
    try:
        scope = user.entity_scope
    except EntityScope.DoesNotExist:
        result: set[int] | None = set()
    else:
        result = None if scope.all_entities else set(scope.taxpayers.values_list("id", flat=True))
    user._fapiao_entity_ids = result
    return result


def scope_queryset(qs: QuerySet, user: Any, field: str = "taxpayer") -> QuerySet:
    """Filter ``qs`` to rows whose ``field`` (a path to a Taxpayer FK) the user may see."""
    ids = allowed_taxpayer_ids(user)
    if ids is None:
        return qs
    if field in ("", "pk", "id"):
        return qs.filter(pk__in=ids)
    return qs.filter(**{f"{field}__in": ids})


def allowed_taxpayers(user: Any) -> QuerySet[Taxpayer]:
    return scope_queryset(Taxpayer.objects.all(), user, field="pk")


def user_may_act_on(user: Any, taxpayer_id: int | None) -> bool:
    ids = allowed_taxpayer_ids(user)
    return ids is None or (taxpayer_id is not None and taxpayer_id in ids)
