"""Identifiers on invoices: USCC and other taxpayer ids, ID cards, invoice numbers, the QR payload.

Rules: domain.md §2 (numbers), §3 (QR), §9 (taxpayer ids). Everything here is a string: leading zeros matter.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.utils.translation import gettext, pgettext

# --- USCC, GB 32100-2015 (§9.1) ------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...

UsccProblem = Literal["length", "format", "checksum"]


class UsccError(ValueError):
    """Why a value is not a USCC; ``reason`` is "length", "format" or "checksum" (python-stdnum's three errors)."""

    def __init__(self, reason: UsccProblem, message: str, user_message: str = "") -> None:
        super().__init__(message)
        self.reason: UsccProblem = reason
        self.user_message = user_message or message  # in the user's language, for forms and error files


def compact_id(value: str) -> str:
    """Strip surrounding whitespace, drop inner spaces and hyphens, upper-case (python-stdnum's ``compact``)."""
    return re.sub(r"[\s\-]", "", value).upper()


def uscc_check_char(first17: str) -> str:
    """The 18th character for 17 USCC characters: CS[(31 − Σ(Cᵢ × Wᵢ) mod 31) mod 31] (§9.1)."""
    body = compact_id(first17)
    if len(body) != 17:
        raise ValueError(f"expected 17 characters, got {len(body)}")
    bad = [c for c in body if c not in USCC_ALPHABET]
    if bad:
        raise ValueError(f"characters outside the USCC alphabet: {''.join(bad)}")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    # The outer mod 31 maps "31" to 0; a plain `sum % 31` lookup is a known mistake (§9.1 pitfalls).
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """The compacted USCC, or ``UsccError``. Same checks and order as python-stdnum's ``cn.uscc.validate``."""
    number = compact_id(code)
    if len(number) != 18:
        raise UsccError("length", f"a USCC has 18 characters, got {len(number)}",
                        gettext("统一社会信用代码应为 18 位，实际 %(n)d 位") % {"n": len(number)})
    if not number[:8].isdigit() or not number[:8].isascii():
        raise UsccError("format", "the first 8 characters of a USCC are digits",
                        gettext("统一社会信用代码前 8 位应为数字"))
    if any(c not in USCC_ALPHABET for c in number[8:]):
        raise UsccError("format", "a USCC uses 0-9 and A-Y without I, O, S, V, Z",
                        gettext("统一社会信用代码只能使用数字和除 I、O、S、V、Z 以外的大写字母"))
    expected = uscc_check_char(number[:17])
    if number[17] != expected:
        raise UsccError("checksum", f"check character is {number[17]}, expected {expected}",
                        gettext("统一社会信用代码校验位不符（第 18 位是 %(got)s，按前 17 位应为 %(expected)s），"
                                "请核对是否抄错") % {"got": number[17], "expected": expected})
    return number


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` (spaces and hyphens allowed) is a USCC with a correct check character."""
    try:
        validate_uscc(code)
    except UsccError:
        return False
    return True


# --- 居民身份证, GB 11643 (§9.3) -----------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_check_char(first17: str) -> str:
    """Check character "10X98765432"[Σ(dᵢ × Wᵢ) mod 11] for the first 17 digits of an 18-digit ID number."""
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise ValueError("expected 17 digits")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_valid_id_card(number: str) -> bool:
    """18-character resident ID number: 17 digits, a valid birth date, and the GB 11643 check character."""
    n = compact_id(number)
    if len(n) != 18 or not n[:17].isdigit() or not n.isascii():
        return False
    try:
        datetime.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        return False
    return id_card_check_char(n[:17]) == n[17]


# --- taxpayer ids as invoices carry them (§9.3) --------------------------------------------------------------------

TaxIdKind = Literal["uscc", "legacy15", "id_card", "legacy17", "legacy20", "legacy18"]

# Ids that platforms hand out for testing; they fail the USCC check (§9.3). Accepted only with sandbox=True.
SANDBOX_TAX_IDS = frozenset({"339902999999789113"})  # Nuonuo sandbox

_TAX_ID_CHARS = re.compile(r"[0-9A-Z]+")


@dataclass(frozen=True)
class TaxIdCheck:
    """Verdict on a taxpayer id: ``ok``, what it looks like (``kind``), and a warning or the reason for refusal."""

    ok: bool
    kind: TaxIdKind | None
    value: str
    message: str = ""
    user_message: str = ""  # the message in the user's language (forms, import error files, compliance checks)

    @property
    def reason(self) -> str:
        return self.user_message or self.message


def is_acceptable_tax_id(value: str, *, sandbox: bool = False, allow_legacy18: bool = False) -> TaxIdCheck:
    """Whether a 纳税人识别号 may stand on an invoice, kept apart from USCC validity (§9.3).

    18 characters must be a valid USCC or a valid resident ID number. Other 18-character ids are refused unless
    they are known sandbox ids (``sandbox=True``) or the caller accepts unverified legacy ids
    (``allow_legacy18=True``, e.g. for received legacy invoices). 15, 17 and 20 characters of [0-9A-Z] are old
    税务登记证 numbers and are accepted with a warning. Empty is refused: an individual buyer's empty id is the
    caller's decision, not a tax id.
    """
    v = compact_id(value)
    if not v:
        return TaxIdCheck(False, None, v, "empty", gettext("纳税人识别号为空"))
    if not _TAX_ID_CHARS.fullmatch(v):
        return TaxIdCheck(False, None, v, "a taxpayer id uses only 0-9 and A-Z",
                          gettext("纳税人识别号只能包含数字和大写字母"))
    if len(v) == 18:
        try:
            validate_uscc(v)
        except UsccError as exc:
            if is_valid_id_card(v):
                return TaxIdCheck(True, "id_card", v, "an 18-digit resident ID number, not a USCC",
                                  gettext("18 位居民身份证号码，不是统一社会信用代码"))
            if sandbox and v in SANDBOX_TAX_IDS:
                return TaxIdCheck(True, "legacy18", v, "a platform sandbox id; not valid in production",
                                  gettext("开票平台测试环境的税号，正式环境不可用"))
            if allow_legacy18:
                return TaxIdCheck(True, "legacy18", v, f"not a valid USCC ({exc}); accepted as a legacy id",
                                  gettext("不是有效的统一社会信用代码（%(reason)s），按旧税号接受")
                                  % {"reason": exc.user_message})
            return TaxIdCheck(False, "uscc", v, f"not a valid USCC: {exc}",
                              gettext("不是有效的统一社会信用代码：%(reason)s") % {"reason": exc.user_message})
        return TaxIdCheck(True, "uscc", v)
    if len(v) == 15:
        return TaxIdCheck(True, "legacy15", v, "a 15-character legacy tax registration number (UNVERIFIED format)",
                          gettext("15 位旧税务登记证号"))
    if len(v) == 17:
        return TaxIdCheck(True, "legacy17", v, "a 17-character legacy tax registration number (UNVERIFIED format)",
                          gettext("17 位旧税务登记证号"))
    if len(v) == 20:
        return TaxIdCheck(True, "legacy20", v, "a 20-character legacy tax registration number (ID number + suffix)",
                          gettext("20 位旧税务登记证号（身份证号加两位）"))
    return TaxIdCheck(False, None, v, f"a taxpayer id has 15, 17, 18 or 20 characters, got {len(v)}",
                      pgettext("tax id", "纳税人识别号应为 15、17、18 或 20 位，实际 %(n)d 位") % {"n": len(v)})


# --- invoice numbers (§2) ------------------------------------------------------------------------------------------

_SHUDIAN_NUMBER = re.compile(r"[0-9]{20}")
_LEGACY_CODE = re.compile(r"[0-9]{10}|[0-9]{12}")
_LEGACY_NUMBER = re.compile(r"[0-9]{8}")


def is_shudian_number(value: str) -> bool:
    """A 数电 发票号码: exactly 20 ASCII digits (§2.1). Positions 5–20 are not decoded."""
    return bool(_SHUDIAN_NUMBER.fullmatch(value))


def is_legacy_invoice_code(value: str) -> bool:
    """A legacy 发票代码: 10 or 12 ASCII digits (§2.2)."""
    return bool(_LEGACY_CODE.fullmatch(value))


def is_legacy_invoice_number(value: str) -> bool:
    """A legacy 发票号码: 8 ASCII digits (§2.2)."""
    return bool(_LEGACY_NUMBER.fullmatch(value))


def normalize_legacy_code(value: str) -> str:
    """Strip; left-pad an 11-digit code to 12 ("11位的时候请左补0", §2.2). Anything else must already be 10 or 12."""
    if not isinstance(value, str):
        raise TypeError("an invoice code is a string: leading zeros matter")
    v = value.strip()
    if len(v) == 11 and v.isdigit() and v.isascii():
        v = "0" + v
    if not is_legacy_invoice_code(v):
        raise ValueError(f"not a 10- or 12-digit invoice code: {value!r}")
    return v


def normalize_legacy_number(value: str) -> str:
    """Strip; left-pad a legacy 发票号码 of 1–8 digits to 8 ("不满8位请左补0", §2.2)."""
    if not isinstance(value, str):
        raise TypeError("an invoice number is a string: leading zeros matter")
    v = value.strip()
    if not (1 <= len(v) <= 8 and v.isdigit() and v.isascii()):
        raise ValueError(f"not a legacy invoice number of up to 8 digits: {value!r}")
    return v.zfill(8)


# --- QR payload (§3) -----------------------------------------------------------------------------------------------


class QrPayloadError(ValueError):
    """The text is not an invoice QR payload."""


@dataclass(frozen=True)
class QrPayload:
    version: str
    type: str  # 01 专票, 04 普票, 10 电子普票, 31/32 数电专/普, 51 铁路 ... (§3.2)
    code: str | None  # 发票代码; None for 数电
    number: str
    amount: Decimal | None  # legacy: 不含税; 数电: likely 价税合计 (UNVERIFIED, §3.2) — informational only
    date: datetime.date
    check_code: str | None  # 校验码; None for 专票 and all 数电
    tail: str | None  # field 8, 4 hex characters of unknown meaning; kept as read, never validated
    is_shudian: bool


_TWO_DIGITS = re.compile(r"[0-9]{2}")
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})")
_DIGITS = re.compile(r"[0-9]+")
_TAIL = re.compile(r"[0-9A-Za-z]+")


def parse_invoice_qr(text: str) -> QrPayload:
    """Read the comma-separated QR payload of a legacy or 数电 invoice (§3.1).

    Tolerates a BOM, surrounding whitespace, spaces in or around fields, full-width commas, a trailing comma, a
    missing field 8, a dashed date and either case of hex. Raises ``QrPayloadError`` on anything else.
    """
    if not isinstance(text, str):
        raise TypeError("the QR payload is text")
    s = text.replace("\ufeff", "").replace("，", ",").strip()
    if not s:
        raise QrPayloadError("empty QR payload")
    fields = [f.strip() for f in s.split(",")]
    if len(fields) < 6:
        raise QrPayloadError(f"an invoice QR payload has at least 6 comma-separated fields, got {len(fields)}")
    if len(fields) > 8 and any(fields[8:]):
        raise QrPayloadError(f"unexpected data after field 8: {','.join(fields[8:])!r}")
    fields += [""] * (8 - len(fields))
    version, type_, code, number, amount_s, date_s, check, tail = fields[:8]

    if not _TWO_DIGITS.fullmatch(version):
        raise QrPayloadError(f"field 1 (version) is not two digits: {version!r}")
    if not _TWO_DIGITS.fullmatch(type_):
        raise QrPayloadError(f"field 2 (type) is not two digits: {type_!r}")
    if code and not is_legacy_invoice_code(code):
        raise QrPayloadError(f"field 3 (invoice code) is not 10 or 12 digits: {code!r}")
    if not (is_legacy_invoice_number(number) or is_shudian_number(number)):
        raise QrPayloadError(f"field 4 (invoice number) is not 8 or 20 digits: {number!r}")
    amount: Decimal | None = None
    if amount_s:
        if not _AMOUNT.fullmatch(amount_s):
            raise QrPayloadError(f"field 5 (amount) is not a number: {amount_s!r}")
        try:
            amount = Decimal(amount_s)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise QrPayloadError(f"field 5 (amount) is not a number: {amount_s!r}") from exc
    m = _DATE.fullmatch(date_s)
    if not m:
        raise QrPayloadError(f"field 6 (date) is not YYYYMMDD or YYYY-MM-DD: {date_s!r}")
    try:
        date = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise QrPayloadError(f"field 6 (date) is not a calendar date: {date_s!r}") from exc
    if check and not _DIGITS.fullmatch(check):
        raise QrPayloadError(f"field 7 (check code) is not digits: {check!r}")
    if tail and not _TAIL.fullmatch(tail):
        raise QrPayloadError(f"field 8 is not alphanumeric: {tail!r}")
    return QrPayload(
        version=version,
        type=type_,
        code=code or None,
        number=number,
        amount=amount,
        date=date,
        check_code=check or None,
        tail=tail or None,
        is_shudian=len(number) == 20 and not code,
    )


def build_invoice_qr(
    *,
    type: str,  # the field's name in §3.2
    number: str,
    amount: Decimal | None,
    date: datetime.date,
    code: str | None = None,
    check_code: str | None = None,
    tail: str | None = None,
    version: str = "01",
) -> str:
    """The canonical payload: ``01,32,,<20 digits>,<amount>,<YYYYMMDD>,,<tail>`` (no spaces, no trailing comma)."""
    if isinstance(amount, float):
        raise TypeError("amount must be a Decimal, not float")
    amount_s = "" if amount is None else format(amount, "f")
    text = ",".join(
        [version, type, code or "", number, amount_s, date.strftime("%Y%m%d"), check_code or "", tail or ""]
    )
    parse_invoice_qr(text)  # refuse to build what we would not read
    return text
