"""The verification budget holds with parallel verifiers (PostgreSQL, real threads): it is counted in the database
under row locks, not in any process's memory."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_save

from receiving import verification
from receiving.control_models import Verification, VerificationRate, VerificationUsage, VerifyState
from tests.receiving.controls import FakeVerifier, pool_invoice
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_verifiers_never_exceed_the_per_invoice_daily_budget(yuntu, settings, monkeypatch):
    settings.RECEIVING_VERIFY_PER_INVOICE_DAILY = 5
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    fake = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: fake)
    record = pool_invoice(yuntu)

    def verify():
        return verification.received_invoice_verify(record=record, actor=None, force=True).called

    results, errors = run_together(12, verify)
    assert errors == []
    assert len(fake.calls) == 5
    assert sorted(results) == [False] * 7 + [True] * 5
    assert VerificationUsage.objects.get(invoice=record).calls == 5
    assert Verification.objects.filter(state=VerifyState.PENDING, wait_reason="budget").count() == 7


def test_parallel_verifiers_of_one_entity_keep_its_rate(yuntu, settings, monkeypatch):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 2
    fake = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: fake)
    windows = []

    def seen(sender, instance, **kwargs):
        windows.append((instance.window, instance.calls))

    post_save.connect(seen, sender=VerificationRate)
    try:
        queue = [pool_invoice(yuntu) for _ in range(6)]

        def verify():
            return verification.received_invoice_verify(record=queue.pop(), actor=None).called

        results, errors = run_together(6, verify)
    finally:
        post_save.disconnect(seen, sender=VerificationRate)
    assert errors == []
    assert len(fake.calls) == sum(results) >= 4  # each waits for the next second a few times before giving up
    assert max(calls for _window, calls in windows) == 2
    assert len({window for window, _calls in windows}) >= 2
