"""Claims on one invoice at the same time (PostgreSQL, real threads): the invoice's row lock keeps the claimed
amounts within its total."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from receiving import claims
from receiving.claims import LineInput
from receiving.claims_models import ClaimLine
from tests.receiving.controls import pool_invoice
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def claim_of(entity, record, amount):
    def make():
        return claims.claim_create(taxpayer=entity, claimant_name="张三",
                                   lines=[LineInput(invoice=record, amount=amount)], actor=None)
    return make


def test_twenty_concurrent_claims_never_exceed_the_invoices_total(yuntu):
    record = pool_invoice(yuntu)  # 1,060.00
    results, errors = run_together(20, claim_of(yuntu, record, Decimal("100.00")))
    assert len(results) == 10 and len(errors) == 10
    assert all("超过可报销余额" in str(e) for e in errors)
    assert ClaimLine.objects.filter(invoice=record).aggregate(s=Sum("amount"))["s"] == Decimal("1000.00")


def test_two_claims_taking_the_last_yuan_of_one_invoice_at_once(yuntu):
    record = pool_invoice(yuntu)
    claims.claim_create(taxpayer=yuntu, claimant_name="李四", lines=[LineInput(invoice=record,
                                                                              amount=Decimal("1059.00"))], actor=None)
    results, errors = run_together(2, claim_of(yuntu, record, Decimal("1.00")))
    assert len(results) == 1 and len(errors) == 1
    assert ClaimLine.objects.filter(invoice=record).aggregate(s=Sum("amount"))["s"] == Decimal("1060.00")
