"""The licensed sample files (tests/fixtures) and the real supplier PDFs (../shared/samples/pdf-real, when present)
through the collection service: every invoice lands with its key right, and no record is accepted with a wrong
field: it is either right or in review."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from receiving import services
from receiving.models import Method, Outcome, ReviewState
from tests.factories import TaxpayerFactory
from tests.receiving.conftest import FIXTURES

pytestmark = pytest.mark.django_db

# file -> kind, code, number, amount, tax, total (tests/fixtures/ofd/README.md, PROVENANCE.md)
OFD_SAMPLES = {
    "easyofd-dzfp_25442000000127444519.ofd": ("81", "", "25442000000127444519", "20000.00", "1800.00", "21800.00"),
    "easyofd-ofd2.ofd": ("81", "", "25924000000001260164", "357.55", "21.45", "379.00"),
    "easyofd-test.ofd": ("82", "", "23512000000058396237", "1455.45", "14.55", "1470.00"),
    "easyofd-testxml.ofd": ("14", "045002100112", "40541075", "27.97", "2.52", "30.49"),
    "easyofd-增值税电子专票5.ofd": ("08", "052002100113", "00008006", "24519.05", "735.57", "25254.62"),
    "fapiao-print-sample.ofd": ("81", "", "24322000000489101796", "17699.12", "2300.88", "20000.00"),
    "ofdrw-1.ofd": ("10", "033002000211", "83089647", "510.68", "15.32", "526.00"),
    "ofdrw-20240531141733.ofd": ("81", "", "24112000000048542163", "4197.17", "251.83", "4449.00"),
    "ofdrw-999.ofd": ("10", "050001700111", "12235358", "10000.00", "600.00", "10600.00"),
    "ofdrw-SignScaleError.ofd": ("10", "033002200211", "99934328", "9.91", "1.29", "11.20"),
    "ofdrw-draw_param_ref.ofd": ("10", "011002680026", "71500013", "9709.00", "291.00", "10000.00"),
    "ofdrw-fptpl.ofd": ("10", "050001700111", "12235358", "10000.00", "600.00", "10600.00"),
    "ofdrw-keyword2.ofd": ("10", "032001600511", "31471858", "198.04", "1.96", "200.00"),
    "ofdrw-no_page_container.ofd": ("10", "031001900511", "04875996", "57.00", "0.00", "57.00"),
    "ofdrw-v4signed.ofd": ("10", "050001700111", "99999951", "300.00", "18.00", "318.00"),
    "ofdrw-发票示例.ofd": ("10", "050001700111", "99999951", "300.00", "18.00", "318.00"),
}


@pytest.fixture
def batch(db):
    entity = TaxpayerFactory(name="样本收票主体", credit_code="91110108MA01ABCD1E")
    return services.collection_start(taxpayer=entity, method=Method.CLI, actor=None)


def test_every_sample_ofd_lands_in_the_pool_with_its_key_and_figures_right(batch):
    for name, (kind, code, number, amount, tax, total) in OFD_SAMPLES.items():
        item = services.collection_add_file(collection=batch, name=name,
                                            data=(FIXTURES / "ofd" / name).read_bytes(), actor=None)
        assert item.outcome != Outcome.REJECTED, item.reason
        record = item.invoice
        assert (record.kind, record.code, record.number) == (kind, code, number), name
        if record.review_state != ReviewState.NEEDS_REVIEW:
            assert (record.amount, record.tax, record.total) == (Decimal(amount), Decimal(tax), Decimal(total)), name
    # 999 and its one-page variant, 发票示例 and its signed copy: the same invoices, two files each
    assert batch.items.filter(outcome=Outcome.ATTACHED).count() == 2
    assert {i.invoice.carriers.count() for i in batch.items.filter(outcome=Outcome.ATTACHED)} == {2}


def test_the_sample_pdf_lands_with_its_figures(batch):
    item = services.collection_add_file(collection=batch, name="easyofd-test.pdf",
                                        data=(FIXTURES / "pdf" / "easyofd-test.pdf").read_bytes(), actor=None)
    record = item.invoice
    assert (record.kind, record.number, record.issue_date.isoformat()) == ("81", "23512000000005197325", "2023-01-30")
    assert (record.amount, record.tax, record.total) == (Decimal("2129.34"), Decimal("21.29"), Decimal("2150.63"))


REPO = Path(__file__).resolve().parents[2]
CORPUS = next((p for p in (REPO.parent / "shared" / "samples" / "pdf-real", Path("/work/shared/samples/pdf-real"))
               if (p / "truth.json").is_file()), None)
FIELDS = ("kind", "code", "number", "issue_date", "buyer_name", "buyer_tax_id", "seller_name", "seller_tax_id",
          "amount", "tax", "total")


@pytest.mark.skipif(CORPUS is None, reason="../shared/samples/pdf-real is not present")
def test_real_supplier_pdfs_are_right_or_in_review_never_wrong(batch):
    assert CORPUS is not None
    truth = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))
    wrong, right = [], 0
    for name, expected in sorted(truth.items()):
        item = services.collection_add_file(collection=batch, name=name, data=(CORPUS / name).read_bytes(),
                                            actor=None)
        if expected.get("not_invoice"):
            assert item.outcome == Outcome.REJECTED or item.invoice is None, item.reason
            continue
        assert item.outcome != Outcome.REJECTED, item.reason
        record = item.invoice
        assert record is not None, item.reason
        if record.review_state == ReviewState.NEEDS_REVIEW:
            continue
        for field in FIELDS:
            if field not in expected:
                continue
            got = getattr(record, field)
            got = got.isoformat() if hasattr(got, "isoformat") else str(got)
            if got != str(expected[field]):
                wrong.append(f"{name} {field}: {got} != {expected[field]}")
            else:
                right += 1
    assert not wrong, wrong
    assert right > 0
