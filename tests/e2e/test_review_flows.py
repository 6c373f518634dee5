"""The review desk in Debian's Chromium: customer service claims, rejects (from the page and in bulk, with a reason)
and approves; finance approves-and-issues and sees 已开票; finance bulk-issues and lands on what it started; a
red-letter form the platform refuses comes back as an error banner with the platform's words.

Celery runs eager in tests (tests/settings.py), so issuing happens during the request that starts it; the tests still
poll the page for the state, as a person reloading would, so that they hold with a real worker too."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from invoicing.models import Taxpayer
from tests.e2e.conftest import choose_blue_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"
LIST = "/admin/issuing/invoiceapplication/"


@pytest.fixture
def review_world(settings, transactional_db):
    """The whole demo (``make run``'s seed) on the in-process sandbox, whose platform answers at once, and five
    more applications of 云途 waiting for review: ``{"a": app, ...}``."""
    from sandbox.models import SandboxAccount
    from tests.issuing.factories import make_document

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    devnull = open("/dev/null", "w")  # noqa: SIM115
    call_command("seed_demo", force=True, stdout=devnull, stderr=devnull)  # tests run with DEBUG off
    SandboxAccount.objects.update(issue_delay_seconds=0)
    from issuing.applications import services as application_services

    yuntu = Taxpayer.objects.get(credit_code=YUNTU)
    apps = {}
    for key in "abcde":
        doc = make_document(yuntu, external_no=f"E2E-{key.upper()}")
        apps[key] = application_services.application_create(actor=None, taxpayer=yuntu, sources=[doc])
    return apps


def _status(page) -> str:
    return page.inner_text(".field-status .readonly").strip()


def _message(page, level: str) -> str:
    return page.inner_text(f"ul.messagelist li.{level}")


def _no_success(page) -> None:
    assert page.locator("ul.messagelist li.success").count() == 0


def _open(page, live_server, number: str) -> None:
    page.goto(f"{live_server.url}{LIST}?q={number}")
    page.click(f"#result_list a:text-is('{number}')")
    page.wait_for_selector(".field-status")


def _row(page, number: str):
    return page.locator("#result_list tbody tr", has=page.locator(f"a:text-is('{number}')"))


def _select_and_run(page, numbers, action: str) -> None:
    for number in numbers:
        _row(page, number).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def _reload_until(page, check, *, seconds: float = 20.0) -> None:
    """Reload the page (as a person would) until ``check(page)`` holds."""
    deadline = time.monotonic() + seconds
    while not check(page):
        assert time.monotonic() < deadline, "the page never showed the expected state"
        time.sleep(0.5)
        page.reload()


def test_customer_service_claims_rejects_one_and_many_with_a_reason_and_approves(review_world, login, shots,
                                                                                 live_server):
    a, b, c, d = (review_world[k].number for k in "abcd")
    page = login("service")

    # claim from the change page
    _open(page, live_server, a)
    assert _status(page) == "待审核"
    shots(page, "pending")
    page.click("button[data-transition=claim]")
    assert f"已领取 1 张申请单：{a}" in _message(page, "success")
    assert _status(page) == "审核中"
    shots(page, "claimed")

    # reject from the change page: its own page, with the reason the customer reads
    page.click("a[data-transition=reject]")
    page.wait_for_selector("form.fapiao-reject-form")
    assert "驳回申请单" in page.inner_text("#content") and a in page.inner_text("table.fapiao-reject-list")
    page.fill("#id_reason", "购买方名称与营业执照不一致，请核对后重新申请")
    shots(page, "reject-reason")
    page.click("input[name=_reject]")
    page.wait_for_selector(".field-status")
    assert f"已驳回 1 张申请单：{a}" in _message(page, "success")
    assert _status(page) == "驳回"
    assert "购买方名称与营业执照不一致" in page.inner_text(".field-reject_reason")
    shots(page, "rejected")

    # bulk: claim two in the list, then reject both with one reason asked on a confirmation page
    page.goto(f"{live_server.url}{LIST}")
    _select_and_run(page, [b, c], "claim_selected")
    assert "已领取 2 张申请单" in _message(page, "success")
    _select_and_run(page, [b, c], "reject_selected")
    page.wait_for_selector("form.fapiao-reject-form")
    listed = page.inner_text("table.fapiao-reject-list")
    assert b in listed and c in listed
    shots(page, "bulk-reject-reason")
    page.click("input[name=_reject]")  # no reason: the browser itself asks for one (the field is required)
    assert page.locator("form.fapiao-reject-form").count() == 1
    page.fill("#id_reason", "发票抬头缺少税号")
    page.click("input[name=_reject]")
    page.wait_for_selector("#result_list")
    assert "已驳回 2 张申请单" in _message(page, "success")
    for number in (b, c):
        assert "驳回" in _row(page, number).locator("td.field-status_display").inner_text()
    shots(page, "bulk-rejected")

    # approve: customer service approves, the application waits in 待开票 for finance
    _open(page, live_server, d)
    page.click("button[data-transition=claim]")
    page.click("button[data-transition=approve]")
    assert f"已批准 1 张申请单：{d}" in _message(page, "success")
    assert _status(page) == "待开票"
    shots(page, "approved")


def test_finance_approves_and_issues_and_sees_issued(review_world, login, shots, live_server):
    e = review_world["e"].number
    page = login("finance")
    _open(page, live_server, e)
    shots(page, "pending")
    page.click("button[data-transition=approve]")
    assert f"已批准 1 张申请单：{e}" in _message(page, "success")
    _reload_until(page, lambda p: _status(p) == "已开票")
    assert page.inner_text(".field-issued_at .readonly").strip() not in ("", "-")
    shots(page, "issued")


def test_finance_bulk_issues_and_lands_on_what_started(review_world, login, shots, live_server):
    from issuing.applications.models import ApplicationStatus, InvoiceApplication

    approved = list(InvoiceApplication.objects.filter(status=ApplicationStatus.APPROVED, taxpayer__credit_code=YUNTU)
                    .values_list("number", flat=True))
    assert len(approved) >= 2
    others = list(InvoiceApplication.objects.exclude(number__in=approved).values_list("number", flat=True))
    page = login("finance")
    page.goto(f"{live_server.url}{LIST}?status__exact=approved&taxpayer__id__exact="
              f"{Taxpayer.objects.get(credit_code=YUNTU).pk}")
    shots(page, "approved-list")
    _select_and_run(page, approved, "submit_issue")
    assert "id__in=" in page.url
    assert f"已发起开票 {len(approved)} 张申请单" in _message(page, "success")
    assert f"刚发起开票的 {len(approved)} 张申请单" in _message(page, "info")
    colour = "el => getComputedStyle(el).backgroundColor"
    assert (page.eval_on_selector("ul.messagelist li.info", colour)
            != page.eval_on_selector("ul.messagelist li.success", colour))  # a note is not styled as a success
    shown = page.locator("#result_list tbody tr").count()
    assert shown == len(approved)
    body = page.inner_text("#result_list")
    assert all(n in body for n in approved) and not any(n in body for n in others)
    shots(page, "started")
    _reload_until(page, lambda p: all("已开票" in _row(p, n).locator("td.field-status_display").inner_text()
                                      for n in approved))
    shots(page, "issued")


def test_a_red_letter_form_refused_by_the_platform_is_an_error_banner(review_world, login, shots, live_server,
                                                                      monkeypatch):
    from invoicing.channels.base import ChannelRejected
    from invoicing.channels.sandbox import SandboxChannel
    from issuing.applications import services as application_services
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice

    app = application_services.application_approve(application=review_world["e"], actor=None)
    application_services.application_mark_issuing(application=app, actor=None)
    assert platform_services.issue_attempt(application_id=app.pk) == platform_services.Outcome.ISSUED
    blue = Invoice.objects.get(application=app)
    refusal = "购方未进行用途确认或入账确认，只能全额红冲"

    def refuse(self, request):
        raise ChannelRejected("3303", refusal)

    monkeypatch.setattr(SandboxChannel, "red_form_apply", refuse)
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/redletterform/add/")
    choose_blue_invoice(page, blue.number)
    shots(page, "request")
    page.click("input[name=_submit_now]")
    page.wait_for_selector("ul.messagelist")
    error = _message(page, "error")
    assert "提交失败" in error and "3303" in error and refusal in error
    _no_success(page)
    shots(page, "refused")


def test_approve_over_quota_is_disabled_and_says_why(review_world, login, shots, live_server):
    from issuing.applications import quota
    from issuing.applications.selectors import quota_month

    quota.quota_set(actor=None, taxpayer=Taxpayer.objects.get(credit_code=YUNTU), month=quota_month(),
                       total="50.00")
    a = review_world["a"].number
    page = login("finance")
    _open(page, live_server, a)
    button = page.locator("button[data-transition=approve]")
    assert button.is_disabled()
    note = page.inner_text(".fapiao-compliance")
    assert "「批准」" in note and "暂不可用" in note and "额度" in page.inner_text(".fapiao-compliance li[data-rule=quota]")
    assert "额度" in button.get_attribute("title")
    shots(page, "approve-disabled")
    assert _status(page) == "待审核"
