"""What the deduction pages, the command and the API read."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext

from deduction import schedule2
from deduction.models import PeriodState, TaxPeriod, TransferOut


def schedule2_of(period: TaxPeriod) -> dict[str, schedule2.Line]:
    """附列资料二 of a confirmed (or filed) period, from its confirmation snapshot and its transfers-out."""
    if period.state not in (PeriodState.CONFIRMED, PeriodState.FILED):
        raise ValidationError(gettext("所属期 %(period)s 尚未确认，没有附列资料二") % {"period": period.period})
    transfers = TransferOut.objects.filter(tax_period=period).values("line", "tax", "invoice_id").order_by("pk")
    if connection.vendor == "postgresql":  # summed where the snapshot is: 100,000 rows never come to Python
        return schedule2.build_grouped(_snapshot_groups(period.pk), list(transfers))
    return schedule2.build(period.snapshot.get("selections", []), list(transfers))


_EXTRA = "coalesce(nullif(s->>'extra_tax', ''), '0')::numeric"
_GROUPS_SQL = f"""
SELECT s->>'kind', s->>'purpose', count(*), coalesce(sum((s->>'amount')::numeric), 0),
       coalesce(sum((s->>'tax')::numeric), 0), coalesce(sum({_EXTRA}), 0),
       array_agg(o ORDER BY o), array_agg((s->>'invoice_id')::bigint ORDER BY o),
       coalesce(array_agg(o ORDER BY o) FILTER (WHERE {_EXTRA} <> 0), '{{}}'),
       coalesce(array_agg((s->>'invoice_id')::bigint ORDER BY o) FILTER (WHERE {_EXTRA} <> 0), '{{}}')
FROM {TaxPeriod._meta.db_table} p
CROSS JOIN LATERAL jsonb_array_elements(coalesce(p.snapshot->'selections', '[]'::jsonb)) WITH ORDINALITY AS e(s, o)
WHERE p.id = %s
GROUP BY 1, 2
"""


def _snapshot_groups(period_id: int) -> list[schedule2.Group]:
    with connection.cursor() as cursor:
        cursor.execute(_GROUPS_SQL, [period_id])
        rows = cursor.fetchall()
    return [schedule2.Group(kind=str(r[0]), purpose=str(r[1]), count=int(r[2]), amount=Decimal(r[3]),
                            tax=Decimal(r[4]), extra_tax=Decimal(r[5]), positions=r[6], invoice_ids=r[7],
                            extra_positions=r[8], extra_invoice_ids=r[9]) for r in rows]
