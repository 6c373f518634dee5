"""The deduction part of the demo world, dated like the rest of it (relative to today, China time) and following the
rules of domain.md §14.4, §14.5: 勾选 goes into the entity's *current* 所属期 only, and only invoices issued by that
period's last day.

For every entity on the sandbox channel:

* while last month's filing window is open (today up to its filing deadline), last month is the current period: its
  专票 verified on the platform (issued by the month's last day) are selected for deduction, the statistics applied
  and the period confirmed, as finance does before the deadline. The period then rolls forward to this month, where
  the story of one ride (``api/demo.py``) selects the 专票 issued today;
* past that deadline, this month is the current period: its 专票 issued so far are selected and the period stays
  open (it is filed next month).

Idempotent: an entity that has any period gets nothing more.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import OutputWrapper
from django.utils import timezone

from deduction import input_tax, services
from deduction.models import ACTIVE_SELECTION_STATES, PeriodState, TaxPeriod
from deduction.periods import NO_DEADLINE_FROM, current_period, period_last_day, period_of
from invoicing.actors import SystemActor
from invoicing.channels import get_channel
from invoicing.channels.base import ChannelError
from invoicing.models import Taxpayer
from receiving.models import PlatformStatus, ReceivedInvoice

DEMO = SystemActor("demo")
PER_ENTITY = 5


def _candidates(taxpayer: Taxpayer, period: str) -> list[int]:
    """Up to ``PER_ENTITY`` 专票 the platform listed as normal (downloaded, so verified), issued within the period's
    reach (§14.4, §14.5), not selected yet, on no expense claim and with nothing against them."""
    rows = (ReceivedInvoice.objects.filter(
        taxpayer=taxpayer, kind__in=sorted(input_tax.SPECIAL_KINDS), is_red=False,
        platform_status=PlatformStatus.NORMAL, other_buyer=False,
        issue_date__gte=NO_DEADLINE_FROM, issue_date__lte=period_last_day(period))
        .exclude(deduction_selections__state__in=ACTIVE_SELECTION_STATES)
        .exclude(claim_lines__isnull=False)  # the demo's expense claims keep theirs (one use per invoice)
        .order_by("-issue_date", "-pk"))
    return [r.pk for r in rows[:PER_ENTITY * 4] if not services.selection_refusal(r)][:PER_ENTITY]


def seed(stdout: OutputWrapper | None = None) -> None:
    def say(text: str) -> None:
        if stdout is not None:
            stdout.write(f"deduction: {text}")

    today = timezone.localdate()
    touched = TaxPeriod.objects.values("taxpayer_id")
    for taxpayer in (Taxpayer.objects.filter(channel="sandbox", is_active=True).exclude(channel_app_key="")
                     .exclude(pk__in=touched).order_by("pk")):
        period = current_period(taxpayer_id=taxpayer.pk, today=today)
        filing = period != period_of(today)  # last month, in its filing window: finance confirms it now
        ids = _candidates(taxpayer, period)
        channel = get_channel(taxpayer, transport="inprocess")
        row = services.tax_period_ensure(taxpayer=taxpayer, period=period, actor=DEMO)
        try:
            if ids:
                services.deduction_select(tax_period=row, items=[services.SelectionInput(invoice_id=i) for i in ids],
                                          actor=DEMO, channel=channel)
        except (ValidationError, ChannelError) as exc:
            say(f"{taxpayer}: {exc}")  # nothing selected; last month is still confirmed, so that it rolls forward
        try:
            if filing:
                row = services.tax_period_statistics_apply(tax_period=row, actor=DEMO, channel=channel)
                row = services.tax_period_confirm(tax_period=row, actor=DEMO, channel=channel)
        except (ValidationError, ChannelError) as exc:
            say(f"{taxpayer}: {exc}")
            continue
        row = TaxPeriod.objects.get(pk=row.pk)  # its state is protected: read afresh, not refreshed
        selected = row.selections.filter(state__in=ACTIVE_SELECTION_STATES).count()
        say(f"{taxpayer} {row.period} {row.get_state_display()}, {selected} 张已勾选"
            + ("" if row.state == PeriodState.CONFIRMED else "（下月申报）"))
