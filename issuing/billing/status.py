"""A billing document's status, derived from how much of it live applications have taken."""

from __future__ import annotations

from issuing.billing import selectors as billing_selectors
from issuing.billing.models import BillingDocument, BillingDocumentStatus


def billing_document_status_refresh(document: BillingDocument) -> None:
    if document.status == BillingDocumentStatus.CLOSED:
        return
    bal = billing_selectors.billing_document_balance(document, applied=billing_selectors.applied_amount(document))
    if bal.applied == 0:
        status = BillingDocumentStatus.OPEN
    elif bal.balance == 0:
        status = BillingDocumentStatus.FULLY
    else:
        status = BillingDocumentStatus.PARTLY
    if status != document.status:
        BillingDocument.objects.filter(pk=document.pk).update(status=status)
        document.status = status
