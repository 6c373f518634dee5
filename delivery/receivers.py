"""Delivery's reactions to issuing's events (``issuing.platform.signals``), connected in ``DeliveryConfig.ready``."""

from __future__ import annotations

from typing import Any

from delivery.rendering import invoice_files_queue
from delivery.services import invoice_deliver_on_issue
from issuing.platform.models import Invoice


def on_invoice_recorded(sender: type[Invoice], *, invoice: Invoice, **kwargs: Any) -> None:
    """A new invoice: its PDF, OFD and XML file jobs, and the automatic delivery to the application's e-mail and
    mobile (off with ``DELIVERY_AUTO_SEND=False``). Both only write rows here; rendering and sending run on commit."""
    invoice_files_queue(invoice)
    invoice_deliver_on_issue(invoice)
