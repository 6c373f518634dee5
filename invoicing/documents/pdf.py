"""PDF: the invoice face rendered with WeasyPrint from ``templates/documents/invoice.html``, and a PDF reader.

Rendering embeds a local CJK font (see ``fonts.py``) and fetches nothing from the network: the URL fetcher serves
``data:`` URIs and files under the font directories only.

``read_pdf`` reads the text layer (pdfplumber; letter-spaced text is merged by glyph distance) with the same label
heuristics as the OFD page-text reader, then the QR code (page 1 rendered by pypdfium2 and decoded with zxing-cpp)
for anything the text did not give.

WeasyPrint, pdfplumber (with pdfminer) and pypdfium2 are imported where they are used: together they cost more than
a second and about 80 MB at import, which the web and worker processes that never render or read a PDF (and every
process imports ``invoicing.documents``) should not pay.

``read_pdf_result`` returns a ``ReadResult`` (model.py): the document, each field's source and confidence, and the
review reasons from the cross-checks in ``crosscheck.py``. The face is read by its structure (``pdfface.py``).
An image-only PDF gives the review reason ``needs_entry`` (no OCR here). To plug OCR in, turn the page image into
``pdfface.Word`` objects (text with its box in PDF points) and pass them to ``pdfface.read_face``: the label rules
and every cross-check then apply unchanged.
"""

from __future__ import annotations

import atexit
import gc
import io
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

import zxingcpp
from django.template.loader import render_to_string

from invoicing.documents.crosscheck import Checker
from invoicing.documents.errors import (
    DocumentError,
    MalformedDocument,
    UnsafeDocument,
    UnsupportedDocument,
)
from invoicing.documents.facetext import PlacedText, header_values, kind_from_title, text_width
from invoicing.documents.fonts import documents_environment_problems, find_cjk_font
from invoicing.documents.model import (
    CONFIRMED,
    FAMILY_AIR,
    FAMILY_RAIL,
    FAMILY_VAT,
    FORMAT_PDF,
    MISSING,
    READ,
    FieldReading,
    InvoiceDocument,
    InvoiceParty,
    ReadResult,
    ReviewReason,
    format_cn_date,
    format_money,
    format_plain,
    normalize_text,
    printed_total_in_words,
)
from invoicing.documents.pdfface import read_face, words_from_pdf
from invoicing.documents.qr import qr_data_uri
from invoicing.documents.xml import document_from_values, full_remark
from invoicing.ids import QrPayloadError, parse_invoice_qr

__all__ = ["documents_environment_problems", "invoice_html", "read_pdf", "read_pdf_result", "render_batch_pdf", "render_pdf"]

TEMPLATE = "documents/invoice.html"
PAPERS = ("A4", "A5")
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 50
MAX_BATCH = 500
FACE_ROWS = 8  # rows drawn on the face even when there are fewer lines (keeps the frame the official height)

# ------------------------------------------------------------------------------------------------ render


def _fetcher(allowed_roots: tuple[Path, ...]) -> Any:
    from weasyprint.urls import URLFetcher  # lazy: WeasyPrint, about a second and 50 MB; only rendering needs it

    class LocalOnlyFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no types: its classes are Any
        """Serves data: URIs and files below ``allowed_roots``; refuses everything else (no network)."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
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
        "total_in_words": printed_total_in_words(doc),
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
    from weasyprint import CSS  # lazy: WeasyPrint, about a second and 50 MB; only rendering needs it
    from weasyprint.text.fonts import FontConfiguration  # lazy: as above

    font = find_cjk_font()
    key = (paper, str(font))
    cache: dict[tuple[str, str], tuple[Any, Any, Any]] | None = getattr(_local, "styles", None)
    if cache is None:
        cache = _local.styles = {}
    if key not in cache:
        fetcher = _fetcher((font.parent.resolve(),))
        font_config = FontConfiguration()
        css_text = render_to_string(STYLESHEET, {"paper": paper, "font_url": font.as_uri()})
        stylesheet = CSS(string=css_text, base_url=str(font.parent), url_fetcher=fetcher, font_config=font_config)
        cache[key] = (font_config, stylesheet, fetcher)
    return cache[key]


def _parsed(html: str, fetcher: Any) -> Any:
    """A WeasyPrint ``HTML`` of the face's markup, parsed by the XML parser when it is well-formed.

    The face template is written as XHTML (void elements closed, ``tbody`` spelled out, no named entities), so the
    XML parser (expat, C) builds the same element tree as WeasyPrint's HTML5 parser (pure Python, about 6 ms per
    invoice: 7% of a batch). Anything the XML parser refuses (say a control character in a remark) takes the HTML5
    parser, as before. The pages are the same either way (tests/documents/test_doc_batch_pixels.py compares them
    with the faces rendered before this change).
    """
    import cssselect2  # lazy: comes with WeasyPrint
    from weasyprint import HTML  # lazy: WeasyPrint, about a second and 50 MB; only rendering needs it

    base_url = str(find_cjk_font().parent)
    try:
        root = ElementTree.fromstring(html)  # noqa: S314 - our own template's output; the entities are escaped
    except ElementTree.ParseError:
        return HTML(string=html, base_url=base_url, url_fetcher=fetcher)

    document = HTML.__new__(HTML)  # the attributes HTML.__init__ sets once it has parsed, from the tree parsed here
    document.base_url = base_url
    document.url_fetcher = fetcher
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


def _write(html: str, paper: str) -> bytes:
    font_config, stylesheet, fetcher = _styles(paper)
    pdf: bytes = _parsed(html, fetcher).write_pdf(stylesheets=[stylesheet], font_config=font_config)
    return pdf


def html_to_pdf(html: str) -> bytes:
    """A page of the app's own HTML (a printed packet, a cover sheet) as PDF. Its CSS names the CJK font with
    ``font_face_css()``; only local fonts and data URIs load (no network)."""
    from weasyprint import HTML  # lazy: WeasyPrint, about a second and 50 MB; only rendering needs it

    font = find_cjk_font()
    document = HTML(string=html, base_url=str(font.parent), url_fetcher=_fetcher((font.parent.resolve(),)))
    pdf: bytes = document.write_pdf()
    return pdf


def font_face_css(family: str = "FapiaoCJK") -> str:
    """An ``@font-face`` rule naming the installed CJK font as ``family``."""
    return f'@font-face {{ font-family: "{family}"; src: url("{find_cjk_font().as_uri()}"); }}'


def render_pdf(doc: InvoiceDocument, *, paper: str = "A4") -> bytes:
    """The invoice face as PDF bytes. ``paper``: "A4" (face at the top of a portrait page) or "A5" (landscape)."""
    return _write(_html([doc], paper), paper)


class _CollectorPause:
    """How many batch renders are running, and whether the cyclic garbage collector was on before the first."""

    lock = threading.Lock()
    depth = 0
    was_enabled = True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while WeasyPrint lays out and writes a batch, back on after.

    Laying out an invoice makes tens of thousands of small objects, so the collector runs often, and each pass walks
    the boxes laid out so far: about a quarter of a batch's time, counting the one collection that follows. Nothing
    leaks: the boxes are freed by reference counting when the document is dropped, and any cycle at the next
    collection. Nested or concurrent renders (threads) count: the collector comes back on when the last one ends,
    and only if it was on before the first.
    """
    with _CollectorPause.lock:
        if _CollectorPause.depth == 0:
            _CollectorPause.was_enabled = gc.isenabled()
            gc.disable()
        _CollectorPause.depth += 1
    try:
        yield
    finally:
        with _CollectorPause.lock:
            _CollectorPause.depth -= 1
            if _CollectorPause.depth == 0 and _CollectorPause.was_enabled:
                gc.enable()


def render_batch_pdf(docs: Iterable[InvoiceDocument], paper: str = "A4") -> bytes:
    """Many invoices in one PDF, each starting on a new page (batch printing).

    One HTML document holds every invoice (the template loops over them, each section breaking to a new page), so
    the batch is parsed, styled and laid out in one pass: WeasyPrint computes each distinct style once and shares it
    between the invoices (styles are cached by element, parent style and matching rules), the fonts and the
    stylesheet are the per-thread ones of ``_styles``, and the pages are written once (the font subset and embedded
    a single time). The pages are the same, pixel for pixel, as each invoice rendered on its own (``render_pdf``);
    tests/documents/test_doc_batch_pixels.py compares them. The PDF's title is the first invoice's, as it was when
    each invoice was laid out on its own.
    """
    items = list(docs)
    if not items:
        raise ValueError("no invoices to render")
    if len(items) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} invoices per batch PDF")
    font_config, stylesheet, fetcher = _styles(paper)
    html = _html(items, paper)
    with _collector_paused():
        document = _parsed(html, fetcher).render(stylesheets=[stylesheet], font_config=font_config)
        document.metadata.title = f"{items[0].title} {items[0].number}"
        pdf: bytes = document.write_pdf()
    return pdf


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
    """Page 1 as a PIL image, about 2000 px wide (pypdfium2)."""
    import pypdfium2 as pdfium  # lazy: PDFium, about 60 ms and 10 MB; only reading a PDF's QR code needs it

    scale = max(1.0, min(8.0, 2000.0 / max(page_width_pt, 1.0)))
    pdf = pdfium.PdfDocument(data)
    try:
        return pdf[0].render(scale=scale).to_pil()
    finally:
        pdf.close()


def read_qr_payloads(data: bytes, page_width_pt: float = 595.0) -> list[str]:
    """Texts of the QR codes on page 1."""
    image = _render_first_page(data, page_width_pt)
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    return [r.text for r in results if r.text]


def _check_input(data: bytes) -> bytes:
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedDocument("PDF: expected bytes")
    if len(data) > MAX_PDF_BYTES:
        raise UnsafeDocument(f"PDF: {len(data)} bytes is over the {MAX_PDF_BYTES} byte limit")
    if not bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
        raise MalformedDocument("PDF: no %PDF- header")
    return bytes(data)


def read_pdf(data: bytes) -> InvoiceDocument:
    """Read an invoice PDF (text layer + QR). Raises only ``DocumentError`` subclasses.

    The document is returned even when some fields need review; use ``read_pdf_result`` to learn which.
    """
    result = read_pdf_result(data)
    if result.document is None:
        reason = result.review[0].message if result.review else "no invoice found"
        raise UnsupportedDocument(f"PDF: {reason}")
    return result.document


def read_pdf_result(data: bytes) -> ReadResult:
    """Read an invoice PDF into a ``ReadResult``: the document, per-field source and confidence, review reasons.

    Raises ``DocumentError`` subclasses for files that are not readable PDFs or not invoices at all.
    """
    data = _check_input(data)
    try:
        return _read_pdf(data)
    except DocumentError:
        raise
    except Exception as exc:  # pdfminer, pypdfium2 and zxing raise many unrelated types
        raise MalformedDocument(f"PDF: cannot read ({type(exc).__name__}: {exc})") from exc


_UNMAPPED_RE = re.compile(r"\(cid:\d+\)|[\ue000-\uf8ff\ufffd\x00-\x08]")


def _unmapped_share(words: list[Any]) -> float:
    text = "".join(w.text for w in words)
    if not text:
        return 0.0
    return sum(len(m.group(0)) for m in _UNMAPPED_RE.finditer(text)) / len(text)


def _qr_of(data: bytes, page_width: float) -> Any:
    for payload in read_qr_payloads(data, page_width):
        try:
            return parse_invoice_qr(payload)
        except QrPayloadError:
            continue
    return None


_FAMILY_TITLES = (("铁路电子客票", FAMILY_RAIL, "51"), ("航空运输电子客票行程单", FAMILY_AIR, "61"))


def _read_pdf(data: bytes) -> ReadResult:
    import pdfplumber  # lazy: pdfplumber with pdfminer, about 100 ms and 27 MB; only reading a PDF needs them
    from pdfminer.pdfparser import PDFSyntaxError  # lazy: as above

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFSyntaxError as exc:
        raise MalformedDocument(f"PDF: not a PDF ({exc})") from exc
    with pdf:
        if len(pdf.pages) > MAX_PDF_PAGES:
            raise UnsafeDocument(f"PDF: {len(pdf.pages)} pages is over the {MAX_PDF_PAGES} page limit")
        if not pdf.pages:
            raise MalformedDocument("PDF: no pages")
        page_width = float(pdf.pages[0].width)
        texts: list[PlacedText] = []
        for index, page in enumerate(pdf.pages):  # the older label reader, kept for remark and drawer
            texts += _merge_chars(page.chars, index, 210.0 / float(page.width))
        words = words_from_pdf(pdf)
    qr = _qr_of(data, page_width)
    reasons: list[ReviewReason] = []
    if not words or _unmapped_share(words) > 0.3:
        if not words:
            code, message = "needs_entry", "文件只有图像，没有文字层：需人工录入（未做 OCR）"
        else:
            code, message = "no_text_mapping", "文字层无法映射为文字：仅能读取二维码，其余需人工录入"
        return _qr_only_result(qr, ReviewReason("document", code, message))
    face = read_face(words, page_width)
    old = header_values(texts, row_tolerance=0.8)
    values: dict[str, str] = dict(face.values)
    sources: dict[str, str] = {}
    for key in ("Note", "InvoiceClerk"):
        if old.get(key):
            values[key] = old[key]
    values.setdefault("TaxInclusiveTotalAmountWithWords", old.get("TaxInclusiveTotalAmountWithWords", ""))
    title = face.title or old.get("TypeOfInvoice", "")
    values["TypeOfInvoice"] = title
    family, family_kind = FAMILY_VAT, ""
    for word, fam, k in _FAMILY_TITLES:
        if word in title:
            family, family_kind = fam, k
    if qr is not None and qr.type in ("51", "61") and family == FAMILY_VAT:
        family, family_kind = (FAMILY_RAIL, "51") if qr.type == "51" else (FAMILY_AIR, "61")

    present = {
        "number": bool(values.get("InvoiceNo")), "issue_date": bool(values.get("IssueDate")),
        "code": bool(values.get("InvoiceCode")), "check_code": bool(values.get("InvoiceCheckCode")),
        "amount": bool(values.get("TaxExclusiveTotalAmount")), "tax": bool(values.get("TaxTotalAmount")),
        "total": bool(values.get("TaxInclusiveTotalAmount")),
    }
    number = values.pop("InvoiceNo", "")
    if qr is not None:
        if not number:
            number, sources["number"] = qr.number, "qr"
        if qr.code and not values.get("InvoiceCode"):
            values["InvoiceCode"], sources["code"] = qr.code, "qr"
        if "IssueDate" not in values:
            values["IssueDate"], sources["issue_date"] = qr.date.isoformat(), "qr"
        if qr.check_code and not values.get("InvoiceCheckCode"):
            values["InvoiceCheckCode"], sources["check_code"] = qr.check_code, "qr"
    if not number:
        raise UnsupportedDocument("PDF: no invoice number in the text layer or QR code")
    if len(number) == 20 and not values.get("InvoiceCode"):
        values["EIid"] = number
    else:
        values["InvoiceNo"] = number
    missing = {name for name in ("amount", "tax", "total") if not present[name]}
    if qr is not None and qr.amount is not None and not (present["amount"] or present["total"]):
        key = "TaxInclusiveTotalAmount" if qr.is_shudian else "TaxExclusiveTotalAmount"
        values[key] = f"{qr.amount:f}"
        sources["total" if qr.is_shudian else "amount"] = "qr"
    if family_kind:
        values["_kind"] = family_kind
    else:
        values["_kind"] = kind_from_title(title) or ("81" if qr is not None and qr.type == "31" else "82")
    for key, note in face.notes.items():
        name = _VALUE_FIELDS.get(key)
        if name:
            sources[name] = "text-" + note
    try:
        doc = document_from_values(values, source_format=FORMAT_PDF)
    except MalformedDocument as exc:
        return ReadResult(None, review=(ReviewReason("document", "needs_entry", f"票面关键字段缺失，需人工录入（{exc}）"),),
                          family=family, source_format=FORMAT_PDF)
    doc = doc.with_changes(lines=tuple(face.lines))
    checker = Checker(doc, sources)
    for field_name, code, message in face.problems:
        checker.flag(field_name, code, message)
    for key, note in face.notes.items():
        if note == "position" and (name := _VALUE_FIELDS.get(key)):
            checker.flag(name, "position", "按版面位置而非标签读取")
    checker.run(qr=qr, words=values.get("TaxInclusiveTotalAmountWithWords", ""), missing=missing)
    if {"amount", "tax"} <= checker.confirmed and "total" not in checker.bad:
        checker.confirmed.add("total")
    if "total" in checker.confirmed and "amount" in checker.confirmed and "tax" not in checker.bad:
        checker.confirmed.add("tax")
    checker.require_money_corroboration()
    readings = checker.readings({**present, "number": True, "issue_date": True,
                                 "buyer_name": bool(doc.buyer.name), "seller_name": bool(doc.seller.name),
                                 "buyer_tax_id": bool(doc.buyer.tax_id), "seller_tax_id": bool(doc.seller.tax_id),
                                 "lines": bool(doc.lines), "kind": True,
                                 "code": bool(doc.legacy_code), "check_code": bool(doc.check_code)})
    return ReadResult(doc, readings, tuple(reasons + checker.reasons), family=family, source_format=FORMAT_PDF)


_VALUE_FIELDS = {
    "InvoiceNo": "number", "InvoiceCode": "code", "IssueDate": "issue_date", "InvoiceCheckCode": "check_code",
    "BuyerName": "buyer_name", "BuyerTaxID": "buyer_tax_id", "SellerName": "seller_name",
    "SellerTaxID": "seller_tax_id", "TaxExclusiveTotalAmount": "amount", "TaxTotalAmount": "tax",
    "TaxInclusiveTotalAmount": "total",
}


def _qr_only_result(qr: Any, reason: ReviewReason) -> ReadResult:
    """No usable text: what the QR code gives, everything else to be entered by a person."""
    if qr is None:
        return ReadResult(None, review=(reason,), source_format=FORMAT_PDF)
    amount = qr.amount if qr.amount is not None else Decimal(0)
    family = FAMILY_RAIL if qr.type == "51" else FAMILY_AIR if qr.type == "61" else FAMILY_VAT
    kind = {"31": "81", "32": "82", "51": "51", "61": "61"}.get(qr.type, qr.type)
    doc = InvoiceDocument(
        number=qr.number if not qr.code else qr.code + qr.number, kind=kind, issue_date=qr.date,
        seller=InvoiceParty(), buyer=InvoiceParty(),
        total_amount=Decimal(0) if qr.is_shudian else amount, total_tax=Decimal(0),
        total_with_tax=amount if qr.is_shudian else amount, legacy_code=qr.code or "",
        legacy_number=qr.number if qr.code else "", check_code=qr.check_code or "", source_format=FORMAT_PDF)
    fields = {name: FieldReading("qr", CONFIRMED) for name in ("number", "issue_date")}
    if qr.code:
        fields["code"] = FieldReading("qr", CONFIRMED)
    for name in ("buyer_name", "buyer_tax_id", "seller_name", "seller_tax_id", "amount", "tax", "total", "lines"):
        fields[name] = FieldReading("", MISSING)
    money = "total" if qr.is_shudian else "amount"
    if qr.amount is not None:
        fields[money] = FieldReading("qr", READ)
    review = [reason] + [ReviewReason(name, "needs_entry", "需人工录入") for name in ("amount", "tax", "total")]
    return ReadResult(doc, fields, tuple(review), family=family, source_format=FORMAT_PDF)
