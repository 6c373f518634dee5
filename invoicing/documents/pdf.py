"""PDF: the invoice face rendered with WeasyPrint from ``templates/documents/invoice.html``, and a PDF reader.

Rendering embeds a local CJK font (see ``fonts.py``) and fetches nothing from the network: the URL fetcher serves
``data:`` URIs and files under the font directories only.

``read_pdf`` reads the text layer (pdfplumber; letter-spaced text is merged by glyph distance) with the same label
heuristics as the OFD page-text reader, then the QR code (page 1 rendered by pypdfium2 or ``pdftoppm`` and decoded
with zxing-cpp) for anything the text did not give.
"""

from __future__ import annotations

import atexit
import io
import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from invoicing.documents.errors import (
    DocumentEnvironmentError,
    DocumentError,
    MalformedDocument,
    UnsafeDocument,
    UnsupportedDocument,
)
from invoicing.documents.facetext import PlacedText, header_values, kind_from_title, table_lines, text_width
from invoicing.documents.fonts import documents_environment_problems, find_cjk_font
from invoicing.documents.model import (
    FORMAT_PDF,
    InvoiceDocument,
    format_cn_date,
    format_money,
    format_plain,
    normalize_text,
)
from invoicing.documents.qr import qr_data_uri
from invoicing.documents.xml import _amount_in_words, document_from_values, full_remark

logger = logging.getLogger(__name__)

__all__ = ["documents_environment_problems", "invoice_html", "read_pdf", "render_batch_pdf", "render_pdf"]

TEMPLATE = "documents/invoice.html"
PAPERS = ("A4", "A5")
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 50
MAX_BATCH = 500
FACE_ROWS = 8  # rows drawn on the face even when there are fewer lines (keeps the frame the official height)

# ------------------------------------------------------------------------------------------------ render


def _fetcher(allowed_roots: tuple[Path, ...]) -> Any:
    from weasyprint.urls import URLFetcher

    class LocalOnlyFetcher(URLFetcher):
        """Serves data: URIs and files below ``allowed_roots``; refuses everything else (no network)."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                from urllib.parse import unquote, urlparse

                path = Path(unquote(urlparse(url).path)).resolve()
                if any(path.is_relative_to(root) for root in allowed_roots) and path.is_file():
                    return super().fetch(url, headers)
            raise ValueError(f"refusing to fetch {url[:80]!r}: only local fonts and data URIs are allowed")

    return LocalOnlyFetcher(allowed_protocols={"data", "file"}, allow_redirects=False, fail_on_errors=False)


def _money_cell(value: Any) -> str:
    return format_money(value)


def invoice_context(doc: InvoiceDocument) -> dict[str, Any]:
    """Everything the template shows, already formatted (the template has no logic beyond loops)."""
    lines = [
        {
            "item": ln.item_name,
            "spec": ln.spec,
            "unit": ln.unit,
            "qty": format_plain(ln.quantity),
            "price": format_plain(ln.unit_price),
            "amount": _money_cell(ln.amount),
            "rate": ln.rate_display,
            "tax": ln.tax_display,
        }
        for ln in doc.lines
    ]
    return {
        "doc": doc,
        "title": doc.title,
        "is_red": doc.is_red,
        "number": doc.number,
        "legacy_code": doc.legacy_code,
        "legacy_number": doc.legacy_number,
        "issue_date": format_cn_date(doc.issue_date),
        "qr": qr_data_uri(doc),
        "buyer": doc.buyer,
        "seller": doc.seller,
        "lines": lines,
        "filler_rows": range(max(0, FACE_ROWS - len(lines))),
        "total_amount": f"¥{format_money(doc.total_amount)}",
        "total_tax": f"¥{format_money(doc.total_tax)}",
        "total_with_tax": f"¥{format_money(doc.total_with_tax)}",
        "total_in_words": _amount_in_words(doc),
        "remark": full_remark(doc),
        "drawer": doc.drawer,
    }


STYLESHEET = "documents/invoice.css"
_local = threading.local()
# Drop the cached font configuration before interpreter teardown (its __del__ needs live module globals).
atexit.register(lambda: _local.__dict__.clear())


def _html(docs: list[InvoiceDocument], paper: str, *, embed_css: bool = False) -> str:
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}, not {paper!r}")
    return render_to_string(TEMPLATE, {
        "paper": paper,
        "embed_css": embed_css,
        "font_url": find_cjk_font().as_uri(),
        "invoices": [invoice_context(d) for d in docs],
    })


def invoice_html(doc: InvoiceDocument, *, paper: str = "A4") -> str:
    """Stand-alone HTML of the face (CSS inlined), e.g. for a preview in the admin."""
    return _html([doc], paper, embed_css=True)


def _styles(paper: str) -> tuple[Any, Any, Any]:
    """(font configuration, stylesheet, fetcher) per thread and paper, built once.

    Re-using one FontConfiguration keeps Pango's font map warm: loading the CJK font for every render would
    roughly double the time per invoice.
    """
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font = find_cjk_font()
    key = (paper, str(font))
    cache = getattr(_local, "styles", None)
    if cache is None:
        cache = _local.styles = {}
    if key not in cache:
        fetcher = _fetcher((font.parent.resolve(),))
        font_config = FontConfiguration()
        css_text = render_to_string(STYLESHEET, {"paper": paper, "font_url": font.as_uri()})
        stylesheet = CSS(string=css_text, base_url=str(font.parent), url_fetcher=fetcher, font_config=font_config)
        cache[key] = (font_config, stylesheet, fetcher)
    return cache[key]


def _write(html: str, paper: str) -> bytes:
    from weasyprint import HTML

    font_config, stylesheet, fetcher = _styles(paper)
    document = HTML(string=html, base_url=str(find_cjk_font().parent), url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[stylesheet], font_config=font_config)


def render_pdf(doc: InvoiceDocument, *, paper: str = "A4") -> bytes:
    """The invoice face as PDF bytes. ``paper``: "A4" (face at the top of a portrait page) or "A5" (landscape)."""
    return _write(_html([doc], paper), paper)


def render_batch_pdf(docs: Iterable[InvoiceDocument], paper: str = "A4") -> bytes:
    """Many invoices in one PDF, each starting on a new page (batch printing).

    Each invoice is laid out on its own (layout cost stays linear) and the pages are written once, so the font
    is subset and embedded a single time.
    """
    from weasyprint import HTML

    items = list(docs)
    if not items:
        raise ValueError("no invoices to render")
    if len(items) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} invoices per batch PDF")
    font_config, stylesheet, fetcher = _styles(paper)
    base_url = str(find_cjk_font().parent)
    rendered = [
        HTML(string=_html([doc], paper), base_url=base_url, url_fetcher=fetcher).render(
            stylesheets=[stylesheet], font_config=font_config)
        for doc in items
    ]
    pages = [page for document in rendered for page in document.pages]
    return rendered[0].copy(pages).write_pdf()


# -------------------------------------------------------------------------------------------------- read

_PT_TO_MM = 25.4 / 72


def _merge_chars(chars: list[dict[str, Any]], page_index: int, scale: float) -> list[PlacedText]:
    """Merge glyphs into text fragments.

    Tight text (glyphs touching, as WeasyPrint writes it) splits at a gap wider than one glyph and keeps a single
    space for a narrower one; letter-spaced text (as in re-rendered platform PDFs) joins gaps up to 2.5 glyphs.
    """
    rows: dict[int, list[dict[str, Any]]] = {}
    for c in chars:
        if not c.get("upright", True) or not str(c.get("text", "")).strip():
            continue
        key = round(float(c["top"]) / max(float(c["size"]) * 0.5, 1.0))
        rows.setdefault(key, []).append(c)
    out: list[PlacedText] = []
    for row in rows.values():
        row.sort(key=lambda c: float(c["x0"]))
        current: list[dict[str, Any]] = []
        pieces: list[str] = []
        tight = True
        for c in row:
            if current:
                prev = current[-1]
                size = max(float(prev["size"]), float(c["size"]))
                gap = float(c["x0"]) - float(prev["x1"])
                limit = 1.0 * size if (tight and len(current) > 1) else 2.5 * size
                if gap > limit or abs(float(c["top"]) - float(prev["top"])) > size:
                    out.append(_fragment(current, "".join(pieces), page_index, scale))
                    current, pieces, tight = [], [], True
                else:
                    if gap > 0.5 * size:
                        tight = False
                    elif tight and gap > 0.2 * size:
                        pieces.append(" ")
            current.append(c)
            pieces.append(str(c["text"]))
        if current:
            out.append(_fragment(current, "".join(pieces), page_index, scale))
    return out


def _fragment(chars: list[dict[str, Any]], raw: str, page_index: int, scale: float) -> PlacedText:
    text = normalize_text(raw)
    size = float(chars[0]["size"]) * scale
    x0 = float(chars[0]["x0"]) * scale
    x1 = float(chars[-1]["x1"]) * scale
    return PlacedText(page_index, "", x0, float(chars[0]["top"]) * scale, max(x1 - x0, text_width(text, size) * 0.1),
                 size, text)


def _render_first_page(data: bytes, page_width_pt: float) -> Any:
    """Page 1 as a PIL image, about 2000 px wide: pypdfium2 when installed, else poppler's pdftoppm."""
    from PIL import Image

    scale = max(1.0, min(8.0, 2000.0 / max(page_width_pt, 1.0)))
    try:
        import pypdfium2 as pdfium
    except ImportError:
        pdfium = None
    if pdfium is not None:
        pdf = pdfium.PdfDocument(data)
        try:
            return pdf[0].render(scale=scale).to_pil()
        finally:
            pdf.close()
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise DocumentEnvironmentError("cannot rasterise PDF pages: install pypdfium2 or poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        subprocess.run([exe, "-png", "-r", str(int(72 * scale)), "-f", "1", "-l", "1", "-singlefile", str(src),
                        str(Path(tmp) / "out")], check=True, capture_output=True, timeout=60)
        with Image.open(Path(tmp) / "out.png") as im:
            return im.copy()


def read_qr_payloads(data: bytes, page_width_pt: float = 595.0) -> list[str]:
    """Texts of the QR codes on page 1."""
    import zxingcpp

    image = _render_first_page(data, page_width_pt)
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in results if r.text]


def read_pdf(data: bytes) -> InvoiceDocument:
    """Read an invoice PDF (text layer + QR). Raises only ``DocumentError`` subclasses."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedDocument("PDF: expected bytes")
    if len(data) > MAX_PDF_BYTES:
        raise UnsafeDocument(f"PDF: {len(data)} bytes is over the {MAX_PDF_BYTES} byte limit")
    if not bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
        raise MalformedDocument("PDF: no %PDF- header")
    try:
        return _read_pdf(bytes(data))
    except DocumentError:
        raise
    except Exception as exc:  # pdfminer, pypdfium2 and zxing raise many unrelated types
        raise MalformedDocument(f"PDF: cannot read ({type(exc).__name__}: {exc})") from exc


def _read_pdf(data: bytes) -> InvoiceDocument:
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFSyntaxError as exc:
        raise MalformedDocument(f"PDF: not a PDF ({exc})") from exc
    with pdf:
        if len(pdf.pages) > MAX_PDF_PAGES:
            raise UnsafeDocument(f"PDF: {len(pdf.pages)} pages is over the {MAX_PDF_PAGES} page limit")
        if not pdf.pages:
            raise MalformedDocument("PDF: no pages")
        page = pdf.pages[0]
        page_width = float(page.width)
        scale = 210.0 / page_width  # page coordinates in "invoice millimetres", whatever the page size
        texts = _merge_chars(page.chars, 0, scale)
        for index, more in enumerate(pdf.pages[1:], start=1):  # line tables may continue on later pages
            texts += _merge_chars(more.chars, index, 210.0 / float(more.width))
    values = header_values(texts, row_tolerance=0.8)

    qr = None
    try:
        from invoicing.ids import QrPayloadError, parse_invoice_qr

        for payload in read_qr_payloads(data, page_width):
            try:
                qr = parse_invoice_qr(payload)
                break
            except QrPayloadError:
                continue
    except DocumentEnvironmentError:
        logger.warning("PDF QR code not read: no rasteriser available")

    for key in ("TaxExclusiveTotalAmount", "TaxTotalAmount", "TaxInclusiveTotalAmount"):
        if key in values:
            values[key] = values[key].replace("¥", "").strip()
    number = values.pop("InvoiceNo", "")
    if qr is not None:
        number = number or qr.number
        if qr.code and not values.get("InvoiceCode"):
            values["InvoiceCode"] = qr.code
        if "IssueDate" not in values:
            values["IssueDate"] = qr.date.isoformat()
        if qr.amount is not None:
            key = "TaxInclusiveTotalAmount" if qr.is_shudian else "TaxExclusiveTotalAmount"
            values.setdefault(key, f"{qr.amount:f}")
        if qr.check_code:
            values.setdefault("InvoiceCheckCode", qr.check_code)
    if len(number) == 20 and not values.get("InvoiceCode"):
        values["EIid"] = number
    elif number:
        values["InvoiceNo"] = number
    else:
        raise UnsupportedDocument("PDF: no invoice number in the text layer or QR code")
    values["_kind"] = kind_from_title(values.get("TypeOfInvoice", "")) or (
        "81" if qr is not None and qr.type == "31" else "82")
    doc = document_from_values(values, source_format=FORMAT_PDF)
    lines = table_lines(texts, row_tolerance=0.8)
    if lines and sum(ln.amount for ln in lines) == doc.total_amount:  # only lines that add up
        doc = doc.with_changes(lines=tuple(lines))
    return doc
