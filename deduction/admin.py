"""The deduction workbench: per entity and period, what may be selected, what is selected, the totals by purpose and
kind, the state and the next step; transfers-out; 附列资料二 with its Excel export. Every button calls a service."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

from deduction import bulk, input_tax, schedule2, selectors, services
from deduction.models import (
    FilingHoliday,
    NotDeductReason,
    PeriodState,
    Purpose,
    Selection,
    SelectionState,
    TaxPeriod,
    TransferOut,
)
from deduction.periods import current_period, filing_deadline, valid_period
from invoicing.admin import (
    AdminRequest,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadOnlyAdminMixin,
    state_labels_register,
)
from invoicing.admin_messages import error_text
from invoicing.formatting import money
from invoicing.intake import jobs
from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayers
from receiving.models import ReceivedInvoice, ReceivedKind

SELECTABLE_LIMIT = 200
DRILL_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A selection's moves are recorded on its invoice's trail (services: deduction_select, select_accept, …): its
# states read in words there.
state_labels_register(ReceivedInvoice, SelectionState.choices)


class OpenPeriodForm(forms.Form):
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(queryset=Taxpayer.objects.none(),
                                                                         label=_("主体"))
    period = forms.CharField(label=_("所属期（YYYYMM，留空为当前所属期）"), max_length=6, required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["taxpayer"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = allowed_taxpayers(user)


class BulkSelectForm(forms.Form):
    kind = forms.ChoiceField(label=_("票种"), required=False)
    seller_tax_id = forms.CharField(label=_("销方税号"), max_length=20, required=False)
    date_from = forms.DateField(label=_("开票日期起"), required=False)
    date_to = forms.DateField(label=_("开票日期止"), required=False)
    purpose = forms.ChoiceField(label=_("用途"), choices=Purpose.choices)
    reason = forms.ChoiceField(label=_("不抵扣原因"), choices=[("", "—"), *NotDeductReason.choices], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("全部")), *[(k, ReceivedKind(k).label) for k in sorted(input_tax.DEDUCTIBLE_KINDS)
                                             if k in ReceivedKind.values]]


selectable_invoices = bulk.selectable_invoices


@admin.register(TaxPeriod)
class TaxPeriodAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin[TaxPeriod]):
    list_display = ("taxpayer", "period", "state", "statistics_at", "confirmed_at", "filed_at")
    list_filter = ("state", "taxpayer")
    list_select_related = ("taxpayer",)
    search_fields = ("period", "taxpayer__name", "taxpayer__short_name", "=taxpayer__credit_code")
    change_form_template = "admin/deduction/taxperiod/workbench.html"
    change_list_template = "admin/deduction/taxperiod/change_list.html"
    fields = ("taxpayer", "period", "state", "events_table")
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("open/", view(self.open_view), name="deduction_taxperiod_open"),
                path("<int:pk>/step/<str:name>/", view(self.step_view), name="deduction_taxperiod_step"),
                path("<int:pk>/select/", view(self.select_view), name="deduction_taxperiod_select"),
                path("<int:pk>/unselect/", view(self.unselect_view), name="deduction_taxperiod_unselect"),
                path("<int:pk>/bulk/", view(self.bulk_view), name="deduction_taxperiod_bulk"),
                path("bulk/<str:job_id>/", view(self.bulk_job_view), name="deduction_bulk_job"),
                path("bulk/<str:job_id>/status/", view(self.bulk_status_view), name="deduction_bulk_job_status"),
                path("bulk/<str:job_id>/result.xlsx", view(self.bulk_download_view), name="deduction_bulk_job_file"),
                path("<int:pk>/report/", view(self.report_view), name="deduction_taxperiod_report"),
                path("<int:pk>/report.xlsx", view(self.report_xlsx), name="deduction_taxperiod_report_xlsx"),
                path("<int:pk>/report/<str:line>/", view(self.drilldown_view), name="deduction_taxperiod_drilldown"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """A search for a period (the dashboard's deadline card leads here) fills the form that opens a period with it,
        and names the user's entities that have no row for it yet: the place to open it."""
        extra_context = extra_context or {}
        if request.user.has_perm(services.P_SELECT):
            searched = request.GET.get("q", "").strip()
            wanted = searched if valid_period(searched) else ""
            initial: dict[str, Any] = {"period": wanted} if wanted else {}
            if wanted:
                missing = list(allowed_taxpayers(request.user).filter(is_active=True)
                               .exclude(tax_periods__period=wanted).order_by("pk"))
                if missing:
                    extra_context["open_hint"] = gettext(
                        "所属期 %(period)s 尚未打开：%(entities)s。选择主体后点「打开抵扣工作台」") % {
                        "period": wanted, "entities": "、".join(str(t) for t in missing)}
                    if len(missing) == 1:
                        initial["taxpayer"] = missing[0].pk
            extra_context["open_form"] = OpenPeriodForm(user=request.user, initial=initial)
        return super().changelist_view(request, extra_context)

    def open_view(self, request: AdminRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = OpenPeriodForm(request.POST, user=request.user)
        if not form.is_valid():
            self.message_user(request, gettext("请选择有权操作的主体"), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deduction_taxperiod_changelist"))
        taxpayer = form.cleaned_data["taxpayer"]
        period = form.cleaned_data["period"] or current_period(taxpayer_id=taxpayer.pk,
                                                               today=timezone.localdate())
        try:
            row = services.tax_period_ensure(taxpayer=taxpayer, period=period, actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deduction_taxperiod_changelist"))
        return HttpResponseRedirect(reverse("admin:deduction_taxperiod_change", args=[row.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context.update(self._workbench(request, obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def _workbench(self, request: HttpRequest, obj: TaxPeriod) -> dict[str, Any]:
        selected = list(Selection.objects.filter(tax_period=obj).exclude(state=SelectionState.UNDONE)
                        .select_related("invoice").order_by("pk"))
        totals = services.our_totals(obj)
        may_unselect = request.user.has_perm(services.P_SELECT) and obj.state == PeriodState.OPEN
        # only the current 所属期 takes new 勾选; past its filing deadline a period is closed (§14.4, §14.5)
        window_refusal = services.period_window_refusal(obj) if obj.state == PeriodState.OPEN else ""
        may_select = may_unselect and not window_refusal
        steps = {PeriodState.OPEN: [("statistics_apply", gettext("申请统计"))],
                 PeriodState.STATISTICS: [("confirm", gettext("确认")), ("statistics_undo", gettext("撤销统计"))],
                 PeriodState.CONFIRMED: [("file", gettext("登记已申报")), ("confirm_undo", gettext("撤销确认"))],
                 PeriodState.FILED: []}[PeriodState(obj.state)]
        if obj.state != PeriodState.FILED:
            steps = [*steps, ("detect", gettext("生成自动转出"))]
        if any(s.state in (SelectionState.PENDING, SelectionState.UNDO_PENDING) for s in selected):
            steps = [("resend", gettext("重新提交待确认的勾选")), *steps]
        return {
            "period_row": obj, "selected": selected,
            "selectable": self._selectable(obj) if may_select else [],
            "may_select": may_select, "may_unselect": may_unselect, "window_refusal": window_refusal,
            "may_step": request.user.has_perm(services.P_PERIOD),
            "steps": steps, "purposes": Purpose.choices, "reasons": NotDeductReason.choices,
            "by_purpose_kind": [{"purpose_label": Purpose(x.purpose).label, "kind": ReceivedKind(x.kind).label,
                                 "count": x.count,
                                 "amount": money(x.amount), "tax": money(x.tax)} for x in totals.by_purpose_kind],
            "deadline": filing_deadline(obj.period),
            "report_ready": obj.state in (PeriodState.CONFIRMED, PeriodState.FILED),
            "bulk_form": BulkSelectForm() if may_select else None,
        }

    @staticmethod
    def _selectable(obj: TaxPeriod) -> list[ReceivedInvoice]:
        """The candidates; a 海关缴款书 not yet 相符 is listed with why it cannot be selected (no checkbox)."""
        rows = list(selectable_invoices(obj)[:SELECTABLE_LIMIT])
        for r in rows:
            r.refusal = services.customs_refusal(r)  # type: ignore[attr-defined]
        return rows

    def _back(self, pk: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:deduction_taxperiod_change", args=[pk]))

    def step_view(self, request: AdminRequest, pk: int, name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        calls: dict[str, Callable[[], object]] = {
            "statistics_apply": lambda: services.tax_period_statistics_apply(tax_period=obj, actor=request.user),
            "statistics_undo": lambda: services.tax_period_statistics_undo(tax_period=obj, actor=request.user),
            "confirm": lambda: services.tax_period_confirm(tax_period=obj, actor=request.user),
            "confirm_undo": lambda: services.tax_period_confirm_undo(tax_period=obj, actor=request.user),
            "file": lambda: services.tax_period_file(tax_period=obj, actor=request.user),
            "resend": lambda: services.deduction_selection_resend(tax_period=obj, actor=request.user),
            "detect": lambda: services.transfers_out_detect(tax_period=obj, actor=request.user),
        }
        if name not in calls:
            raise PermissionDenied
        try:
            result = calls[name]()
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        if name == "detect":
            n = len(result) if isinstance(result, list) else 0
            self.message_user(request, ngettext("生成 %(n)d 条自动转出", "生成 %(n)d 条自动转出", n) % {"n": n},
                              messages.SUCCESS)
        else:
            fresh = TaxPeriod.objects.get(pk=pk)
            self.message_user(request, gettext("所属期 %(period)s：%(state)s") % {
                "period": fresh.period, "state": fresh.get_state_display()}, messages.SUCCESS)
        return self._back(pk)

    def select_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        ids = [int(x) for x in request.POST.getlist("invoice") if x.isdigit()]
        purpose = request.POST.get("purpose", Purpose.DEDUCT)
        effective: dict[int, Decimal | None] = {}
        errors = []
        for i in ids:
            raw = (request.POST.get(f"effective_{i}") or "").strip()
            try:
                effective[i] = Decimal(raw) if raw else None
            except InvalidOperation:
                errors.append(gettext("发票 ID %(id)s：有效抵扣税额不是金额：%(value)s") % {"id": i, "value": raw})
        if errors:
            self.message_user(request, "；".join(errors), messages.ERROR)
            return self._back(pk)
        items = [services.SelectionInput(invoice_id=i, purpose=purpose, reason=request.POST.get("reason", ""),
                                         reason_text=request.POST.get("reason_text", ""), effective_tax=effective[i])
                 for i in ids]
        try:
            rows = services.deduction_select(tax_period=obj, items=items, actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        self._report(request, rows)
        return self._back(pk)

    def _report(self, request: AdminRequest, rows: list[Selection]) -> None:
        ok = [r for r in rows if r.state in (SelectionState.ACCEPTED, SelectionState.UNDONE)]
        refused = [r for r in rows if r.state == SelectionState.REFUSED or (
            r.state == SelectionState.ACCEPTED and r.platform_code and r.platform_code != services.ALREADY_SELECTED)]
        pending = [r for r in rows if r.state in (SelectionState.PENDING, SelectionState.UNDO_PENDING)]
        if ok:
            self.message_user(request, ngettext("平台已接受 %(n)d 张", "平台已接受 %(n)d 张", len(ok)) % {"n": len(ok)},
                              messages.SUCCESS)
        for r in refused:
            self.message_user(request, gettext("发票 %(number)s：平台拒绝：%(message)s") % {
                "number": r.invoice, "message": r.platform_message}, messages.ERROR)
        if pending:
            self.message_user(request, ngettext("%(n)d 张待平台确认（平台暂不可用），请稍后重新提交",
                                                "%(n)d 张待平台确认（平台暂不可用），请稍后重新提交", len(pending)) % {
                "n": len(pending)}, messages.WARNING)

    def bulk_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        """Start a bulk selection by filter (a Celery job) and show its progress page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        form = BulkSelectForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "；".join(f"{form.fields[f].label}：{'；'.join(str(m) for m in e)}"
                                                for f, e in form.errors.items()), messages.ERROR)
            return self._back(pk)
        data = form.cleaned_data
        flt = bulk.BulkFilter(kind=data["kind"], seller_tax_id=data["seller_tax_id"].strip(),
                              date_from=data["date_from"], date_to=data["date_to"])
        try:
            job = bulk.deduction_bulk_select_start(tax_period=obj, flt=flt, purpose=data["purpose"],
                                                   reason=data["reason"] or "", actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        n = int(job["total"])
        self.message_user(request, ngettext("已开始批量勾选 %(n)d 张发票", "已开始批量勾选 %(n)d 张发票", n) % {"n": n},
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:deduction_bulk_job", args=[job["id"]]))

    def _bulk_job(self, request: HttpRequest, job_id: str) -> jobs.Job:
        try:
            job = jobs.read(job_id)
        except ValueError:
            raise Http404 from None
        if job is None or not bulk.job_visible_to(job, request.user):
            raise Http404
        return job

    def _bulk_payload(self, job: jobs.Job) -> dict[str, Any]:
        label = jobs.STATUS_LABELS.get(str(job.get("status")))
        out = {k: job.get(k) for k in ("id", "status", "processed", "total", "message", "period")}
        out.update(status_label=gettext(label) if label else job.get("status"), percent=jobs.percent(job),
                   done=job.get("status") in (jobs.SUCCEEDED, jobs.FAILED), result=job.get("result") or {})
        if job.get("output_file"):
            out["output_url"] = reverse("admin:deduction_bulk_job_file", args=[job["id"]])
        return out

    def bulk_job_view(self, request: AdminRequest, job_id: str) -> HttpResponse:
        job = self._bulk_job(request, job_id)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": gettext("批量勾选 %(period)s") % {"period": job.get("period", "")},
                   "job": self._bulk_payload(job),
                   "status_url": reverse("admin:deduction_bulk_job_status", args=[job_id]),
                   "back_url": reverse("admin:deduction_taxperiod_change", args=[job["tax_period_id"]])}
        return TemplateResponse(request, "admin/deduction/taxperiod/bulk_job.html", context)

    def bulk_status_view(self, request: AdminRequest, job_id: str) -> HttpResponse:
        return JsonResponse(self._bulk_payload(self._bulk_job(request, job_id)))

    def bulk_download_view(self, request: AdminRequest, job_id: str) -> HttpResponseBase:
        job = self._bulk_job(request, job_id)
        if not job.get("output_file"):
            raise Http404
        try:
            return jobs.file_response(str(job["output_file"]), filename=f"bulk-selection-{job.get('period', '')}.xlsx",
                                      content_type=XLSX)
        except (FileNotFoundError, ValueError):
            raise Http404 from None

    def unselect_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        ids = [int(x) for x in request.POST.getlist("selection") if x.isdigit()]
        try:
            rows = services.deduction_unselect(tax_period=obj, selection_ids=ids, actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        self._report(request, rows)
        return self._back(pk)

    def _lines(self, request: HttpRequest, pk: int) -> tuple[TaxPeriod, dict[str, schedule2.Line]]:
        obj = get_object_or_404(self.get_queryset(request).defer("snapshot"), pk=pk)
        return obj, selectors.schedule2_of(obj)

    def report_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        try:
            obj, lines = self._lines(request, pk)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        rows = [{"line": n, "count": lines[n].count, "amount": money(lines[n].amount), "tax": money(lines[n].tax),
                 "url": reverse("admin:deduction_taxperiod_drilldown", args=[obj.pk, n])} for n in schedule2.LINES]
        context = {**self.admin_site.each_context(request), "title": gettext("附列资料（二） %(period)s") % {
            "period": obj.period}, "period_row": obj, "rows": rows, "opts": self.model._meta}
        return TemplateResponse(request, "admin/deduction/taxperiod/report.html", context)

    def drilldown_view(self, request: AdminRequest, pk: int, line: str) -> HttpResponse:
        """One line's invoices, a page at a time (``?p=`` from 1)."""
        obj = get_object_or_404(self.get_queryset(request).defer("snapshot"), pk=pk)
        if line not in schedule2.LINES:
            raise Http404
        raw = request.GET.get("p", "1")
        page = int(raw) if raw.isdigit() and int(raw) > 0 else 1
        try:
            lines = selectors.schedule2_of(obj)
            drill = selectors.schedule2_drilldown(obj, line, offset=(page - 1) * DRILL_PAGE, limit=DRILL_PAGE)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        pages = max(1, -(-drill.total // DRILL_PAGE))
        base = reverse("admin:deduction_taxperiod_drilldown", args=[pk, line])
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "period_row": obj,
                   "title": gettext("附列资料（二） %(period)s 第 %(line)s 栏明细") % {"period": obj.period, "line": line},
                   "line": line, "figures": {"count": lines[line].count, "amount": money(lines[line].amount),
                                             "tax": money(lines[line].tax)},
                   "items": [{"invoice_id": i.invoice_id, "number": i.number, "count": i.count,
                              "amount": money(i.amount), "tax": money(i.tax),
                              "source": gettext("转出") if i.source == "transfer" else gettext("勾选")}
                             for i in drill.items],
                   "total": drill.total, "page": page, "pages": pages,
                   "previous_url": f"{base}?p={page - 1}" if page > 1 else "",
                   "next_url": f"{base}?p={page + 1}" if page < pages else "",
                   "report_url": reverse("admin:deduction_taxperiod_report", args=[pk])}
        return TemplateResponse(request, "admin/deduction/taxperiod/drilldown.html", context)

    def report_xlsx(self, request: AdminRequest, pk: int) -> HttpResponse:
        try:
            obj, lines = self._lines(request, pk)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return self._back(pk)
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = gettext("附列资料二")
        sheet.append([gettext("栏次"), gettext("份数"), gettext("金额"), gettext("税额")])
        for n in schedule2.LINES:
            line = lines[n]
            sheet.append([n, line.count, line.amount, line.tax])
        for row in sheet.iter_rows(min_row=2, min_col=3, max_col=4):
            for cell in row:
                cell.number_format = "#,##0.00"
        buf = io.BytesIO()
        book.save(buf)
        response = HttpResponse(buf.getvalue(),
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = (f'attachment; filename="schedule2-{obj.taxpayer.credit_code}-'
                                           f'{obj.period}.xlsx"')
        return response


class TransferOutForm(forms.ModelForm[TransferOut]):
    class Meta:
        model = TransferOut
        fields = ("tax_period", "line", "tax", "reason", "invoice")


@admin.register(TransferOut)
class TransferOutAdmin(EntityScopedAdminMixin, admin.ModelAdmin[TransferOut]):
    entity_field = "tax_period__taxpayer"
    form = TransferOutForm
    list_display = ("tax_period", "line", "tax_display", "reason", "invoice", "automatic", "created_at")
    list_filter = ("line", "automatic")
    list_select_related = ("tax_period", "invoice")
    raw_id_fields = ("invoice",)

    @admin.display(description=_("转出税额"))
    def tax_display(self, obj: TransferOut) -> str:
        return money(obj.tax)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "tax_period":
            kwargs["queryset"] = TaxPeriod.objects.filter(taxpayer__in=allowed_taxpayers(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: Any, obj: TransferOut, form: Any, change: bool) -> None:
        row = services.transfer_out_record(tax_period=obj.tax_period, line=obj.line, tax=obj.tax, reason=obj.reason,
                                           invoice=obj.invoice, actor=request.user)
        obj.pk = row.pk

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
                 ) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deduction_transferout_add"))


@admin.register(FilingHoliday)
class FilingHolidayAdmin(admin.ModelAdmin[FilingHoliday]):
    list_display = ("day", "name", "working")


@admin.register(Selection)
class SelectionAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin[Selection]):
    entity_field = "tax_period__taxpayer"
    list_display = ("tax_period", "invoice", "kind", "purpose", "effective_tax", "state", "platform_message")
    list_filter = ("state", "purpose")
    list_select_related = ("tax_period", "invoice")

