"""From a file's bytes to what the pool needs: the format (by content, not by name), the kernel reader's result, and
the pool record's values with the fields the reader is sure of.

Order of trust (domain.md §4, product.md item 9): the XML, then the OFD (its embedded XML or custom tags, then its
page text), then the PDF text layer, then a QR code. The readers themselves live in the kernel
(``invoicing.documents``); this module only picks one, wraps the XML and OFD readers' documents in the same
cross-checks the PDF reader runs (``crosscheck.Checker``), and turns refusals into rules a person can read.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import zxingcpp
from django.utils.translation import gettext
from PIL import Image

from invoicing.documents import read_ofd, read_xml
from invoicing.documents.crosscheck import Checker
from invoicing.documents.errors import DocumentError, MalformedDocument, UnsafeDocument, UnsupportedDocument
from invoicing.documents.model import (
    CONFIRMED,
    FAMILY_AIR,
    FAMILY_RAIL,
    FAMILY_VAT,
    MISSING,
    READ,
    RESULT_FIELDS,
    FieldReading,
    InvoiceDocument,
    InvoiceParty,
    ReadResult,
    ReviewReason,
    legacy_kind_from_code,
)
from invoicing.documents.pdf import read_pdf_result
from invoicing.ids import QrPayload, QrPayloadError, parse_invoice_qr
from receiving.models import LEGACY_KINDS, SHUDIAN_KINDS, CarrierFormat, DataSource, ReceivedKind

logger = logging.getLogger(__name__)

# Formats as sniffed; ARCHIVE is a ZIP that is not an OFD (a bundle of files to expand, never a carrier).
ARCHIVE = "zip"
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
EXTENSIONS = {"pdf": CarrierFormat.PDF, "ofd": CarrierFormat.OFD, "xml": CarrierFormat.XML, "zip": ARCHIVE,
              "png": CarrierFormat.IMAGE, "jpg": CarrierFormat.IMAGE, "jpeg": CarrierFormat.IMAGE,
              "gif": CarrierFormat.IMAGE, "bmp": CarrierFormat.IMAGE, "tif": CarrierFormat.IMAGE,
              "tiff": CarrierFormat.IMAGE, "webp": CarrierFormat.IMAGE}
MAX_IMAGE_PIXELS = 40_000_000  # a phone photo is 12-50 Mpx at most after scaling; anything larger is refused

# Reader names stored on the carrier.
READER_XML, READER_OFD, READER_PDF, READER_QR = "xml", "ofd", "pdf-text", "qr"
# The platform's own ledger (its received list, without a file) is above every file.
TRUST: dict[str, int] = {DataSource.PLATFORM: 5, DataSource.XML: 4, DataSource.OFD: 3, DataSource.PDF: 2,
                         DataSource.QR: 1, DataSource.MANUAL: 0}
READER_SOURCE = {READER_XML: DataSource.XML, READER_OFD: DataSource.OFD, READER_PDF: DataSource.PDF,
                 READER_QR: DataSource.QR}

# QR type (domain.md §3.2) -> our kind. 31/32/51 are documented; the legacy ones follow the fplx list.
QR_KINDS = {"31": "81", "32": "82", "51": "51", "61": "61", "01": "01", "03": "03", "04": "04", "08": "08",
            "10": "10", "11": "11", "14": "14", "15": "15"}


def extension(name: str) -> str:
    base = (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def sniff_format(data: bytes, name: str = "") -> str | None:
    """The format by content: PDF, OFD (a ZIP with OFD.xml, or a ZIP named .ofd: its reader says what is missing),
    an archive ZIP, XML, an image, or None."""
    head = bytes(data[:1024])
    if head.lstrip().startswith(b"%PDF-"):
        return CarrierFormat.PDF
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = {n.replace("\\", "/").lower() for n in zf.namelist()}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return CarrierFormat.OFD if b"OFD.xml" in head else ARCHIVE  # damaged: let the reader say why
        return CarrierFormat.OFD if "ofd.xml" in names or extension(name) == "ofd" else ARCHIVE
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return CarrierFormat.XML
    if head.startswith(b"\xff\xfe<\x00") or head.startswith(b"\xfe\xff\x00<"):
        return CarrierFormat.XML
    if any(head.startswith(sig) for sig in IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return CarrierFormat.IMAGE
    return None


@dataclass(frozen=True)
class Reading:
    """What one file gave: a result, or the rule that refused it."""

    format: str
    reader: str = ""
    result: ReadResult | None = None
    rule: str = ""
    message: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.rule)


def _refused(fmt: str, rule: str, message: str) -> Reading:
    return Reading(format=fmt, rule=rule, message=message)


def read_file(data: bytes, fmt: str) -> Reading:
    """Read ``data`` as ``fmt`` with the kernel's reader for it. Never raises for bad input: a refusal is a rule."""
    try:
        if fmt == CarrierFormat.XML:
            return Reading(fmt, READER_XML, result_from_document(read_xml(data), source=READER_XML))
        if fmt == CarrierFormat.OFD:
            return Reading(fmt, READER_OFD, result_from_document(read_ofd(data), source=READER_OFD))
        if fmt == CarrierFormat.PDF:
            return _read_pdf(data)
        if fmt == CarrierFormat.IMAGE:
            return _read_image(data)
    except DocumentError as exc:
        # The reader's own words (a library's exception, in English) are for the log; the person reads the rule.
        rule, message = _refusal(exc, fmt)
        logger.info("%s reader refused a file (%s): %s", fmt, rule, exc)
        return _refused(fmt, rule, message)
    return _refused(fmt, "unknown_format", gettext("不支持的文件格式"))


def _refusal(exc: DocumentError, fmt: str) -> tuple[str, str]:
    """The rule and the Chinese reason for a reader's refusal, without the exception's text."""
    words = {"file": _file_words(fmt)}
    if isinstance(exc, UnsafeDocument):
        return "unsafe", gettext("%(file)s的结构异常（如超大、嵌套过深或含外部引用），为安全起见已拒收") % words
    if isinstance(exc, UnsupportedDocument):
        return "not_invoice", gettext("%(file)s不是可识别的发票，请上传发票的 XML、OFD 或 PDF 原件") % words
    if isinstance(exc, MalformedDocument):
        return "malformed", gettext("%(file)s已损坏或不完整，无法打开，请重新下载或向开票方索取") % words
    return "unreadable", gettext("%(file)s无法读取，请重新下载或向开票方索取") % words


def _file_words(fmt: str) -> str:
    """“PDF 文件”, “图片文件”: the format as a person names the file."""
    if fmt == CarrierFormat.IMAGE:
        return gettext("图片文件")
    return gettext("%(fmt)s 文件") % {"fmt": fmt.upper()}


def _read_pdf(data: bytes) -> Reading:
    try:
        result = read_pdf_result(data)
    except MalformedDocument as exc:
        if pdf_is_encrypted(data):
            return _refused(CarrierFormat.PDF, "encrypted_pdf", gettext("PDF 已加密，需要密码才能读取"))
        raise exc
    return Reading(CarrierFormat.PDF, READER_PDF, result)


_ENCRYPT_RE = re.compile(rb"/Encrypt\s*(\d+\s+\d+\s+R|<<)")


def pdf_is_encrypted(data: bytes) -> bool:
    """A PDF whose trailer names an /Encrypt dictionary that the empty user password does not open."""
    if not _ENCRYPT_RE.search(data):
        return False
    try:
        from pypdf import PdfReader  # lazy: pypdf costs ~160 ms at import, only encrypted-looking PDFs need it

        reader = PdfReader(io.BytesIO(data))
        return bool(reader.is_encrypted) and not reader.decrypt("")
    except Exception:  # noqa: BLE001 - a damaged file that names /Encrypt: encrypted is the better explanation
        return True


def _read_image(data: bytes) -> Reading:
    """A photo or scan: the QR code if there is one (then the fields it carries), else a person enters it."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if width * height > MAX_IMAGE_PIXELS:
                raise UnsafeDocument(f"image: {width}x{height} pixels is over the {MAX_IMAGE_PIXELS} pixel limit")
            im.load()
            image = im.convert("RGB")
    except UnsafeDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many unrelated types for damaged images
        raise MalformedDocument(f"image: cannot decode ({type(exc).__name__}: {exc})") from exc
    qr = None
    for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)):
        try:
            qr = parse_invoice_qr(barcode.text)
            break
        except QrPayloadError:
            continue
    needs_entry = ReviewReason("document", "needs_entry", "图片文件：未做 OCR，需人工录入")
    if qr is None:
        return Reading(CarrierFormat.IMAGE, READER_QR, ReadResult(None, review=(needs_entry,),
                                                                  source_format=CarrierFormat.IMAGE))
    return Reading(CarrierFormat.IMAGE, READER_QR, result_from_qr(qr, reason=needs_entry))


def qr_kind(qr: QrPayload) -> tuple[str, bool]:
    """Our kind for a QR type, and whether it is documented (an undocumented type's kind is a guess)."""
    if qr.type in QR_KINDS:
        return QR_KINDS[qr.type], True
    if qr.code:
        return legacy_kind_from_code(qr.code), False
    return ReceivedKind.SHUDIAN_NORMAL, False


def result_from_qr(qr: QrPayload, *, reason: ReviewReason) -> ReadResult:
    """What a QR payload alone gives: key, date and one amount; everything else waits for the file or a person.

    The amount is 价税合计 on 数电 invoices and 合计金额 (tax-exclusive) on legacy ones (domain.md §3.2): it is kept
    in that field only and marked as read, not confirmed."""
    kind, documented = qr_kind(qr)
    shudian = kind in SHUDIAN_KINDS
    amount = qr.amount if qr.amount is not None else Decimal(0)
    doc = InvoiceDocument(
        number=qr.number if shudian else (qr.code or "") + qr.number, kind=kind, issue_date=qr.date,
        seller=InvoiceParty(), buyer=InvoiceParty(),
        total_amount=Decimal(0) if shudian else amount, total_tax=Decimal(0),
        total_with_tax=amount if shudian else Decimal(0),
        legacy_code="" if shudian else (qr.code or ""), legacy_number="" if shudian else qr.number,
        check_code=qr.check_code or "", source_format="qr")
    fields = {name: FieldReading("", MISSING) for name in RESULT_FIELDS}
    fields.update({name: FieldReading("qr", CONFIRMED) for name in ("number", "issue_date")})
    if qr.code:
        fields["code"] = FieldReading("qr", CONFIRMED)
    if qr.check_code:
        fields["check_code"] = FieldReading("qr", READ)
    fields["kind"] = FieldReading("qr", READ)
    if qr.amount is not None:
        fields["total" if shudian else "amount"] = FieldReading("qr", READ)
    review = [reason]
    if not documented:
        review.append(ReviewReason("kind", "qr_type_unknown", f"二维码票种代码 {qr.type} 未收录，票种为推测"))
    family = FAMILY_RAIL if kind == "51" else FAMILY_AIR if kind == "61" else FAMILY_VAT
    return ReadResult(doc, fields, tuple(review), family=family, source_format="qr")


def result_from_document(doc: InvoiceDocument, *, source: str) -> ReadResult:
    """The XML and OFD readers' documents through the same cross-checks as the PDF reader's.

    An XML's figures are the signed data itself: they need no corroboration beyond the sums. An OFD read from its
    custom tags or page text needs its lines to add up and agree with the rates, or its money goes to review."""
    checker = Checker(doc, {})
    checker.run(words=doc.total_in_words)
    if source != READER_XML:
        if {"amount", "tax"} <= checker.confirmed and "total" not in checker.bad:
            checker.confirmed.add("total")
        checker.require_money_corroboration()
    present = {
        "kind": True, "number": True, "issue_date": True, "code": bool(doc.legacy_code),
        "check_code": bool(doc.check_code), "buyer_name": bool(doc.buyer.name),
        "buyer_tax_id": bool(doc.buyer.tax_id), "seller_name": bool(doc.seller.name),
        "seller_tax_id": bool(doc.seller.tax_id), "amount": True, "tax": True, "total": True,
        "lines": bool(doc.lines),
    }
    readings = checker.readings(present)
    readings = {name: FieldReading(source, r.confidence) for name, r in readings.items()}
    kind = doc.kind
    family = FAMILY_RAIL if kind == "51" else FAMILY_AIR if kind == "61" else FAMILY_VAT
    return ReadResult(doc, readings, tuple(checker.reasons), family=family, source_format=source)


# ------------------------------------------------------------------------------------------------ pool values

VALUE_FIELDS = ("kind", "number", "code", "paper_code", "paper_number", "issue_date", "seller_name", "seller_tax_id",
                "buyer_name", "buyer_tax_id", "amount", "tax", "total", "check_code", "remark", "is_red",
                "blue_number")
# Fields compared between carriers of one invoice: a difference sends the record to review, never overwrites it.
COMPARED_FIELDS = ("kind", "issue_date", "seller_tax_id", "seller_name", "buyer_tax_id", "buyer_name", "amount",
                   "tax", "total", "check_code")


@dataclass
class InvoiceValues:
    """A pool record's values as one carrier (or a person) gives them, with the fields that are sure."""

    kind: str
    number: str
    issue_date: date
    code: str = ""
    paper_code: str = ""
    paper_number: str = ""
    seller_name: str = ""
    seller_tax_id: str = ""
    buyer_name: str = ""
    buyer_tax_id: str = ""
    amount: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    check_code: str = ""
    remark: str = ""
    is_red: bool = False
    blue_number: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    sure: set[str] = field(default_factory=set)
    reasons: list[dict[str, Any]] = field(default_factory=list)  # the reader's review reasons
    document_sure: bool = True  # no reason names the whole document (image only, unmapped text)

    def value(self, name: str) -> Any:
        return getattr(self, name)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("kind", "number", "code", "issue_date", "seller_name", "seller_tax_id", "buyer_name",
                     "buyer_tax_id", "amount", "tax", "total"):
            v = getattr(self, name)
            out[name] = v.isoformat() if isinstance(v, date) else (f"{v:f}" if isinstance(v, Decimal) else v)
        out["lines"] = [{k: (f"{v:f}" if isinstance(v, Decimal) else v) for k, v in ln.items()} for ln in self.lines]
        return out


def _key_of(doc: InvoiceDocument, kind: str) -> tuple[str, str, str, str]:
    """(code, number, paper_code, paper_number) by domain.md §2.3."""
    if kind in SHUDIAN_KINDS:
        paper = kind in ("85", "86")
        return "", doc.number, doc.legacy_code if paper else "", doc.legacy_number if paper else ""
    if doc.legacy_code:
        return doc.legacy_code, doc.legacy_number, "", ""
    return "", doc.number, "", ""


def values_from_result(result: ReadResult) -> InvoiceValues:
    """The pool record's values from a reader's result (``result.document`` must be set)."""
    doc = result.document
    assert doc is not None
    kind = doc.kind if doc.kind in ReceivedKind.values else ReceivedKind.OTHER
    code, number, paper_code, paper_number = _key_of(doc, kind)
    present_money = {name: result.fields.get(name, FieldReading("", READ)).confidence != MISSING
                     for name in ("amount", "tax", "total")}
    values = InvoiceValues(
        kind=kind, number=number, issue_date=doc.issue_date, code=code, paper_code=paper_code,
        paper_number=paper_number, seller_name=doc.seller.name, seller_tax_id=doc.seller.tax_id,
        buyer_name=doc.buyer.name, buyer_tax_id=doc.buyer.tax_id,
        amount=doc.total_amount if present_money["amount"] else None,
        tax=doc.total_tax if present_money["tax"] else None,
        total=doc.total_with_tax if present_money["total"] else None,
        check_code=doc.check_code, remark=doc.remark, is_red=doc.is_red, blue_number=doc.blue_number,
        lines=[{"line_no": ln.line_no, "item_name": ln.item_name, "spec": ln.spec, "unit": ln.unit,
                "quantity": ln.quantity, "unit_price": ln.unit_price, "amount": ln.amount, "tax_rate": ln.tax_rate,
                "tax_rate_text": ln.tax_rate_text, "tax": ln.tax, "tax_code": ln.tax_code} for ln in doc.lines],
    )
    values.sure = {name for name in RESULT_FIELDS if result.is_sure(name)}
    if "code" in values.sure or not code:
        values.sure.add("code")
    values.reasons = [{"field": r.field, "code": r.code, "message": r.message} for r in result.review]
    values.document_sure = not result.reasons_for("document")
    return values


def key_problem(values: InvoiceValues) -> str:
    """Why the values cannot key a pool record (domain.md §2.3), or ""."""
    if values.kind in SHUDIAN_KINDS:
        if not re.fullmatch(r"[0-9]{20}", values.number) or values.code:
            return gettext("数电发票号码应为 20 位数字，读到的是“%(number)s”") % {"number": values.number}
    elif values.kind in LEGACY_KINDS:
        if not re.fullmatch(r"[0-9]{10}|[0-9]{12}", values.code):
            return gettext("税控发票代码应为 10 或 12 位数字，读到的是“%(code)s”") % {"code": values.code}
        if not re.fullmatch(r"[0-9]{8}", values.number):
            return gettext("税控发票号码应为 8 位数字，读到的是“%(number)s”") % {"number": values.number}
    elif not values.number or len(values.number) > 30:
        return gettext("票据号码为空或过长")
    return ""
