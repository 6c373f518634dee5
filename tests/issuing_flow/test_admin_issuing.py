"""The admin pieces for issuing: approve-and-issue, the actions, and the person's reissue page."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import actions as issue_actions
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def request_for(user, method="get", data=None):
    request = getattr(RequestFactory(), method)("/", data or {})
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def model_admin():
    return admin.site._registry[InvoiceApplication]


def test_approving_with_the_issuing_service_gives_an_issued_invoice(approved, fiona,
                                                                     django_capture_on_commit_callbacks):
    app = approved()
    InvoiceApplication.objects.filter(pk=app.pk).update(status=S.PENDING_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_approve_and_submit_issue(application=app, actor=fiona)
    app.refresh_from_db()
    assert app.status == S.ISSUED
    assert len(Invoice.objects.get(application=app).number) == 20


def test_the_submit_action_issues_the_selected_and_reports_counts(approved, fiona,
                                                                  django_capture_on_commit_callbacks):
    apps = approved(2)
    request = request_for(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        issue_actions.submit_issue(model_admin(), request, InvoiceApplication.objects.filter(
            pk__in=[a.pk for a in apps]))
    assert InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps], status=S.ISSUED).count() == 2
    shown = [str(m) for m in request._messages]
    assert shown[0] == "已发起开票 2 张申请单"
    assert len(shown) == 2 and "刚发起开票的 2 张申请单" in shown[1]  # where to watch them


def test_the_submit_action_says_which_were_already_started_and_why_others_were_refused(
    approved, fiona, django_capture_on_commit_callbacks
):
    started, fresh, waiting = approved(3)
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=started, actor=fiona)
    InvoiceApplication.objects.filter(pk=waiting.pk).update(status=S.PENDING_REVIEW)
    request = request_for(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        issue_actions.submit_issue(model_admin(), request, InvoiceApplication.objects.filter(
            pk__in=[started.pk, fresh.pk, waiting.pk]))
    messages = [str(m) for m in request._messages]
    assert messages[:2] == ["已发起开票 1 张申请单", "1 张已在开票中或已开票，未重复发起"]
    assert messages[2].startswith(f"{waiting.number}：") and "待审核" in messages[2]
    assert InvoiceApplication.objects.get(pk=fresh.pk).status == S.ISSUED
    assert Invoice.objects.filter(application__in=[started, fresh]).count() == 2


@pytest.mark.parametrize(("who", "after"), [("fiona", S.ISSUED), ("sam", S.APPROVED)])
def test_bulk_approval_issues_for_finance_and_waits_for_finance_after_a_reviewer(
    approved, request, who, after, django_capture_on_commit_callbacks
):


    user = request.getfixturevalue(who)
    apps = approved(3)
    InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps]).update(status=S.PENDING_REVIEW)
    for app in InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps]):
        application_services.application_claim(application=app, actor=user)
    with django_capture_on_commit_callbacks(execute=True):
        model_admin().approve_selected(request_for(user), InvoiceApplication.objects.filter(
            pk__in=[a.pk for a in apps]))
    assert set(InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps]).values_list("status", flat=True)) == {
        after}
    assert Invoice.objects.filter(application__in=apps).count() == (3 if after == S.ISSUED else 0)


def test_the_reissue_page_asks_for_a_reason_and_then_reissues(approved, fiona, faults,
                                                              django_capture_on_commit_callbacks):


    faults(error_rate=1)
    app = approved()
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=app)
    faults()
    page = issue_actions.reissue_view(model_admin(), request_for(fiona), app.pk)
    assert page.status_code == 200 and app.number in page.content.decode()
    refused = issue_actions.reissue_view(model_admin(), request_for(fiona, "post", {"reason": ""}), app.pk)
    assert refused.status_code == 200 and "原因" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = issue_actions.reissue_view(model_admin(), request_for(fiona, "post", {"reason": "平台未受理"}), app.pk)
    assert done.status_code == 302
    app.refresh_from_db()
    assert app.status == S.ISSUED and app.issue_serial.endswith("-R1")


def test_the_query_action_reports_what_the_platform_says(approved, fiona, django_capture_on_commit_callbacks):


    app = approved()
    with django_capture_on_commit_callbacks(execute=False):
        platform_services.application_submit_issue(application=app)
    request = request_for(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        issue_actions.query_platform_now(model_admin(), request, InvoiceApplication.objects.filter(pk=app.pk))
    assert "平台未受理 1" in [str(m) for m in request._messages][0]
    app.refresh_from_db()
    assert app.status == S.ISSUED  # re-queued with the same serial (eager here)
