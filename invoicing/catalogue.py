"""Loading the tax classification catalogue (商品和服务税收分类编码表) from the derived CSV in invoicing/data/."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoicing.models import TaxCategory

DATA_FILE = Path(__file__).resolve().parent / "data" / "tax_categories_2021_06.csv"
CATALOGUE_VERSION = "2021-06"


def read_catalogue_rows(path: Path = DATA_FILE) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_catalogue(model: type[TaxCategory], path: Path = DATA_FILE, version: str = CATALOGUE_VERSION) -> tuple[int, int]:
    """Insert or update every row (idempotent); ``model`` may be a historical model in a migration.

    Returns (created, updated).
    """
    rows = read_catalogue_rows(path)
    existing = {c.code: c for c in model.objects.all()}
    to_create: list[TaxCategory] = []
    to_update: list[TaxCategory] = []
    for row in rows:
        values = {
            "name": row["name"],
            "short_name": row["short_name"],
            "is_summary": row["is_summary"] in ("1", "true", "True", "是", "Y"),
            "is_active": row["is_active"] in ("1", "true", "True", "是", "Y"),
            "allowed_rates": [r for r in row["allowed_rates"].split(";") if r],
            "description": row["description"],
            "keywords": row["keywords"][:500],
            "catalogue_version": version,
        }
        obj = existing.get(row["code"])
        if obj is None:
            to_create.append(model(code=row["code"], **values))
        elif any(getattr(obj, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(obj, k, v)
            to_update.append(obj)
    model.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        model.objects.bulk_update(to_update, list(values), batch_size=1000)
    # Parents second, once every code has a primary key.
    ids = dict(model.objects.values_list("code", "id"))
    parent_updates = []
    for row in rows:
        parent_id = ids.get(row["parent_code"]) if row["parent_code"] else None
        parent_updates.append(model(id=ids[row["code"]], parent_id=parent_id))
    model.objects.bulk_update(parent_updates, ["parent_id"], batch_size=1000)
    return len(to_create), len(to_update)
