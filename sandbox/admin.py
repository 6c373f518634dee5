"""The sandbox in the admin: accounts with their fault switches, the ledger (read-only), red forms, quotas, clock.

Finance sees the demo accounts and may switch their faults; administrators see every account and its key.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from invoicing.admin import money_column
from invoicing.channels.admin import is_administrator
from invoicing.formatting import local_time
from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayer_ids
from sandbox import clock, faults, services
from sandbox.models import (
    FaultProfile,
    LedgerInvoice,
    LedgerLine,
    LedgerQuota,
    LedgerRedForm,
    LedgerRedFormLine,
    SandboxAccount,
    SandboxClock,
)


class FaultProfileInline(admin.StackedInline):
    model = FaultProfile
    can_delete = False
    extra = 0
    fields = ("enabled", "session_dropped", "latency_ms", "error_rate", "timeout_before_rate", "timeout_after_rate",
              "duplicate_reply_rate", "rate_limit_per_second", "seed", "draws")
    readonly_fields = ("draws",)


def _advance(hours: int):  # noqa: ANN202
    # format_lazy: the description is translated when the changelist shows it, not once at import.
    description = format_lazy(ngettext_lazy("沙箱时钟前进 {hours} 小时", "沙箱时钟前进 {hours} 小时", hours), hours=hours)

    @admin.action(description=description, permissions=["change"])
    def action(modeladmin, request, queryset):
        now = clock.advance(hours=hours)
        text = ngettext("沙箱时钟已前进 %(h)d 小时，现在是 %(now)s", "沙箱时钟已前进 %(h)d 小时，现在是 %(now)s", hours)
        modeladmin.message_user(request, text % {"h": hours, "now": local_time(now, seconds=True)}, messages.SUCCESS)

    action.__name__ = f"advance_clock_{hours}h"
    return action


def entity_codes(user) -> list[str] | None:
    """The credit codes of the entities ``user`` may see (None: all). The platform knows taxpayers by code."""
    ids = allowed_taxpayer_ids(user)
    if ids is None:
        return None
    return list(Taxpayer.objects.filter(pk__in=ids).values_list("credit_code", flat=True))


class AccountListFilter(admin.RelatedFieldListFilter):
    """The 销方账户 filter: only the accounts the user may see (demo accounts of the user's entities)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        if is_administrator(request.user):
            return field.get_choices(include_blank=False, ordering=ordering)
        limit = {"is_demo": True}
        codes = entity_codes(request.user)
        if codes is not None:
            limit["credit_code__in"] = codes
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=limit)


@admin.register(SandboxAccount)
class SandboxAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "credit_code", "region_code", "issue_delay_seconds", "is_demo", "faults_on",
                    "session_dropped", "is_active")
    list_filter = ("is_demo", "is_active", "fault__enabled")
    search_fields = ("name", "credit_code")
    inlines = [FaultProfileInline]
    actions = ["faults_clear", "session_drop", "session_restore", _advance(1), _advance(24), _advance(72)]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("fault")
        if is_administrator(request.user):
            return qs
        codes = entity_codes(request.user)
        qs = qs.filter(is_demo=True)
        return qs if codes is None else qs.filter(credit_code__in=codes)

    def get_fields(self, request, obj=None):
        fields = ["credit_code", "name", "region_code", "channel_digit", "issue_delay_seconds", "monthly_quota",
                  "is_demo", "is_active"]
        if is_administrator(request.user):
            fields[2:2] = ["app_key", "secret"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not is_administrator(request.user):
            return ("credit_code", "name", "region_code", "channel_digit", "is_demo")
        return ()

    def has_add_permission(self, request):
        return is_administrator(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description=_("故障注入"))
    def faults_on(self, obj):
        return bool(getattr(obj, "fault", None) and obj.fault.enabled)

    @admin.display(boolean=True, description=_("会话掉线"))
    def session_dropped(self, obj):
        return bool(getattr(obj, "fault", None) and obj.fault.session_dropped)

    @admin.action(description=_("关闭所选账户的全部故障"), permissions=["change"])
    def faults_clear(self, request, queryset):
        for account in queryset:
            faults.profile_clear(account=account)
        n = queryset.count()
        self.message_user(request, ngettext("已关闭 %(n)d 个账户的故障注入", "已关闭 %(n)d 个账户的故障注入", n) % {"n": n},
                          messages.SUCCESS)

    @admin.action(description=_("模拟税局会话掉线"), permissions=["change"])
    def session_drop(self, request, queryset):
        for account in queryset:
            faults.profile_set(account=account, enabled=True, session_dropped=True)
        n = queryset.count()  # a warning on purpose: issuing for these accounts now fails until restored
        self.message_user(request, ngettext("%(n)d 个账户的会话已掉线", "%(n)d 个账户的会话已掉线", n) % {"n": n},
                          messages.WARNING)

    @admin.action(description=_("恢复税局会话"), permissions=["change"])
    def session_restore(self, request, queryset):
        for account in queryset:
            faults.profile_set(account=account, session_dropped=False)
        n = queryset.count()
        self.message_user(request, ngettext("%(n)d 个账户的会话已恢复", "%(n)d 个账户的会话已恢复", n) % {"n": n},
                          messages.SUCCESS)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerLineInline(ReadOnlyMixin, admin.TabularInline):
    model = LedgerLine
    fields = ("line_no", "item_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_rate", "tax",
              "tax_code", "line_property", "red_amount")
    readonly_fields = fields
    extra = 0


class SandboxScopedMixin:
    """Finance sees the ledger of demo accounts only, and of those only its own entities' (by credit code)."""

    account_path = "account"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if is_administrator(request.user):
            return qs
        qs = qs.filter(**{f"{self.account_path}__is_demo": True})
        codes = entity_codes(request.user)
        return qs if codes is None else qs.filter(**{f"{self.account_path}__credit_code__in": codes})


@admin.register(LedgerInvoice)
class LedgerInvoiceAdmin(SandboxScopedMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("number", "serial", "kind", "issue_state", "status", "seller_name", "buyer_name", "total_amount",
                    "total_tax", "issued_at", "is_red", "buyer_booked", "buyer_usage")
    list_filter = ("issue_state", "status", "kind", "is_red", ("account", AccountListFilter))
    search_fields = ("number", "serial", "buyer_name", "buyer_tax_id")
    list_select_related = ("account",)
    inlines = [LedgerLineInline]
    actions = ["mark_booked", "mark_usage_confirmed", "mark_buyer_unconfirmed"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LedgerInvoice._meta.concrete_fields]

    def has_mark_permission(self, request):
        return request.user.has_perm("sandbox.change_ledgerinvoice")

    @admin.action(description=_("模拟购方入账确认（红冲需购方确认）"), permissions=["mark"])
    def mark_booked(self, request, queryset):
        count = 0
        for inv in queryset.exclude(number=None):
            services.invoice_mark_booked(number=inv.number)
            count += 1
        skipped = queryset.count() - count
        text = ngettext("%(n)d 张发票已标记为购方已入账", "%(n)d 张发票已标记为购方已入账", count) % {"n": count}
        if skipped:  # not issued on the platform: no number to mark
            text += gettext("；") + ngettext("%(n)d 张尚无发票号码，未标记", "%(n)d 张尚无发票号码，未标记", skipped) % {"n": skipped}
        self.message_user(request, text, messages.WARNING if skipped or not count else messages.SUCCESS)

    def _set_buyer_status(self, request, queryset, *, booked: bool | None, usage: str, done) -> None:
        count = 0
        for inv in queryset.exclude(number=None).filter(is_red=False):
            services.invoice_set_buyer_status(number=inv.number, booked=booked if booked is not None else inv.buyer_booked,
                                              usage=usage)
            count += 1
        self.message_user(request, done % {"n": count})

    @admin.action(description=_("模拟购方用途确认（勾选抵扣，可部分红冲）"), permissions=["mark"])
    def mark_usage_confirmed(self, request, queryset):
        self._set_buyer_status(request, queryset, booked=None, usage="1",
                               done=gettext("%(n)d 张发票已标记为购方已用途确认（勾选抵扣）"))

    @admin.action(description=_("模拟购方未确认（未用途确认、未入账：只能全额红冲）"), permissions=["mark"])
    def mark_buyer_unconfirmed(self, request, queryset):
        self._set_buyer_status(request, queryset, booked=False, usage="",
                               done=gettext("%(n)d 张发票已标记为购方未用途确认、未入账"))


class RedFormLineInline(ReadOnlyMixin, admin.TabularInline):
    model = LedgerRedFormLine
    fields = ("blue_line_no", "item_name", "quantity", "unit_price", "amount", "tax_rate", "tax")
    readonly_fields = fields
    extra = 0


@admin.register(LedgerRedForm)
class LedgerRedFormAdmin(SandboxScopedMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("form_no", "status", "initiator", "reason", "blue", "total_amount", "total_tax", "created_at",
                    "expires_at", "red_invoice")
    list_filter = ("status", "initiator", "reason")
    search_fields = ("form_no", "blue__number", "seller_credit_code", "buyer_credit_code")
    list_select_related = ("blue", "red_invoice")
    inlines = [RedFormLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LedgerRedForm._meta.concrete_fields]


@admin.register(LedgerQuota)
class LedgerQuotaAdmin(SandboxScopedMixin, admin.ModelAdmin):
    list_display = ("account", "period", "total", "used", "money_remaining")
    list_filter = ("period",)
    readonly_fields = ("account", "period", "used")
    fields = ("account", "period", "total", "used")

    # "money_…": right-aligned like the amounts beside it (invoicing.admin.money_column)
    money_remaining = money_column(LedgerQuota, "remaining", _("剩余额度"))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxClock)
class SandboxClockAdmin(admin.ModelAdmin):
    list_display = ("pk", "offset_seconds", "sandbox_now")
    readonly_fields = ("offset_seconds", "sandbox_now")
    actions = [_advance(1), _advance(24), _advance(72)]

    @admin.display(description=_("沙箱当前时间"))
    def sandbox_now(self, obj):
        return local_time(clock.now(), seconds=True)

    def get_queryset(self, request):
        SandboxClock.objects.get_or_create(pk=1)
        return super().get_queryset(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
