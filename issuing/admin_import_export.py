"""Admin faces of imports, exports and reports.

For the admin engineer (issuing/admin.py):

* ``BillingImportAdminMixin`` on the BillingDocument admin: django-import-export's upload → preview → confirm for
  small files (``issuing.resources.BillingLineResource``, same validator as the fast path), plus links to the
  template, the fast (background) import and the reports.
* ``StreamingExportAdminMixin`` on any changelist: CSV and XLSX of the changelist as filtered, streamed; large
  exports become a background job with a progress bar and a download link. Set ``export_spec_name``.

The standalone pages (template download, fast import, job progress, reports) are plain views under
``issuing/urls.py``, wrapped in ``admin.site.admin_view``.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportMixin

from invoicing.scoping import allowed_taxpayers
from issuing import tasks_import  # noqa: F401 - registers the Celery tasks in every process that loads the admin
from issuing.exporting import reports
from issuing.exporting.specs import get_spec
from issuing.exporting.stream import export_response, stamped
from issuing.importing import jobs
from issuing.importing.columns import COLUMNS
from issuing.importing.template import build_template
from issuing.resources import BillingCSV, BillingLineResource, BillingXLSX

P_IMPORT = "issuing.add_billingdocument"
P_REPORTS = "issuing.view_invoice"
TOOLS_TEMPLATE = "admin/issuing/import_export_change_list.html"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- mixins --------------------------------------------------------------------------------------------------------


def _base_change_list(model_admin):
    """The changelist template the admin would use without us (a model's own override, if any)."""
    opts = model_admin.model._meta
    return select_template([
        f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
        f"admin/{opts.app_label}/change_list.html",
        "admin/change_list.html",
    ]).template


class StreamingExportAdminMixin:
    """CSV / XLSX export of the changelist as filtered (and scoped to the user's entities), streamed.

    ``export_spec_name``: a spec in ``issuing.exporting.specs`` (billing_documents, billing_document_lines,
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
        extra_context.setdefault("ie_base_change_list_template", _base_change_list(self))
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
            job_id = jobs.create("export", user_id=request.user.pk, filename=stamped(spec.filename, fmt),
                                 spec=spec.name, format=fmt)
            tasks_import.export_task.delay(job_id, spec.name, tasks_import.sign_query(qs), fmt, request.user.pk)
            return redirect("issuing:job", job_id=job_id)
        return export_response(spec, qs, fmt)


class BillingImportAdminMixin(ImportMixin):
    """The small-file import (upload, preview, confirm) on the BillingDocument admin, with the shared validator."""

    resource_classes = [BillingLineResource]
    import_formats = [BillingXLSX, BillingCSV]
    import_template_name = "admin/issuing/import_billing.html"
    import_export_change_list_template = TOOLS_TEMPLATE
    skip_import_confirm = False

    def init_change_list_template(self):
        super().init_change_list_template()
        if self.ie_base_change_list_template == "admin/change_list.html":
            self.ie_base_change_list_template = _base_change_list(self)

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["fapiao_template_url"] = reverse("issuing:import_template")
        context["fapiao_fast_import_url"] = reverse("issuing:import")
        return context

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context and context.get("fields_list"):
            # The file's columns as the template names them, not the model's field codes (line_no, item_name…).
            context["fields_list"] = [(name, [c.header for c in COLUMNS]) for name, _codes in context["fields_list"]]
        return response

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.user.has_perm(P_IMPORT):
            extra_context["fapiao_import_links"] = [
                (gettext("下载导入模板"), reverse("issuing:import_template")),
                (gettext("大批量导入"), reverse("issuing:import")),
            ]
        return super().changelist_view(request, extra_context)


# --- standalone views ----------------------------------------------------------------------------------------------


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def template_download(request):
    _require(request, P_IMPORT)
    response = HttpResponse(build_template(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = "attachment; filename=\"billing-import-template.xlsx\"; " \
                                      "filename*=UTF-8''%E4%B8%9A%E5%8A%A1%E5%8D%95%E6%8D%AE%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
    return response


class FastImportForm(forms.Form):
    file = forms.FileField(label=capfirst(_("文件")), help_text=_("按模板填写的 .xlsx 或 .csv；任何一行有错都不会写入"))
    taxpayer = forms.ModelChoiceField(label=_("主体"), queryset=None, required=False,
                                      help_text=_("选定后，文件中的“主体税号”列可留空；留空则按文件中的主体税号导入"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)

    def clean_file(self):
        f = self.cleaned_data["file"]
        suffix = Path(f.name).suffix.lower()
        if suffix not in (".xlsx", ".csv"):
            raise forms.ValidationError(gettext("请上传 .xlsx 或 .csv 文件"))
        return f


def fast_import(request):
    _require(request, P_IMPORT)
    form = FastImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        taxpayer = form.cleaned_data["taxpayer"]
        suffix = Path(upload.name).suffix.lower().lstrip(".")
        job_id = jobs.create("import", user_id=request.user.pk, filename=upload.name, total=0)
        target = jobs.file_path(job_id, f"upload.{suffix}")
        with open(target, "wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        tasks_import.import_billing_file_task.delay(job_id, str(target), taxpayer.pk if taxpayer else None,
                                                    request.user.pk)
        return redirect("issuing:job", job_id=job_id)
    context = {**admin.site.each_context(request), "title": gettext("导入业务单据（大批量）"), "form": form,
               "template_url": reverse("issuing:import_template")}
    return TemplateResponse(request, "admin/issuing/import_fast.html", context)


def _job_or_404(request, job_id: str) -> dict:
    try:
        job = jobs.read(job_id)
    except ValueError:
        raise Http404 from None
    if not jobs.visible_to(job, request.user):
        raise Http404
    return job


def _job_payload(job: dict) -> dict:
    out = {k: job.get(k) for k in ("id", "kind", "status", "processed", "total", "message", "filename")}
    label = jobs.STATUS_LABELS.get(job.get("status"))
    out["status_label"] = gettext(label) if label else job.get("status")
    out["percent"] = jobs.percent(job)
    out["done"] = job.get("status") in (jobs.SUCCEEDED, jobs.FAILED)
    if job.get("errors_file"):
        out["errors_url"] = reverse("issuing:job_download", args=[job["id"], "errors"])
    if job.get("output_file"):
        out["output_url"] = reverse("issuing:job_download", args=[job["id"], "output"])
    out["issues"] = (job.get("issues") or [])[:200]
    out["result"] = job.get("result") or {}
    return out


def job_page(request, job_id: str):
    job = _job_or_404(request, job_id)
    title = gettext("导入任务") if job.get("kind") == "import" else gettext("导出任务")
    context = {**admin.site.each_context(request), "title": title,
               "job": _job_payload(job), "status_url": reverse("issuing:job_status", args=[job_id])}
    return TemplateResponse(request, "admin/issuing/import_job.html", context)


def job_status(request, job_id: str):
    return JsonResponse(_job_payload(_job_or_404(request, job_id)))


def job_download(request, job_id: str, what: str):
    job = _job_or_404(request, job_id)
    name = job.get("errors_file") if what == "errors" else job.get("output_file") if what == "output" else None
    if not name:
        raise Http404
    target = jobs.jobs_dir() / Path(name).name
    if not target.exists():
        raise Http404
    if what == "errors":
        filename = f"导入错误-{Path(job.get('filename') or 'import').stem}.xlsx"
    else:
        filename = job.get("filename") or target.name
    return FileResponse(open(target, "rb"), as_attachment=True, filename=filename)  # noqa: SIM115


# --- reports -------------------------------------------------------------------------------------------------------


class ReportFilterForm(forms.Form):
    taxpayer = forms.ModelChoiceField(label=_("主体"), queryset=None, required=False, empty_label=capfirst(_("全部主体")))
    date_from = forms.DateField(label=_("开票日期从"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)

    def filters(self) -> reports.ReportFilters:
        if not self.is_valid():
            return reports.ReportFilters()
        tp = self.cleaned_data.get("taxpayer")
        return reports.ReportFilters(taxpayer_ids=(tp.pk,) if tp else (),
                                     date_from=self.cleaned_data.get("date_from"),
                                     date_to=self.cleaned_data.get("date_to"))


def reports_view(request):
    _require(request, P_REPORTS)
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
            rows = reports.summary_tuples(reports.summary_rows(request.user, filters))
            return export_response(reports.SUMMARY_SPEC, rows, fmt)
        if which == "status":
            rows = reports.status_tuples(reports.application_status_rows(request.user, filters))
            return export_response(reports.STATUS_SPEC, rows, fmt)
        if which == "detail":
            spec, qs = reports.detail_queryset(request.user, filters)
            if fmt == "xlsx" and qs[:20001].count() > 20000:
                job_id = jobs.create("export", user_id=request.user.pk, filename=stamped(spec.filename, fmt),
                                     spec=spec.name, format=fmt)
                tasks_import.export_task.delay(job_id, spec.name, tasks_import.sign_query(qs), fmt, request.user.pk)
                return redirect("issuing:job", job_id=job_id)
            return export_response(spec, qs, fmt)
        raise Http404
    summary = reports.summary_rows(request.user, filters)
    status_rows = reports.application_status_rows(request.user, filters)
    query = params.copy()
    query.pop("format", None)
    query.pop("report", None)
    base = query.urlencode()

    def link(report: str, f: str) -> str:
        return f"?{base}&report={report}&format={f}" if base else f"?report={report}&format={f}"

    context = {
        **admin.site.each_context(request), "title": gettext("报表"), "form": form, "summary": summary,
        "summary_totals": reports.summary_totals(summary), "status_rows": status_rows,
        "links": {r: {f: link(r, f) for f in ("csv", "xlsx")} for r in ("summary", "status", "detail")},
        "today": timezone.localdate(), "month_start": timezone.localdate().replace(day=1),
    }
    return TemplateResponse(request, "admin/issuing/reports.html", context)


