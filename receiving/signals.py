"""Signals the receiving services send.

``invoice_arrived``: a pool record was created or completed by a file (sent after the transaction commits, with
``invoice_id``). The receiving rules listen (connected in ``ReceivingConfig.ready``) and run for that record.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

invoice_arrived = Signal()


def invoice_arrived_on_commit(invoice_id: int) -> None:
    """Send ``invoice_arrived`` for ``invoice_id`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: invoice_arrived.send(sender=None, invoice_id=invoice_id))
