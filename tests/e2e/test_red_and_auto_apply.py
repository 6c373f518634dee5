"""Red-letter forms, a refund that red-flushes and the 付款后自动申请 trigger, in Debian's Chromium (issue 14).

Each test is one flow as finance meets it; every step asserts what the page shows and leaves a screenshot under
``var/screenshots/<test>/``. The tax platform is the sandbox, called in process; Celery tasks run eagerly, the way a
worker would pick them up at once.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.models import Taxpayer
from issuing.applications.models import InvoiceApplication
from issuing.billing import services as billing_services
from issuing.billing.models import ApplicationTrigger, BillingDocument, IssuingPolicy
from issuing.platform.models import Invoice
from issuing.redletter import demo
from issuing.redletter.models import RedLetterForm
from tests.e2e.conftest import choose_blue_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"
SOFTWARE = "3040201000000000000"


@pytest.fixture
def red_world(demo_world, settings):
    """The demo plus the red-letter demo's blue invoices (three per entity, and one paid billing document each,
    invoiced in full), issued at once on the in-process sandbox."""
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"

    from sandbox import demo as sandbox_demo
    from sandbox.models import SandboxAccount

    sandbox_demo.seed()
    SandboxAccount.objects.update(issue_delay_seconds=0)
    demo.seed()
    return Taxpayer.objects.get(credit_code=YUNTU)


@pytest.fixture
def eager_celery():
    from invoicing.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def demo_blue(entity) -> Invoice:
    """A blue invoice of the red-letter demo not tied to a billing document."""
    return (Invoice.objects.filter(taxpayer=entity, is_red=False, status="normal", application__sources=None)
            .order_by("pk").first())


def messages_text(page) -> str:
    return page.inner_text("ul.messagelist") if page.query_selector("ul.messagelist") else ""


def test_finance_red_flushes_an_issued_invoice_in_full_choosing_it_in_the_autocomplete(red_world, login, shots,
                                                                                       live_server):
    blue = demo_blue(red_world)
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/redletterform/add/")
    assert "申请红冲" in page.inner_text("#content")
    assert page.query_selector("input[name=blue_number]") is None  # chosen, not typed
    shots(page, "request-form")
    choose_blue_invoice(page, blue.number)
    page.select_option("#id_reason", "01")
    shots(page, "invoice-chosen")
    page.click("input[name=_submit_now]")
    page.wait_for_selector("ul.messagelist")
    assert "已提交 1 张红字确认单" in messages_text(page)
    content = page.inner_text("#content")
    form = RedLetterForm.objects.get(blue_invoice=blue)
    assert form.status == "01" and form.red_invoice is not None
    assert "无需确认" in content and form.red_invoice.number in content
    shots(page, "form-effective-red-issued")
    page.goto(f"{live_server.url}/admin/issuing/invoice/{blue.pk}/change/")
    assert "已全额红冲" in page.inner_text("#content")
    shots(page, "blue-invoice-red-full")


def test_a_partial_red_is_refused_before_submitting_until_the_buyer_confirms_the_use(red_world, login, shots,
                                                                                     live_server):
    blue = demo_blue(red_world)
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/redletterform/add/")
    choose_blue_invoice(page, blue.number)
    page.select_option("#id_reason", "04")
    page.fill("#id_amount_with_tax", "100.00")
    shots(page, "partial-request")
    page.click("input[name=_submit_now]")
    page.wait_for_selector(".errornote, .errorlist")
    errors = page.inner_text("#content")
    assert "购方尚未对蓝字发票" in errors and "只能全额红冲" in errors and "请改为全额红冲" in errors
    assert "完成用途确认或入账确认后再部分红冲" in errors
    assert not RedLetterForm.objects.filter(blue_invoice=blue).exists()
    shots(page, "refused-before-submit")

    # The demo's buyer confirms the use on the platform (the sandbox admin), and the same request goes through.
    page.goto(f"{live_server.url}/admin/sandbox/ledgerinvoice/?q={blue.number}")
    page.check(f"tr:has-text('{blue.number}') input.action-select")
    page.select_option("select[name=action]", "mark_usage_confirmed")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "1 张发票已标记为购方已用途确认" in messages_text(page)
    shots(page, "sandbox-buyer-confirms-use")
    page.goto(f"{live_server.url}/admin/issuing/redletterform/add/")
    choose_blue_invoice(page, blue.number)
    page.select_option("#id_reason", "04")
    page.fill("#id_amount_with_tax", "100.00")
    page.click("input[name=_submit_now]")
    page.wait_for_selector("ul.messagelist")
    form = RedLetterForm.objects.get(blue_invoice=blue)
    assert form.status == "02" and not form.is_full and form.total == Decimal("-100.00")
    assert "销方录入待购方确认" in page.inner_text("#content")
    shots(page, "partial-waits-for-buyer")


def test_a_refund_on_a_billing_document_red_flushes_its_invoice(red_world, login, shots, live_server):
    doc = BillingDocument.objects.get(taxpayer=red_world, source_system="demo-red")
    blue = Invoice.objects.get(application__sources__billing_document=doc, is_red=False)
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/{doc.pk}/change/")
    assert doc.external_no in page.inner_text("#content")
    shots(page, "document")
    page.click("text=登记退款")
    page.fill("#id_amount", "1060.00")
    page.fill("#id_reason", "客户退货")
    shots(page, "refund-form")
    page.click("input[type=submit].default")
    page.wait_for_selector("ul.messagelist")
    assert "已登记退款 1 笔" in messages_text(page)
    assert "超开 1,060.00" in page.inner_text("#content") or "超开 1060.00" in page.inner_text("#content")
    shots(page, "refund-recorded-over-invoiced")

    # The beat runs the refund scan every minute; run it now, as it would.
    from issuing.redletter.tasks import redletter_refunds_task

    assert redletter_refunds_task()["forms"] == 1
    form = RedLetterForm.objects.get(billing_document=doc)
    assert form.status == "01" and form.red_invoice is not None
    page.goto(f"{live_server.url}/admin/issuing/redletterform/{form.pk}/change/")
    content = page.inner_text("#content")
    assert "无需确认" in content and form.red_invoice.number in content and doc.external_no in content
    shots(page, "refund-red-form")
    page.goto(f"{live_server.url}/admin/issuing/invoice/{blue.pk}/change/")
    assert "已全额红冲" in page.inner_text("#content")
    shots(page, "blue-invoice-red-full")


def test_on_payment_trigger_applies_and_issues_without_a_person(red_world, login, shots, live_server, eager_celery):
    IssuingPolicy.objects.update_or_create(taxpayer=red_world, defaults={
        "auto_approve": True, "auto_approve_company_limit": Decimal("5000.00")})
    doc = billing_services.billing_document_create(
        actor=None, taxpayer=red_world, external_no="SO-AUTO-1", source_system="shop",
        buyer={"buyer_name": "上海白鹭文化传媒有限公司", "buyer_tax_id": "91310000MA1K0BA10F"},
        buyer_email="ap@bailu.example.com",
        lines=[{"item_name": "软件技术服务费", "tax_category": SOFTWARE, "tax_rate": "0.06", "amount": "1060.00"}],
    )
    policy = IssuingPolicy.objects.get(taxpayer=red_world)
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/issuingpolicy/{policy.pk}/change/")
    page.select_option("#id_application_trigger", ApplicationTrigger.ON_PAYMENT)
    page.check("#id_auto_issue")
    shots(page, "policy-on-payment")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    assert "付款后自动申请" in page.inner_text("#result_list")
    shots(page, "policy-saved")

    page.goto(f"{live_server.url}/admin/issuing/billingdocument/{doc.pk}/change/")
    page.click("text=登记收款")
    page.fill("#id_amount", "1060.00")
    shots(page, "payment-form")
    page.click("input[type=submit].default")
    page.wait_for_selector("ul.messagelist")
    app = InvoiceApplication.objects.get(sources__billing_document=doc)
    shown = messages_text(page)
    assert "已登记收款 1 笔" in shown and f"已按开票设置自动生成开票申请 {app.number}" in shown
    shots(page, "payment-recorded-application-created")

    page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/{app.pk}/change/")
    content = page.inner_text("#content")
    invoice = Invoice.objects.get(application=app)
    assert app.trigger_key == f"paid:{doc.pk}"
    html = page.content()  # the buyer and contacts are editable inputs on this page
    assert "已开票" in content and "上海白鹭文化传媒有限公司" in html and "ap@bailu.example.com" in html
    shots(page, "application-issued")
    page.goto(f"{live_server.url}/admin/issuing/invoice/?q={app.number}")
    listed = page.inner_text("#result_list")
    assert invoice.number in listed and "上海白鹭文化传媒有限公司" in listed
    shots(page, "invoice-listed")
