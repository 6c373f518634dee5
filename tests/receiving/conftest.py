"""The receiving world: 浦江 (``pujiang``) is the buyer on the kernel's demo invoice; its suppliers send it files.

Files are made by the kernel's writers from one demo invoice (the same invoice as XML, OFD and PDF), and taken
from the licensed samples in tests/fixtures (see its README).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from invoicing import roles
from invoicing.documents import render_pdf, write_ofd, write_xml
from invoicing.documents.demo import demo_document
from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty
from receiving import services
from receiving.models import Method
from tests.factories import TaxpayerFactory, UserFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PUJIANG = ("上海浦江数字科技有限公司", "91310115MA1K4ABC2B")
XIHU = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")


@pytest.fixture
def pujiang(db):
    return TaxpayerFactory(name=PUJIANG[0], short_name="浦江", credit_code=PUJIANG[1], region_code="3100")


@pytest.fixture
def fiona(db):
    return UserFactory(username="fiona", role=roles.FINANCE, entities=None)


@pytest.fixture
def upload(pujiang, fiona):
    """An open batch of uploads by Fiona for 浦江."""
    return services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=fiona)


def small_document(*, number: str = "25312000000123456789", buyer: tuple[str, str] = PUJIANG,
                   seller: tuple[str, str] = XIHU, amount: str = "1000.00", rate: str = "0.06",
                   kind: str = "81", **changes) -> InvoiceDocument:
    """A one-line invoice whose figures all agree (amount × rate = tax, amount + tax = total)."""
    a = Decimal(amount)
    t = (a * Decimal(rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    doc = demo_document(number=number, kind=kind, lines=1)
    line = InvoiceLine(line_no=1, item_name="*信息技术服务*软件开发服务", short_name="信息技术服务", amount=a,
                       tax_rate=Decimal(rate), tax=t, quantity=Decimal(1), unit_price=a, unit="项",
                       tax_code="3040201000000000000")
    return doc.with_changes(lines=(line,), total_amount=a, total_tax=t, total_with_tax=a + t,
                            buyer=InvoiceParty(*buyer), seller=InvoiceParty(*seller), **changes)


_CACHE: dict[tuple[str, str], bytes] = {}


def _made(doc: InvoiceDocument, fmt: str) -> bytes:
    """The document written as ``fmt`` (cached per run: rendering a PDF takes a second)."""
    key = (repr(doc), fmt)
    if key not in _CACHE:
        _CACHE[key] = {"xml": write_xml, "ofd": write_ofd, "pdf": render_pdf}[fmt](doc)
    return _CACHE[key]


def as_xml(doc: InvoiceDocument) -> bytes:
    return _made(doc, "xml")


def as_ofd(doc: InvoiceDocument) -> bytes:
    return _made(doc, "ofd")


def as_pdf(doc: InvoiceDocument) -> bytes:
    return _made(doc, "pdf")


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()
