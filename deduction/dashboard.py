"""Deduction's card on the admin home (``invoicing.dashboard``): the 所属期 being filed, how many of the user's
entities have confirmed it, and the days left to the filing deadline (domain.md §14.4, §14.5)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from deduction.models import PeriodState
from deduction.periods import filing_deadline, period_before, period_of
from invoicing.dashboard import Card, Tone, dashboard_card_register
from invoicing.models import TaxpayerType
from invoicing.scoping import allowed_taxpayers

DONE = (PeriodState.CONFIRMED, PeriodState.FILED)
SOON_DAYS = 3


def _card_url(period: str, *, entities: int, opened: int, row: int | None) -> str:
    """Where the card leads: the user's one entity with the period opened, straight to its workbench; otherwise the
    period list searched for the period, where the rows opened are listed and the form that opens a period (for an
    entity that has no row yet) comes filled with it (``TaxPeriodAdmin.changelist_view``)."""
    if entities == 1 and opened == 1 and row is not None:
        return reverse("admin:deduction_taxperiod_change", args=[row])
    return reverse("admin:deduction_taxperiod_changelist") + "?" + urlencode({"q": period})


def period_cards(user: User) -> list[Card]:
    """Two queries: the holidays (for the deadline) and one count over the user's general-taxpayer entities."""
    today = timezone.localdate()
    period = period_before(period_of(today))  # the previous month is filed this month, until its deadline
    deadline = filing_deadline(period)
    if today > deadline:
        period = period_of(today)
        deadline = filing_deadline(period)
    counts = allowed_taxpayers(user).filter(is_active=True, taxpayer_type=TaxpayerType.GENERAL).aggregate(
        entities=Count("pk", distinct=True),
        done=Count("tax_periods", filter=Q(tax_periods__period=period, tax_periods__state__in=DONE)),
        statistics=Count("tax_periods", filter=Q(tax_periods__period=period,
                                                 tax_periods__state=PeriodState.STATISTICS)),
        opened=Count("tax_periods", filter=Q(tax_periods__period=period)),
        row=Max("tax_periods__pk", filter=Q(tax_periods__period=period)),
    )
    days = (deadline - today).days
    entities, done = counts["entities"], counts["done"]
    tone: Tone = "ok" if done >= entities else ("bad" if days <= SOON_DAYS else "info")
    return [
        Card(title=gettext("所属期 %(period)s 申报截止") % {"period": period},
             value=gettext("%(days)d 天") % {"days": days}, tone=tone,
             url=_card_url(period, entities=entities, opened=counts["opened"], row=counts["row"]),
             help=gettext("截止 %(deadline)s；已确认 %(done)d/%(entities)d 个主体，已申请统计 %(statistics)d 个")
             % {"deadline": deadline.isoformat(), "done": done, "entities": entities,
                "statistics": counts["statistics"]}, order=80),
    ]


def register() -> None:
    dashboard_card_register(period_cards)
