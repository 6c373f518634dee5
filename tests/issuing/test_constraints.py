"""The database itself refuses totals that do not add up, and accepts every exact sum (in cents)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_an_invoice_whose_cents_add_up_is_accepted_even_where_floats_would_not(yuntu):
    invoice = make_invoice(yuntu)
    # 1.10 + 2.20 is 3.3000000000000003 in floating point: SQLite compares in floats, the check must still pass.
    invoice.amount, invoice.tax, invoice.total = Decimal("1.10"), Decimal("2.20"), Decimal("3.30")
    invoice.save()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("3.30")


def test_an_invoice_whose_total_is_a_fen_off_is_refused(yuntu):
    invoice = make_invoice(yuntu)
    invoice.amount, invoice.tax, invoice.total = Decimal("1.10"), Decimal("2.20"), Decimal("3.31")
    with pytest.raises(IntegrityError), transaction.atomic():
        invoice.save()
