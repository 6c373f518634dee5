"""Fixtures for import tests: master data for 云途 and 明远, and builders of small .xlsx / .csv files at runtime."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.intake.columns import COLUMNS
from tests.factories import CounterpartyFactory, ItemFactory, tax_category

HEADERS = [c.header for c in COLUMNS]
KEY = {c.key: c.header for c in COLUMNS}

YUNTU_CODE = "91440101MA5CYUN00U"
MINGYUAN_CODE = "91440300MA5FM1NGYB"
BUYER_TAX_ID = "91310000MA1K0BA10F"


def row(**values) -> dict:
    """A line row by field key, with the defaults of a valid 云途 software-service line."""
    base = {
        "entity": YUNTU_CODE, "external_no": "SO-1", "buyer_name": "上海白鹭文化传媒有限公司",
        "buyer_tax_id": BUYER_TAX_ID, "item_name": "软件技术服务费", "quantity": "1", "unit_price": "1060",
        "amount": "1060.00", "tax_inclusive": "是", "tax_rate": "6%", "tax_code": "3040201000000000000",
        "paid_amount": "1060.00",
    }
    base.update(values)
    return base


def write_xlsx(path: Path, rows: list[dict], *, headers: list[str] | None = None, sheet: str = "业务单据明细",
               raw: bool = False) -> Path:
    """Rows as dicts by key (or, with ``raw``, lists of cells already in header order)."""
    headers = headers or HEADERS
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(headers)
    inv = {v: k for k, v in KEY.items()}
    for r in rows:
        ws.append(r if raw else [r.get(inv.get(h, h), None) for h in headers])
    wb.save(path)
    return path


def write_csv(path: Path, rows: list[dict], *, headers: list[str] | None = None, encoding: str = "utf-8-sig") -> Path:
    headers = headers or HEADERS
    inv = {v: k for k, v in KEY.items()}
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for r in rows:
            w.writerow([r.get(inv.get(h, h), "") for h in headers])
    return path


def counts() -> tuple[int, int]:
    return BillingDocument.objects.count(), BillingDocumentLine.objects.count()


@pytest.fixture
def master(yuntu, mingyuan):
    """Customer C0001 and products S0001 (software 6%) / G0001 (goods 13%) for 云途; C0001 / S0001 for 明远."""
    c = CounterpartyFactory(taxpayer=yuntu, code="C0001", name="上海白鹭文化传媒有限公司", tax_id=BUYER_TAX_ID,
                            address="上海市静安区", phone="021-1234567")
    s = ItemFactory(taxpayer=yuntu, code="S0001", name="软件技术服务费", tax_rate=Decimal("0.06"),
                    tax_category=tax_category("3040201000000000000"))
    g = ItemFactory(taxpayer=yuntu, code="G0001", name="网络设备", unit="台", tax_rate=Decimal("0.13"),
                    tax_category=tax_category("1090501010000000000"))
    CounterpartyFactory(taxpayer=mingyuan, code="C0001", name="北京青禾科技有限公司", tax_id="91110108MA01ABCD1E")
    ItemFactory(taxpayer=mingyuan, code="S0001", name="信息系统服务", tax_rate=Decimal("0.06"),
                tax_category=tax_category("3040203000000000000"))
    return {"customer": c, "software": s, "goods": g}
