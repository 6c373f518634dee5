"""Reads about billing documents: the amount live applications have taken, and the balance left to invoice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from invoicing.models import Taxpayer
from issuing.applications.models import (
    INACTIVE_STATUSES,
    ApplicationSource,
)
from issuing.billing.models import BillingDocument, IssuingPolicy

ZERO = Decimal("0.00")


MONEY = DecimalField(max_digits=18, decimal_places=2)


def policy_for(taxpayer: Taxpayer) -> IssuingPolicy:
    """The entity's issuing settings; defaults (unsaved) when none were saved yet."""
    try:
        return taxpayer.issuing_policy
    except IssuingPolicy.DoesNotExist:
        return IssuingPolicy(taxpayer=taxpayer)


def active_sources() -> QuerySet[ApplicationSource]:
    return ApplicationSource.objects.exclude(application__status__in=INACTIVE_STATUSES)


def applied_subquery() -> Subquery:
    """Σ (amount − released) that active applications take from the billing document ``OuterRef("pk")``."""
    taken = (
        active_sources()
        .filter(billing_document=OuterRef("pk"))
        .order_by()
        .values("billing_document")
        .annotate(s=Sum(F("amount") - F("released_amount")))
        .values("s")
    )
    return Coalesce(Subquery(taken, output_field=MONEY), Value(ZERO), output_field=MONEY)


def billing_documents_with_applied(qs: QuerySet[BillingDocument] | None = None) -> QuerySet[BillingDocument]:
    qs = qs if qs is not None else BillingDocument.objects.all()
    return qs.annotate(applied=applied_subquery())


def applied_amount(document: BillingDocument) -> Decimal:
    total = active_sources().filter(billing_document=document).aggregate(
        s=Sum(F("amount") - F("released_amount"), output_field=MONEY)
    )["s"]
    return total or ZERO


@dataclass(frozen=True)
class Balance:
    """What a billing document may still be invoiced for. ``balance`` never goes below zero; a refund after
    invoicing shows as ``over_invoiced`` (to be settled by a red-letter invoice)."""

    basis: str
    ceiling: Decimal
    applied: Decimal
    balance: Decimal
    over_invoiced: Decimal


def billing_document_balance(
    document: BillingDocument, *, policy: IssuingPolicy | None = None, applied: Decimal | None = None
) -> Balance:
    if policy is None:
        policy = policy_for(document.taxpayer)
    basis = document.effective_basis(policy)
    ceiling = document.ceiling(basis)
    if applied is None:
        applied = getattr(document, "applied", None)
    if applied is None:
        applied = applied_amount(document)
    raw = ceiling - applied
    return Balance(
        basis=basis, ceiling=ceiling, applied=applied, balance=max(raw, ZERO), over_invoiced=max(-raw, ZERO)
    )
