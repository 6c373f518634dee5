"""Admin pieces for streaming exports and the reports page."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportMixin

from invoicing.intake import jobs as intake_jobs
from invoicing.scoping import allowed_taxpayers
from issuing.intake.admin import TOOLS_TEMPLATE, base_change_list_template, require_permission
from issuing.reports import summary as reports_summary
from issuing.reports import tasks  # noqa: F401 - registers the Celery tasks in every process that loads the admin
from issuing.reports.specs import get_spec
from issuing.reports.stream import export_response, stamped

P_REPORTS = "issuing.view_invoice"


class StreamingExportAdminMixin:
    """CSV / XLSX export of the changelist as filtered (and scoped to the user's entities), streamed.

    ``export_spec_name``: a spec in ``issuing.reports.specs`` (billing_documents, billing_document_lines,
    applications, invoices, invoice_detail). ``export_async_threshold``: above this many rows the export runs as a
    job (progress bar, download link) instead of in the request.
    """

    export_spec_name: str = ""
    export_async_threshold: int = 20000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self, ImportMixin) and not self.change_list_template:
            self.change_list_template = TOOLS_TEMPLATE  # with ImportMixin, import_export_change_list_template

    def get_urls(self):
        opts = self.model._meta
        urls = [
            path("export/<str:fmt>/", self.admin_site.admin_view(self.streaming_export_view),
                 name=f"{opts.app_label}_{opts.model_name}_stream_export"),
        ]
        return urls + super().get_urls()

    def has_stream_export_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context.setdefault("ie_base_change_list_template", base_change_list_template(self))
        if self.export_spec_name and self.has_stream_export_permission(request):
            opts = self.model._meta
            base = f"admin:{opts.app_label}_{opts.model_name}_stream_export"
            query = request.GET.urlencode()
            suffix = f"?{query}" if query else ""
            extra_context["fapiao_export_urls"] = [
                (gettext("导出 CSV"), reverse(base, args=["csv"], current_app=self.admin_site.name) + suffix),
                (gettext("导出 Excel"), reverse(base, args=["xlsx"], current_app=self.admin_site.name) + suffix),
            ]
            if self.export_spec_name in ("invoices", "invoice_detail") and request.user.has_perm(P_REPORTS):
                extra_context["fapiao_export_urls"].append((gettext("发票汇总表"), reverse("issuing:reports")))
        return super().changelist_view(request, extra_context)

    def streaming_export_view(self, request, fmt: str):
        if fmt not in ("csv", "xlsx") or not self.export_spec_name:
            raise Http404
        if not self.has_stream_export_permission(request):
            raise PermissionDenied
        spec = get_spec(self.export_spec_name)
        cl = self.get_changelist_instance(request)
        qs = spec.scoped(cl.get_queryset(request), request.user)
        big = qs[: self.export_async_threshold + 1].count() > self.export_async_threshold
        if big:
            job_id = intake_jobs.create("export", user_id=request.user.pk, filename=stamped(spec.filename, fmt), notify=True,
                                 spec=spec.name, format=fmt)
            tasks.export_task.delay(job_id, spec.name, tasks.sign_query(qs), fmt, request.user.pk)
            return redirect("issuing:job", job_id=job_id)
        return export_response(spec, qs, fmt)


class ReportFilterForm(forms.Form):
    taxpayer = forms.ModelChoiceField(label=_("主体"), queryset=None, required=False, empty_label=capfirst(_("全部主体")))
    date_from = forms.DateField(label=_("开票日期从"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)

    def filters(self) -> reports_summary.ReportFilters:
        if not self.is_valid():
            return reports_summary.ReportFilters()
        tp = self.cleaned_data.get("taxpayer")
        return reports_summary.ReportFilters(taxpayer_ids=(tp.pk,) if tp else (),
                                     date_from=self.cleaned_data.get("date_from"),
                                     date_to=self.cleaned_data.get("date_to"))


def reports_view(request):
    require_permission(request, P_REPORTS)
    params = request.GET.copy()
    if not any(params.get(k) for k in ("taxpayer", "date_from", "date_to")):
        # The tax period people ask for first: this month so far (and it keeps the page fast on a large history).
        today = timezone.localdate()
        params.setdefault("date_from", today.replace(day=1).isoformat())
        params.setdefault("date_to", today.isoformat())
    form = ReportFilterForm(params, user=request.user)
    filters = form.filters()
    fmt = request.GET.get("format")
    which = request.GET.get("report", "summary")
    if fmt in ("csv", "xlsx"):
        if which == "summary":
            rows = reports_summary.summary_tuples(reports_summary.summary_rows(request.user, filters))
            return export_response(reports_summary.SUMMARY_SPEC, rows, fmt)
        if which == "status":
            rows = reports_summary.status_tuples(reports_summary.application_status_rows(request.user, filters))
            return export_response(reports_summary.STATUS_SPEC, rows, fmt)
        if which == "detail":
            spec, qs = reports_summary.detail_queryset(request.user, filters)
            if fmt == "xlsx" and qs[:20001].count() > 20000:
                job_id = intake_jobs.create("export", user_id=request.user.pk, filename=stamped(spec.filename, fmt), notify=True,
                                     spec=spec.name, format=fmt)
                tasks.export_task.delay(job_id, spec.name, tasks.sign_query(qs), fmt, request.user.pk)
                return redirect("issuing:job", job_id=job_id)
            return export_response(spec, qs, fmt)
        raise Http404
    summary = reports_summary.summary_rows(request.user, filters)
    status_rows = reports_summary.application_status_rows(request.user, filters)
    query = params.copy()
    query.pop("format", None)
    query.pop("report", None)
    base = query.urlencode()

    def link(report: str, f: str) -> str:
        return f"?{base}&report={report}&format={f}" if base else f"?report={report}&format={f}"

    context = {
        **admin.site.each_context(request), "title": gettext("报表"), "form": form, "summary": summary,
        "summary_totals": reports_summary.summary_totals(summary), "status_rows": status_rows,
        "links": {r: {f: link(r, f) for f in ("csv", "xlsx")} for r in ("summary", "status", "detail")},
        "today": timezone.localdate(), "month_start": timezone.localdate().replace(day=1),
        "charts": [reports_summary.summary_chart(summary)] if summary else [],
    }
    return TemplateResponse(request, "admin/issuing/reports.html", context)
