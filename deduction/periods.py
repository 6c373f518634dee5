"""所属期 arithmetic: the filing deadline and the current period of an entity (domain.md §14.4, §14.5). Pure but for the
holidays, read from ``FilingHoliday`` (data an administrator keeps)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.conf import settings

from deduction.models import FilingHoliday, PeriodState, TaxPeriod

PERIOD_RE = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")


def valid_period(value: str) -> bool:
    return bool(PERIOD_RE.match(value or ""))


def period_of(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def period_after(period: str) -> str:
    year, month = int(period[:4]), int(period[4:])
    return f"{year + month // 12:04d}{month % 12 + 1:02d}"


def period_before(period: str) -> str:
    year, month = int(period[:4]), int(period[4:])
    return f"{year - 1:04d}12" if month == 1 else f"{year:04d}{month - 1:02d}"


def filing_deadline(period: str, *, closed: set[date] | None = None, working: set[date] | None = None) -> date:
    """The last day to file ``period``: the 15th (``DEDUCTION_FILING_DAY``) of the next month, moved to the next
    working day past weekends and holidays (the extension rule is domain knowledge, UNVERIFIED, §14.4)."""
    if closed is None or working is None:
        rows = list(FilingHoliday.objects.values_list("day", "working"))
        closed = {d for d, w in rows if not w} if closed is None else closed
        working = {d for d, w in rows if w} if working is None else working
    nxt = period_after(period)
    day = date(int(nxt[:4]), int(nxt[4:]), int(getattr(settings, "DEDUCTION_FILING_DAY", 15)))
    while day in closed or (day.weekday() >= 5 and day not in working):
        day += timedelta(days=1)
    return day


def current_period(*, taxpayer_id: int, today: date) -> str:
    """勾选 goes into the previous month while its filing window is open and it is not yet confirmed, else into this
    month (§14.5; domain knowledge, UNVERIFIED)."""
    this = period_of(today)
    previous = period_before(this)
    if today <= filing_deadline(previous):
        row = TaxPeriod.objects.filter(taxpayer_id=taxpayer_id, period=previous).only("state").first()
        if row is None or row.state in (PeriodState.OPEN, PeriodState.STATISTICS):
            return previous
    return this
