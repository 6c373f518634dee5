from __future__ import annotations

from pathlib import Path

import pytest

from invoicing.documents.demo import demo_document
from invoicing.documents.model import InvoiceDocument

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def demo() -> InvoiceDocument:
    return demo_document(total_in_words="壹拾肆万柒仟伍佰贰拾玖圆玖角捌分")


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
