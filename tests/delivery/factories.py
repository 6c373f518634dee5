"""Issued invoices for delivery tests, created directly (issuing's services are not needed to test files)."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from issuing.applications.models import InvoiceApplication
from issuing.base import InvoiceKind
from issuing.platform.models import Invoice, InvoiceLine
from issuing.platform.rollup import rollup_invoice
from tests.factories import tax_category

_seq = itertools.count(1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_invoice(
    taxpayer,
    *,
    number: str | None = None,
    lines: int = 2,
    email: str = "finance@bailu.example.com",
    mobile: str = "13800138000",
    kind: str = InvoiceKind.SHUDIAN_NORMAL,
    blue: Invoice | None = None,
    issue_date: date = date(2026, 11, 20),
) -> Invoice:
    n = next(_seq)
    sign = Decimal(-1) if blue is not None else Decimal(1)
    app = InvoiceApplication.objects.create(
        number=f"SQ20261120{n:06d}",
        taxpayer=taxpayer,
        buyer_name="上海白鹭文化传媒有限公司",
        buyer_tax_id="91310000MA1K0BA10F",
        delivery_email=email,
        delivery_mobile=mobile,
        amount=Decimal("0.00"),
        tax=Decimal("0.00"),
        total=Decimal("0.00"),
    )
    amounts = [(Decimal("1000.00") * (i + 1) * sign) for i in range(lines)]
    taxes = [(a * Decimal("0.06")).quantize(Decimal("0.01")) for a in amounts]
    invoice = Invoice.objects.create(
        taxpayer=taxpayer,
        application=app,
        number=number or f"2644{taxpayer.pk % 100:02d}{n:014d}",
        kind=kind,
        is_red=blue is not None,
        blue_invoice=blue,
        issue_date=issue_date,
        issued_at=datetime(issue_date.year, issue_date.month, issue_date.day, 10, 30, 5, tzinfo=SHANGHAI),
        seller_name=taxpayer.name,
        seller_tax_id=taxpayer.credit_code,
        seller_address=taxpayer.address,
        seller_phone=taxpayer.phone,
        seller_bank_name=taxpayer.bank_name,
        seller_bank_account=taxpayer.bank_account,
        buyer_name=app.buyer_name,
        buyer_tax_id=app.buyer_tax_id,
        amount=sum(amounts, Decimal("0.00")),
        tax=sum(taxes, Decimal("0.00")),
        total=sum(amounts, Decimal("0.00")) + sum(taxes, Decimal("0.00")),
        remark="合同编号：HT-2026-001",
        drawer="测试开票员",
    )
    category = tax_category()
    for i, (amount, tax) in enumerate(zip(amounts, taxes, strict=True)):
        InvoiceLine.objects.create(
            invoice=invoice,
            line_no=i + 1,
            item_name="软件开发服务",
            short_name="信息技术服务",
            unit="项",
            quantity=Decimal(i + 1) * sign,
            unit_price=Decimal("1000"),
            amount=amount,
            tax_rate=Decimal("0.06"),
            tax=tax,
            tax_category=category,
        )
    rollup_invoice(invoice)  # as the services do when they record an invoice
    return invoice
