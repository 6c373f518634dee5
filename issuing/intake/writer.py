"""Writing validated billing documents: documents with ``bulk_create`` (ids come back), lines in bulk.

Lines go through PostgreSQL's COPY when the database is PostgreSQL, and through one ``executemany`` INSERT per batch
elsewhere. The caller holds the transaction: a file is written all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from issuing.base import Source
from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.intake.validate import DocPlan

LINE_COLUMNS = (
    "document_id", "line_no", "item_id", "item_name", "spec", "unit", "quantity", "unit_price", "amount",
    "tax_inclusive", "discount", "tax_category_id", "tax_rate", "total",
)


def document_instance(plan: DocPlan, *, user=None) -> BillingDocument:
    return BillingDocument(
        taxpayer_id=plan.taxpayer_id, counterparty_id=plan.counterparty_id, source=Source.IMPORT,
        source_system=plan.source_system, external_no=plan.external_no, business_date=plan.business_date,
        invoicing_basis=plan.invoicing_basis, order_amount=plan.order_amount, paid_amount=plan.paid_amount,
        refunded_amount=plan.refunded_amount, delivered_on=plan.delivered_on, buyer_kind=plan.buyer_kind, buyer_name=plan.buyer_name,
        buyer_tax_id=plan.buyer_tax_id, buyer_address=plan.buyer_address, buyer_phone=plan.buyer_phone,
        buyer_bank_name=plan.buyer_bank_name, buyer_bank_account=plan.buyer_bank_account,
        buyer_email=plan.buyer_email, buyer_mobile=plan.buyer_mobile, remark=plan.remark,
        created_by=user if getattr(user, "pk", None) else None,
    )


def line_values(document_id: int, ln) -> tuple:
    return (
        document_id, ln.line_no, ln.item_id, ln.item_name, ln.spec, ln.unit, ln.quantity, ln.unit_price, ln.amount,
        ln.tax_inclusive, ln.discount, ln.tax_category_id, ln.tax_rate, ln.total,
    )


def line_instance(document_id: int, ln) -> BillingDocumentLine:
    return BillingDocumentLine(**dict(zip(LINE_COLUMNS, line_values(document_id, ln), strict=True)))


def insert_documents(plans: Sequence[DocPlan], *, user=None, batch_size: int = 2000) -> list[int]:
    """Insert the documents; return their ids in order (RETURNING on PostgreSQL and SQLite ≥ 3.35)."""
    objs = [document_instance(p, user=user) for p in plans]
    BillingDocument.objects.bulk_create(objs, batch_size=batch_size)
    return [o.pk for o in objs]


def insert_lines(rows: list[tuple], *, batch_size: int = 5000) -> None:
    table = BillingDocumentLine._meta.db_table
    cols = ", ".join(LINE_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(LINE_COLUMNS))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        ops = connection.ops
        adapt = ops.adapt_decimalfield_value
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            if connection.vendor != "sqlite":
                batch = [tuple(adapt(x) if hasattr(x, "as_tuple") else x for x in r) for r in batch]
            else:
                batch = [tuple(str(x) if hasattr(x, "as_tuple") else x for x in r) for r in batch]
            cursor.executemany(sql, batch)


class BillingWriter:
    """Write chunks of document plans inside the caller's transaction; counts what it wrote."""

    def __init__(self, *, user=None, batch_size: int = 2000):
        self.user = user
        self.batch_size = batch_size
        self.documents = 0
        self.lines = 0
        self.document_ids: list[int] = []

    def __call__(self, plans: Sequence[DocPlan]) -> None:
        ids = insert_documents(plans, user=self.user, batch_size=self.batch_size)
        rows = [line_values(doc_id, ln) for doc_id, plan in zip(ids, plans, strict=True) for ln in plan.lines]
        insert_lines(rows)
        self.document_ids.extend(ids)
        self.documents += len(plans)
        self.lines += len(rows)
