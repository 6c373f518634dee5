"""The demo's bad cases show their rule failures: a wrong buyer title, a blacklisted seller, a red-flushed invoice."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from receiving.control_models import InvoiceCheck, RulesOutcome
from receiving.demo_controls import BLACKLISTED, RED_FLUSHED, WRONG_TITLE
from receiving.models import PlatformStatus, ReceivedInvoice

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_bad_cases_with_their_rule_failures_once(settings, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", verbosity=0)
    pool = ReceivedInvoice.objects.filter(taxpayer__credit_code="91440101MA5CYUN00U")
    failures = {}
    for number in (WRONG_TITLE, BLACKLISTED, RED_FLUSHED):
        check = InvoiceCheck.objects.get(invoice=pool.get(number=number))
        assert check.rules_outcome == RulesOutcome.BLOCK
        failures[number] = {f["rule"] for f in check.rules_failures}
    assert failures == {WRONG_TITLE: {"buyer_name"}, BLACKLISTED: {"seller_blacklist"},
                        RED_FLUSHED: {"platform_status"}}
    red = pool.get(number=RED_FLUSHED)
    assert (red.platform_status, InvoiceCheck.objects.get(invoice=red).verify_code) == (PlatformStatus.RED_FULL, "00")
    assert pool.filter(number="26332000000012340001").exists()  # the uploaded part of the demo is there too
    before = pool.count()
    call_command("seed_demo", verbosity=0)
    assert pool.count() == before
