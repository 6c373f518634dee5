"""The demo leaves a period confirmed with 专票 selected (a new user sees a filled report), and follows the selection
rules of the day it is seeded on (domain.md §14.4, §14.5)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from deduction.dashboard import period_cards
from deduction.models import PeriodState, TaxPeriod
from deduction.periods import filing_deadline, period_last_day
from deduction.selectors import schedule2_of

pytestmark = pytest.mark.django_db

CN = ZoneInfo("Asia/Shanghai")


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


@pytest.mark.parametrize("day", [
    datetime(2026, 12, 7, 10, 0, tzinfo=CN),  # 202611's filing window: finance confirms it before the deadline
    datetime(2026, 11, 25, 10, 0, tzinfo=CN),  # past 202610's deadline: 202611 takes the month's selections
], ids=["filing-window", "past-deadline"])
def test_the_demo_follows_the_selection_rules_of_its_day(settings, day):
    settings.DEBUG = True
    with time_machine.travel(day, tick=True):
        call_command("seed_demo", verbosity=0)
        today = timezone.localdate()
        periods = list(TaxPeriod.objects.select_related("taxpayer").order_by("taxpayer", "period"))
        assert periods
        for row in periods:
            # only invoices issued by the period's last day (§14.5); no period left open past its deadline (§14.4)
            dates = [s.invoice.issue_date for s in row.selections.select_related("invoice")]
            assert all(d <= period_last_day(row.period) for d in dates), (row.period, dates)
            assert row.state != PeriodState.OPEN or today <= filing_deadline(row.period), row.period
        entities = {row.taxpayer_id for row in periods}
        card = period_cards(User.objects.get(username="finance"))[0]
        if period_last_day("202611") < today <= filing_deadline("202611"):
            # every demo entity confirmed last month, with selections, and the dashboard counts them
            confirmed = [r for r in periods if r.period == "202611" and r.state == PeriodState.CONFIRMED]
            assert {r.taxpayer_id for r in confirmed} == entities and all(r.selections.exists() for r in confirmed)
            assert "202611" in str(card.title) and f"已确认 {len(entities)}/{len(entities)}" in str(card.help)
            # the story's 专票 of today went into 202612 after 202611 was confirmed: never before
            for row in periods:
                if row.period == "202612":
                    before = next(r for r in periods if r.taxpayer_id == row.taxpayer_id and r.period == "202611")
                    assert before.confirmed_at < min(s.created_at for s in row.selections.all())
        else:
            assert {r.period for r in periods} == {"202611"}
