"""A supplier (云途) and a buyer (明远) both connected to the sandbox platform, and an invoice the supplier issued to
the buyer that sits in the buyer's pool: the world of bookkeeping and red-letter forms on the receiving side."""

from __future__ import annotations

import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

from invoicing.channels import get_channel
from invoicing.channels.base import IssueLine, IssueRequest, Party
from receiving import services
from receiving.models import ReceivedInvoice
from sandbox import clock
from sandbox import services as sandbox

_serials = itertools.count(1)
CHINA = ZoneInfo("Asia/Shanghai")  # the platform's day: an invoice issued at 00:30 in Beijing is dated that day


def connect(taxpayer):
    taxpayer.channel_app_key = f"{taxpayer.credit_code}-key"
    taxpayer.channel_secret = f"{taxpayer.credit_code}-secret-value"
    taxpayer.save()
    sandbox.account_ensure(credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
                           secret=taxpayer.channel_secret, region_code=taxpayer.region_code)
    return taxpayer


def channel_of(taxpayer, fault: str = ""):
    ch = get_channel(taxpayer, transport="inprocess")
    return ch.with_fault(fault) if fault else ch


def _line(no: int, amount: str, rate: str = "0.06") -> IssueLine:
    a, r = Decimal(amount), Decimal(rate)
    return IssueLine(line_no=no, item_name="*信息技术服务*软件开发服务", short_name="信息技术服务", amount=a, tax_rate=r,
                     tax=(a * r).quantize(Decimal("0.01")), tax_code="3040201000000000000", quantity=Decimal(1),
                     unit_price=a, unit="项")


def supplied_invoice(seller, buyer, *, actor=None, amounts=("1000.00", "500.00")) -> ReceivedInvoice:
    """The supplier issues a 数电专票 to the buyer; the buyer has it in its pool (entered by hand, lines as issued)."""
    lines = tuple(_line(i, a) for i, a in enumerate(amounts, start=1))
    amount = sum((x.amount for x in lines), Decimal("0.00"))
    tax = sum((x.tax for x in lines), Decimal("0.00"))
    serial = f"RCV{next(_serials):06d}"
    ch = channel_of(seller)
    ch.issue_invoice(IssueRequest(
        serial=serial, seller_credit_code=seller.credit_code, kind="81",
        buyer=Party(name=buyer.name, tax_id=buyer.credit_code), lines=lines, total_amount=amount, total_tax=tax,
        total_with_tax=amount + tax, drawer="赵敏"))
    clock.advance(seconds=3600)
    issued = ch.query_issue(serial)
    assert issued.status == "issued"
    record = services.received_invoice_create_manual(
        taxpayer=buyer, actor=actor, kind="81", number=issued.invoice_number,
        issue_date=issued.issued_at.astimezone(CHINA).date(), seller_name=seller.name, seller_tax_id=seller.credit_code,
        buyer_name=buyer.name, buyer_tax_id=buyer.credit_code, amount=amount, tax=tax, total=amount + tax,
        lines=[{"item_name": x.item_name, "amount": x.amount, "tax_rate": x.tax_rate, "tax": x.tax,
                "quantity": x.quantity, "unit_price": x.unit_price, "tax_code": x.tax_code} for x in lines])
    record.serial_for_tests = serial  # the seller's serial, for the seller-side view of the invoice
    return record
