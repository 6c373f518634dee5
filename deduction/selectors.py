"""What the deduction pages, the command and the API read."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from deduction import schedule2
from deduction.models import PeriodState, TaxPeriod, TransferOut


def schedule2_of(period: TaxPeriod) -> dict[str, schedule2.Line]:
    """附列资料二 of a confirmed (or filed) period, from its confirmation snapshot and its transfers-out."""
    if period.state not in (PeriodState.CONFIRMED, PeriodState.FILED):
        raise ValidationError(gettext("所属期 %(period)s 尚未确认，没有附列资料二") % {"period": period.period})
    transfers = TransferOut.objects.filter(tax_period=period).values("line", "tax", "invoice_id").order_by("pk")
    return schedule2.build(period.snapshot.get("selections", []), list(transfers))
