"""Issuing's models, one module per sub-package; this module makes them Django's ``issuing`` app models.

Import a model from its own sub-package (``issuing.billing.models`` and so on); the names here exist for Django's
app registry, which loads ``issuing.models``.
"""

from issuing.applications.models import ApplicationLine, ApplicationSource, InvoiceApplication, QuotaPeriod
from issuing.base import NumberSequence
from issuing.billing.models import BillingDocument, BillingDocumentLine, IssuingPolicy
from issuing.paperstock.models import PaperBatch, PaperVoid
from issuing.platform.models import Invoice, InvoiceDailyRate, InvoiceLine
from issuing.redletter.models import RedFlushPolicy, RedLetterForm, RedLetterFormLine

__all__ = [
    "ApplicationLine", "ApplicationSource", "BillingDocument", "BillingDocumentLine", "Invoice", "InvoiceApplication",
    "InvoiceDailyRate", "InvoiceLine", "IssuingPolicy", "NumberSequence", "PaperBatch", "PaperVoid", "QuotaPeriod", "RedFlushPolicy",
    "RedLetterForm", "RedLetterFormLine",
]
