"""The queue of 红字确认单 against invoices in our pool: the supplier's forms waiting for us, first the ones closest
to their 72-hour deadline, with confirm / reject buttons (and bulk actions) over ``receiving.redforms``; our own
forms as the buyer beside them. The countdown reads the platform's deadline; the pull (periodic, or the button on
the list) records what the platform decided.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import (
    AdminRequest,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadOnlyAdminMixin,
    ReadonlyInline,
    money_column,
)
from invoicing.admin_messages import error_text, item_error, report_rows
from invoicing.channels import ChannelError
from invoicing.scoping import allowed_taxpayers
from receiving import redforms
from receiving.models import ReceivedInvoice, ReceivedRedForm, ReceivedRedFormLine, ReceivedRedFormState

S = ReceivedRedFormState


class QueueFilter(admin.SimpleListFilter):
    title = _("队列")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("mine", gettext("待我方确认")), ("theirs", gettext("待销方确认")), ("open", gettext("未完成")),
                ("due", gettext("24小时内到期"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ReceivedRedForm]) -> QuerySet[ReceivedRedForm]:
        if self.value() == "mine":
            return queryset.filter(status=S.SELLER_ENTERED, initiator="seller")
        if self.value() == "theirs":
            return queryset.filter(status=S.BUYER_ENTERED, initiator="buyer")
        if self.value() == "open":
            return queryset.filter(status__in=(S.SUBMITTING, *redforms.WAITING))
        if self.value() == "due":
            return queryset.filter(redforms.received_red_form_due_soon_q(timezone.now()))
        return queryset


class LineInline(ReadonlyInline[ReceivedRedFormLine, ReceivedRedForm]):
    model = ReceivedRedFormLine
    fields = ("blue_line_no", "item_name", "quantity", "amount", "tax_rate", "tax")
    readonly_fields = fields


@admin.register(ReceivedRedForm)
class ReceivedRedFormAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin,
                           admin.ModelAdmin[ReceivedRedForm]):
    list_display = ("number_display", "invoice_link", "seller", "initiator", "reason", "money_total", "status",
                    "countdown_display", "red_invoice_number", "taxpayer")
    list_filter = (QueueFilter, "status", "initiator", "taxpayer")
    search_fields = ("=form_no", "=invoice__number", "invoice__seller_name")
    search_help_text = _("按确认单编号、蓝字发票号码或销售方名称查找")
    list_select_related = ("taxpayer", "invoice")
    inlines = (LineInline,)
    actions = ["confirm_selected", "reject_selected"]
    change_form_template = "admin/receiving/receivedredform/change_form.html"
    change_list_template = "admin/receiving/receivedredform/change_list.html"
    fieldsets = (
        (None, {"fields": ("taxpayer", "invoice", "initiator", "status", "countdown_display", "reason", "is_full",
                           ("form_no", "request_no"), ("amount", "tax"), "expires_at",
                           ("red_invoice_number", "red_issued_at"), "applied", "last_error")}),
        (_("事件记录"), {"fields": ("events_table",)}),
    )

    money_total = money_column(ReceivedRedForm, "amount", _("红冲金额"))

    def get_readonly_fields(self, request: HttpRequest, obj: ReceivedRedForm | None = None) -> list[str]:
        return [f.name for f in ReceivedRedForm._meta.fields] + ["countdown_display", "events_table"]

    @admin.display(description=_("确认单"), ordering="form_no")
    def number_display(self, obj: ReceivedRedForm) -> str:
        return obj.form_no or obj.request_no

    @admin.display(description=_("蓝字发票"), ordering="invoice__number")
    def invoice_link(self, obj: ReceivedRedForm) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:receiving_receivedinvoice_change",
                                                          args=[obj.invoice_id]), obj.invoice)

    @admin.display(description=_("销售方"), ordering="invoice__seller_name")
    def seller(self, obj: ReceivedRedForm) -> str:
        return obj.invoice.seller_name or obj.invoice.seller_tax_id

    @admin.display(description=_("确认剩余时间"))
    def countdown_display(self, obj: ReceivedRedForm | None) -> str:
        seconds = redforms.countdown(obj) if obj is not None else None
        if seconds is None or obj is None or obj.expires_at is None:
            return "-"
        if seconds <= 0:
            return format_html('<span class="fapiao-countdown expired" style="color:#ba2121">{}</span>',
                               gettext("已超72小时，待平台作废"))
        hours, minutes = divmod(seconds // 60, 60)
        return format_html(
            '<span class="fapiao-countdown" style="{}" title="{}">{}</span>',
            "color:#ba2121;font-weight:bold" if seconds < 12 * 3600 else "",
            gettext("截止 %(deadline)s（平台时钟）") % {"deadline": f"{timezone.localtime(obj.expires_at):%Y-%m-%d %H:%M}"},
            gettext("%(hours)d小时%(minutes)s分") % {"hours": hours, "minutes": f"{minutes:02d}"},
        )

    # --- permissions and buttons -------------------------------------------------------------------------------

    def has_decide_permission(self, request: HttpRequest, obj: ReceivedRedForm | None = None) -> bool:
        return request.user.has_perm(redforms.P_DECIDE)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        extra_context["may_decide"] = bool(obj and obj.is_waiting_for_us and self.has_decide_permission(request))
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if self.has_decide_permission(request):
            extra_context["pull_url"] = reverse("admin:receiving_receivedredform_pull")
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/decide/<str:name>/", view(self.decide_view), name="receiving_receivedredform_decide"),
                path("pull/", view(self.pull_view), name="receiving_receivedredform_pull"),
                *super().get_urls()]

    def _service(self, name: str, form: ReceivedRedForm, request: AdminRequest) -> ReceivedRedForm:
        service = {"confirm": redforms.received_red_form_confirm, "reject": redforms.received_red_form_reject}[name]
        return service(form=form, actor=request.user)

    def decide_view(self, request: AdminRequest, pk: int, name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if name not in ("confirm", "reject") or not self.has_decide_permission(request):
            raise PermissionDenied
        form = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            after = self._service(name, form, request)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
        else:
            self.message_user(request, gettext("红字确认单 %(form)s：%(status)s") % {
                "form": after, "status": after.get_status_display()}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:receiving_receivedredform_change", args=[pk]))

    def pull_view(self, request: AdminRequest) -> HttpResponse:
        """Ask the platform now for the forms of the user's entities (what the periodic task does)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_decide_permission(request):
            raise PermissionDenied
        ids = ReceivedInvoice.objects.values("taxpayer_id").distinct()
        created = updated = 0
        for taxpayer in allowed_taxpayers(request.user).filter(pk__in=ids):
            try:
                report = redforms.received_red_forms_pull(taxpayer=taxpayer)
            except ChannelError as exc:
                self.message_user(request, item_error(taxpayer, gettext("平台暂不可用，请稍后再试：%(error)s") % {
                    "error": exc.message}), messages.WARNING)
                continue
            created, updated = created + report.created, updated + report.updated
        self.message_user(request, gettext("新收到 %(created)d 张红字确认单，%(updated)d 张状态有更新") % {
            "created": created, "updated": updated}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:receiving_receivedredform_changelist"))

    def _each(self, request: AdminRequest, queryset: QuerySet[ReceivedRedForm], name: str, done_text: Any) -> None:
        done, failed = 0, []
        for form in queryset.select_related("taxpayer", "invoice").order_by("pk"):
            try:
                self._service(name, form, request)
            except (ValidationError, PermissionDenied) as exc:
                failed.append(item_error(form, error_text(exc)))
            else:
                done += 1
        report_rows(self, request, done=done, failures=failed, done_text=done_text,
                    failed_text=lambda n: ngettext("%(n)d 张红字确认单未能处理", "%(n)d 张红字确认单未能处理", n) % {"n": n})

    @admin.action(description=_("确认所选（销方发起）"), permissions=["decide"])
    def confirm_selected(self, request: AdminRequest, queryset: QuerySet[ReceivedRedForm]) -> None:
        self._each(request, queryset, "confirm",
                   lambda n: ngettext("已确认 %(n)d 张红字确认单", "已确认 %(n)d 张红字确认单", n) % {"n": n})

    @admin.action(description=_("拒绝所选（销方发起）"), permissions=["decide"])
    def reject_selected(self, request: AdminRequest, queryset: QuerySet[ReceivedRedForm]) -> None:
        self._each(request, queryset, "reject",
                   lambda n: ngettext("已拒绝 %(n)d 张红字确认单", "已拒绝 %(n)d 张红字确认单", n) % {"n": n})
