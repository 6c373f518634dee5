"""No changelist filters, searches or orders by a field the user may not read.

Django admin accepts field lookups from the query string (``?target__regex=/i/S``), matches the search box against
``search_fields`` and sorts by ``?o=``. Each of these answers "does any row's hidden value match this?", so a user who
may not read a field could recover it one character at a time. The guard closes the three doors for every
ModelAdmin registered on the site (``FapiaoAdminSite.register`` applies it, so admins added later are covered):

- **Query-string filters** (``lookup_allowed``): an explicit allow-list. Only the parameters of the admin's declared
  ``list_filter`` entries and ``date_hierarchy`` pass (the field path itself plus the plain comparison suffixes the
  stock filters use: ``exact``, ``isnull``, ``gte``…, and ``id``/``pk`` after a relation), and the raw-id popup's
  ``limit_choices_to`` pairs, and the row's own key (``id``, ``id__in``). Anything else (``__regex``, ``__startswith``, any other field, related paths such as
  ``deliveries__target__…``) is refused: Django answers 400 (``DisallowedModelAdminLookup``) and shows no rows.
- **Search** (``get_search_fields``): search fields whose path touches an unreadable field are dropped.
- **Ordering** (``get_sortable_by`` and the changelist's ``o=`` handling): columns ordering by an unreadable field
  are not sortable, and ``o=`` on a non-sortable column is ignored (stock Django only hides the header link).

A field is unreadable when it is a secret, a token, a hash of a secret or a file path for everyone
(``SENSITIVE_FIELDS``, every ``FileField`` and every encrypted field), or when the model's admin says so for this
user (``role_unreadable_fields(request)``, e.g. a delivery's target, which is a customer link, for users who may
not download invoice files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.filters import SimpleListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import Combinable
from django.http import HttpRequest
from django.template.response import TemplateResponse

from invoicing.fields import EncryptedTextField, masked

if TYPE_CHECKING:
    from django.contrib.admin.options import _DisplayT, _FieldGroups, _FieldsetSpec, _ListDisplayT
    from django.contrib.admin.views.main import ChangeList
    from django.utils.datastructures import _ListOrTuple

    # The mixins below sit in front of ChangeList and ModelAdmin (for mypy they are one, at run time plain classes).
    _ChangeListBase = ChangeList
    _ModelAdminBase = admin.ModelAdmin[Any]
else:
    _ChangeListBase = object
    _ModelAdminBase = object

_M = TypeVar("_M", bound=models.Model)

# Secrets, tokens, hashes of secrets and file paths: never a filter, search or sort key, for anyone.
# Keyed by the model's label_lower ("app_label.modelname").
SENSITIVE_FIELDS: dict[str, frozenset[str]] = {
    "invoicing.taxpayer": frozenset({"channel_secret"}),
    "delivery.webhookendpoint": frozenset({"secret"}),
    "delivery.invoicelink": frozenset({"token"}),
    "delivery.invoicefile": frozenset({"file", "sha256"}),
    "delivery.printjob": frozenset({"file"}),
    "receiving.carrier": frozenset({"file", "sha256"}),
    "api.apiclient": frozenset({"hmac_secret", "token_hash", "token_hint"}),
    "api.idempotencyrecord": frozenset({"request_hash", "response_body"}),
    "sandbox.sandboxaccount": frozenset({"secret"}),
    "auth.user": frozenset({"password"}),
    "sessions.session": frozenset({"session_key", "session_data"}),
}

# What may follow a declared filter's field path in a query-string parameter: the comparisons the stock list
# filters generate (choices, booleans, dates, related objects, empty values). No pattern lookups.
MASKED_SUFFIX = "_masked"

SAFE_FILTER_SUFFIXES = frozenset({"exact", "isnull", "isempty", "gte", "lt", "year", "month", "day"})


def sensitive_fields(model: type[models.Model]) -> frozenset[str]:
    """The model's fields that nobody may filter, search or sort by."""
    names = set(SENSITIVE_FIELDS.get(model._meta.label_lower, ()))
    for field in model._meta.concrete_fields:
        if isinstance(field, models.FileField | EncryptedTextField):
            names.add(field.name)
    return frozenset(names)


def unreadable_fields(admin_site: admin.AdminSite, model: type[models.Model], request: HttpRequest) -> frozenset[str]:
    """Fields of ``model`` that the request's user may not read: the sensitive ones and those its admin hides."""
    names = set(sensitive_fields(model))
    model_admin = admin_site._registry.get(model)
    extra = getattr(model_admin, "role_unreadable_fields", None)
    if extra is not None:
        names |= set(extra(request))
    return frozenset(names)


def path_touches_unreadable(admin_site: admin.AdminSite, model: type[models.Model], path: str,
                            request: HttpRequest) -> bool:
    """Whether a lookup path (``a__b__c__regex``) reads an unreadable field on any model it passes through."""
    current = model
    for part in path.split(LOOKUP_SEP):
        if part == "pk":
            part = current._meta.pk.name
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a lookup or transform: the fields are behind us
        if field.name in unreadable_fields(admin_site, current, request):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        current = field.related_model
    return False


def _declared_filter_paths(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> tuple[set[str], set[str]]:
    """(field paths of the declared list filters and date hierarchy, parameter names of custom filters)."""
    paths: set[str] = set()
    parameters: set[str] = set()
    for item in model_admin.get_list_filter(request):
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            if item.parameter_name:  # always: Django refuses a SimpleListFilter without one
                parameters.add(item.parameter_name)
        elif isinstance(item, (list, tuple)):
            if isinstance(item[0], str):
                paths.add(item[0])
        elif isinstance(item, str):
            paths.add(item)
    if model_admin.date_hierarchy:
        paths.add(model_admin.date_hierarchy)
    return paths, parameters


def _own_key_lookups(model: type[models.Model]) -> set[str]:
    """The list of given rows (``?id__in=3,5,8``, where a bulk action lands on what it started): row keys appear in
    every change page's address and the queryset stays scoped, so this tells nothing the user may not read."""
    return {f"{name}{suffix}" for name in ("pk", model._meta.pk.name) for suffix in ("", "__exact", "__in")}


def _suffix_is_safe(model: type[models.Model], path: str, suffix: list[str]) -> bool:
    """``suffix`` (what follows a declared path) is plain comparisons, after at most the related object's key."""
    if not suffix:
        return True
    try:
        last = get_fields_from_path(model, path)[-1]
    except Exception:  # noqa: BLE001 - a broken path is simply not allowed
        return False
    if last.is_relation and last.related_model is not None and suffix[0] in ("id", "pk",
                                                                            last.related_model._meta.pk.name):
        suffix = suffix[1:]
    return len(suffix) <= 1 and all(part in SAFE_FILTER_SUFFIXES for part in suffix)


class GuardedChangeListMixin(_ChangeListBase):
    """``?o=`` sorts only by the columns ``get_sortable_by`` allows (stock Django only hides the other headers)."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self._guard_request = request
        super().__init__(request, *args, **kwargs)

    def get_ordering_field(self, field_name: Callable[..., Any] | str) -> str | Combinable | None:
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        order_field = super().get_ordering_field(field_name)
        if isinstance(order_field, str) and path_touches_unreadable(
            self.model_admin.admin_site, self.model, order_field.lstrip("-"), self._guard_request
        ):
            return None
        return order_field


class LookupGuardMixin(_ModelAdminBase):
    """Applied to every registered ModelAdmin by ``FapiaoAdminSite``; see the module docstring."""

    fapiao_lookup_guard = True

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
                return True
        if lookup in _own_key_lookups(self.model):
            return True
        paths, parameters = _declared_filter_paths(self, request)
        if lookup in parameters:
            return True
        if path_touches_unreadable(self.admin_site, self.model, lookup, request):
            return False
        parts = lookup.split(LOOKUP_SEP)
        for i in range(len(parts), 0, -1):
            path = LOOKUP_SEP.join(parts[:i])
            if path in paths:
                return _suffix_is_safe(self.model, path, parts[i:])
        return False

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            field for field in super().get_search_fields(request)
            if not path_touches_unreadable(self.admin_site, self.model, field.lstrip("^=@"), request)
        ]

    def get_sortable_by(self, request: HttpRequest) -> list[_DisplayT[Any]]:
        columns: Iterable[_DisplayT[Any]] = super().get_sortable_by(request)
        return [column for column in columns if not self._orders_by_unreadable(column, request)]

    def _orders_by_unreadable(self, column: _DisplayT[Any], request: HttpRequest) -> bool:
        if callable(column):
            order = getattr(column, "admin_order_field", None)
        else:
            try:
                order = self.model._meta.get_field(column).name
            except FieldDoesNotExist:
                attr = getattr(self, column, None) or getattr(self.model, column, None)
                if isinstance(attr, property):
                    attr = attr.fget
                order = getattr(attr, "admin_order_field", None) if attr is not None else column
        return isinstance(order, str) and path_touches_unreadable(self.admin_site, self.model, order.lstrip("-"),
                                                                  request)

    # --- secrets: write-only in forms (the field's widget), masked wherever they would be displayed ---------------

    def _encrypted_fields(self) -> dict[str, EncryptedTextField]:
        return {f.name: f for f in self.model._meta.concrete_fields if isinstance(f, EncryptedTextField)}

    def _encrypted_names(self) -> set[str]:
        return set(self._encrypted_fields())

    def _masked_names(self, request: HttpRequest, obj: models.Model | None) -> set[str]:
        """Encrypted fields shown read-only here (view-only users, declared read-only): shown masked instead."""
        names = self._encrypted_names()
        if not names:
            return set()
        may_edit = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if not may_edit:
            return names
        return names & set(super().get_readonly_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        declared = list(super().get_readonly_fields(request, obj))
        masked = self._masked_names(request, obj)
        if not masked:
            return declared
        swapped = [f"{name}{MASKED_SUFFIX}" if name in masked else name for name in declared]
        return swapped + [f"{name}{MASKED_SUFFIX}" for name in sorted(masked) if f"{name}{MASKED_SUFFIX}" not in swapped]

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> _FieldsetSpec:
        fieldsets = super().get_fieldsets(request, obj)
        masked = self._masked_names(request, obj)
        if not masked:
            return fieldsets
        return [(title, {**options, "fields": _swap_names(options.get("fields", ()), masked)})
                for title, options in fieldsets]

    def get_list_display(self, request: HttpRequest) -> _ListDisplayT[Any]:
        encrypted = self._encrypted_names()
        columns = super().get_list_display(request)
        if not encrypted:
            return columns
        return [f"{c}{MASKED_SUFFIX}" if isinstance(c, str) and c in encrypted else c for c in columns]

    def __getattr__(self, name: str) -> Callable[[models.Model], str]:
        if name.endswith(MASKED_SUFFIX) and "model" in self.__dict__:
            field_name = name[: -len(MASKED_SUFFIX)]
            field = self._encrypted_fields().get(field_name)
            if field is not None:
                def display(obj: models.Model) -> str:
                    return masked(getattr(obj, field_name)) or "-"

                return admin.display(description=field.verbose_name)(display)
        raise AttributeError(name)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        base = super().get_changelist(request, **kwargs)
        if issubclass(base, GuardedChangeListMixin):
            return base
        return type(f"Guarded{base.__name__}", (GuardedChangeListMixin, base), {})


def _swap_names(fields: _FieldGroups, names: set[str]) -> list[str | _ListOrTuple[str]]:
    """``fields`` (a fieldset's names, possibly nested in rows) with ``names`` replaced by their masked display."""
    out: list[str | _ListOrTuple[str]] = []
    seen: set[str] = set()
    for item in fields:
        if isinstance(item, (list, tuple)):
            row = tuple(f"{n}{MASKED_SUFFIX}" if n in names else n for n in item)
            out.append(row)
            seen.update(row)
            continue
        new = f"{item}{MASKED_SUFFIX}" if item in names else item
        if new not in seen:
            out.append(new)
            seen.add(new)
    return out


def guarded(admin_class: type[admin.ModelAdmin[_M]]) -> type[admin.ModelAdmin[_M]]:
    """``admin_class`` with the lookup guard in front of it (itself if it already has it)."""
    if issubclass(admin_class, LookupGuardMixin):
        return admin_class
    return type(admin_class.__name__, (LookupGuardMixin, admin_class),
                {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__,
                 "__doc__": admin_class.__doc__})


class FapiaoAdminSite(admin.AdminSite):
    """The project's admin site: every ModelAdmin registered on it gets the lookup guard; its home shows the
    dashboard's number cards and charts (``invoicing.dashboard``) above the app list."""

    index_template = "admin/fapiao_index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        # cycle: the dashboard reads the role groups (auth models), which load after the admin's default site.
        from invoicing.dashboard import dashboard_cards, dashboard_charts

        user = getattr(request, "user", None)
        context = {"dashboard_cards": dashboard_cards(user), "dashboard_charts": dashboard_charts(user),
                   **(extra_context or {})}
        return super().index(request, context)

    def register(self, model_or_iterable: type[_M] | Iterable[type[_M]],
                 admin_class: type[admin.ModelAdmin[_M]] | None = None, **options: Any) -> None:
        return super().register(model_or_iterable, guarded(admin_class or admin.ModelAdmin), **options)

