"""Invoices for export and report tests, built directly (issuing them through the channel is not the point here)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.platform.rollup import rollup_invoice
from tests.factories import tax_category

_numbers = itertools.count(1)


def make_invoice(taxpayer, lines, *, day=dt.date(2026, 10, 15), red_of=None, status=InvoiceStatus.NORMAL,
                 buyer_name="上海白鹭文化传媒有限公司"):
    """``lines``: (amount, rate, tax) triples as strings; a red invoice gets them negated."""
    sign = Decimal(-1) if red_of is not None else Decimal(1)
    parsed = [(sign * Decimal(a), Decimal(r), sign * Decimal(t)) for a, r, t in lines]
    amount = sum((a for a, _, _ in parsed), Decimal("0.00"))
    tax = sum((t for _, _, t in parsed), Decimal("0.00"))
    inv = Invoice.objects.create(
        taxpayer=taxpayer, number=f"{26440000000000000000 + next(_numbers)}", kind="82",
        is_red=red_of is not None, blue_invoice=red_of, issue_date=day,
        issued_at=timezone.make_aware(dt.datetime.combine(day, dt.time(10))), seller_name=taxpayer.name,
        seller_tax_id=taxpayer.credit_code, buyer_name=buyer_name, buyer_tax_id="91310000MA1K0BA10F",
        amount=amount, tax=tax, total=amount + tax, status=status,
    )
    cat = tax_category()
    InvoiceLine.objects.bulk_create([
        InvoiceLine(invoice=inv, line_no=i, item_name="软件技术服务费", amount=a, tax_rate=r, tax=t, tax_category=cat)
        for i, (a, r, t) in enumerate(parsed, 1)
    ])
    if status != InvoiceStatus.VOIDED:
        rollup_invoice(inv)  # as the services do when they record an invoice
    return inv


@pytest.fixture
def invoices(yuntu, mingyuan):
    blue1 = make_invoice(yuntu, [("1000.00", "0.06", "60.00"), ("200.00", "0.13", "26.00")])
    make_invoice(yuntu, [("500.00", "0.06", "30.00")], day=dt.date(2026, 10, 20))
    make_invoice(yuntu, [("300.00", "0.06", "18.00")], day=dt.date(2026, 11, 2))
    make_invoice(yuntu, [("1000.00", "0.06", "60.00")], day=dt.date(2026, 10, 21), red_of=blue1)
    make_invoice(yuntu, [("999.00", "0.06", "59.94")], status=InvoiceStatus.VOIDED)
    make_invoice(mingyuan, [("100.00", "0.06", "6.00")], buyer_name="=HYPERLINK(\"http://x\")")
    make_invoice(mingyuan, [("50.00", "0.13", "6.50")], day=dt.date(2026, 11, 5))
    return blue1
