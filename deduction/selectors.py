"""What the deduction pages, the command and the API read."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext

from deduction import schedule2
from deduction.models import PeriodState, TaxPeriod, TransferOut

DRILL_PAGE = 100
DRILL_PAGE_MAX = 1000


def _confirmed(period: TaxPeriod) -> None:
    if period.state not in (PeriodState.CONFIRMED, PeriodState.FILED):
        raise ValidationError(gettext("所属期 %(period)s 尚未确认，没有附列资料二") % {"period": period.period})


def _transfers(period: TaxPeriod) -> list[dict[str, object]]:
    return [{"line": t["line"], "tax": t["tax"], "invoice_id": t["invoice_id"], "number": t["invoice__number"] or ""}
            for t in TransferOut.objects.filter(tax_period=period)
            .values("line", "tax", "invoice_id", "invoice__number").order_by("pk")]


def schedule2_of(period: TaxPeriod) -> dict[str, schedule2.Line]:
    """附列资料二 of a confirmed (or filed) period, from its confirmation snapshot and its transfers-out: the figures
    of each line (its invoices: ``schedule2_drilldown``)."""
    _confirmed(period)
    transfers = _transfers(period)
    totals = period.snapshot_totals.get("groups") if period.snapshot_totals else None
    if totals is not None:  # summed once, at confirmation: the report reads a few rows whatever the period's size
        return schedule2.build_grouped([schedule2.Group(
            kind=str(g["kind"]), purpose=str(g["purpose"]), count=int(g["count"]), amount=Decimal(g["amount"]),
            tax=Decimal(g["tax"]), extra_tax=Decimal(g["extra_tax"])) for g in totals], transfers)
    if connection.vendor == "postgresql":  # summed where the snapshot is: 100,000 rows never come to Python
        return schedule2.build_grouped(_snapshot_groups(period.pk), transfers)
    return schedule2.build(period.snapshot.get("selections", []), transfers)


@dataclass(frozen=True)
class Drilldown:
    """One page of one line's drill-down: ``total`` items in all, ``items`` from ``offset``."""

    line: str
    total: int
    offset: int
    limit: int
    items: list[schedule2.Item]


def schedule2_drilldown(period: TaxPeriod, line: str, *, offset: int = 0, limit: int = DRILL_PAGE) -> Drilldown:
    """The invoices (and transfers-out) behind ``line`` of the period's 附列资料二, a page at a time, in the report's
    order; each item carries what it adds to the line, so a line's items sum to its figures."""
    _confirmed(period)
    if line not in schedule2.LINES:
        raise ValidationError(gettext("附列资料二没有第 %(line)s 栏") % {"line": line})
    offset, limit = max(0, int(offset)), max(1, min(int(limit), DRILL_PAGE_MAX))
    m = schedule2.membership(line)
    transfers = _transfers(period)
    if m.transfer_part:  # transfer lines: a few rows, listed from the table
        items = schedule2.drill([], transfers, line)
        return Drilldown(line, len(items), offset, limit, items[offset:offset + limit])
    if connection.vendor != "postgresql":
        items = schedule2.drill(period.snapshot.get("selections", []), [], line)
        return Drilldown(line, len(items), offset, limit, items[offset:offset + limit])
    kinds = sorted(m.kind_part)
    params: dict[str, Any] = {"id": period.pk, "kinds": kinds, "parts": [m.kind_part[k] for k in kinds], "xp": m.extra_part,
              "offset": offset, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({_DRILL_SQL}) d", params)
        total = int(cursor.fetchone()[0])
        cursor.execute(f"{_DRILL_SQL} ORDER BY part, o LIMIT %(limit)s OFFSET %(offset)s", params)
        rows = cursor.fetchall()
    items = []
    for invoice_id, number, kind, amount, tax, extra, _part, _o in rows:
        got = schedule2.selection_item(m, invoice_id=int(invoice_id), number=number or "", kind=kind,
                                       amount=Decimal(amount), tax=Decimal(tax), extra=Decimal(extra))
        assert got is not None  # the query keeps the line's rows only
        items.append(got[1])
    return Drilldown(line, total, offset, limit, items)


_EXTRA = "coalesce(nullif(s->>'extra_tax', ''), '0')::numeric"
_ELEMENTS = f"""
FROM {TaxPeriod._meta.db_table} p
CROSS JOIN LATERAL jsonb_array_elements(coalesce(p.snapshot->'selections', '[]'::jsonb)) WITH ORDINALITY AS e(s, o)
"""
_GROUPS_SQL = f"""
SELECT s->>'kind', s->>'purpose', count(*), coalesce(sum((s->>'amount')::numeric), 0),
       coalesce(sum((s->>'tax')::numeric), 0), coalesce(sum({_EXTRA}), 0)
{_ELEMENTS}
WHERE p.id = %s
GROUP BY 1, 2
"""
# one line's rows: by kind (its part from the line's membership) or by a 加计扣除 (8a's part)
_DRILL_SQL = f"""
SELECT (s->>'invoice_id')::bigint, s->>'number', s->>'kind', (s->>'amount')::numeric, (s->>'tax')::numeric,
       {_EXTRA} AS extra,
       least((%(parts)s::int[])[array_position(%(kinds)s::text[], s->>'kind')],
             CASE WHEN {_EXTRA} <> 0 THEN %(xp)s::int END) AS part, o
{_ELEMENTS}
WHERE p.id = %(id)s AND s->>'purpose' = '1'
  AND (array_position(%(kinds)s::text[], s->>'kind') IS NOT NULL OR (%(xp)s::int IS NOT NULL AND {_EXTRA} <> 0))
"""


def _snapshot_groups(period_id: int) -> list[schedule2.Group]:
    with connection.cursor() as cursor:
        cursor.execute(_GROUPS_SQL, [period_id])
        rows = cursor.fetchall()
    return [schedule2.Group(kind=str(r[0]), purpose=str(r[1]), count=int(r[2]), amount=Decimal(r[3]),
                            tax=Decimal(r[4]), extra_tax=Decimal(r[5])) for r in rows]
