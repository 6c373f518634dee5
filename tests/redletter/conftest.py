"""The red-letter world: 云途 (seller) and 明远 (its buyer) on their sandbox accounts, blue invoices issued through the
real issuing flow, and the in-process channel."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.channels import get_channel
from issuing.applications import services as application_services
from issuing.billing import services as billing_services
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from sandbox import services as sandbox
from tests.issuing_flow.conftest import connect, fast_retries  # noqa: F401 - the autouse settings fixture

MINGYUAN_BUYER = {"buyer_name": "深圳明远信息技术有限公司", "buyer_tax_id": "91440300MA5FM1NGYB",
                  "buyer_address": "深圳市南山区科技园明远大厦",
                  "buyer_phone": "0755-86660000", "buyer_bank_name": "中国银行", "buyer_bank_account": "7560301234567890"}
SOFTWARE = "3040201000000000000"


@pytest.fixture
def seller(yuntu_paper):
    """云途 on its sandbox account, with paper stock: the red-letter tests issue 数电纸票 too."""
    return connect(yuntu_paper, issue_delay_seconds=0, monthly_quota=Decimal("100000000.00"))


@pytest.fixture
def buyer_entity(mingyuan):
    return connect(mingyuan, issue_delay_seconds=0)


@pytest.fixture
def channel(seller):
    return get_channel(seller, transport="inprocess")


@pytest.fixture
def buyer_channel(buyer_entity):
    return get_channel(buyer_entity, transport="inprocess")


def line(amount="1000.00", *, quantity="10", price=None, discount="0", name="软件技术服务费", rate="0.06"):
    amount = Decimal(amount)
    return {"item_name": name, "tax_category": SOFTWARE, "tax_rate": rate, "amount": amount, "tax_inclusive": False,
            "quantity": Decimal(quantity) if quantity else None,
            "unit_price": (Decimal(price) if price else amount / Decimal(quantity)) if quantity else None,
            "discount": Decimal(discount)}


def issue(application, channel) -> Invoice:
    """待审核 → 待开票 → 开票中 → 已开票 through the services and one issuing attempt on the channel."""
    application_services.application_approve(application=application, actor=None)
    application_services.application_mark_issuing(application=application, actor=None)
    outcome = platform_services.issue_attempt(application_id=application.pk, channel=channel)
    assert outcome == platform_services.Outcome.ISSUED, outcome
    return Invoice.objects.get(application=application, is_red=False)


@pytest.fixture
def blue(seller, buyer_entity, channel):
    """Issue a blue invoice from 云途 to 明远: ``blue()`` is line 1 1000.00 + 60.00 and line 2 500.00 + 30.00;
    ``blue(lines=[...], kind="81", booked=True)`` otherwise. ``booked``: the buyer has booked it on the platform,
    so forms need its confirmation and partial red is possible."""

    def make(*, lines=None, kind="82", booked=False):
        app = application_services.application_create(
            actor=None, taxpayer=seller, kind=kind, buyer=MINGYUAN_BUYER,
            lines=lines or [line("1000.00"), line("500.00", quantity="5")],
        )
        invoice = issue(app, channel)
        if booked:
            sandbox.invoice_mark_booked(number=invoice.number)
        return invoice

    return make


@pytest.fixture
def document_invoice(seller, buyer_entity, channel):
    """A paid billing document (价税合计 ``total``) fully invoiced by one blue invoice: (document, invoice)."""

    def make(total="1060.00", *, external_no="ORD-1", booked=False, kind="82"):
        doc = billing_services.billing_document_create(
            actor=None, taxpayer=seller, external_no=external_no, buyer=MINGYUAN_BUYER,
            lines=[{"item_name": "软件技术服务费", "tax_category": SOFTWARE, "tax_rate": "0.06", "amount": total,
                    "tax_inclusive": True}],
            paid_amount=total,
        )
        app = application_services.application_create(actor=None, taxpayer=seller, kind=kind, sources=[doc])
        invoice = issue(app, channel)
        if booked:
            sandbox.invoice_mark_booked(number=invoice.number)
        doc.refresh_from_db()
        return doc, invoice

    return make


def buyer_confirms(buyer_channel, form):
    return buyer_channel.red_form_confirm(form.form_no)
