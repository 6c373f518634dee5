"""Admin for 报销单 (expense claims): the list with totals and counts, a claim's page with its lines, the state
buttons (submit, approve, reject with a reason, paid, book in one step), adding and removing lines of a draft,
bulk submit / approve with counted messages, and the printed packet. Every write goes through
``receiving.claims``; lists read their totals through one annotated query (a constant number whatever the page).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, DecimalField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import (
    AdminRequest,
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadonlyInline,
    money_column,
)
from invoicing.admin_messages import error_text, item_error, report_rows
from invoicing.scoping import scope_queryset
from receiving import bookkeeping, claims, claims_print
from receiving.claims_models import ClaimLine, ClaimState, ExpenseClaim
from receiving.models import ReceivedInvoice


class ClaimForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ExpenseClaim
        fields = ("taxpayer", "claimant_name", "claimant_code", "department", "title")


class LineForm(forms.Form):
    number = forms.CharField(label=capfirst(_("发票号码")), max_length=30)
    amount = forms.DecimalField(label=capfirst(_("报销金额")), required=False, max_digits=18, decimal_places=2,
                                help_text=_("不填：发票剩余可报销的全部金额"))


class ClaimLineInline(ReadonlyInline[ClaimLine, ExpenseClaim]):
    model = ClaimLine
    fields = ("invoice_link", "kind", "seller", "issue_date", "invoice_total", "amount_shown", "note")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClaimLine]:
        return super().get_queryset(request).select_related("invoice")

    @admin.display(description=_("发票"))
    def invoice_link(self, obj: ClaimLine) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:receiving_receivedinvoice_change",
                                                          args=[obj.invoice_id]), obj.invoice)

    @admin.display(description=_("票种"))
    def kind(self, obj: ClaimLine) -> str:
        return str(obj.invoice.get_kind_display())

    @admin.display(description=_("销售方"))
    def seller(self, obj: ClaimLine) -> str:
        return obj.invoice.seller_name or obj.invoice.seller_tax_id

    @admin.display(description=_("开票日期"))
    def issue_date(self, obj: ClaimLine) -> str:
        return f"{obj.invoice.issue_date:%Y-%m-%d}"

    @admin.display(description=_("价税合计"))
    def invoice_total(self, obj: ClaimLine) -> str:
        return f"{obj.invoice.total:,.2f}" if obj.invoice.total is not None else "-"

    @admin.display(description=_("报销金额"))
    def amount_shown(self, obj: ClaimLine) -> str:
        return f"{obj.amount:,.2f}"


@admin.register(ExpenseClaim)
class ExpenseClaimAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = ClaimForm
    list_display = ("claim_no", "claimant_name", "department", "title", "state", "line_count", "money_claimed",
                    "source", "created_at", "taxpayer")
    list_filter = ("state", "source", "taxpayer")
    search_fields = ("=claim_no", "claimant_name", "=claimant_code", "=external_ref")
    search_help_text = _("按报销单号、报销人、员工编号或外部单号查找")
    list_select_related = ("taxpayer",)
    inlines = (ClaimLineInline,)
    actions = ["submit_selected", "approve_selected"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    change_form_template = "admin/receiving/expenseclaim/change_form.html"

    money_claimed = money_column(ExpenseClaim, "claimed_total", _("报销金额合计"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExpenseClaim]:
        qs: QuerySet[ExpenseClaim] = super().get_queryset(request)
        return qs.annotate(
            claimed_total=Coalesce(Sum("lines__amount"), Value(Decimal("0.00")),
                                   output_field=DecimalField(max_digits=18, decimal_places=2)),
            lines_count=Count("lines"))

    @admin.display(description=_("发票数"), ordering="lines_count")
    def line_count(self, obj: Any) -> int:
        return int(getattr(obj, "lines_count", 0))

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("taxpayer", "claimant_name", "claimant_code", "department", "title")
        return ("claim_no", "taxpayer", "state", "claimant_name", "claimant_code", "department", "title", "source",
                "external_ref", "reject_reason", "claimed_display", "submitted_at", "approved_by", "approved_at",
                "paid_at", "voucher_no", "booked_at", "events_table")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description=_("报销金额合计"))
    def claimed_display(self, obj: ExpenseClaim) -> str:
        total = obj.lines.aggregate(s=Sum("amount"))["s"] or Decimal("0.00")
        return f"{total:,.2f}"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a claim is rejected, never deleted

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(claims.P_APPROVE)

    def has_submit_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(claims.P_CHANGE)

    def save_model(self, request: HttpRequest, obj: ExpenseClaim, form: Any, change: bool) -> None:
        data = form.cleaned_data
        created = claims.claim_create(taxpayer=data["taxpayer"], claimant_name=data["claimant_name"],
                                      claimant_code=data.get("claimant_code") or "",
                                      department=data.get("department") or "", title=data.get("title") or "",
                                      actor=request.user)  # type: ignore[arg-type]
        obj.pk, obj.claim_no = created.pk, created.claim_no

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # lines are added through the service

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            user = request.user
            may_change = user.has_perm(claims.P_CHANGE)
            extra_context.update({
                "may_edit_lines": obj.state == ClaimState.DRAFT and may_change,
                "may_submit": obj.state == ClaimState.DRAFT and may_change,
                "may_approve": obj.state == ClaimState.SUBMITTED and user.has_perm(claims.P_APPROVE),
                "may_reject": obj.state in (ClaimState.SUBMITTED, ClaimState.APPROVED) and obj.booked_at is None
                and user.has_perm(claims.P_APPROVE),
                "may_pay": obj.state == ClaimState.APPROVED and user.has_perm(claims.P_PAY),
                "may_book": obj.state == ClaimState.APPROVED and obj.booked_at is None
                and user.has_perm(bookkeeping.P_BOOK),
                "line_form": LineForm(),
                "claim_lines": list(obj.lines.select_related("invoice")) if obj.state == ClaimState.DRAFT else [],
                "today": f"{timezone.localdate():%Y-%m-%d}",
            })
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/do/<str:name>/", view(self.state_view), name="receiving_expenseclaim_do"),
            path("<int:pk>/lines/add/", view(self.line_add_view), name="receiving_expenseclaim_line_add"),
            path("<int:pk>/lines/<int:line>/remove/", view(self.line_remove_view),
                 name="receiving_expenseclaim_line_remove"),
            path("<int:pk>/print/", view(self.print_view), name="receiving_expenseclaim_print"),
            *super().get_urls(),
        ]

    def _back(self, pk: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:receiving_expenseclaim_change", args=[pk]))

    def state_view(self, request: AdminRequest, pk: int, name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        claim = get_object_or_404(self.get_queryset(request), pk=pk)
        user = request.user
        try:
            if name == "submit":
                claims.claim_submit(claim=claim, actor=user)
                done = gettext("报销单 %(no)s 已提交")
            elif name == "approve":
                claims.claim_approve(claim=claim, actor=user)
                done = gettext("报销单 %(no)s 已审批")
            elif name == "reject":
                claims.claim_reject(claim=claim, reason=request.POST.get("reason", ""), actor=user)
                done = gettext("报销单 %(no)s 已驳回")
            elif name == "pay":
                claims.claim_mark_paid(claim=claim, actor=user)
                done = gettext("报销单 %(no)s 已登记付款")
            elif name == "book":
                report = claims.claim_book(claim=claim, voucher_no=request.POST.get("voucher_no", ""),
                                           booked_on=_date(request.POST.get("booked_on", "")),
                                           account_code=request.POST.get("account_code", ""),
                                           cost_centre=request.POST.get("cost_centre", ""), actor=user)
                done = gettext("报销单 %(no)s：") + gettext(
                    "已入账 %(booked)d 张，待平台确认 %(pending)d 张，未入账 %(skipped)d 张") % {
                    "booked": report.booked, "pending": report.pending, "skipped": report.skipped}
                for problem in report.problems:
                    self.message_user(request, problem, messages.WARNING)
            else:
                raise PermissionDenied
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
        else:
            self.message_user(request, done.replace("%(no)s", claim.claim_no), messages.SUCCESS)
        return self._back(pk)

    def line_add_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        claim = get_object_or_404(self.get_queryset(request), pk=pk)
        form = LineForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else field
                self.message_user(request, f"{label}：{'；'.join(str(e) for e in errors)}", messages.ERROR)
            return self._back(pk)
        number = form.cleaned_data["number"].strip()
        invoice = scope_queryset(ReceivedInvoice.objects.filter(taxpayer_id=claim.taxpayer_id, number=number),
                                 request.user).first()
        if invoice is None:
            self.message_user(request, gettext("发票号码：本主体的发票池中没有发票 %(number)s") % {"number": number},
                              messages.ERROR)
            return self._back(pk)
        try:
            line = claims.claim_line_add(claim=claim, invoice=invoice, amount=form.cleaned_data["amount"],
                                         actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, item_error(invoice, error_text(exc)), messages.ERROR)
        else:
            self.message_user(request, gettext("已添加发票 %(number)s，报销金额 %(amount)s") % {
                "number": invoice, "amount": f"{line.amount:,.2f}"}, messages.SUCCESS)
        return self._back(pk)

    def line_remove_view(self, request: AdminRequest, pk: int, line: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        claim = get_object_or_404(self.get_queryset(request), pk=pk)
        row = get_object_or_404(ClaimLine.objects.select_related("invoice", "claim"), pk=line, claim=claim)
        try:
            claims.claim_line_remove(line=row, actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
        else:
            self.message_user(request, gettext("已移除发票 %(number)s") % {"number": row.invoice}, messages.SUCCESS)
        return self._back(pk)

    def print_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        claim = get_object_or_404(self.get_queryset(request), pk=pk)
        packet = claims_print.claim_packet(claim=claim, with_files=request.user.has_perm("receiving.download_carrier"))
        response = HttpResponse(packet, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{claim.claim_no}.pdf"'
        return response

    def _each(self, request: AdminRequest, queryset: QuerySet[ExpenseClaim], name: str, done_text: Any) -> None:
        done, failed = 0, []
        for claim in queryset.select_related("taxpayer").order_by("pk"):
            try:
                if name == "submit":
                    claims.claim_submit(claim=claim, actor=request.user)
                else:
                    claims.claim_approve(claim=claim, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                failed.append(item_error(claim, error_text(exc)))
            else:
                done += 1
        report_rows(self, request, done=done, failures=failed, done_text=done_text,
                    failed_text=lambda n: ngettext("%(n)d 张报销单未能处理", "%(n)d 张报销单未能处理", n) % {"n": n})

    @admin.action(description=_("提交所选报销单"), permissions=["submit"])
    def submit_selected(self, request: AdminRequest, queryset: QuerySet[ExpenseClaim]) -> None:
        self._each(request, queryset, "submit",
                   lambda n: ngettext("已提交 %(n)d 张报销单", "已提交 %(n)d 张报销单", n) % {"n": n})

    @admin.action(description=_("审批通过所选报销单"), permissions=["approve"])
    def approve_selected(self, request: AdminRequest, queryset: QuerySet[ExpenseClaim]) -> None:
        self._each(request, queryset, "approve",
                   lambda n: ngettext("已审批 %(n)d 张报销单", "已审批 %(n)d 张报销单", n) % {"n": n})


def _date(value: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise ValidationError({"booked_on": gettext("入账日期：请填写 YYYY-MM-DD 格式的日期")}) from None
