"""Small pieces of raw SQL shared by the rollups (``issuing.platform.rollup``, ``receiving.stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def id_batches(ids: Sequence[int], *, sqlite_batch: int = 400) -> list[tuple[str, list[Any]]]:
    """``(condition, params)`` pairs that together match ``ids``: the condition follows an id column (``col …``).

    PostgreSQL takes the whole list as one array parameter (``= ANY(%s)``); SQLite takes each id as a variable, so
    the ids go in batches under its variable limit (its writers are serialised, so lock order does not arise there).
    """
    if connection.vendor == "postgresql":
        return [("= ANY(%s)", [list(ids)])]
    return [(f"IN ({', '.join(['%s'] * len(batch))})", list(batch))
            for batch in (ids[k:k + sqlite_batch] for k in range(0, len(ids), sqlite_batch))]
