from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField

from invoicing import formatting
from invoicing.channels.connection import channel_connection_check
from invoicing.channels.signals import channel_switch_refusals
from invoicing.events import action_label, events_for
from invoicing.models import Counterparty, EntityScope, Event, Item, NotificationPreference, TaxCategory, Taxpayer
from invoicing.roles import BUSINESS_APPS
from invoicing.scoping import allowed_taxpayer_ids, allowed_taxpayers, scope_queryset

if TYPE_CHECKING:
    from django.db.models.fields.related import ForeignKey, RelatedField
    from django.forms import ModelChoiceField
    from django_stubs_ext import StrOrPromise

    # The mixins below are used with ModelAdmin (for mypy they are one, at run time plain classes in front of it).
    _ModelAdminBase = admin.ModelAdmin[Any]
else:
    _ModelAdminBase = object

_T = TypeVar("_T")

AdminColumn = Callable[[Any, models.Model], str]
"""A list or detail column made by the helpers below: a method of the ModelAdmin that shows one object's value."""


def _verbose_name(model: type[models.Model], name: str) -> StrOrPromise:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):  # a reverse relation: nothing of this object to show
        raise FieldDoesNotExist(f"{model._meta.label}.{name} is not a field of its own")
    return field.verbose_name


def _relation_choices(field: RelatedField[Any, Any], **options: Any) -> list[tuple[str, StrOrPromise]]:
    """``field.get_choices(include_blank=False, ...)``: a list of (primary key, label), as the list filter wants.

    The stubs type get_choices for any field (blank iterators, grouped choices), hence the cast: a relation without
    a blank choice answers one flat list.
    """
    return cast(list[tuple[str, "StrOrPromise"]], field.get_choices(include_blank=False, **options))


class CappedCountPaginator(Paginator[_T]):
    """Counts at most ``CAP`` rows, so a changelist over a million invoices never runs a full COUNT.

    Past the cap the list shows the first ``CAP`` rows' worth of pages; filters and search narrow it further.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet):
            # SELECT COUNT(*) FROM (SELECT id … LIMIT cap): stops after cap rows whatever the table's size.
            return qs.order_by().values("pk")[: self.CAP].count()
        return super().count


def _number_column(kind: str, model: type[models.Model], field: str,
                   description: StrOrPromise | None = None) -> AdminColumn:
    formatter = formatting.FORMATTERS[kind]

    def display(self: object, obj: models.Model) -> str:
        return formatter(getattr(obj, field, None))

    # The column's name starts with its kind: the admin's CSS right-aligns "money_…" and keeps every number on one
    # line (templates/admin/base_site.html, invoicing/static/invoicing/admin.css).
    display.__name__ = f"{kind}_{field}"
    if description is None:
        description = _verbose_name(model, field)
    ordering = field if any(f.name == field for f in model._meta.concrete_fields) else None
    return admin.display(description=description, ordering=ordering)(display)


def money_column(model: type[models.Model], field: str, description: StrOrPromise | None = None) -> AdminColumn:
    """A list column for an amount: 12,720.00, right-aligned. Use as ``money_total = money_column(Invoice, "total")``
    in the ModelAdmin and list ``"money_total"`` in ``list_display``. ``field`` may be an annotation (then give
    ``description``)."""
    return _number_column("money", model, field, description)


def rate_column(model: type[models.Model], field: str, description: StrOrPromise | None = None) -> AdminColumn:
    """A list column for a rate: 6%."""
    return _number_column("rate", model, field, description)


def person_column(field: str, description: StrOrPromise) -> AdminColumn:
    """A list column for a user: their name (李客服), not their login."""

    def display(self: object, obj: models.Model) -> str:
        user = getattr(obj, field, None)
        return formatting.person_name(user) if user is not None else "-"

    display.__name__ = f"person_{field}"
    return admin.display(description=description, ordering=field)(display)


def may_open_in_admin(request: HttpRequest, model: type[models.Model]) -> bool:
    """Whether ``request.user`` may open ``model``'s pages in the admin (its registered admin's view permission)."""
    model_admin = admin.site._registry.get(model)
    return model_admin is not None and model_admin.has_view_permission(request)


def admin_change_link(request: HttpRequest, model: type[models.Model], pk: Any, text: Any) -> str:
    """``text`` linked to ``model`` #``pk``'s admin page when the user may open it, else ``text`` alone: a link that
    answers 403 is a dead end (an expense reviewer reads an invoice's sources, not the collection batches)."""
    if not may_open_in_admin(request, model):
        return format_html("{}", text)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text)


def flag_column(model: type[models.Model], field: str) -> AdminColumn:
    """A yes-only flag for a detail page: 是 when set, nothing when not (a red ✖ for "not red" or "not auto-approved"
    reads as an error)."""

    def display(self: object, obj: models.Model) -> str:
        return gettext("是") if getattr(obj, field) else ""

    display.__name__ = f"flag_{field}"
    return admin.display(description=_verbose_name(model, field), ordering=field)(display)


class AdminRequest(HttpRequest):
    """The request of a view the admin site wraps (``admin_site.admin_view``): only an active staff user gets in, so
    ``request.user`` is a user row, never AnonymousUser (the stubs' pattern for views behind a login)."""

    user: User


_Child = TypeVar("_Child", bound=models.Model)
_Parent = TypeVar("_Parent", bound=models.Model)


class ReadOnlyAdminMixin:
    """Rows that only services write: the admin shows them and adds, changes and deletes none (Django then drops
    the delete action too)."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ReadonlyInline(admin.TabularInline[_Child, _Parent]):
    """Lines shown on a parent's page that only its services write."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: _Parent | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _Parent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _Parent | None = None) -> bool:
        return False


class EntityListFilter(admin.RelatedFieldListFilter):
    """A 主体 filter that offers only the entities the user may see (the stock one lists every entity).

    Registered below as the filter of every relation to Taxpayer: any admin's ``list_filter = ("taxpayer",)`` (or a
    path ending in one, ``"invoice__taxpayer"``) gets it, whether or not the admin is an ``EntityScopedAdminMixin``.
    """

    def field_choices(self, field: RelatedField[Any, Any], request: HttpRequest,
                      model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        ordering = self.field_admin_ordering(field, request, model_admin)
        ids = allowed_taxpayer_ids(request.user)
        if ids is None:
            return _relation_choices(field, ordering=ordering)
        return _relation_choices(field, ordering=ordering, limit_choices_to={"pk__in": ids})


# Ahead of Django's own: a plain field name in any admin's ``list_filter`` that leads to a Taxpayer is scoped (the
# entities' names are data of their own; a user limited to one entity must not read the others' in a filter).
admin.FieldListFilter.register(
    lambda field: field.is_relation and field.related_model is Taxpayer, EntityListFilter, take_priority=True
)


class EntityScopedAdminMixin(_ModelAdminBase):
    """Limit a ModelAdmin to the entities (主体) the user may see, in lists, forms and choices.

    ``entity_field`` is the lookup path from the model to its Taxpayer (``"taxpayer"`` by default).
    """

    entity_field = "taxpayer"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_queryset(super().get_queryset(request), request.user, self.entity_field)

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest,
                                 **kwargs: Any) -> ModelChoiceField[Any] | None:
        if db_field.related_model is Taxpayer:
            kwargs["queryset"] = allowed_taxpayers(request.user)
        elif db_field.related_model is not None and any(
            f.related_model is Taxpayer for f in db_field.related_model._meta.get_fields() if f.name == "taxpayer"
        ):
            kwargs["queryset"] = scope_queryset(db_field.related_model._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _state_labels(obj: models.Model) -> dict[str, str]:
    """The object's status codes → their (translated) labels, so the trail reads 待审核 → 审核中, not codes."""
    return _state_labels_of(type(obj))


# States an app records in a model's events beyond its own fields (a received invoice's rule outcome, its
# verification result): model → (code, label) pairs, added by ``state_labels_register``.
_EXTRA_STATE_LABELS: dict[type[models.Model], list[tuple[str, StrOrPromise]]] = {}


def state_labels_register(model: type[models.Model], choices: Iterable[tuple[str, StrOrPromise]]) -> None:
    """Name more state codes in ``model``'s audit trail (empty codes are skipped: they read as "no state")."""
    _EXTRA_STATE_LABELS.setdefault(model, []).extend((str(code), label) for code, label in choices if code)


def _state_labels_of(model: type[models.Model]) -> dict[str, str]:
    """The labels of the model's ``status`` field and of every other state machine field it has (a received
    invoice moves its review state and its use state), over those registered for it, over those of its other fields
    with choices (a rule's change records its severity). A code named twice reads as the state field names it, else
    as registered."""
    labels: dict[str, str] = {}
    state_fields = [f for f in model._meta.concrete_fields if f.name == "status" or isinstance(f, FSMField)]
    other_fields = [f for f in model._meta.concrete_fields if f.choices and f not in state_fields]
    for field in other_fields:
        labels.update({str(code): str(label) for code, label in _flat_choices(field)})
    labels.update({code: str(label) for code, label in _EXTRA_STATE_LABELS.get(model, [])})
    for field in state_fields:
        labels.update({str(code): str(label) for code, label in _flat_choices(field)})
    return labels


def _flat_choices(field: models.Field[Any, Any]) -> list[tuple[Any, Any]]:
    return list(getattr(field, "flatchoices", None) or field.choices or [])


def state_words(labels: dict[str, str], code: str) -> str:
    """An event's state in words. No state reads as "-", even where the model names an empty value (a seller's
    status "" is 未核实, but a blacklisting's empty "from" means "not on the list", not "not verified")."""
    if not code:
        return "-"
    return labels.get(code, code)


class EventsReadonlyMixin:
    """Adds a read-only ``events_table`` field: the object's audit trail, newest first.

    Put ``"events_table"`` in ``readonly_fields`` and in a fieldset.
    """

    @admin.display(description=_("事件记录"))
    def events_table(self, obj: models.Model | None) -> str:
        if obj is None or obj.pk is None:
            return "-"
        labels = _state_labels(obj)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            (
                (formatting.local_time(e.created_at, seconds=True), e.who, action_label(e.action),
                 state_words(labels, e.from_state), state_words(labels, e.to_state), e.reason)
                for e in events_for(obj)[:200]
            ),
        )
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("时间"), _("操作方"), _("动作"), _("状态"), _("原因"),
        )
        return format_html('<table class="fapiao-events">{}{}</table>', header, rows)


class TaxpayerForm(forms.ModelForm[Taxpayer]):
    """The entity's form: its channel changes only when nothing is in flight on the current platform (the apps say
    what, ``invoicing.channels.signals``)."""

    class Meta:
        model = Taxpayer
        fields = ("name", "short_name", "credit_code", "taxpayer_type", "region_code", "is_active", "address", "phone",
                  "bank_name", "bank_account", "drawer", "reviewer", "payee", "single_invoice_limit",
                  "max_lines_per_invoice", "channel", "channel_app_key", "channel_secret", "channel_operator")

    def clean_channel(self) -> str:
        channel = str(self.cleaned_data["channel"])
        if self.instance.pk and channel != self.instance.channel:  # the instance still holds the stored value here
            reasons = channel_switch_refusals(self.instance)
            if reasons:
                raise ValidationError(reasons)
        return channel


@admin.register(Taxpayer)
class TaxpayerAdmin(EntityScopedAdminMixin, admin.ModelAdmin[Taxpayer]):
    form = TaxpayerForm
    entity_field = "pk"
    list_display = ("name", "credit_code", "taxpayer_type", "region_code", "channel", "is_active")
    list_filter = ("taxpayer_type", "channel", "is_active")
    search_fields = ("name", "credit_code", "short_name")
    fieldsets = (
        (None, {"fields": ("name", "short_name", "credit_code", "taxpayer_type", "region_code", "is_active")}),
        (_("地址与银行"), {"fields": ("address", "phone", "bank_name", "bank_account")}),
        (_("开票设置"), {"fields": ("drawer", "reviewer", "payee", "single_invoice_limit", "max_lines_per_invoice")}),
        (_("开票通道"), {"fields": ("channel", "channel_app_key", "channel_secret", "channel_operator")}),
    )
    actions = ("test_connection",)
    max_connection_tests = 20  # each one is a call to the platform, with its time-outs

    def has_delete_permission(self, request: HttpRequest, obj: Taxpayer | None = None) -> bool:
        return False

    @admin.action(description=_("测试连接"), permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Taxpayer]) -> None:
        """Each selected entity's channel settings tried against its platform (``channel_connection_check``), one
        message per entity in words: never the secret nor the platform's own message."""
        chosen = list(queryset.order_by("pk")[: self.max_connection_tests + 1])
        if len(chosen) > self.max_connection_tests:
            self.message_user(request, gettext("一次最多测试 %(n)d 个主体，请少选一些") % {"n": self.max_connection_tests},
                              messages.ERROR)
            return
        for taxpayer in chosen:
            check = channel_connection_check(taxpayer=taxpayer)
            self.message_user(
                request,
                gettext("%(entity)s（%(channel)s）：%(outcome)s")
                % {"entity": taxpayer, "channel": taxpayer.get_channel_display(), "outcome": check.words},
                messages.SUCCESS if check.ok else messages.ERROR,
            )


@admin.register(Counterparty)
class CounterpartyAdmin(EntityScopedAdminMixin, admin.ModelAdmin[Counterparty]):
    list_display = ("name", "kind", "tax_id", "taxpayer", "email", "mobile", "is_active")
    list_filter = ("kind", "taxpayer", "is_active")
    search_fields = ("name", "tax_id", "code", "email", "mobile")
    list_select_related = ("taxpayer",)


@admin.register(Item)
class ItemAdmin(EntityScopedAdminMixin, admin.ModelAdmin[Item]):
    list_display = ("code", "name", "spec", "unit", "tax_category", "tax_rate", "taxpayer", "is_active")
    list_filter = ("taxpayer", "tax_rate", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("taxpayer", "tax_category")
    raw_id_fields = ("tax_category",)


@admin.register(TaxCategory)
class TaxCategoryAdmin(admin.ModelAdmin[TaxCategory]):
    list_display = ("code", "name", "short_name", "is_summary", "is_active", "allowed_rates")
    list_filter = ("is_summary", "is_active")
    search_fields = ("code", "name", "short_name", "keywords")
    raw_id_fields = ("parent",)
    show_full_result_count = False


class EventActionFilter(admin.SimpleListFilter):
    """动作, in words."""

    title = _("动作")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        codes = model_admin.get_queryset(request).order_by("action").values_list("action", flat=True).distinct()
        return [(code, action_label(code)) for code in codes[:200]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


class EventContentTypeFilter(admin.RelatedFieldListFilter):
    """对象类型: only the business apps' models (not the framework's own tables)."""

    def field_choices(self, field: RelatedField[Any, Any], request: HttpRequest,
                      model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        return _relation_choices(field, ordering=("app_label", "model"),
                                 limit_choices_to={"app_label__in": BUSINESS_APPS})


@admin.register(Event)
class EventAdmin(EntityScopedAdminMixin, admin.ModelAdmin[Event]):
    list_display = ("created_at", "who_display", "taxpayer", "content_type", "object_id", "action_display",
                    "from_state_display", "to_state_display", "reason")
    list_filter = (EventActionFilter, ("content_type", EventContentTypeFilter), "taxpayer")
    search_fields = ("object_id", "reason", "actor__username", "actor_label")
    list_select_related = ("actor", "taxpayer", "content_type")
    date_hierarchy = "created_at"
    show_full_result_count = False
    # the detail page in words too: who, the action and the states as the list shows them, not their codes
    fields = ("created_at", "who_display", "taxpayer", "content_type", "object_id", "action_display",
              "from_state_display", "to_state_display", "reason", "data")
    readonly_fields = ("who_display", "action_display", "from_state_display", "to_state_display")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    @admin.display(description=_("操作方"), ordering="actor")
    def who_display(self, obj: Event) -> str:
        return obj.who

    @admin.display(description=_("动作"), ordering="action")
    def action_display(self, obj: Event) -> str:
        return action_label(obj.action)

    @staticmethod
    def _state(obj: Event, code: str) -> str:
        model = obj.content_type.model_class()
        return state_words(_state_labels_of(model) if model is not None else {}, code)

    @admin.display(description=_("原状态"), ordering="from_state")
    def from_state_display(self, obj: Event) -> str:
        return self._state(obj, obj.from_state)

    @admin.display(description=_("新状态"), ordering="to_state")
    def to_state_display(self, obj: Event) -> str:
        return self._state(obj, obj.to_state)


class EntityScopeInline(admin.StackedInline[EntityScope, User]):
    model = EntityScope
    can_delete = False
    filter_horizontal = ("taxpayers",)
    verbose_name_plural = _("可操作主体")


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    inlines = (EntityScopeInline,)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin[NotificationPreference]):
    """我的通知设置: every signed-in staff user edits their own settings, and only theirs; the list opens the user's
    own page (made on first visit, off by default)."""

    fields = ("daily_digest", "language")

    def _own(self, request: HttpRequest, obj: NotificationPreference | None = None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and (obj is None or obj.user_id == user.pk))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own(request)

    def has_view_permission(self, request: HttpRequest, obj: NotificationPreference | None = None) -> bool:
        return self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: NotificationPreference | None = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: NotificationPreference | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationPreference]:
        return super().get_queryset(request).filter(user_id=cast(int, request.user.pk))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self._own(request):
            raise PermissionDenied
        if request.GET:  # a filtered list (only the user's own row): the lookup guard answers a refused filter
            return super().changelist_view(request, extra_context)
        pref, _created = NotificationPreference.objects.get_or_create(user_id=cast(int, request.user.pk))
        return HttpResponseRedirect(reverse("admin:invoicing_notificationpreference_change", args=[pref.pk]))

    def response_change(self, request: HttpRequest, obj: NotificationPreference) -> HttpResponse:
        self.message_user(request, gettext("通知设置已保存"), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:invoicing_notificationpreference_change", args=[obj.pk]))


from invoicing.channels import admin as _channel_admin  # noqa: E402,F401  (registers the integration log admin)
from invoicing.intake import admin as _job_admin  # noqa: E402,F401  (registers the jobs list)
