"""Deduction's card on the admin home (``invoicing.dashboard``): the 所属期 being filed, how many of the user's
entities have confirmed it, and the days left to the filing deadline (domain.md §14.4, §14.5)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Count, Q
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
    )
    days = (deadline - today).days
    entities, done = counts["entities"], counts["done"]
    tone: Tone = "ok" if done >= entities else ("bad" if days <= SOON_DAYS else "info")
    return [
        Card(title=gettext("所属期 %(period)s 申报截止") % {"period": period},
             value=gettext("%(days)d 天") % {"days": days}, tone=tone,
             url=reverse("admin:deduction_taxperiod_changelist") + "?" + urlencode({"q": period}),
             help=gettext("截止 %(deadline)s；已确认 %(done)d/%(entities)d 个主体，已申请统计 %(statistics)d 个")
             % {"deadline": deadline.isoformat(), "done": done, "entities": entities,
                "statistics": counts["statistics"]}, order=80),
    ]


def register() -> None:
    dashboard_card_register(period_cards)
