"""The QR code printed on the invoice face (payload per domain.md §3, built by ``invoicing.ids``)."""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import segno

from invoicing.documents.model import InvoiceDocument
from invoicing.ids import build_invoice_qr

# Our kind (fplx) -> QR field 2. 31/32 for 数电 are documented; 08 for 电子专票 follows the fplx list (UNVERIFIED).
QR_TYPES = {"81": "31", "85": "31", "82": "32", "86": "32", "51": "51",
            "01": "01", "04": "04", "08": "08", "10": "10", "11": "11", "14": "14"}


def qr_payload(doc: InvoiceDocument) -> str:
    """The QR text: 数电 invoices carry 价税合计, legacy ones 合计金额 (tax-exclusive)."""
    qr_type = QR_TYPES.get(doc.kind, "32" if doc.is_shudian else "10")
    if doc.legacy_code and doc.legacy_number:
        return build_invoice_qr(type=qr_type, code=doc.legacy_code, number=doc.legacy_number,
                                amount=doc.total_amount, date=doc.issue_date, check_code=doc.check_code or None)
    return build_invoice_qr(type=qr_type, number=doc.number, amount=doc.total_with_tax, date=doc.issue_date)


@lru_cache(maxsize=256)
def _png(payload: str, scale: int) -> bytes:
    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buf, kind="png", scale=scale, border=0)
    return buf.getvalue()


@lru_cache(maxsize=256)
def _svg(payload: str) -> str:
    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buf, kind="svg", border=0, xmldecl=False, svgns=True,
                                                     unit="mm", scale=1)
    return buf.getvalue().decode("utf-8")


def qr_png(doc: InvoiceDocument, *, scale: int = 4) -> bytes:
    return _png(qr_payload(doc), scale)


def qr_data_uri(doc: InvoiceDocument) -> str:
    """An SVG data URI (vector: sharp in print, small in the PDF)."""
    return "data:image/svg+xml;base64," + base64.b64encode(_svg(qr_payload(doc)).encode("utf-8")).decode("ascii")
