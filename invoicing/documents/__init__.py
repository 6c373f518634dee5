"""Official invoice formats: the 数电 XML, OFD and PDF — writers and readers around one normalized structure.

Public API::

    from invoicing.documents import InvoiceDocument, write_xml, read_xml, write_ofd, read_ofd, render_pdf, read_pdf

    write_xml(doc) -> bytes                 read_xml(data: bytes) -> InvoiceDocument
    write_ofd(doc) -> bytes                 read_ofd(data: bytes) -> InvoiceDocument
    render_pdf(doc, *, paper="A4") -> bytes render_batch_pdf(docs, paper="A4") -> bytes
    read_pdf(data: bytes) -> InvoiceDocument
    documents_environment_problems() -> list[str]

Readers raise only ``DocumentError`` subclasses (``UnsafeDocument``, ``MalformedDocument``, ``UnsupportedDocument``).
"""

from invoicing.documents.errors import (
    DocumentEnvironmentError,
    DocumentError,
    MalformedDocument,
    UnsafeDocument,
    UnsupportedDocument,
)
from invoicing.documents.fonts import documents_environment_problems
from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty
from invoicing.documents.ofd import read_ofd, write_ofd
from invoicing.documents.pdf import read_pdf, render_batch_pdf, render_pdf
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
    "documents_environment_problems",
    "read_ofd",
    "read_pdf",
    "read_xml",
    "render_batch_pdf",
    "render_pdf",
    "write_ofd",
    "write_xml",
]
