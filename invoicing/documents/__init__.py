"""Official invoice formats: the 数电 XML, OFD and PDF — writers and readers around one normalized structure.

Public API::

    from invoicing.documents import InvoiceDocument, write_xml, read_xml, write_ofd, read_ofd, render_pdf, read_pdf
"""

from invoicing.documents.errors import (
    DocumentEnvironmentError,
    DocumentError,
    MalformedDocument,
    UnsafeDocument,
    UnsupportedDocument,
)
from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty
from invoicing.documents.ofd import read_ofd, write_ofd
from invoicing.documents.xml import read_xml, write_xml

__all__ = [
    "DocumentEnvironmentError",
    "DocumentError",
    "InvoiceDocument",
    "InvoiceLine",
    "InvoiceParty",
    "MalformedDocument",
    "UnsafeDocument",
    "UnsupportedDocument",
    "read_ofd",
    "read_xml",
    "write_ofd",
    "write_xml",
]
