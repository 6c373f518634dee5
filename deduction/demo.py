"""The deduction part of the demo world: for every entity on the sandbox channel with 专票 in its pool, an earlier
所属期 already confirmed with some of them selected for deduction, so that a new user finds a filled 附列资料二.

Idempotent: an entity with a confirmed or filed period gets nothing more.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import OutputWrapper
from django.utils import timezone

from deduction import input_tax, services
from deduction.models import ACTIVE_SELECTION_STATES, PeriodState, TaxPeriod
from deduction.periods import current_period, period_before
from invoicing.actors import SystemActor
from invoicing.channels import get_channel
from invoicing.channels.base import ChannelError
from invoicing.models import Taxpayer
from receiving.models import PlatformStatus, ReceivedInvoice

DEMO = SystemActor("demo")
PER_ENTITY = 5


def seed(stdout: OutputWrapper | None = None) -> None:
    done = TaxPeriod.objects.filter(state__in=[PeriodState.CONFIRMED, PeriodState.FILED]).values("taxpayer_id")
    for taxpayer in (Taxpayer.objects.filter(channel="sandbox", is_active=True).exclude(channel_app_key="")
                     .exclude(pk__in=done).order_by("pk")):
        ids = list(ReceivedInvoice.objects.filter(
            taxpayer=taxpayer, kind__in=sorted(input_tax.SPECIAL_KINDS), is_red=False,
            platform_status__in=[PlatformStatus.NORMAL, PlatformStatus.UNKNOWN], other_buyer=False)
            .exclude(deduction_selections__state__in=ACTIVE_SELECTION_STATES)
            .order_by("issue_date", "pk").values_list("pk", flat=True)[:PER_ENTITY])
        if not ids:
            continue
        channel = get_channel(taxpayer, transport="inprocess")
        earlier = period_before(current_period(taxpayer_id=taxpayer.pk, today=timezone.localdate()))
        try:
            row = services.tax_period_ensure(taxpayer=taxpayer, period=earlier, actor=DEMO)
            if row.state == PeriodState.OPEN:
                services.deduction_select(tax_period=row, items=[services.SelectionInput(invoice_id=i) for i in ids],
                                          actor=DEMO, channel=channel)
                row = services.tax_period_statistics_apply(tax_period=row, actor=DEMO, channel=channel)
            if row.state == PeriodState.STATISTICS:
                row = services.tax_period_confirm(tax_period=row, actor=DEMO, channel=channel)
        except (ValidationError, ChannelError) as exc:
            if stdout is not None:
                stdout.write(f"deduction: {taxpayer}: {exc}")
            continue
        if stdout is not None:
            stdout.write(f"deduction: {taxpayer} {row.period} {row.get_state_display()}")
