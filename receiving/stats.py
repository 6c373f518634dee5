"""收票统计: the monthly rollup of the pool (``ReceivedMonthlyStat``), kept in step with the pool records.

* ``received_rollup(ids)`` adds records to their buckets, ``received_rollup(ids, sign=-1)`` takes them out. A
  service that changes a record's counted fields (entity, issue date, kind, supplier, data source, amount, tax,
  lines) takes it out before the change (reading the rows as they are) and adds it after, in the same
  transaction, so that the rollup and the pool commit together. One statement each: an upsert that increments,
  rows taken in key order (two transactions never lock the same buckets in opposite orders).
* A record counts once per rate bucket its lines carry, with the lines' amount and tax at that rate; a record
  without lines counts in the ``NO_RATE`` bucket with its header amount and tax (zero when unknown).
* ``rebuild_received_rollup(...)`` recomputes it from the records, set-based (``manage.py
  rebuild_received_rollup``); ``received_rollup_differences(...)`` compares without writing (``--check``).

The statements are written once in SQL that SQLite (3.24+) and PostgreSQL both accept, but for the month's first
day (``date_trunc`` or SQLite's ``date(..., 'start of month')``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from invoicing.sql import id_batches
from receiving.models import ReceivedInvoice, ReceivedInvoiceLine
from receiving.stats_models import NO_RATE, ReceivedMonthlyStat

KEY = ("taxpayer_id", "month", "kind", "seller_tax_id", "seller_name", "data_source", "tax_rate")
_KEY_SQL = ", ".join(KEY)


def _tables() -> tuple[str, str, str]:
    return ReceivedMonthlyStat._meta.db_table, ReceivedInvoice._meta.db_table, ReceivedInvoiceLine._meta.db_table


def _month(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def _per_invoice_sql(where: str) -> str:
    """Each record's contribution, one row per record and rate bucket: its lines at each rate, or its header."""
    _, invoice, line = _tables()
    head = (f"i.taxpayer_id AS taxpayer_id, {_month('i.issue_date')} AS month, i.kind AS kind, "
            "i.seller_tax_id AS seller_tax_id, i.seller_name AS seller_name, i.data_source AS data_source")
    no_rate = str(NO_RATE)
    return (
        f"SELECT {head}, COALESCE(l.tax_rate, {no_rate}) AS tax_rate, SUM(l.amount) AS amount, "
        f"SUM(COALESCE(l.tax, 0)) AS tax FROM {line} l JOIN {invoice} i ON i.id = l.invoice_id WHERE {where} "
        f"GROUP BY l.invoice_id, i.taxpayer_id, i.issue_date, i.kind, i.seller_tax_id, i.seller_name, i.data_source, "
        f"COALESCE(l.tax_rate, {no_rate}) "
        f"UNION ALL "
        f"SELECT {head}, {no_rate} AS tax_rate, COALESCE(i.amount, 0) AS amount, COALESCE(i.tax, 0) AS tax "
        f"FROM {invoice} i WHERE {where} AND NOT EXISTS (SELECT 1 FROM {line} l WHERE l.invoice_id = i.id)"
    )


def received_rollup(records: Iterable[ReceivedInvoice | int], sign: int = 1) -> None:
    """Add these pool records to their buckets (``sign=-1``: take them out); reads the rows as they are now."""
    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 or -1, not {sign!r}")
    ids = sorted({r if isinstance(r, int) else r.pk for r in records})
    if not ids:
        return
    rollup, invoice, _line = _tables()
    neg = "-" if sign < 0 else ""
    with connection.cursor() as c:
        for condition, ids_params in id_batches(ids):
            where = f"i.id {condition}"
            params = ids_params * 2  # the per-invoice query reads the ids twice (with lines, and without)
            # the outer WHERE keeps SQLite from reading ON CONFLICT's ON as a join's
            c.execute(
                f"INSERT INTO {rollup} ({_KEY_SQL}, invoice_count, amount, tax) "
                f"SELECT {_KEY_SQL}, {neg}COUNT(*), {neg}SUM(amount), {neg}SUM(tax) "
                f"FROM ({_per_invoice_sql(where)}) per_invoice WHERE 1 = 1 GROUP BY {_KEY_SQL} ORDER BY {_KEY_SQL} "
                f"ON CONFLICT ({_KEY_SQL}) DO UPDATE SET "
                f"invoice_count = {rollup}.invoice_count + excluded.invoice_count, "
                f"amount = {rollup}.amount + excluded.amount, tax = {rollup}.tax + excluded.tax",
                params,
            )
            if sign < 0:
                owners = where.replace("i.id", "id")
                c.execute(
                    f"DELETE FROM {rollup} WHERE invoice_count = 0 AND (taxpayer_id, month) IN "
                    f"(SELECT taxpayer_id, {_month('issue_date')} FROM {invoice} WHERE {owners})",
                    ids_params,
                )


def _where(taxpayer_ids: Iterable[int] | None, month_from: dt.date | None, month_to: dt.date | None,
           *, invoice: bool) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    prefix = "i." if invoice else ""
    ids = sorted(set(taxpayer_ids)) if taxpayer_ids is not None else None
    if ids is not None:
        if not ids:
            return "1 = 0", []
        parts.append(f"{prefix}taxpayer_id IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    column = "i.issue_date" if invoice else "month"
    if month_from is not None:
        parts.append(f"{column} >= %s")
        params.append(connection.ops.adapt_datefield_value(month_from.replace(day=1)))
    if month_to is not None:
        first_after = (month_to.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        parts.append(f"{column} < %s")
        params.append(connection.ops.adapt_datefield_value(first_after))
    return " AND ".join(parts) or "1 = 1", params


def _expected_sql(where: str) -> str:
    return (f"SELECT {_KEY_SQL}, COUNT(*), SUM(amount), SUM(tax) FROM ({_per_invoice_sql(where)}) per_invoice "
            f"GROUP BY {_KEY_SQL}")


def rebuild_received_rollup(taxpayer_ids: Iterable[int] | None = None, month_from: dt.date | None = None,
                            month_to: dt.date | None = None) -> int:
    """Recompute the rollup for these entities and months (all by default); returns the buckets written.

    On PostgreSQL the rollup is locked against writers for the rebuild: records committed before it are counted
    by the rebuild, those still being written add themselves once it has committed.
    """
    rollup, _, _ = _tables()
    where, params = _where(taxpayer_ids, month_from, month_to, invoice=False)
    iwhere, iparams = _where(taxpayer_ids, month_from, month_to, invoice=True)
    with transaction.atomic(), connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute(f"LOCK TABLE {rollup} IN EXCLUSIVE MODE")
            c.execute("SET LOCAL jit = off")
        c.execute(f"DELETE FROM {rollup} WHERE {where}", params)
        c.execute(f"INSERT INTO {rollup} ({_KEY_SQL}, invoice_count, amount, tax) " + _expected_sql(iwhere),
                  iparams * 2)
        written: int = c.rowcount
        if connection.vendor == "postgresql":
            c.execute(f"ANALYZE {rollup}")
    return written


Bucket = tuple[Any, ...]


def _normalize(row: Sequence[Any]) -> tuple[Bucket, Bucket]:
    taxpayer_id, month, kind, seller_tax_id, seller_name, source, rate, count, amount, tax = row
    if isinstance(month, str):
        month = dt.date.fromisoformat(month)
    q = Decimal("0.01")
    return ((taxpayer_id, month, kind, seller_tax_id, seller_name, source,
             Decimal(str(rate)).quantize(Decimal("0.0001"))),
            (int(count), Decimal(str(amount)).quantize(q), Decimal(str(tax)).quantize(q)))


def received_rollup_differences(taxpayer_ids: Iterable[int] | None = None, month_from: dt.date | None = None,
                                month_to: dt.date | None = None) -> list[tuple[Bucket, Bucket | None, Bucket | None]]:
    """Buckets where the rollup and the records disagree: (key, in the rollup, from the records), sorted."""
    rollup, _, _ = _tables()
    where, params = _where(taxpayer_ids, month_from, month_to, invoice=False)
    iwhere, iparams = _where(taxpayer_ids, month_from, month_to, invoice=True)
    with transaction.atomic(), connection.cursor() as c:
        c.execute(f"SELECT {_KEY_SQL}, invoice_count, amount, tax FROM {rollup} WHERE {where}", params)
        have = dict(_normalize(r) for r in c.fetchall())
        c.execute(_expected_sql(iwhere), iparams * 2)
        want = dict(_normalize(r) for r in c.fetchall())
    return [(k, have.get(k), want.get(k)) for k in sorted(have.keys() | want.keys(), key=str)
            if have.get(k) != want.get(k)]
