"""Writing Invoice rows from approved applications (the platform's answer supplies number and date)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from issuing.applications import selectors as application_selectors
from issuing.applications.models import (
    ApplicationLine,
    InvoiceApplication,
)
from issuing.base import PAPER_KINDS
from issuing.paperstock.services import paper_number_take
from issuing.platform.models import Invoice, InvoiceLine
from issuing.platform.rollup import rollup_invoice, rollup_invoices

logger = logging.getLogger(__name__)


def _invoice_rows(
    app: InvoiceApplication,
    lines: Iterable[ApplicationLine],
    *,
    number: str,
    issued_at: datetime,
    paper_code: str = "",
    paper_number: str = "",
    kind: str = "",
    amount: Decimal | None = None,
    tax: Decimal | None = None,
    total: Decimal | None = None,
    serial: str = "",
) -> tuple[Invoice, list[InvoiceLine]]:
    """The blue Invoice and its lines (unsaved) from the application's snapshot; the platform's figures win."""
    seller = app.taxpayer
    invoice = Invoice(
        taxpayer=seller,
        application=app,
        number=number,
        paper_code=paper_code,
        paper_number=paper_number,
        kind=kind or app.kind,
        issue_date=timezone.localdate(issued_at),
        issued_at=issued_at,
        seller_name=seller.name,
        seller_tax_id=seller.credit_code,
        seller_address=seller.address,
        seller_phone=seller.phone,
        seller_bank_name=seller.bank_name,
        seller_bank_account=seller.bank_account,
        amount=app.amount if amount is None else amount,
        tax=app.tax if tax is None else tax,
        total=app.total if total is None else total,
        remark=app.remark,
        drawer=seller.drawer,
        specific_business=app.specific_business,
        specific_business_data=app.specific_business_data,
        quota_month=application_selectors.quota_month(issued_at),
        channel_serial=serial or app.issue_serial or "",
        **app.buyer_snapshot(),
    )
    rows = [
        InvoiceLine(
            invoice=invoice,
            line_no=ln.line_no,
            item_name=ln.item_name,
            short_name=ln.short_name,
            spec=ln.spec,
            unit=ln.unit,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            amount=ln.amount,
            tax_rate=ln.tax_rate,
            tax=ln.tax,
            tax_category_id=ln.tax_category_id,
            line_property=ln.line_property,
            favoured_policy=ln.favoured_policy,
        )
        for ln in lines
    ]
    return invoice, rows


def _paper_sheet(app: InvoiceApplication, kind: str, paper_code: str, paper_number: str) -> tuple[str, str]:
    """A 数电纸票's paper code + number: the platform's when it gave them, else the entity's next blank sheet from
    its paper stock (taken under the batch's row lock, in this transaction: once per invoice, since the caller
    writes the invoice only when the application has none). Blank when the stock ran out after the compliance
    check passed: the invoice stands (the platform issued it) and its paper number is entered by hand."""
    if paper_number or (kind or app.kind) not in PAPER_KINDS:
        return paper_code, paper_number
    sheet = paper_number_take(taxpayer_id=app.taxpayer_id, kind=kind or app.kind)
    if sheet is None:
        logger.warning("application %s: no paper stock of kind %s left when its invoice was recorded", app.number,
                       kind or app.kind)
    return (sheet.code, sheet.number) if sheet is not None else (paper_code, paper_number)


def invoices_create_from_applications(items: Sequence[tuple[InvoiceApplication, list[ApplicationLine], dict]]
                                      ) -> list[Invoice]:
    """``invoice_create_from_application`` for many: ``items`` are (application, its lines in order, the keyword
    arguments of the one-by-one function). Invoices in one insert, lines in another, the rollup in a third."""
    built = []
    for app, lines, kwargs in items:
        code, number = _paper_sheet(app, kwargs.get("kind", ""), kwargs.get("paper_code", ""),
                                    kwargs.get("paper_number", ""))
        built.append(_invoice_rows(app, lines, **{**kwargs, "paper_code": code, "paper_number": number}))
    invoices = Invoice.objects.bulk_create([invoice for invoice, _ in built])
    for invoice, rows in built:
        for row in rows:
            row.invoice = invoice  # the primary key the insert returned
    InvoiceLine.objects.bulk_create([row for _, rows in built for row in rows])
    # The 发票汇总表's daily rollup, in this transaction: one statement taking its rows in key order (a loop would
    # take them in invoice order, and two batches could then deadlock on them).
    rollup_invoices(invoices)
    return invoices


def invoice_create_from_application(
    app: InvoiceApplication,
    *,
    number: str,
    issued_at: datetime,
    paper_code: str = "",
    paper_number: str = "",
    kind: str = "",
    amount: Decimal | None = None,
    tax: Decimal | None = None,
    total: Decimal | None = None,
    serial: str = "",
) -> Invoice:
    """The blue Invoice and its lines from the application's snapshot; the platform's figures win where given.

    Callers hold the application's row lock and decide the state transition; this only writes rows.
    """
    paper_code, paper_number = _paper_sheet(app, kind, paper_code, paper_number)
    invoice, rows = _invoice_rows(
        app, app.lines.order_by("line_no"), number=number, issued_at=issued_at, paper_code=paper_code,
        paper_number=paper_number, kind=kind, amount=amount, tax=tax, total=total, serial=serial,
    )
    invoice.save(force_insert=True)
    InvoiceLine.objects.bulk_create(rows)
    rollup_invoice(invoice)  # the 发票汇总表's daily rollup, in this transaction
    return invoice
