"""Reads about billing documents: the entity's issuing policy, and what a document may still be invoiced for once
what live applications take from it is known (that amount is derived from applications, and read there:
``issuing.applications.selectors.applied_amount`` / ``billing_document_balance``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoicing.models import Taxpayer
from issuing.base import ZERO
from issuing.billing.models import BillingDocument, IssuingPolicy


def policy_for(taxpayer: Taxpayer) -> IssuingPolicy:
    """The entity's issuing settings; defaults (unsaved) when none were saved yet."""
    try:
        return taxpayer.issuing_policy
    except IssuingPolicy.DoesNotExist:
        return IssuingPolicy(taxpayer=taxpayer)


@dataclass(frozen=True)
class Balance:
    """What a billing document may still be invoiced for. ``balance`` never goes below zero; a refund after
    invoicing shows as ``over_invoiced`` (to be settled by a red-letter invoice)."""

    basis: str
    ceiling: Decimal
    applied: Decimal
    balance: Decimal
    over_invoiced: Decimal


def balance_of(document: BillingDocument, *, policy: IssuingPolicy, applied: Decimal) -> Balance:
    """The document's balance when live applications take ``applied`` from it."""
    basis = document.effective_basis(policy)
    ceiling = document.ceiling(basis)
    raw = ceiling - applied
    return Balance(
        basis=basis, ceiling=ceiling, applied=applied, balance=max(raw, ZERO), over_invoiced=max(-raw, ZERO)
    )
