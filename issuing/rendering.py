"""The hook issuing calls when an invoice is recorded: queue its PDF, OFD and XML, and deliver it.

Implemented in the ``delivery`` app: the file jobs (``delivery.rendering``) and the automatic delivery to the
application's e-mail and mobile (``delivery.services.invoice_deliver_on_issue``, off with ``DELIVERY_AUTO_SEND=False``).
Both only write rows here; rendering and sending are queued after the issuing transaction commits.
"""

from __future__ import annotations

from delivery.models import InvoiceFile
from delivery.rendering import invoice_files_queue as _files_queue
from delivery.rendering import invoice_to_document
from delivery.services import invoice_deliver_on_issue
from issuing.models import Invoice


def invoice_files_queue(invoice: Invoice) -> list[InvoiceFile]:
    files = _files_queue(invoice)
    invoice_deliver_on_issue(invoice)
    return files


__all__ = ["invoice_files_queue", "invoice_to_document"]
