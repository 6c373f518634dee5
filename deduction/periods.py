"""所属期 arithmetic: the filing deadline and the current period of an entity (domain.md §14.4, §14.5). Pure but for the
holidays, read from ``FilingHoliday`` (data an administrator keeps)."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from django.conf import settings
from django.utils.translation import gettext

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


def period_last_day(period: str) -> date:
    year, month = int(period[:4]), int(period[4:])
    return date(year, month, calendar.monthrange(year, month)[1])


# 公告2019年第45号: invoices issued from 2017-01-01 have no deadline; older ones go through 逾期抵扣 (§14.4)
NO_DEADLINE_FROM = date(2017, 1, 1)


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


def selection_window_refusal(*, taxpayer_id: int, period: str, today: date) -> str:
    """Why nothing may be selected into ``period`` of the entity on ``today``; empty when it may.

    勾选 goes into the *current* 所属期 only (§14.5): the previous month during its filing window until it is
    confirmed, otherwise this month (``current_period``). A period whose filing deadline (§14.4) has passed is closed
    for 勾选 whether or not it was confirmed: the 所属期 has rolled forward and what was not selected in it is
    selected into the current one (invoices issued from 2017 have no deadline of their own, §14.4). A later month
    opens once the one before it is confirmed or past its deadline."""
    current = current_period(taxpayer_id=taxpayer_id, today=today)
    if period == current:
        return ""
    if period < current:
        deadline = filing_deadline(period)
        if today > deadline:
            return gettext("所属期 %(period)s 的申报截止日 %(deadline)s 已过，不能再勾选；勾选只能进入当前所属期 "
                           "%(current)s") % {"period": period, "deadline": deadline.isoformat(), "current": current}
        return gettext("所属期 %(period)s 已确认，不能再勾选；勾选只能进入当前所属期 %(current)s") % {
            "period": period, "current": current}
    if period == period_of(today):
        return gettext("上一所属期 %(current)s 尚未确认且未过申报截止日 %(deadline)s，勾选只能进入当前所属期 "
                       "%(current)s") % {"current": current, "deadline": filing_deadline(current).isoformat()}
    return gettext("所属期 %(period)s 尚未开始，勾选只能进入当前所属期 %(current)s") % {
        "period": period, "current": current}


def issue_date_refusal(*, issue_date: date | None, period: str) -> str:
    """Why an invoice issued on ``issue_date`` may not be selected into ``period``; empty when it may. An invoice
    belongs to the 所属期 of its issue date or a later one: issued after the period's last day, it waits for a later
    所属期 (§14.5, §15 line 2: 本期认证相符且本期申报抵扣). Issued before 2017-01-01, it needs the 逾期抵扣 procedure
    (§14.4)."""
    if issue_date is None:
        return gettext("开票日期未知，不能确定可勾选的所属期")
    last = period_last_day(period)
    if issue_date > last:
        return gettext("开票日期 %(date)s 晚于所属期 %(period)s 的最后一天 %(last)s，应在以后的所属期勾选") % {
            "date": issue_date.isoformat(), "period": period, "last": last.isoformat()}
    if issue_date < NO_DEADLINE_FROM:
        return gettext("开票日期 %(date)s 早于 2017-01-01，须申请逾期抵扣，不能直接勾选") % {
            "date": issue_date.isoformat()}
    return ""
