"""The monthly issuing quota (授信额度): set, consume on issue, restore on red-flush."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor
from invoicing.events import event_record, events_record_many
from invoicing.models import Taxpayer
from invoicing.tax import q2, to_decimal
from issuing.applications.models import (
    QuotaPeriod,
)
from issuing.base import ZERO
from issuing.billing.selectors import policy_for
from issuing.workflow import P_QUOTA, authorize


class QuotaCharge(Protocol):
    """What counting an issued invoice against the quota reads of it (``issuing.platform.models.Invoice`` fits)."""

    taxpayer_id: int
    taxpayer: Taxpayer
    quota_month: str
    amount: Decimal
    number: str


def quota_set(*, actor: Actor, taxpayer: Taxpayer, month: str, total: Decimal | str, used: Decimal | str | None = None
              ) -> QuotaPeriod:
    """Record the month's quota as the platform reports it (finance, or the channel's sync with actor=None)."""
    authorize(actor, taxpayer.pk, P_QUOTA)
    value = q2(to_decimal(total, "total"))
    if value < 0:
        raise ValidationError({"total": gettext("总额度不能为负数")})
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit() or not 1 <= int(month[5:]) <= 12:
        raise ValidationError({"month": gettext("月份格式应为 YYYY-MM：%(month)s") % {"month": month}})
    with transaction.atomic():
        period, created = QuotaPeriod.objects.select_for_update().get_or_create(
            taxpayer=taxpayer, month=month, defaults={"total": value}
        )
        before = f"{period.total}/{period.used}"
        period.total = value
        if used is not None:
            period.used = q2(to_decimal(used, "used"))
        period.synced_at = timezone.now() if actor is None else period.synced_at
        period.save()
        event_record(obj=period, action="quota_set", actor=actor, taxpayer=taxpayer,
                     data={"before": None if created else before, "total": str(period.total), "used": str(period.used)})
    return period


def quota_consume(
    *, taxpayer: Taxpayer, amount: Decimal, month: str, actor: Actor = None, reference: str = ""
) -> QuotaPeriod | None:
    """Count an issued invoice's 合计金额 against the month's quota. The platform has already accepted the invoice,
    so this records and never refuses (the check happens at approval and before issuing). No period, no record."""
    with transaction.atomic():
        period = QuotaPeriod.objects.select_for_update().filter(taxpayer=taxpayer, month=month).first()
        if period is None:
            return None
        period.used += amount
        period.save(update_fields=["used", "updated_at"])
        event_record(obj=period, action="quota_consume", actor=actor, taxpayer=taxpayer,
                     data={"amount": str(amount), "used": str(period.used), "reference": reference})
    return period


def quota_consume_many(invoices: Sequence[QuotaCharge], *, actor: Actor = None) -> None:
    """``quota_consume`` for many issued invoices: each month's quota row locked and written once, one event per
    invoice (as one by one)."""
    groups: dict[tuple[int, str], list[QuotaCharge]] = {}
    for invoice in invoices:
        groups.setdefault((invoice.taxpayer_id, invoice.quota_month), []).append(invoice)
    events = []
    with transaction.atomic():
        for (taxpayer_id, month), group in sorted(groups.items()):
            period = QuotaPeriod.objects.select_for_update().filter(taxpayer_id=taxpayer_id, month=month).first()
            if period is None:
                continue
            for invoice in group:
                period.used += invoice.amount
                events.append({"obj": period, "action": "quota_consume", "actor": actor, "taxpayer": invoice.taxpayer,
                               "data": {"amount": str(invoice.amount), "used": str(period.used),
                                        "reference": invoice.number}})
            period.save(update_fields=["used", "updated_at"])
        events_record_many(events)


def quota_restore(
    *, taxpayer: Taxpayer, amount: Decimal, month: str, actor: Actor = None, reference: str = ""
) -> QuotaPeriod | None:
    """Give quota back for a red invoice, only if the entity's setting says red invoices restore it (the bureau's
    rule is unverified, domain.md §12.1). ``used`` never goes below zero."""
    if not policy_for(taxpayer).red_restores_quota:
        return None
    with transaction.atomic():
        period = QuotaPeriod.objects.select_for_update().filter(taxpayer=taxpayer, month=month).first()
        if period is None:
            return None
        period.used = max(ZERO, period.used - abs(amount))
        period.save(update_fields=["used", "updated_at"])
        event_record(obj=period, action="quota_restore", actor=actor, taxpayer=taxpayer,
                     data={"amount": str(abs(amount)), "used": str(period.used), "reference": reference})
    return period
