"""The demo leaves an earlier period confirmed with 专票 selected: a new user sees a filled report."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from deduction.models import PeriodState, TaxPeriod
from deduction.selectors import schedule2_of

pytestmark = pytest.mark.django_db


def test_the_demo_confirms_an_earlier_period_once(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    confirmed = TaxPeriod.objects.filter(state=PeriodState.CONFIRMED)
    assert confirmed.exists()
    row = confirmed.first()
    lines = schedule2_of(row)
    assert lines["2"].count >= 1 and lines["2"].tax > 0 and lines["12"].tax == lines["1"].tax
    before = TaxPeriod.objects.count()
    call_command("seed_demo", verbosity=0)
    assert TaxPeriod.objects.count() == before
