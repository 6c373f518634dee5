"""Admin pages of the pool's platform side and its Excel import.

- 平台下载: each entity's watermark (downloaded through which day), its last run and batch, and the download button
  (``platform.platform_download_request`` queues the run);
- 收票对账: the reports of the pool against the platform, each difference with its side and reason, and a button to
  compare now;
- Excel 导入 (routed by the batches' admin): the template, the upload, every error with row, column and rule on the
  page and in the error workbook.

Nothing here writes by itself: the services do. Lists are scoped to the user's entities and cost a constant number
of queries.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import (
    AdminRequest,
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadOnlyAdminMixin,
    state_labels_register,
)
from invoicing.admin_messages import error_text
from invoicing.formatting import money
from invoicing.intake import jobs as intake_jobs
from invoicing.intake.error_workbook import write_error_workbook
from invoicing.models import Taxpayer
from invoicing.scoping import MaybeUser, allowed_taxpayers, example_entity
from receiving import excel, platform, services
from receiving.models import PlatformReconciliation, PlatformSync

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXCEL_JOB = "receiving_excel"
SHOWN_ISSUES = 200


def _limit_taxpayers(form: forms.Form, user: MaybeUser) -> None:
    """The form's 收票主体 choices: the entities the user may act on (the field is declared without a queryset)."""
    cast("forms.ModelChoiceField[Taxpayer]", form.fields["taxpayer"]).queryset = allowed_taxpayers(user)


class EntityForm(forms.Form):
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(
        label=capfirst(_("收票主体")), queryset=None, empty_label=None)

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _limit_taxpayers(self, user)


# --- the watermark and the download button -------------------------------------------------------------------------


# a download's outcome (receiving.platform: platform_download_finish); its progress records the day reached, a date
state_labels_register(PlatformSync, [("ok", _("成功")), ("failed", _("失败"))])


@admin.register(PlatformSync)
class PlatformSyncAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin,
                        admin.ModelAdmin[PlatformSync]):
    list_display = ("taxpayer", "synced_through", "running", "last_finished_at", "last_ok", "last_message",
                    "batch_link", "download_button")
    list_select_related = ("taxpayer",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    change_list_template = "admin/receiving/platformsync/change_list.html"
    fields = ("taxpayer", "synced_through", "running_since", "last_started_at", "last_finished_at", "last_ok",
              "last_message", "listed_count", "batch_link", "events_table")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    @admin.display(description=_("下载中"))
    def running(self, obj: PlatformSync) -> str:
        """下载中 while a run holds the entity, nothing otherwise (a red cross would read as an error)."""
        return gettext("下载中") if obj.running_since is not None else ""

    @admin.display(description=_("上次采集批次"))
    def batch_link(self, obj: PlatformSync) -> str:
        if not obj.last_collection_id:
            return "-"
        return format_html('<a href="{}">#{}</a>', reverse("admin:receiving_collection_change",
                                                           args=[obj.last_collection_id]), obj.last_collection_id)

    @admin.display(description=_("操作"))
    def download_button(self, obj: PlatformSync) -> str:
        return format_html(
            '<button type="submit" form="fapiao-download" name="taxpayer" value="{}" class="button">{}</button>',
            obj.taxpayer_id, gettext("从平台下载"))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("download/", view(self.download_view), name="receiving_platformsync_download")] + \
            super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(services.P_COLLECT):
            extra_context["download_form"] = EntityForm(user=request.user)
            extra_context["download_url"] = reverse("admin:receiving_platformsync_download")
        return super().changelist_view(request, extra_context)

    def download_view(self, request: AdminRequest) -> HttpResponseBase:
        """POST an entity: its download is queued; back to the list, which shows the watermark and the batch."""
        if request.method != "POST" or not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        form = EntityForm(request.POST, user=request.user)
        if not form.is_valid():
            self.message_user(request, gettext("请选择有权操作的主体"), messages.ERROR)
        else:
            taxpayer = form.cleaned_data["taxpayer"]
            try:
                platform.platform_download_request(taxpayer=taxpayer, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
            else:
                self.message_user(request, gettext("已开始从税务平台下载 %(entity)s 取得的发票") % {"entity": taxpayer},
                                  messages.INFO)
        return HttpResponseRedirect(reverse("admin:receiving_platformsync_changelist"))


# --- the reconciliation report ---------------------------------------------------------------------------------------


class ReconcileForm(EntityForm):
    date_from = forms.DateField(label=capfirst(_("开票日期自")), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=capfirst(_("开票日期至")), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and (end < start or (end - start).days > 366):
            raise forms.ValidationError(gettext("日期范围不正确（最多一年）"))
        return data


SIDE_WORDS = {"pool": _("发票池缺少"), "platform": _("平台未列出"), "both": _("两边不一致")}


@admin.register(PlatformReconciliation)
class PlatformReconciliationAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin,
                                  admin.ModelAdmin[PlatformReconciliation]):
    list_display = ("__str__", "taxpayer", "platform_count", "pool_count", "matched_count", "difference_count",
                    "complete", "created_at")
    list_filter = ("complete", "taxpayer")
    list_select_related = ("taxpayer",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    change_list_template = "admin/receiving/platformreconciliation/change_list.html"
    fields = ("taxpayer", ("date_from", "date_to"), ("platform_count", "pool_count", "matched_count",
                                                    "difference_count"), "complete", "message", "differences_table",
              "created_at", "events_table")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f for f in self.fields if isinstance(f, str)] + ["date_from", "date_to", "platform_count",
                                                                 "pool_count", "matched_count", "difference_count"]

    @admin.display(description=_("差异"))
    def differences_table(self, obj: PlatformReconciliation) -> str:
        if not obj.differences:
            return gettext("无差异") if obj.complete else "-"
        rows = []
        for d in obj.differences:
            number = format_html('<a href="{}">{}</a>', reverse("admin:receiving_receivedinvoice_change",
                                                              args=[d["invoice"]]), d["number"]) \
                if d.get("invoice") else d["number"]
            rows.append((str(SIDE_WORDS.get(d["side"], d["side"])), number, d.get("seller_name", ""),
                         d.get("seller_tax_id", ""), d.get("issue_date", ""), money(d.get("total") or None),
                         d.get("reason", ""), d.get("rule", "")))
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
                             "<th>{}</th></tr>", _("差异"), _("发票号码"), _("销售方名称"), _("销售方纳税人识别号"),
                             _("开票日期"), _("价税合计"), _("原因"), _("规则"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                    '<td style="text-align:right">{}</td><td>{}</td><td><code>{}</code></td></tr>', rows)
        return format_html('<table id="fapiao-differences">{}{}</table>', header, body)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("run/", view(self.run_view), name="receiving_platformreconciliation_run")] + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(services.P_COLLECT):
            start, end = platform.reconcile_range()
            extra_context["run_form"] = ReconcileForm(user=request.user,
                                                      initial={"date_from": start, "date_to": end})
            extra_context["run_url"] = reverse("admin:receiving_platformreconciliation_run")
        return super().changelist_view(request, extra_context)

    def run_view(self, request: AdminRequest) -> HttpResponseBase:
        if request.method != "POST" or not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        form = ReconcileForm(request.POST, user=request.user)
        if not form.is_valid():
            problems = "；".join(str(m) for errors in form.errors.values() for m in errors)
            self.message_user(request, problems, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:receiving_platformreconciliation_changelist"))
        data = form.cleaned_data
        try:
            report = platform.platform_reconcile(taxpayer=data["taxpayer"], date_from=data["date_from"],
                                                 date_to=data["date_to"], actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:receiving_platformreconciliation_changelist"))
        return HttpResponseRedirect(reverse("admin:receiving_platformreconciliation_change", args=[report.pk]))


# --- Excel import (routed by the batches' admin) --------------------------------------------------------------------


class ExcelForm(forms.Form):
    file = forms.FileField(label=capfirst(_("文件")), help_text=_("按模板填写的 .xlsx 或 .csv；任何一行有错都不会写入"))
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(
        label=capfirst(_("收票主体")), queryset=None, required=False,
        help_text=_("选定后，文件中的“收票主体税号”列可留空"))

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _limit_taxpayers(self, user)

    def clean_file(self) -> Any:
        f = self.cleaned_data["file"]
        if Path(f.name).suffix.lower() not in (".xlsx", ".csv"):
            raise forms.ValidationError(gettext("请上传 .xlsx 或 .csv 文件"))
        if f.size > services.max_file_bytes():
            raise forms.ValidationError(gettext("文件过大"))
        return f


def _require_collect(request: HttpRequest) -> None:
    if not request.user.has_perm(services.P_COLLECT):
        raise PermissionDenied


def excel_template_view(request: HttpRequest) -> HttpResponse:
    _require_collect(request)
    response = HttpResponse(excel.build_template(entity=example_entity(request.user)), content_type=XLSX_TYPE)
    response["Content-Disposition"] = ("attachment; filename=\"received-invoices-template.xlsx\"; "
                                       "filename*=UTF-8''%E6%94%B6%E7%A5%A8%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx")
    return response


def excel_import_view(request: AdminRequest, admin_site: admin.AdminSite, opts: Any) -> HttpResponse:
    """Upload, check every row, write all or nothing; on success the batch page (each row's outcome), else this
    page with every error and the error workbook."""
    _require_collect(request)
    form = ExcelForm(request.POST or None, request.FILES or None, user=request.user)
    issues: list[Any] = []
    issue_count = 0
    errors_url = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        suffix = Path(upload.name).suffix.lower().lstrip(".")
        taxpayer = form.cleaned_data["taxpayer"]
        job_id = intake_jobs.create(EXCEL_JOB, user_id=request.user.pk, filename=upload.name,
                                    taxpayer_id=taxpayer.pk if taxpayer else None)
        # Read in this request from a temporary file (removed afterwards), never kept.
        with tempfile.TemporaryDirectory(prefix="fapiao-excel-") as folder:
            source = Path(folder) / f"upload.{suffix}"
            with source.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            outcome = excel.import_received_file(source, actor=request.user, taxpayer=form.cleaned_data["taxpayer"],
                                                 filename=upload.name)
        if outcome.ok:
            intake_jobs.update(job_id, status=intake_jobs.SUCCEEDED, processed=outcome.rows, total=outcome.rows)
            messages.success(request, gettext("已导入 %(rows)d 行：新入池 %(created)d 张，已在池中 %(duplicate)d 张") % {
                "rows": outcome.rows, "created": outcome.created, "duplicate": outcome.duplicate})
            first = outcome.collections[0]
            return HttpResponseRedirect(reverse("admin:receiving_collection_change", args=[first.pk]))
        target, _ = intake_jobs.write_file(
            job_id, "errors.xlsx", lambda path: write_error_workbook(outcome.issues, path, total=outcome.issue_count))
        intake_jobs.update(job_id, status=intake_jobs.FAILED, errors_file=target, rows_in_error=outcome.issue_count,
                           message=gettext("发现 %(n)d 个错误，未写入任何数据") % {"n": outcome.issue_count})
        issues = outcome.issues[:SHOWN_ISSUES]
        issue_count = outcome.issue_count
        errors_url = reverse("admin:receiving_collection_excel_errors", args=[job_id])
    context = {**admin_site.each_context(request), "title": gettext("Excel 导入收票"), "opts": opts, "form": form,
               "issues": issues, "issue_count": issue_count, "errors_url": errors_url,
               "template_url": reverse("admin:receiving_collection_excel_template"), "max_rows": excel.max_rows(),
               "media": form.media}
    return TemplateResponse(request, "admin/receiving/excel.html", context)


def excel_errors_view(request: HttpRequest, job_id: str) -> HttpResponseBase:
    _require_collect(request)
    try:
        job = intake_jobs.read(job_id)
    except ValueError:
        raise Http404 from None
    if not intake_jobs.visible_to(job, request.user) or (job or {}).get("kind") != EXCEL_JOB:
        raise Http404
    assert job is not None
    errors_file = job.get("errors_file")
    if not errors_file:
        raise Http404
    name = f"导入错误-{Path(job.get('filename') or 'import').stem}.xlsx"
    try:
        return intake_jobs.file_response(errors_file, filename=name, content_type=XLSX_TYPE)
    except (FileNotFoundError, ValueError):
        raise Http404 from None

