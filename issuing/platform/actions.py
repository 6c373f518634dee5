"""Admin pieces for exactly-once issuing, wired by the application admin (``issuing/applications/admin.py``). This
module registers nothing itself.

* 批准 (``approve_service``): finance approves and issues at once (the demo's "approve → issued invoice within
  seconds"), a reviewer only approves.
* changelist actions and the filter: ``submit_issue``, ``retry_same_serial``, ``query_platform_now``,
  ``NeedsAttentionFilter``.
* the person's decision to re-send under a new serial (a reason is required): ``reissue_view``, with a button to it
  when ``obj.status == "issuing" and obj.needs_attention``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin_messages import report_rows
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus
from issuing.platform import services as platform_services

S = ApplicationStatus


def _text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return gettext("；").join(exc.messages)
    return str(exc) or exc.__class__.__name__


# --- the admin's choice of service ------------------------------------------------------------------------------


def approve_service(*, application, actor, note: str = ""):  # noqa: ANN001, ANN201
    """批准 in the admin: whoever may also issue (finance) approves and issues at once; a reviewer only approves and
    the application waits in 待开票 for finance."""
    if actor.has_perm("issuing.issue_invoiceapplication"):
        return platform_services.application_approve_and_submit_issue(application=application, actor=actor, note=note)
    return application_services.application_approve(application=application, actor=actor, note=note)


# --- changelist actions ------------------------------------------------------------------------------------------


def _failure(number: str, error: str) -> str:
    return gettext("%(item)s：%(error)s") % {"item": number, "error": error}


def _each(modeladmin, request, queryset, call, done_message) -> None:  # noqa: ANN001
    """``done_message(n)``: the message for n applications done."""
    done, failed = 0, []
    for app in queryset.order_by("pk"):
        try:
            call(app)
        except (ValidationError, PermissionDenied) as exc:
            failed.append(_failure(app.number, _text(exc)))
        else:
            done += 1
    report_rows(modeladmin, request, done=done, failures=failed, done_text=done_message)


def report_batch(modeladmin, request, result) -> None:  # noqa: ANN001
    """The messages for ``issuing.applications_submit_issue``: how many started, which were refused and why."""
    n, refused = len(result.marked), len(result.refused)
    if n:  # partly refused: a warning, never a success; each refused one follows as an error with its reason
        modeladmin.message_user(request, ngettext("已发起开票 %(n)d 张申请单", "已发起开票 %(n)d 张申请单", n) % {"n": n},
                                messages.WARNING if refused else messages.SUCCESS)
    if result.already:
        k = len(result.already)
        modeladmin.message_user(request, ngettext("%(n)d 张已在开票中或已开票，未重复发起",
                                                  "%(n)d 张已在开票中或已开票，未重复发起", k) % {"n": k},
                                messages.INFO)
    for number, failures in list(result.refused.items())[:20]:
        modeladmin.message_user(request, _failure(number, gettext("；").join(f.message for f in failures)), messages.ERROR)
    if refused > 20:
        modeladmin.message_user(request, gettext("另有 %(n)d 张未能发起开票") % {"n": refused - 20}, messages.ERROR)


WATCH_IDS_MAX = 200  # up to this many started applications, the list shows exactly them; beyond, all 开票中


def watch_started(modeladmin, request, result):  # noqa: ANN001, ANN201
    """A long action's landing: the changelist showing the applications it started, with a word on where to watch.
    Nothing started: stay on the list as it was (``None``)."""
    ids = [app.pk for app in result.marked]
    if not ids:
        return None
    changelist = reverse("admin:issuing_invoiceapplication_changelist")
    every_issuing = f"{changelist}?{urlencode({'status__exact': S.ISSUING})}"
    target = f"{changelist}?{urlencode({'id__in': ','.join(map(str, ids))})}" if len(ids) <= WATCH_IDS_MAX else every_issuing
    modeladmin.message_user(
        request,
        format_html(
            "{} <a href=\"{}\">{}</a>",
            ngettext("这里列出刚发起开票的 %(n)d 张申请单：税务平台逐批开具，刷新本页可看到状态从「开票中」变为「已开票」或「开票失败」。",
                     "这里列出刚发起开票的 %(n)d 张申请单：税务平台逐批开具，刷新本页可看到状态从「开票中」变为「已开票」或「开票失败」。",
                     len(ids)) % {"n": len(ids)},
            every_issuing, gettext("查看全部开票中的申请单"),
        ),
        messages.INFO,
    )
    return HttpResponseRedirect(target)


@admin.action(description=_("发起开票"), permissions=["issue"])
def submit_issue(modeladmin, request, queryset):  # noqa: ANN001, ANN201
    """All selected in one transaction, issued by batch tasks (``issuing.applications_submit_issue``); the list then
    shows the applications it started."""
    result = platform_services.applications_submit_issue(applications=list(queryset.values_list("pk", flat=True)),
                                               actor=request.user)
    report_batch(modeladmin, request, result)
    return watch_started(modeladmin, request, result)


@admin.action(description=_("按原流水号重试（需人工处理的）"), permissions=["issue"])
def retry_same_serial(modeladmin, request, queryset):  # noqa: ANN001, ANN201
    _each(modeladmin, request, queryset,
          lambda app: platform_services.application_retry_issue(application=app, actor=request.user),
          lambda n: ngettext("已按原流水号重试 %(n)d 张申请单", "已按原流水号重试 %(n)d 张申请单", n) % {"n": n})


@admin.action(description=_("向平台查询开票结果"), permissions=["issue"])
def query_platform_now(modeladmin, request, queryset):  # noqa: ANN001, ANN201
    ids = list(queryset.filter(status=S.ISSUING).values_list("pk", flat=True))
    outcomes = []
    for pk in ids:
        report = platform_services.issue_poll_pending(older_than_seconds=0, limit=1, application_id=pk)
        outcomes.append(report)
    issued = sum(r.issued for r in outcomes)
    pending = sum(r.pending for r in outcomes)
    failed = sum(r.failed for r in outcomes)
    unknown = sum(r.requeued + r.left_for_person for r in outcomes)
    unavailable = sum(r.unavailable for r in outcomes)
    skipped = queryset.exclude(status=S.ISSUING).count()
    modeladmin.message_user(
        request,
        gettext("查询 %(n)d 张：已开票 %(issued)d，开票中 %(pending)d，失败 %(failed)d，平台未受理 %(unknown)d，"
                "平台不可用 %(unavailable)d") % {"n": len(ids), "issued": issued, "pending": pending, "failed": failed,
                                                "unknown": unknown, "unavailable": unavailable},
        messages.WARNING if failed or unknown or unavailable or not ids else messages.SUCCESS if issued
        else messages.INFO,
    )
    errors = sum(len(r.errors) for r in outcomes)
    if errors:  # the platform's or the database's words go to the log, not to the page
        modeladmin.message_user(request, ngettext("%(n)d 张查询出错，请稍后再试", "%(n)d 张查询出错，请稍后再试", errors)
                                % {"n": errors}, messages.ERROR)
    if failed:
        for app in queryset.filter(pk__in=ids, status=S.FAILED)[:20]:
            modeladmin.message_user(request, _failure(app.number, app.fail_reason or app.last_error), messages.ERROR)
    if skipped:
        modeladmin.message_user(request, ngettext("%(n)d 张不在开票中，未查询", "%(n)d 张不在开票中，未查询", skipped)
                                % {"n": skipped}, messages.WARNING)


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("需人工处理")
    parameter_name = "needs_attention"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return [("1", _("是")), ("0", _("否"))]

    def queryset(self, request, queryset):  # noqa: ANN001, ANN201
        if self.value() == "1":
            return queryset.filter(needs_attention=True)
        if self.value() == "0":
            return queryset.filter(needs_attention=False)
        return queryset


# --- the reissue page --------------------------------------------------------------------------------------------

_REISSUE_TEMPLATE = "admin/issuing/invoiceapplication/reissue.html"


def reissue_view(modeladmin, request, pk):  # noqa: ANN001, ANN201
    """A person's decision, with a reason, to send the application again under a new serial."""
    if not request.user.has_perm("issuing.issue_invoiceapplication"):
        raise PermissionDenied
    obj = get_object_or_404(modeladmin.get_queryset(request), pk=pk)  # scoped to the user's entities
    error, reason = "", ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            app = platform_services.application_reissue_with_new_serial(application=obj, actor=request.user, reason=reason)
        except (ValidationError, PermissionDenied) as exc:
            error = _text(exc)
        else:
            app.refresh_from_db()  # the issuing task may already have answered
            text = gettext("申请单 %(number)s：流水号 %(serial)s，%(status)s") % {
                "number": app.number, "serial": app.issue_serial, "status": app.get_status_display()}
            if app.status == S.FAILED:
                text = _failure(text, app.fail_reason or app.last_error)
            modeladmin.message_user(
                request, text,
                messages.ERROR if app.status == S.FAILED
                else messages.WARNING if app.needs_attention else messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:issuing_invoiceapplication_change", args=[obj.pk]))
    context = {**modeladmin.admin_site.each_context(request), "title": _("换流水号重新开票"), "opts": obj._meta,
               "original": obj, "error": error, "reason": reason}
    return render(request, _REISSUE_TEMPLATE, context)
