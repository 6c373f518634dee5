"""The daily rollup behind the 发票汇总表 (``InvoiceDailyRate``), kept in step with the invoices.

* ``rollup_invoice(invoice)`` adds one invoice, ``rollup_invoice(invoice, sign=-1)`` takes it out again (a void);
  ``rollup_invoices(invoices)`` does the same for many. Call it inside the transaction that writes the invoices
  (after their lines) or changes their status, so that the rollup and the invoices commit together. It is one
  statement: an upsert that increments, with one bucket per distinct rate on an invoice (count +1 per bucket, as
  the live aggregate's COUNT DISTINCT counts), rows taken in key order so that two transactions touching the same
  day never lock its rows in opposite orders.
* Lock order: a transaction that writes invoices takes its rollup rows (in key order) and then, at COMMIT, the
  deferred foreign-key checks of its new rows (invoices, lines, new rollup rows) take KEY SHARE on the entity's
  ``Taxpayer`` row. So such a transaction must never lock the ``Taxpayer`` row FOR UPDATE (``select_for_update``
  with ``select_related("taxpayer")`` does, unless ``of=("self",)``): it would hold the entity and wait for the
  rollup row, while the other holds the rollup row and waits for the entity (tests/issuing_flow/test_lock_order.py).
* ``InvoiceBuyerMonth`` (per entity, month, buyer and colour, from the invoices' headers: the dashboard's top buyers)
  is kept by the same calls, after the daily rows, and rebuilt with them (whole months);
  ``buyer_rollup_differences`` compares it with the invoices.
* ``rebuild_rollup(...)`` recomputes the rollup from the lines, set-based, for some entities and days or all of
  them: after an upgrade or a bulk load that bypassed the services (``manage.py rebuild_invoice_rollup``).
* ``rollup_differences(...)`` compares the rollup with the lines without writing (``--check``).

The statements are written once in SQL that SQLite (3.24+) and PostgreSQL both accept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from invoicing.sql import id_batches
from issuing.platform.models import Invoice, InvoiceBuyerMonth, InvoiceDailyRate, InvoiceLine, InvoiceStatus

KEY = ("taxpayer_id", "issue_date", "tax_rate", "is_red")
BUYER_KEY = "taxpayer_id, month, buyer_tax_id, buyer_name, is_red"


def _month(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def _buyer_rows_sql(where: str, neg: str = "") -> str:
    """``InvoiceBuyerMonth``'s rows from the invoices' headers (one per invoice: no lines needed)."""
    _, invoice, _ = _tables()
    return (f"SELECT taxpayer_id, {_month('issue_date')} AS month, buyer_tax_id, buyer_name, is_red, "
            f"{neg}COUNT(*), {neg}SUM(amount), {neg}SUM(tax) FROM {invoice} i WHERE {where} "
            f"GROUP BY taxpayer_id, {_month('issue_date')}, buyer_tax_id, buyer_name, is_red")


def _tables() -> tuple[str, str, str]:
    return InvoiceDailyRate._meta.db_table, Invoice._meta.db_table, InvoiceLine._meta.db_table


def rollup_invoice(invoice: Invoice, sign: int = 1) -> None:
    """Add the invoice's per-rate sums to its day's buckets (``sign=-1``: subtract them, for a void).

    Reads the invoice's lines from the database, so call it after they are written. Buckets that reach zero
    invoices are deleted, so the rollup holds only what the report would show.
    """
    rollup_invoices([invoice.pk], sign)


def rollup_invoices(invoices: Iterable[Invoice | int], sign: int = 1) -> None:
    """``rollup_invoice`` for many invoices (or ids) written in one transaction, in one statement.

    Call this rather than ``rollup_invoice`` in a loop: the upsert takes the rollup rows in one global order
    (entity, day, rate, colour), so two transactions recording invoices of the same entity and day cannot lock
    the same rows in opposite orders (a loop locks them in the order of its invoices).
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 or -1, not {sign!r}")
    ids = sorted({i if isinstance(i, int) else i.pk for i in invoices})
    if not ids:
        return
    rollup, invoice_table, line = _tables()
    neg = "-" if sign < 0 else ""
    with connection.cursor() as c:
        for where, params in id_batches(ids, sqlite_batch=500):
            # Per invoice and rate first, so each invoice counts once per rate it carries; the outer WHERE keeps
            # SQLite from reading ON CONFLICT's ON as a join's.
            c.execute(
                f"INSERT INTO {rollup} (taxpayer_id, issue_date, tax_rate, is_red, invoice_count, amount, tax) "
                f"SELECT taxpayer_id, issue_date, tax_rate, is_red, {neg}COUNT(*), {neg}SUM(amount), {neg}SUM(tax) "
                f"FROM (SELECT i.taxpayer_id, i.issue_date, l.tax_rate, i.is_red, SUM(l.amount) AS amount, "
                f"SUM(l.tax) AS tax FROM {line} l JOIN {invoice_table} i ON i.id = l.invoice_id "
                f"WHERE l.invoice_id {where} GROUP BY l.invoice_id, i.taxpayer_id, i.issue_date, i.is_red, l.tax_rate"
                f") per_invoice WHERE 1 = 1 GROUP BY taxpayer_id, issue_date, tax_rate, is_red "
                f"ORDER BY taxpayer_id, issue_date, tax_rate, is_red "
                f"ON CONFLICT (taxpayer_id, issue_date, tax_rate, is_red) DO UPDATE SET "
                f"invoice_count = {rollup}.invoice_count + excluded.invoice_count, "
                f"amount = {rollup}.amount + excluded.amount, tax = {rollup}.tax + excluded.tax",
                params,
            )
            # the buyers' monthly rollup after the daily one (the same order in every transaction)
            buyers = InvoiceBuyerMonth._meta.db_table
            c.execute(
                f"INSERT INTO {buyers} ({BUYER_KEY}, invoice_count, amount, tax) "
                f"SELECT * FROM ({_buyer_rows_sql(f'id {where}', neg)}) per_buyer WHERE 1 = 1 "
                f"ORDER BY {BUYER_KEY} "
                f"ON CONFLICT ({BUYER_KEY}) DO UPDATE SET "
                f"invoice_count = {buyers}.invoice_count + excluded.invoice_count, "
                f"amount = {buyers}.amount + excluded.amount, tax = {buyers}.tax + excluded.tax",
                params,
            )
            if sign < 0:
                c.execute(
                    f"DELETE FROM {rollup} WHERE invoice_count = 0 AND (taxpayer_id, issue_date, is_red) IN "
                    f"(SELECT taxpayer_id, issue_date, is_red FROM {invoice_table} WHERE id {where})",
                    params,
                )
                c.execute(
                    f"DELETE FROM {buyers} WHERE invoice_count = 0 AND (taxpayer_id, month) IN "
                    f"(SELECT taxpayer_id, {_month('issue_date')} FROM {invoice_table} WHERE id {where})",
                    params,
                )


def _where(taxpayer_ids: Iterable[int] | None, date_from: dt.date | None, date_to: dt.date | None,
           prefix: str) -> tuple[str, list]:
    parts, params = [], []
    ids = sorted(set(taxpayer_ids)) if taxpayer_ids is not None else None
    if ids is not None:
        if not ids:
            return "1 = 0", []
        parts.append(f"{prefix}taxpayer_id IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    if date_from is not None:
        parts.append(f"{prefix}issue_date >= %s")
        params.append(connection.ops.adapt_datefield_value(date_from))
    if date_to is not None:
        parts.append(f"{prefix}issue_date <= %s")
        params.append(connection.ops.adapt_datefield_value(date_to))
    return " AND ".join(parts) or "1 = 1", params


def _expected_sql(where: str) -> str:
    """The rollup's rows computed from the lines: per invoice and rate first (hash-aggregable, unlike a
    COUNT DISTINCT), then per day, so each invoice counts once per rate it carries."""
    _, invoice, line = _tables()
    return (
        "SELECT taxpayer_id, issue_date, tax_rate, is_red, COUNT(*), SUM(amount), SUM(tax) FROM ("
        f"SELECT i.taxpayer_id, i.issue_date, l.tax_rate, i.is_red, SUM(l.amount) AS amount, SUM(l.tax) AS tax "
        f"FROM {line} l JOIN {invoice} i ON i.id = l.invoice_id "
        f"WHERE i.status <> %s AND {where} "
        "GROUP BY l.invoice_id, i.taxpayer_id, i.issue_date, i.is_red, l.tax_rate"
        ") per_invoice GROUP BY taxpayer_id, issue_date, tax_rate, is_red"
    )


def rebuild_rollup(taxpayer_ids: Iterable[int] | None = None, date_from: dt.date | None = None,
                   date_to: dt.date | None = None) -> int:
    """Recompute the rollup for these entities and days (all of them by default); returns the rows written.

    On PostgreSQL the rollup table is locked against writers for the length of the rebuild: invoices committed
    before it are counted by the rebuild, and those still being written add themselves once it has committed.
    """
    rollup, _, _ = _tables()
    where, params = _where(taxpayer_ids, date_from, date_to, "")
    iwhere, iparams = _where(taxpayer_ids, date_from, date_to, "i.")
    with transaction.atomic(), connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute(f"LOCK TABLE {rollup} IN EXCLUSIVE MODE")
            c.execute("SET LOCAL jit = off")
        c.execute(f"DELETE FROM {rollup} WHERE {where}", params)
        c.execute(
            f"INSERT INTO {rollup} (taxpayer_id, issue_date, tax_rate, is_red, invoice_count, amount, tax) "
            + _expected_sql(iwhere),
            [InvoiceStatus.VOIDED.value, *iparams],
        )
        written = c.rowcount
        _rebuild_buyers(c, taxpayer_ids, date_from, date_to)
        if connection.vendor == "postgresql":
            c.execute(f"ANALYZE {rollup}")
    return written


def _month_bounds(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """The buyers' rollup is by month: a rebuild of some days redoes their whole months."""
    first = date_from.replace(day=1) if date_from else None
    last = ((date_to.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)) if date_to \
        else None
    return first, last


def _rebuild_buyers(c: Any, taxpayer_ids: Iterable[int] | None, date_from: dt.date | None,
                    date_to: dt.date | None) -> None:
    buyers = InvoiceBuyerMonth._meta.db_table
    first, last = _month_bounds(date_from, date_to)
    where, params = _where(taxpayer_ids, first, last, "")
    iwhere, iparams = _where(taxpayer_ids, first, last, "i.")
    if connection.vendor == "postgresql":
        c.execute(f"LOCK TABLE {buyers} IN EXCLUSIVE MODE")
    c.execute(f"DELETE FROM {buyers} WHERE {where.replace('issue_date', 'month')}", params)
    c.execute(f"INSERT INTO {buyers} ({BUYER_KEY}, invoice_count, amount, tax) "
              + _buyer_rows_sql(f"i.status <> %s AND {iwhere}"), [InvoiceStatus.VOIDED.value, *iparams])


def buyer_rollup_differences(taxpayer_ids: Iterable[int] | None = None) -> list[tuple[tuple, tuple | None, tuple | None]]:
    """Buyers' monthly buckets where the rollup and the invoices disagree: (key, in the rollup, from the invoices)."""
    buyers = InvoiceBuyerMonth._meta.db_table
    where, params = _where(taxpayer_ids, None, None, "")
    iwhere, iparams = _where(taxpayer_ids, None, None, "i.")

    def norm(row: Any) -> tuple[tuple, tuple]:
        taxpayer_id, month, tax_id, name, is_red, count, amount, tax = row
        month = dt.date.fromisoformat(month) if isinstance(month, str) else month
        q = Decimal("0.01")
        return ((taxpayer_id, month, tax_id, name, bool(is_red)),
                (int(count), Decimal(str(amount)).quantize(q), Decimal(str(tax)).quantize(q)))

    with transaction.atomic(), connection.cursor() as c:
        c.execute(f"SELECT {BUYER_KEY}, invoice_count, amount, tax FROM {buyers} WHERE {where}", params)
        have = dict(norm(r) for r in c.fetchall())
        c.execute(_buyer_rows_sql(f"i.status <> %s AND {iwhere}"), [InvoiceStatus.VOIDED.value, *iparams])
        want = dict(norm(r) for r in c.fetchall())
    return [(k, have.get(k), want.get(k)) for k in sorted(have.keys() | want.keys(), key=str)
            if have.get(k) != want.get(k)]


def _normalize(row) -> tuple:
    taxpayer_id, day, rate, is_red, count, amount, tax = row
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    q = Decimal("0.01")
    return ((taxpayer_id, day, Decimal(str(rate)).quantize(Decimal("0.0001")), bool(is_red)),
            (int(count), Decimal(str(amount)).quantize(q), Decimal(str(tax)).quantize(q)))


def rollup_differences(taxpayer_ids: Iterable[int] | None = None, date_from: dt.date | None = None,
                       date_to: dt.date | None = None) -> list[tuple[tuple, tuple | None, tuple | None]]:
    """Buckets where the rollup and the lines disagree: (key, in the rollup, from the lines), sorted by key."""
    rollup, _, _ = _tables()
    where, params = _where(taxpayer_ids, date_from, date_to, "")
    iwhere, iparams = _where(taxpayer_ids, date_from, date_to, "i.")
    with transaction.atomic(), connection.cursor() as c:
        c.execute(f"SELECT {', '.join(KEY)}, invoice_count, amount, tax FROM {rollup} WHERE {where}", params)
        have = dict(_normalize(r) for r in c.fetchall())
        c.execute(_expected_sql(iwhere), [InvoiceStatus.VOIDED.value, *iparams])
        want = dict(_normalize(r) for r in c.fetchall())
    return [(k, have.get(k), want.get(k)) for k in sorted(have.keys() | want.keys()) if have.get(k) != want.get(k)]
