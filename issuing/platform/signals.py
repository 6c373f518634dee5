"""What issuing tells the rest of the project. Issuing records and emits; other apps (delivery) listen.

``invoice_recorded(sender=Invoice, invoice=...)`` is sent once for each newly recorded invoice, blue or red, inside
the issuing transaction and in a savepoint of its own (``issuing.platform.services.invoice_files_queue``): a listener
writes rows only, and queues any slow work with ``transaction.on_commit``. A listener that fails is logged and never
undoes the invoice.
"""

from __future__ import annotations

from django.dispatch import Signal

invoice_recorded = Signal()
