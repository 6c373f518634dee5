"""Webhooks for application and invoice changes, derived from the audit trail.

The issuing services record an ``Event`` for every state change of an application; none of them emits webhooks.
Rather than reach into those services, this module listens for new Event rows (``post_save``, connected in
``ApiConfig.ready``) and turns the ones an upstream system cares about into ``delivery.services.webhook_emit`` calls.
``webhook_emit`` writes its rows in the same transaction and posts only after commit, so a rolled-back change sends
nothing.

- ``application.status_changed``: the customer-facing status changed (待审核 → 审核中 is not a change to a customer).
- ``invoice.issued``: the application reached 已开票; the payload carries the invoice.
- ``invoice.red_flushed``: the application reached 已红冲 or 部分红冲.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.contenttypes.models import ContentType

from delivery.models import WebhookEndpoint, WebhookEvent
from delivery.services import webhook_emit
from issuing.applications.models import ApplicationStatus, InvoiceApplication, customer_status

logger = logging.getLogger(__name__)

S = ApplicationStatus


def _customer(status: str) -> tuple[str, str] | None:
    try:
        return customer_status(status)
    except (KeyError, ValueError):
        return None


def _invoice_payload(invoice) -> dict[str, Any]:
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "kind": invoice.kind,
        "is_red": invoice.is_red,
        "issue_date": invoice.issue_date.isoformat(),
        "amount": str(invoice.amount),
        "tax": str(invoice.tax),
        "total": str(invoice.total),
        "status": invoice.status,
    }


def application_payload(app: InvoiceApplication, *, previous: str = "") -> dict[str, Any]:
    code, label = customer_status(app.status)
    return {
        "taxpayer": app.taxpayer.credit_code,
        "application": {
            "id": app.pk,
            "number": app.number,
            "status": code,
            "status_label": label,
            "previous_status": previous,
            "reject_reason": app.reject_reason if code == "rejected" else "",
            "billing_documents": [
                {"id": s.billing_document_id, "external_no": s.billing_document.external_no}
                for s in app.sources.select_related("billing_document")
            ],
        },
    }


def webhooks_for_event(event) -> list[tuple[str, dict[str, Any]]]:
    """(webhook event name, payload) pairs that one audit event calls for."""
    if not event.from_state or not event.to_state or event.from_state == event.to_state:
        return []
    if event.content_type_id != ContentType.objects.get_for_model(InvoiceApplication).pk:
        return []
    before, after = _customer(event.from_state), _customer(event.to_state)
    if before is None or after is None:
        return []
    app = InvoiceApplication.objects.select_related("taxpayer").filter(pk=event.object_id).first()
    if app is None:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    if before[0] != after[0]:
        out.append((WebhookEvent.APPLICATION_STATUS_CHANGED, application_payload(app, previous=before[0])))
    if event.to_state == S.ISSUED and event.from_state == S.ISSUING:
        invoice = app.invoices.filter(is_red=False).order_by("-issued_at").first()
        if invoice is not None:
            payload = application_payload(app, previous=before[0])
            payload["invoice"] = _invoice_payload(invoice)
            out.append((WebhookEvent.INVOICE_ISSUED, payload))
    if event.to_state in (S.RED_FLUSHED, S.PARTLY_RED) and event.from_state == S.RED_PENDING:
        payload = application_payload(app, previous=before[0])
        payload["invoices"] = [_invoice_payload(i) for i in app.invoices.order_by("issued_at", "pk")]
        out.append((WebhookEvent.INVOICE_RED_FLUSHED, payload))
    return out


def on_event_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    on_events_recorded(sender, [instance])


def on_events_recorded(sender, events, **kwargs) -> None:
    """The webhooks that new audit events call for: one event saved, or many inserted at once (batch issuing)."""
    changes = [e for e in events if e.taxpayer_id is not None and e.from_state and e.from_state != e.to_state]
    if not changes:
        return
    # One cheap query first: most entities subscribe no endpoint, and this runs for every audit event.
    subscribed = set(
        WebhookEndpoint.objects.filter(taxpayer_id__in={e.taxpayer_id for e in changes}, is_active=True)
        .values_list("taxpayer_id", flat=True).distinct()
    )
    for event in changes:
        if event.taxpayer_id not in subscribed:
            continue
        for name, payload in webhooks_for_event(event):
            webhook_emit(taxpayer=event.taxpayer, event=name, payload=payload)
