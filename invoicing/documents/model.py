"""The normalized invoice structure shared by every writer and reader in ``invoicing.documents``.

Amounts are ``Decimal`` throughout. Identifiers (numbers, tax ids, tax codes) are strings: leading zeros matter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, time
from decimal import Decimal, InvalidOperation

from invoicing.words import amount_in_words

# Invoice kinds (查验 fplx code set, domain.md §1.2a) -> printed title.
KIND_TITLES: dict[str, str] = {
    "81": "电子发票（增值税专用发票）",
    "82": "电子发票（普通发票）",
    "85": "纸质发票（增值税专用发票）",
    "86": "纸质发票（普通发票）",
    "51": "电子发票（铁路电子客票）",
    "61": "电子发票（航空运输电子客票行程单）",
    "83": "机动车销售电子统一发票",
    "84": "二手车销售电子统一发票",
    "01": "增值税专用发票",
    "04": "增值税普通发票",
    "08": "增值税电子专用发票",
    "10": "增值税电子普通发票",
    "11": "增值税普通发票（卷式）",
    "14": "增值税电子普通发票（通行费）",
}
SPECIAL_KINDS = frozenset({"81", "85", "01", "08"})
SHUDIAN_KINDS = frozenset({"81", "82", "85", "86", "51", "61", "83", "84"})

FORMAT_XML = "xml"
FORMAT_OFD = "ofd"
FORMAT_PDF = "pdf"

_ITEM_RE = re.compile(r"^\*([^*]+)\*(.*)$", re.S)


@dataclass(frozen=True)
class InvoiceParty:
    name: str = ""
    tax_id: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bank_account: str = ""


@dataclass(frozen=True)
class InvoiceLine:
    line_no: int
    item_name: str  # as printed: "*简称*名称"
    amount: Decimal
    short_name: str = ""
    spec: str = ""
    unit: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_rate: Decimal | None = None  # 0.06; None when the face shows a word (免税, 不征税, ***)
    tax: Decimal | None = None  # None when the face shows ***
    tax_code: str = ""  # 19-digit 税收分类编码
    line_property: int = 0  # 0 normal, 1 discount line, 2 discounted line
    tax_rate_text: str = ""  # the printed rate when it is not a number: "免税", "不征税", "***"

    @property
    def rate_display(self) -> str:
        if self.tax_rate is None:
            return self.tax_rate_text or "***"
        return format_rate(self.tax_rate)

    @property
    def tax_display(self) -> str:
        return "***" if self.tax is None else format_money(self.tax)

    @property
    def name_part(self) -> str:
        return split_item_name(self.item_name)[1]


@dataclass(frozen=True)
class InvoiceDocument:
    number: str  # 20-digit 数电 number, or the legacy 8-digit number when there is no 数电 number
    kind: str  # fplx code: "81", "82", "85", "86", "01", "04", "08", "10", ...
    issue_date: date
    seller: InvoiceParty
    buyer: InvoiceParty
    total_amount: Decimal
    total_tax: Decimal  # 0.00 when the face shows *** (免税)
    total_with_tax: Decimal
    lines: tuple[InvoiceLine, ...] = ()
    issue_time: time | None = None
    legacy_code: str = ""  # 10/12-digit 发票代码 (legacy and 数电纸票)
    legacy_number: str = ""  # 8-digit 发票号码 (legacy and 数电纸票)
    check_code: str = ""  # 校验码 (legacy 普票)
    total_in_words: str = ""
    remark: str = ""
    drawer: str = ""
    is_red: bool = False
    blue_number: str = ""  # red only: 被红冲蓝字发票号码
    red_form_number: str = ""  # red only: 红字发票信息确认单编号
    specific_business_code: str = ""
    specific_business: dict[str, str] = field(default_factory=dict)
    tax_bureau_code: str = ""
    tax_bureau_name: str = ""
    taxpayer_type: str = "1"  # 1 一般纳税人, 2 小规模纳税人 (XML TaxpayerType)
    source_format: str = ""

    @property
    def title(self) -> str:
        base = KIND_TITLES.get(self.kind, "电子发票（普通发票）")
        return base

    @property
    def is_special(self) -> bool:
        return self.kind in SPECIAL_KINDS

    @property
    def is_shudian(self) -> bool:
        return self.kind in SHUDIAN_KINDS or (len(self.number) == 20 and not self.legacy_code)

    def with_changes(self, **changes: object) -> InvoiceDocument:
        return replace(self, **changes)  # type: ignore[arg-type]


def printed_total_in_words(doc: InvoiceDocument) -> str:
    """The 价税合计 in words as the face and the XML print it: the document's own text when it has one, else the
    total spelled out by the kernel (``invoicing.words``, 圆 by default)."""
    if doc.total_in_words:
        return doc.total_in_words
    return amount_in_words(doc.total_with_tax)


# ---------------------------------------------------------------------------------------------- helpers

_RADICALS_RE = re.compile("[\u2e80-\u2fdf\uf900-\ufaff]")


def normalize_text(value: str | None) -> str:
    """Trim, and fold Kangxi / CJK compatibility ideographs (⼦ -> 子, which some OFD producers emit).

    Other characters are kept as they are: names with full-width brackets must stay exact.
    """
    if not value:
        return ""
    if _RADICALS_RE.search(value):
        value = _RADICALS_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), value)
    return value.strip()


def split_item_name(item_name: str) -> tuple[str, str]:
    """"*餐饮服务*餐费" -> ("餐饮服务", "餐费"); a name without the prefix gives ("", name)."""
    m = _ITEM_RE.match(item_name or "")
    if not m:
        return "", item_name or ""
    return m.group(1), m.group(2)


def parse_decimal(value: str | None) -> Decimal | None:
    """Parse an amount as printed: tolerates ¥/￥, commas, spaces; returns None for blanks and ***."""
    if value is None:
        return None
    s = unicodedata.normalize("NFKC", value).replace("¥", "").replace(",", "").replace(" ", "").strip()
    if not _PLAIN_NUMBER_RE.fullmatch(s):  # no exponents, NaN or absurd lengths: they break quantize()
        return None
    try:
        return Decimal(s)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        return None


def parse_rate(value: str | None) -> Decimal | None:
    """Tax rate as 0.060000, 0.06, 6%, 6.00% -> Decimal("0.06"); words (免税, ***) -> None."""
    if value is None:
        return None
    s = unicodedata.normalize("NFKC", value).replace(" ", "").strip()
    if not s:
        return None
    pct = s.endswith("%")
    d = parse_decimal(s.rstrip("%"))
    if d is None:
        return None
    if pct or d > 1:
        d = d / 100
    return normalize_decimal(d)


def normalize_decimal(d: Decimal) -> Decimal:
    """Remove trailing zeros without switching to exponent notation (0.060000 -> 0.06, 100 -> 100)."""
    n = d.normalize()
    if n == n.to_integral_value():
        return n.quantize(Decimal(1))
    return n


def money(d: Decimal | None) -> Decimal | None:
    return None if d is None else d.quantize(Decimal("0.01"))


def format_money(d: Decimal | None) -> str:
    if d is None:
        return "***"
    return f"{d.quantize(Decimal('0.01')):f}"


def format_rate(rate: Decimal | None) -> str:
    if rate is None:
        return "***"
    pct = normalize_decimal(rate * 100)
    return f"{pct:f}%"


def format_plain(d: Decimal | None) -> str:
    """Quantity / unit price as printed: no exponent, no trailing zeros."""
    if d is None:
        return ""
    return f"{normalize_decimal(d):f}"


def format_cn_date(d: date) -> str:
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


_PLAIN_NUMBER_RE = re.compile(r"[-+]?\d{1,18}(?:\.\d{0,20})?|[-+]?\.\d{1,20}")
_DATE_RE = re.compile(r"(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})")
_DATE8_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_date(value: str | None) -> date | None:
    s = unicodedata.normalize("NFKC", value or "").strip()
    if not s:
        return None
    m = _DATE_RE.search(s) or _DATE8_RE.match(s)
    if m and not all(g.isascii() for g in m.groups()):
        return None
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_time(value: str | None) -> time | None:
    s = unicodedata.normalize("NFKC", value or "").strip()
    m = _TIME_RE.search(s)
    if not m:
        return None
    try:
        return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    except ValueError:
        return None


def kind_from_labels(e_invoice_type: str, general_or_special: str, special_name: str = "") -> str:
    """Map the XML InherentLabel codes to our fplx kind."""
    special = general_or_special == "01" or "专用" in special_name
    paper = e_invoice_type == "02"
    if paper:
        return "85" if special else "86"
    return "81" if special else "82"


def legacy_kind_from_code(code: str, title: str = "") -> str:
    """Guess the fplx kind of a legacy invoice from its 12-digit code's last two digits or its printed title."""
    title = normalize_text(title)
    if len(code) == 12 and code.endswith("12") or "通行费" in title:
        return "14"
    if "专用" in title:
        return "08" if "电子" in title else "01"
    if "电子" in title and "普通" in title:
        return "10"
    tail = code[-2:] if len(code) == 12 else ""
    return {"11": "10", "12": "14", "13": "08", "04": "04", "05": "04", "06": "11", "07": "11"}.get(tail, "10")


# ---------------------------------------------------------------------------------------------- read results

# How sure a reader is of one field (per-field confidence in a ``ReadResult``).
CONFIRMED = "confirmed"  # read and corroborated by an independent path or rule (QR, amount in words, check digit)
READ = "read"  # read as labelled, not contradicted, nothing independent to check it against
UNCERTAIN = "uncertain"  # contradicted by another path or rule, or guessed: see the review reasons
MISSING = "missing"  # not found

# The fields a reader reports on (the pool's key and money fields).
RESULT_FIELDS = ("kind", "number", "code", "issue_date", "check_code", "buyer_name", "buyer_tax_id", "seller_name",
                 "seller_tax_id", "amount", "tax", "total", "lines")
MONEY_FIELDS = ("amount", "tax", "total")

# Document families: VAT invoices, and the non-VAT documents the pool also takes.
FAMILY_VAT = "vat"
FAMILY_RAIL = "rail"
FAMILY_AIR = "air"


@dataclass(frozen=True)
class FieldReading:
    source: str  # "text" (page text by label), "text-next-line", "text-position", "qr", "xml", "computed", ""
    confidence: str  # CONFIRMED, READ, UNCERTAIN or MISSING


@dataclass(frozen=True)
class ReviewReason:
    field: str  # one of RESULT_FIELDS, or "document"
    code: str  # stable machine code, e.g. "sum_mismatch", "qr_mismatch", "needs_entry"
    message: str  # for a person, in Chinese

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class ReadResult:
    """What a reader got from one file: the document (None when nothing usable), per-field source and confidence,
    and why a person must look at it. A field is *sure* only when it is not uncertain and no review reason names it.
    """

    document: InvoiceDocument | None
    fields: dict[str, FieldReading] = field(default_factory=dict)
    review: tuple[ReviewReason, ...] = ()
    family: str = FAMILY_VAT
    source_format: str = ""

    @property
    def needs_review(self) -> bool:
        return bool(self.review)

    def reasons_for(self, name: str) -> tuple[ReviewReason, ...]:
        return tuple(r for r in self.review if r.field == name)

    def is_sure(self, name: str) -> bool:
        reading = self.fields.get(name)
        if reading is None or reading.confidence in (UNCERTAIN, MISSING):
            return False
        return not self.reasons_for(name) and not self.reasons_for("document")

    @property
    def uncertain_fields(self) -> tuple[str, ...]:
        return tuple(n for n in RESULT_FIELDS if n in self.fields and not self.is_sure(n))
