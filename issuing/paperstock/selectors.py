"""票仓's reads: stock per entity and kind, and the entities running low."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Sum

from issuing.paperstock.models import PaperBatch, PaperKind

LOW_STOCK_THRESHOLD = 50  # sheets; below this an entity's stock of a kind shows as low


def paper_stock_counts(taxpayer_ids: Iterable[int] | None = None) -> dict[tuple[int, str], int]:
    """(entity id, kind) → blank sheets left, in one query; pairs without any batch are absent.
    ``taxpayer_ids`` None: every entity (callers scope it)."""
    qs = PaperBatch.objects.all()
    if taxpayer_ids is not None:
        qs = qs.filter(taxpayer_id__in=list(taxpayer_ids))
    rows = qs.values("taxpayer_id", "kind").annotate(left=Sum("remaining")).order_by()
    return {(row["taxpayer_id"], row["kind"]): int(row["left"] or 0) for row in rows}


def paper_stock_of(taxpayer_id: int, kind: str) -> int:
    return paper_stock_counts([taxpayer_id]).get((taxpayer_id, kind), 0)


@dataclass(frozen=True)
class PaperStockLow:
    taxpayer_id: int
    taxpayer_name: str
    kind: str
    kind_label: str
    remaining: int
    threshold: int


def paper_stock_low(taxpayer_ids: Iterable[int], threshold: int = LOW_STOCK_THRESHOLD) -> list[PaperStockLow]:
    """The (entity, kind) pairs that hold paper stock batches but fewer than ``threshold`` sheets left, fewest
    first; one query. Entities that never received paper of a kind are not listed (they do not issue it)."""
    rows = (PaperBatch.objects.filter(taxpayer_id__in=list(taxpayer_ids))
            .values("taxpayer_id", "taxpayer__name", "kind").annotate(left=Sum("remaining"))
            .filter(left__lt=threshold).order_by("left", "taxpayer_id", "kind"))
    labels = dict(PaperKind.choices)
    return [
        PaperStockLow(taxpayer_id=row["taxpayer_id"], taxpayer_name=row["taxpayer__name"], kind=row["kind"],
                      kind_label=str(labels.get(row["kind"], row["kind"])), remaining=int(row["left"] or 0),
                      threshold=threshold)
        for row in rows
    ]
