"""Admin pieces for importing billing documents: template, fast import for large files, job pages."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportMixin

from invoicing.intake import jobs as intake_jobs
from invoicing.scoping import allowed_taxpayers, example_entity
from issuing.intake import tasks  # noqa: F401 - registers the Celery tasks in every process that loads the admin
from issuing.intake.columns import COLUMNS
from issuing.intake.resources import BillingCSV, BillingLineResource, BillingXLSX, errors_job_record
from issuing.intake.template import build_template

P_IMPORT = "issuing.add_billingdocument"


TOOLS_TEMPLATE = "admin/issuing/import_export_change_list.html"


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def base_change_list_template(model_admin):
    """The changelist template the admin would use without us (a model's own override, if any)."""
    opts = model_admin.model._meta
    return select_template([
        f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
        f"admin/{opts.app_label}/change_list.html",
        "admin/change_list.html",
    ]).template


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
            self.ie_base_change_list_template = base_change_list_template(self)

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["fapiao_template_url"] = reverse("issuing:import_template")
        context["fapiao_fast_import_url"] = reverse("issuing:import")
        return context

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context and context.get("result") is not None:
            errors_job_record(context["result"])  # outside the import's transaction now
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


def require_permission(request, perm: str) -> None:
    """403 unless the user holds ``perm`` (the import and report pages outside a ModelAdmin)."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


def template_download(request):
    require_permission(request, P_IMPORT)
    response = HttpResponse(build_template(entity=example_entity(request.user)), content_type=XLSX_TYPE)
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
    require_permission(request, P_IMPORT)
    form = FastImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        taxpayer = form.cleaned_data["taxpayer"]
        suffix = Path(upload.name).suffix.lower().lstrip(".")
        job_id = intake_jobs.create("import", user_id=request.user.pk, filename=upload.name, total=0, notify=True,
                                    taxpayer_id=taxpayer.pk if taxpayer else None)
        # Stored, not written to a local path: the worker that reads it may be on another host.
        stored = intake_jobs.save_file(job_id, f"upload.{suffix}", upload)
        intake_jobs.update(job_id, source_file=stored)
        tasks.import_billing_file_task.delay(job_id, stored, taxpayer.pk if taxpayer else None, request.user.pk)
        return redirect("issuing:job", job_id=job_id)
    context = {**admin.site.each_context(request), "title": gettext("导入业务单据（大批量）"), "form": form,
               "template_url": reverse("issuing:import_template")}
    return TemplateResponse(request, "admin/issuing/import_fast.html", context)


def _job_or_404(request, job_id: str) -> dict:
    try:
        job = intake_jobs.read(job_id)
    except ValueError:
        raise Http404 from None
    if not intake_jobs.visible_to(job, request.user):
        raise Http404
    return job


def _job_payload(job: dict) -> dict:
    out = {k: job.get(k) for k in ("id", "kind", "status", "processed", "total", "message", "filename")}
    label = intake_jobs.STATUS_LABELS.get(job.get("status"))
    out["status_label"] = gettext(label) if label else job.get("status")
    out["percent"] = intake_jobs.percent(job)
    out["done"] = job.get("status") in (intake_jobs.SUCCEEDED, intake_jobs.FAILED)
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
    if what == "errors":
        filename = f"导入错误-{Path(job.get('filename') or 'import').stem}.xlsx"
    else:
        filename = job.get("filename") or Path(name).name
    try:
        return intake_jobs.file_response(name, filename=filename,
                                         content_type=mimetypes.guess_type(filename)[0] or "application/octet-stream")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
