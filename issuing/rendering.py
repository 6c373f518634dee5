"""The hook issuing calls after an invoice commits: queue its PDF, OFD and XML. Implemented in ``delivery``."""

from delivery.rendering import invoice_files_queue, invoice_to_document

__all__ = ["invoice_files_queue", "invoice_to_document"]
