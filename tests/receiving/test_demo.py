"""The demo fills 云途's pool by uploading files, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from receiving.models import Collection, ReceivedInvoice, ReviewState

pytestmark = pytest.mark.django_db


def test_the_demo_pool_has_an_invoice_in_three_files_one_in_review_and_is_seeded_once(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    pool = ReceivedInvoice.objects.filter(taxpayer__credit_code="91440101MA5CYUN00U")
    three = pool.get(number="26332000000012340001")
    assert sorted(three.carriers.values_list("format", flat=True)) in (["ofd", "pdf", "xml"], ["ofd", "xml"])
    disputed = pool.get(number="26332000000012340002")
    assert disputed.review_state == ReviewState.NEEDS_REVIEW
    assert {r["code"] for r in disputed.review_reasons} == {"carrier_conflict"}
    assert pool.filter(other_buyer=True).count() >= 10  # the licensed samples are addressed to other companies
    before = (pool.count(), Collection.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (pool.count(), Collection.objects.count()) == before
