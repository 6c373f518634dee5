"""For tests that run on the calendar's day (the browser tests): the 所属期 that takes the invoices issued today."""

from __future__ import annotations

from django.utils import timezone

from deduction.models import PeriodState, TaxPeriod
from deduction.periods import filing_deadline, period_before, period_of


def this_month_open(entity) -> str:
    """This month's 所属期, made the entity's current one: while last month's filing window is open, last month is
    current until confirmed (domain.md §14.5), so it is recorded as confirmed first, as finance does before the
    deadline. Invoices issued today may then be selected into the returned period."""
    today = timezone.localdate()
    previous = period_before(period_of(today))
    if today <= filing_deadline(previous):
        TaxPeriod.objects.get_or_create(taxpayer=entity, period=previous,
                                        defaults={"state": PeriodState.CONFIRMED, "confirmed_at": timezone.now()})
    return period_of(today)
