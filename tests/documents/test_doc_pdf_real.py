"""Corpus test: real supplier PDFs (not in the repository: no licence) against their hand-read truth.

The files live in ``../shared/samples/pdf-real/`` next to the repository; the test skips when that folder is absent.
A field is *right* when the reader's value equals the truth and the reader is sure of it; *review* when the reader
sends it to review (not wrong, not right); *wrong* when the reader is sure of a value that differs from the truth.
"""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing.documents.errors import UnsupportedDocument
from invoicing.documents.pdf import read_pdf_result

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (REPO.parent / "shared" / "samples" / "pdf-real", Path("/work/shared/samples/pdf-real"))
CORPUS = next((p for p in CANDIDATES if (p / "truth.json").is_file()), None)

pytestmark = pytest.mark.skipif(CORPUS is None, reason="../shared/samples/pdf-real is not present")

SCALAR_FIELDS = ("kind", "number", "code", "issue_date", "buyer_name", "buyer_tax_id", "seller_name",
                 "seller_tax_id", "amount", "tax", "total")
MONEY = {"amount", "tax", "total", "line_amount", "line_tax"}


def _norm(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value if value is not None else "")).strip()


def _score() -> tuple[dict[str, list[int]], list[str]]:
    """Per field kind: [right, review, wrong]; and the list of wrong values accepted as sure."""
    assert CORPUS is not None
    truth = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))
    tally: dict[str, list[int]] = {}
    wrong: list[str] = []

    def count(kind: str, outcome: int, note: str = "") -> None:
        tally.setdefault(kind, [0, 0, 0])[outcome] += 1
        if outcome == 2:
            wrong.append(note)

    for name, expected in sorted(truth.items()):
        data = (CORPUS / name).read_bytes()
        if expected.get("not_invoice"):
            try:
                result = read_pdf_result(data)
            except UnsupportedDocument:
                count("not_invoice", 0)
                continue
            count("not_invoice", 1 if result.needs_review else 2, f"{name}: a non-invoice read as an invoice")
            continue
        try:
            result = read_pdf_result(data)
        except UnsupportedDocument:
            for field in SCALAR_FIELDS:
                count(field, 1)
            continue
        doc = result.document
        if doc is None:
            for field in SCALAR_FIELDS:
                count(field, 1)
            continue
        legacy = bool(doc.legacy_code)
        got = {
            "kind": doc.kind, "number": doc.legacy_number if legacy else doc.number, "code": doc.legacy_code,
            "issue_date": doc.issue_date.isoformat(), "buyer_name": doc.buyer.name, "buyer_tax_id": doc.buyer.tax_id,
            "seller_name": doc.seller.name, "seller_tax_id": doc.seller.tax_id, "amount": doc.total_amount,
            "tax": doc.total_tax, "total": doc.total_with_tax,
        }
        for field in SCALAR_FIELDS:
            if field not in expected:
                continue
            if not result.is_sure(field) and result.fields.get(field) and \
                    result.fields[field].confidence != "missing":
                count(field, 1)
            elif _norm(got[field]) == _norm(expected[field]) or (
                    field in MONEY and Decimal(str(got[field])) == Decimal(expected[field])):
                count(field, 0)
            else:
                count(field, 2, f"{name}: {field} read {got[field]!r}, truth {expected[field]!r}")
        lines_sure = result.is_sure("lines")
        for i, line in enumerate(expected.get("lines", [])):
            read = doc.lines[i] if i < len(doc.lines) else None
            for field, want, have in (
                    ("line_name", line["name"], read.item_name if read else None),
                    ("line_amount", line["amount"], read.amount if read else None),
                    ("line_tax", line["tax"], read.tax if read else None)):
                if not lines_sure:
                    count(field, 1)
                elif have is not None and (_norm(have) == _norm(want) or (
                        field in MONEY and Decimal(str(have)) == Decimal(want))):
                    count(field, 0)
                else:
                    count(field, 2, f"{name}: line {i + 1} {field} read {have!r}, truth {want!r}")
    return tally, wrong


def test_real_supplier_pdfs_are_read_right_or_sent_to_review(capsys):
    tally, wrong = _score()
    right = sum(v[0] for v in tally.values())
    total = sum(sum(v) for v in tally.values())
    with capsys.disabled():
        print(f"\npdf-real: {right}/{total} fields right ({100 * right / total:.1f}%)")
        for kind, (r, rv, w) in sorted(tally.items()):
            print(f"  {kind:14} right {r:3}  review {rv:3}  wrong {w:3}")
        for note in wrong:
            print("  WRONG", note)
    money_wrong = [n for n in wrong if any(f" {m} read" in n for m in MONEY)]
    assert not money_wrong, money_wrong
    assert right / total >= 0.98, (right, total, wrong)
