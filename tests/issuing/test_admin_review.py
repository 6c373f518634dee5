"""The review desk in the admin: 驳回 that a browser can submit (single and bulk, with a reason), 批准 that says why it
would be refused, actions that never report a failure as a success, and bulk issue that lands on what it started."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.messages import constants
from django.urls import reverse

from issuing.applications import quota
from issuing.applications.models import ApplicationStatus as S
from issuing.applications.selectors import quota_month
from tests.issuing.factories import InvoiceApplicationFactory, refused

pytestmark = pytest.mark.django_db

LIST = "admin:issuing_invoiceapplication_changelist"


class FormNesting(HTMLParser):
    """The deepest nesting of <form> elements in a page (a browser ignores a form inside a form)."""

    def __init__(self):
        super().__init__()
        self.depth = self.deepest = 0

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth -= 1


def _deepest_form(html: str) -> int:
    parser = FormNesting()
    parser.feed(html)
    return parser.deepest


def _messages(response):
    return [(m.level, str(m)) for m in response.context["messages"]] if response.context else []


def _change(app):
    return reverse("admin:issuing_invoiceapplication_change", args=[app.pk])


# --- 驳回 -----------------------------------------------------------------------------------------------------


def test_the_change_page_has_no_form_inside_the_change_form_and_links_to_the_reject_page(client, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=sam)
    client.force_login(sam)
    page = client.get(_change(app)).content.decode()
    assert _deepest_form(page) == 1, "a form nested in the change form is ignored by browsers"
    reject = reverse("admin:issuing_invoiceapplication_reject", args=[app.pk])
    assert f'href="{reject}"' in page and 'data-transition="reject"' in page


def test_rejecting_from_its_page_needs_a_reason_keeps_the_typed_one_and_then_rejects(client, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=sam)
    url = reverse("admin:issuing_invoiceapplication_reject", args=[app.pk])
    client.force_login(sam)
    page = client.get(url)
    assert page.status_code == 200 and app.number in page.content.decode()
    assert _deepest_form(page.content.decode()) == 1
    empty = client.post(url, {"reason": "  "})
    assert empty.status_code == 200 and "驳回必须填写原因" in empty.content.decode()
    app.refresh_from_db()
    assert app.status == S.IN_REVIEW
    done = client.post(url, {"reason": "抬头与营业执照不符"}, follow=True)
    assert done.redirect_chain[-1][0] == _change(app)
    assert (constants.SUCCESS, f"已驳回 1 张申请单：{app.number}") in _messages(done)
    app.refresh_from_db()
    assert app.status == S.REJECTED and app.reject_reason == "抬头与营业执照不符"


def test_a_refused_reject_keeps_the_reason_and_says_why(client, sam, fiona, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=fiona)  # claimed by someone else
    client.force_login(sam)
    response = client.post(reverse("admin:issuing_invoiceapplication_reject", args=[app.pk]), {"reason": "税号有误"})
    body = response.content.decode()
    assert response.status_code == 200 and "该申请单已被其他审核人领取" in body and "税号有误" in body
    app.refresh_from_db()
    assert app.status == S.IN_REVIEW


def test_the_reject_page_is_for_reviewers_of_the_entity_only(client, lily, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.PENDING_REVIEW)
    client.force_login(lily)
    assert client.get(reverse("admin:issuing_invoiceapplication_reject", args=[app.pk])).status_code == 404


def test_bulk_reject_asks_for_the_reason_on_a_page_then_rejects_each_with_it(client, fiona, yuntu):
    pending = [InvoiceApplicationFactory(taxpayer=yuntu) for _ in range(2)]
    approved = InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED)
    ids = [a.pk for a in [*pending, approved]]
    client.force_login(fiona)
    ask = client.post(reverse(LIST), {"action": "reject_selected", "_selected_action": ids})
    body = ask.content.decode()
    assert ask.status_code == 200 and 'name="reason"' in body and 'name="post"' in body
    assert all(a.number in body for a in [*pending, approved])
    assert {a.status for a in type(approved).objects.filter(pk__in=ids)} == {S.PENDING_REVIEW, S.APPROVED}
    again = client.post(reverse(LIST), {"action": "reject_selected", "_selected_action": ids, "post": "yes",
                                        "reason": ""})
    assert again.status_code == 200 and "驳回必须填写原因" in again.content.decode()
    done = client.post(reverse(LIST), {"action": "reject_selected", "_selected_action": ids, "post": "yes",
                                       "reason": "开票信息不全"}, follow=True)
    shown = _messages(done)
    assert (constants.WARNING, "已驳回 2 张申请单") in shown and (constants.ERROR, "1 张未能驳回") in shown
    assert any(level == constants.ERROR and approved.number in text for level, text in shown)
    for app in pending:
        app.refresh_from_db()
        assert app.status == S.REJECTED and app.reject_reason == "开票信息不全"
    approved.refresh_from_db()
    assert approved.status == S.APPROVED


# --- success only for success -----------------------------------------------------------------------------------


def test_a_bulk_claim_with_refusals_is_a_warning_and_all_refused_is_an_error(client, sam, yuntu):
    free = InvoiceApplicationFactory(taxpayer=yuntu)
    taken = InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED)
    client.force_login(sam)
    done = client.post(reverse(LIST), {"action": "claim_selected", "_selected_action": [free.pk, taken.pk]},
                       follow=True)
    shown = _messages(done)
    assert (constants.WARNING, "已领取 1 张申请单") in shown and (constants.ERROR, "1 张未能领取") in shown
    assert not any(level == constants.SUCCESS for level, _text in shown)
    none = client.post(reverse(LIST), {"action": "claim_selected", "_selected_action": [taken.pk]}, follow=True)
    shown = _messages(none)
    assert (constants.ERROR, "1 张未能领取") in shown
    assert not any(level in (constants.SUCCESS, constants.INFO) for level, _text in shown)


def test_a_bulk_approval_that_approves_nothing_is_an_error(client, fiona, yuntu):
    quota.quota_set(actor=None, taxpayer=yuntu, month=quota_month(), total="1.00")
    app = InvoiceApplicationFactory(taxpayer=yuntu)
    client.force_login(fiona)
    done = client.post(reverse(LIST), {"action": "approve_selected", "_selected_action": [app.pk]}, follow=True)
    levels = {level for level, _text in _messages(done)}
    assert constants.ERROR in levels and constants.SUCCESS not in levels and constants.WARNING not in levels


# --- 批准 over quota ------------------------------------------------------------------------------------------


def test_approve_is_offered_disabled_with_the_reason_while_the_quota_would_refuse(client, fiona, yuntu):
    quota.quota_set(actor=None, taxpayer=yuntu, month=quota_month(), total="50.00")
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=fiona)
    client.force_login(fiona)
    page = client.get(_change(app)).content.decode()
    transition = reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "approve"])
    assert transition not in page  # no form that would post 批准
    assert 'data-transition="approve" disabled' in page and "fapiao-refused" in page
    assert 'data-rule="quota"' in page and "暂不可用" in page
    quota.quota_set(actor=None, taxpayer=yuntu, month=quota_month(), total="100000.00")
    page = client.get(_change(app)).content.decode()
    assert transition in page and "fapiao-refused" not in page


# --- bulk issue lands on what it started ------------------------------------------------------------------------


def test_bulk_issue_lands_on_the_list_of_what_it_started(client, fiona, yuntu, django_capture_on_commit_callbacks):
    apps = [InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED) for _ in range(2)]
    other = InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED)
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse(LIST), {"action": "submit_issue", "_selected_action": [a.pk for a in apps]})
    assert response.status_code == 302
    target = response["Location"]
    assert target.startswith(reverse(LIST)) and "id__in=" in target
    page = client.get(target)
    body = page.content.decode()
    assert all(a.number in body for a in apps) and other.number not in body
    shown = _messages(page)
    assert (constants.SUCCESS, "已发起开票 2 张申请单") in shown
    assert any(level == constants.INFO and "刚发起开票的 2 张申请单" in text for level, text in shown)


def test_finance_bulk_approval_issues_and_lands_on_what_it_started(client, fiona, yuntu,
                                                                   django_capture_on_commit_callbacks):
    apps = [InvoiceApplicationFactory(taxpayer=yuntu) for _ in range(2)]
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse(LIST), {"action": "approve_selected", "_selected_action": [a.pk for a in apps]})
    assert response.status_code == 302 and "id__in=" in response["Location"]
    for app in apps:
        app.refresh_from_db()
        assert app.status == S.ISSUING


@pytest.mark.django_db(transaction=True)
def test_a_platform_refusal_right_after_approval_is_an_error_on_the_page(client, fiona, yuntu, monkeypatch):
    """Finance's 批准 also issues; when the platform answers at once with a refusal, the page says so in red."""
    from issuing.applications.models import InvoiceApplication
    from issuing.platform.tasks import issue_application_task

    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=fiona)

    def refuse(pk):  # the issuing task's call answered at once with a refusal
        refused(InvoiceApplication.objects.get(pk=pk), code="2001", message="购买方纳税人识别号不存在")

    monkeypatch.setattr(issue_application_task, "delay", refuse)  # the task queued on commit, run by a worker
    client.force_login(fiona)
    response = client.post(reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "approve"]),
                           follow=True)
    shown = _messages(response)
    assert any(level == constants.ERROR and "开票失败" in text and "购买方纳税人识别号不存在" in text
               for level, text in shown), shown
    app.refresh_from_db()
    assert app.status == S.FAILED


def test_the_reject_page_shows_the_total_as_money(client, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=sam, amount=Decimal("12000.00"),
                                    tax=Decimal("720.00"), total=Decimal("12720.00"))
    client.force_login(sam)
    page = client.get(reverse("admin:issuing_invoiceapplication_reject", args=[app.pk])).content.decode()
    assert '<td style="text-align:right">12,720.00</td>' in page and "12720.00" not in page
