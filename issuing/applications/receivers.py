"""Applications' answers to what billing tells (``issuing.billing.signals``), connected in
``issuing.apps.IssuingConfig.ready``. Each runs inside the billing service's transaction, on the locked document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoicing.actors import Actor
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.billing.models import BillingDocument
from issuing.billing.signals import DocumentChange


def on_billing_documents_created(
    sender: type[BillingDocument], *, documents: Sequence[BillingDocument | int], actor: Actor = None, **kwargs: Any
) -> None:
    """New documents: those already paid or delivered apply as the entity's 申请时机 says."""
    application_services.billing_documents_auto_apply(documents=documents)


def on_billing_document_changed(
    sender: type[BillingDocument], *, document: BillingDocument, change: str, actor: Actor = None, **kwargs: Any
) -> None:
    """A payment moves the document's balance (its status) and may be the entity's 申请时机; so may a delivery. A
    refund moves the balance; what live applications take is left on ``document.applied`` for the refund's event."""
    if change == DocumentChange.PAID:
        application_services.billing_document_refresh_status(document=document, actor=actor)
        application_services.billing_document_auto_apply(document=document,
                                                         event=application_services.DocumentEvent.PAID)
    elif change == DocumentChange.DELIVERED:
        application_services.billing_document_auto_apply(document=document,
                                                         event=application_services.DocumentEvent.DELIVERED)
    elif change == DocumentChange.REFUNDED:
        document.applied = application_selectors.applied_amount(document)
        application_services.billing_document_refresh_status(document=document, actor=actor, applied=document.applied)
    else:
        raise ValueError(f"unknown billing document change {change!r}")
