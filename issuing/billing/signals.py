"""What billing tells the sub-packages above it. Billing records and emits; applications listen (connected in
``issuing.apps.IssuingConfig.ready``), so that billing never imports them.

Both signals are sent synchronously by billing's services inside their transaction, after the rows are written and
while they are locked: whatever a listener writes commits or rolls back with the change itself, and a listener's
error undoes the change as an error of the service would.

``billing_documents_created(sender=BillingDocument, documents=[...], actor=...)``
    Documents (instances or ids) were recorded: one by ``billing_document_create``, many by an import. Applications
    apply for those that the entity's 申请时机 (付款后自动申请 / 交付后申请) says.

``billing_document_changed(sender=BillingDocument, document=..., change=DocumentChange.X, actor=...)``
    A payment, a delivery or a refund was recorded on ``document`` (locked). Applications refresh the document's
    status (a payment or a refund moves its invoiceable balance) and apply when the entity's 申请时机 says. After a
    payment or a refund the listener leaves what live applications take from the document on ``document.applied``
    (the name the applied-amount annotation uses), for the service's own event.
"""

from __future__ import annotations

from django.dispatch import Signal


class DocumentChange:
    """What ``billing_document_changed`` says happened to a document."""

    PAID = "paid"  # a payment (实收) was added
    DELIVERED = "delivered"  # the delivery date (交付日期) was set
    REFUNDED = "refunded"  # a refund was added


billing_documents_created = Signal()
billing_document_changed = Signal()
