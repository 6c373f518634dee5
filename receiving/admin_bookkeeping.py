"""The pool's bookkeeping face: 入账 / 取消入账 of selected invoices (a voucher page, then counted messages), the
booking and red-flush fields on the record page, the Excel export of what was booked in a period, and the page
where we, as the buyer, raise a red-letter form against an invoice we hold (full or by lines).

Mixed into ``receiving.admin.ReceivedInvoiceAdmin``; every write goes through ``receiving.bookkeeping`` or
``receiving.redforms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import AdminRequest
from invoicing.admin_messages import error_text, report_rows
from invoicing.formatting import money
from invoicing.models import Taxpayer
from invoicing.scoping import MaybeUser, allowed_taxpayers
from receiving import bookkeeping, bookkeeping_export, redforms
from receiving.bookkeeping import P_BOOK, BulkReport, Voucher
from receiving.models import BookingSync, ReceivedInvoice, ReceivedRedReason, UseState

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[ReceivedInvoice]
else:
    _Base = object


class VoucherForm(forms.Form):
    voucher_no = forms.CharField(label=_("凭证号"), max_length=40)
    booked_on = forms.DateField(label=_("入账日期"), widget=forms.DateInput(attrs={"type": "date"}))
    account_code = forms.CharField(label=_("会计科目"), max_length=60, required=False)
    cost_centre = forms.CharField(label=_("成本中心"), max_length=60, required=False)
    claim_no = forms.CharField(label=_("报销单号"), max_length=40, required=False)


class ExportForm(forms.Form):
    taxpayer = forms.ModelChoiceField(label=_("主体"), queryset=Taxpayer.objects.none(), required=False,
                                      empty_label=_("全部（可见的主体）"))
    date_from = forms.DateField(label=_("入账日期从"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("至"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["taxpayer"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = allowed_taxpayers(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError(gettext("入账日期：开始日期不能晚于结束日期"))
        return data


class BuyerRedForm(forms.Form):
    """Our form as the buyer: a reason and, for a partial red, the lines (and optionally an amount per line)."""

    reason = forms.ChoiceField(label=_("冲红原因"), choices=ReceivedRedReason.choices)
    full = forms.TypedChoiceField(label=_("范围"), coerce=lambda v: v == "1", widget=forms.RadioSelect,
                                  choices=(("1", _("全额红冲")), ("0", _("部分红冲（按所选明细）"))), initial="1")

    def __init__(self, *args: Any, record: ReceivedInvoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_lines = list(record.lines.all())
        for line in self.record_lines:
            self.fields[f"line_{line.line_no}"] = forms.BooleanField(
                label=f"{line.line_no}. {line.item_name}", required=False)
            self.fields[f"amount_{line.line_no}"] = forms.DecimalField(
                label=_("红冲金额（不含税）"), required=False, min_value=Decimal("0.01"), decimal_places=2,
                help_text=_("留空：该行剩余全部"))

    def line_rows(self) -> list[tuple[Any, forms.BoundField, forms.BoundField]]:
        return [(line, self[f"line_{line.line_no}"], self[f"amount_{line.line_no}"]) for line in self.record_lines]

    def choices(self) -> list[redforms.RedLineChoice] | None:
        if self.cleaned_data["full"]:
            return None
        return [redforms.RedLineChoice(line_no=line.line_no, amount=self.cleaned_data.get(f"amount_{line.line_no}"))
                for line in self.record_lines if self.cleaned_data.get(f"line_{line.line_no}")]


def _done(n: int) -> str:
    return ngettext("已入账 %(n)d 张发票", "已入账 %(n)d 张发票", n) % {"n": n}


def _undone(n: int) -> str:
    return ngettext("已取消入账 %(n)d 张发票", "已取消入账 %(n)d 张发票", n) % {"n": n}


class BookkeepingAdminMixin(_Base):
    """入账 on the pool's admin (see the module's docstring)."""

    actions: Sequence[str] = ("book_selected", "unbook_selected")

    def has_book_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(P_BOOK)

    def _report(self, request: HttpRequest, report: BulkReport, done_text: Any) -> None:
        if report.pending:
            self.message_user(request, ngettext(
                "%(n)d 张发票平台暂不可用，已记录请求，将以同一请求号自动重试",
                "%(n)d 张发票平台暂不可用，已记录请求，将以同一请求号自动重试", report.pending) % {"n": report.pending},
                messages.WARNING)
        report_rows(self, request, done=report.done, failures=report.refused, done_text=done_text,
                    failed_text=lambda n: ngettext("%(n)d 张发票未能处理", "%(n)d 张发票未能处理", n) % {"n": n})

    @admin.action(description=_("入账所选发票"), permissions=["book"])
    def book_selected(self, request: AdminRequest, queryset: QuerySet[ReceivedInvoice]) -> HttpResponse | None:
        applying = "apply" in request.POST
        form = VoucherForm(request.POST if applying else None)
        if applying and form.is_valid():
            try:
                report = bookkeeping.received_invoices_book(
                    records=queryset.select_related("taxpayer").order_by("pk"), voucher=Voucher(**form.cleaned_data),
                    actor=request.user)
            except ValidationError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
                return None
            self._report(request, report, _done)
            return None
        context = {**self.admin_site.each_context(request), "title": gettext("入账所选发票"),
                   "opts": self.model._meta, "form": form, "queryset": queryset[:200], "count": queryset.count(),
                   "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "action_name": "book_selected",
                   "media": self.media + form.media}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/book.html", context)

    @admin.action(description=_("取消入账所选发票"), permissions=["book"])
    def unbook_selected(self, request: AdminRequest, queryset: QuerySet[ReceivedInvoice]) -> None:
        report = bookkeeping.received_invoices_unbook(records=queryset.select_related("taxpayer").order_by("pk"),
                                                      actor=request.user)
        self._report(request, report, _undone)

    # --- the record page ---------------------------------------------------------------------------------------

    def get_list_filter(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_filter(request))
        return [*shown[:-1], "booking_sync", "red_attention", *shown[-1:]]

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return [*shown[:-1], "booking_display", shown[-1]] if shown else ["booking_display"]

    def get_fieldsets(self, request: HttpRequest, obj: ReceivedInvoice | None = None) -> Any:
        sets: list[Any] = list(super().get_fieldsets(request, obj))
        extra: list[Any] = [
            (_("入账"), {"fields": (("voucher_no", "booked_on"), ("account_code", "cost_centre", "claim_no"),
                                  ("booked_by", "booked_at"), "booking_display", "booking_error")}),
            (_("红冲"), {"fields": (("red_amount", "red_tax"), "remaining_display", "red_attention",
                                  "red_forms_table")}),
        ]
        return [*sets[:-1], *extra, sets[-1]] if sets else extra

    def get_readonly_fields(self, request: HttpRequest, obj: ReceivedInvoice | None = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "booking_display", "remaining_display",
                "red_forms_table"]

    @admin.display(description=_("入账"), ordering="use_state")
    def booking_display(self, obj: ReceivedInvoice) -> str:
        if obj.booking_sync == BookingSync.REJECTED:
            return format_html('<span class="fapiao-booking rejected" style="color:#ba2121" title="{}">{}</span>',
                               obj.booking_error, gettext("平台拒绝"))
        if obj.booking_sync:
            return format_html('<span class="fapiao-booking pending" title="{}">{}</span>', obj.booking_error,
                               obj.get_booking_sync_display())
        if obj.use_state == UseState.BOOKED:
            return format_html('<span class="fapiao-booking booked">{}</span>',
                               gettext("已入账 %(voucher)s") % {"voucher": obj.voucher_no})
        return "-"

    @admin.display(description=_("剩余可用金额"))
    def remaining_display(self, obj: ReceivedInvoice) -> str:
        left = obj.remaining_total
        return money(left) if left is not None else "-"

    @admin.display(description=_("红字确认单"))
    def red_forms_table(self, obj: ReceivedInvoice) -> str:
        rows = [(reverse("admin:receiving_receivedredform_change", args=[f.pk]), str(f), f.get_initiator_display(),
                 f.get_status_display(), money(f.total), f.red_invoice_number or "-")
                for f in obj.red_forms.order_by("-created_at")[:50]]
        if not rows:
            return "-"
        return format_html('<table class="fapiao-red-forms">{}</table>', format_html_join(
            "", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>', rows))

    def may_raise_red_form(self, request: HttpRequest, obj: ReceivedInvoice | None) -> bool:
        return (obj is not None and request.user.has_perm(redforms.P_REQUEST) and obj.is_shudian and not obj.is_red
                and (obj.platform_booked or obj.use_state in (UseState.BOOKED, UseState.SELECTED)))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if self.may_raise_red_form(request, obj):
            assert obj is not None
            extra_context["red_form_url"] = reverse("admin:receiving_receivedinvoice_red_form", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if self.has_book_permission(request):
            extra_context["booked_export_url"] = reverse("admin:receiving_receivedinvoice_booked_export")
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("booked-export/", view(self.booked_export_view), name="receiving_receivedinvoice_booked_export"),
                path("<int:pk>/red-form/", view(self.red_form_view), name="receiving_receivedinvoice_red_form"),
                *super().get_urls()]

    def booked_export_view(self, request: AdminRequest) -> HttpResponseBase:
        """入账明细: the invoices booked in a period, for the user's entities, as a streamed .xlsx."""
        if not self.has_book_permission(request):
            raise PermissionDenied
        form = ExportForm(request.GET if "date_from" in request.GET else None, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            qs = bookkeeping_export.booked_in_period(user=request.user, date_from=data["date_from"],
                                                     date_to=data["date_to"], taxpayer=data["taxpayer"])
            name = f"booked-{data['date_from']:%Y%m%d}-{data['date_to']:%Y%m%d}.xlsx"
            return FileResponse(bookkeeping_export.write_booked(qs), as_attachment=True, filename=name,
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        context = {**self.admin_site.each_context(request), "title": gettext("导出入账明细"),
                   "opts": self.model._meta, "form": form, "media": self.media + form.media}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/booked_export.html", context)

    def red_form_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        """As the buyer: a red-letter form against this invoice (domain.md §11.1), full or by lines."""
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.may_raise_red_form(request, record):
            raise PermissionDenied
        form = BuyerRedForm(request.POST or None, record=record)
        if request.method == "POST" and form.is_valid():
            try:
                created = redforms.received_red_form_request(record=record, reason=form.cleaned_data["reason"],
                                                             lines=form.choices(), actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                level = messages.ERROR if created.last_error else messages.SUCCESS
                text = (gettext("红字确认单提交失败：%(error)s") % {"error": created.last_error} if created.last_error
                        else gettext("已发起红字确认单 %(form)s，状态：%(status)s") % {
                            "form": created, "status": created.get_status_display()})
                self.message_user(request, text, level)
                return HttpResponseRedirect(reverse("admin:receiving_receivedredform_change", args=[created.pk]))
        context = {**self.admin_site.each_context(request),
                   "title": gettext("发起红字确认单：%(invoice)s") % {"invoice": record},
                   "opts": self.model._meta, "original": record, "form": form, "media": self.media + form.media}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/red_form.html", context)
