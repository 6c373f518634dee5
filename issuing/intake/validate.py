"""The one validator of billing-document imports, used by the admin path and the fast path alike.

Rows are read once, in order. The rows of one order (订单号) must be contiguous; the document fields are repeated on
each of its lines and must agree. Rows are checked cell by cell as they arrive, then in chunks of whole documents
against the database in a few set-based queries per chunk (customer codes, product codes, existing order numbers).
Every problem becomes an ``Issue`` (sheet, row, column, value, rule code, Chinese message); nothing stops at the first.

Master data fills the gaps: a customer code gives the buyer's title, tax id and contact fields; a product code gives
the item name, tax category, rate, spec and unit. A value given in the file that contradicts the master is an error.

Amounts follow domain.md §8: tax-inclusive lines are separated with ``invoicing.tax.split_line``; a tax given in the
file must be within 0.06 of 金额 × 税率; each rate group of a document within 1.27. Quantities and prices keep up to
13 decimals (§5.4), money 2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext

from invoicing.ids import compact_id, is_acceptable_tax_id
from invoicing.intake.issues import Issue, issue
from invoicing.intake.readers import Table, column_letter, table_from_rows
from invoicing.models import Counterparty, Item, TaxCategory, Taxpayer
from invoicing.scoping import allowed_taxpayer_ids
from invoicing.tax import FEN, LEVY_RATES, check_tolerances, split_line
from invoicing.validators import (
    allowed_rates,
    business_date_problem,
    category_rate_problem,
    document_lines_problem,
    unsafe_char,
    unsafe_text_message,
)
from issuing.billing.models import BillingDocument, BillingDocumentLine, IssuingPolicy
from issuing.intake.columns import BY_KEY, CHOICES, COLUMNS, DOC_KEYS, HEADER_ALIASES, Column, normalise_header

_QTY_FIELD = BillingDocumentLine._meta.get_field("quantity")
_MONEY_FIELD = BillingDocumentLine._meta.get_field("amount")
MONEY_LIMIT = Decimal(10) ** (_MONEY_FIELD.max_digits - _MONEY_FIELD.decimal_places)  # DECIMAL(18,2)
QTY_DECIMALS = 13
QTY_INTEGER_DIGITS = _QTY_FIELD.max_digits - _QTY_FIELD.decimal_places  # DECIMAL(25,13): 12
QTY_LIMIT = Decimal(10) ** QTY_INTEGER_DIGITS
MAX_EXPONENT = 30  # larger or smaller numbers are refused before any arithmetic (1e400 would overflow a quantize)
QTY_CHARS = 25
REMARK_MAX_BYTES = 450


class CellError(Exception):
    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail


# --- cell converters -----------------------------------------------------------------------------------------------


def _blank(raw) -> bool:
    return raw is None or raw == "" or (isinstance(raw, str) and not raw.strip())


def _check_chars(s: str) -> None:
    found = unsafe_char(s)
    if found is not None:
        raise CellError("cell.bad_char", unsafe_text_message(*found))


def to_text(raw, col: Column) -> str:
    if _blank(raw):
        return ""
    if isinstance(raw, str):
        s = raw.strip()
    elif isinstance(raw, float):
        s = str(int(raw)) if raw.is_integer() else repr(raw)
    elif isinstance(raw, dt.datetime | dt.date):
        s = raw.isoformat()
    else:
        s = str(raw)
    _check_chars(s)
    if col.max_len and len(s) > col.max_len:
        raise CellError("cell.too_long", gettext("%(length)s 个字符，最多 %(limit)s 个") % {"length": len(s), "limit": col.max_len})
    return s


def to_code(raw, col: Column) -> str:
    """Codes, ids and order numbers are text. A number cell is converted without '.0' or exponent, if exact."""
    if _blank(raw):
        return ""
    if isinstance(raw, bool):
        raise CellError("cell.bad_text")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise CellError("cell.bad_text")
        if abs(raw) >= 1e15:  # Excel keeps 15 significant digits: an 18-digit id typed as a number is already lost
            raise CellError("cell.lost_digits")
        s = str(int(raw))
    elif isinstance(raw, int):
        s = str(raw)
    else:
        s = str(raw).strip()
        if "E+" in s.upper() and s.replace(".", "").upper().replace("E+", "").isdigit():
            raise CellError("cell.lost_digits")
        _check_chars(s)
    if col.max_len and len(s) > col.max_len:
        raise CellError("cell.too_long", gettext("%(length)s 个字符，最多 %(limit)s 个") % {"length": len(s), "limit": col.max_len})
    return s


def _number(raw) -> Decimal | None:
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        raise CellError("cell.not_number")
    if isinstance(raw, float):
        d = Decimal(repr(raw))  # shortest repr: 0.1 stays 0.1; a computed 0.30000000000000004 is caught below
    elif isinstance(raw, int):
        d = Decimal(raw)
    else:
        s = str(raw).strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise CellError("cell.not_number") from None
    if not d.is_finite():
        raise CellError("cell.not_number")
    if d and not -MAX_EXPONENT <= d.adjusted() <= MAX_EXPONENT:  # 1e400, 1e-400: no column holds these
        raise CellError("cell.out_of_range")
    return d


def _places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    if not isinstance(exp, int) or exp >= 0:
        return 0
    # trailing zeros do not count: 1.500 has one decimal
    return max(0, -d.normalize().as_tuple().exponent) if d else 0


def to_money(raw, col: Column) -> Decimal | None:
    d = _number(raw)
    if d is None:
        return None
    if _places(d) > 2:
        raise CellError("cell.decimals", gettext("金额最多 2 位小数"))
    if abs(d) >= MONEY_LIMIT:
        raise CellError("cell.out_of_range", gettext("超出金额范围"))
    return d.quantize(FEN)


def to_qty(raw, col: Column) -> Decimal | None:
    d = _number(raw)
    if d is None:
        return None
    if _places(d) > QTY_DECIMALS:
        raise CellError("cell.decimals", gettext("最多 %(places)s 位小数") % {"places": QTY_DECIMALS})
    if abs(d) >= QTY_LIMIT:
        raise CellError("cell.out_of_range", gettext("整数部分最多 %(digits)s 位") % {"digits": QTY_INTEGER_DIGITS})
    d = d.normalize()
    if d == d.to_integral():
        d = d.quantize(Decimal(1))
    if len(format(d, "f")) > QTY_CHARS:
        raise CellError("cell.too_long", gettext("最多 %(limit)s 个字符") % {"limit": QTY_CHARS})
    return d


def to_rate(raw, col: Column) -> Decimal | None:
    if _blank(raw):
        return None
    percent = isinstance(raw, str) and raw.strip().endswith(("%", "％"))
    try:
        d = _number(raw.strip().rstrip("%％") if percent else raw)
    except CellError:
        raise CellError("rate.invalid", gettext("请填写如 13% 或 0.13")) from None
    if percent:
        d = d / 100
    if d < 0 or d >= 1:
        raise CellError("rate.invalid", gettext("请填写如 13% 或 0.13"))
    if _places(d) > 4:
        raise CellError("rate.invalid", gettext("最多 %(places)s 位小数") % {"places": 4})
    return d.quantize(Decimal("0.0001")).normalize()


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日")


def to_date(raw, col: Column) -> dt.date | None:
    if _blank(raw):
        return None
    if isinstance(raw, dt.datetime):
        return _in_range(raw.date())
    if isinstance(raw, dt.date):
        return _in_range(raw)
    s = str(raw).strip()
    for fmt in DATE_FORMATS:
        try:
            return _in_range(dt.datetime.strptime(s, fmt).date())
        except ValueError:
            continue
    raise CellError("cell.bad_date")


def _in_range(value: dt.date) -> dt.date:
    problem = business_date_problem(value)
    if problem:
        raise CellError("cell.date_range", problem)
    return value


def to_choice(raw, col: Column):
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        key = "1" if raw else "0"
    elif isinstance(raw, float) and raw.is_integer():
        key = str(int(raw))
    else:
        key = str(raw).strip().lower()
    mapping = CHOICES[col.key]
    if key not in mapping:
        allowed = "、".join(k for k in mapping if not k.isascii())
        raise CellError("cell.bad_choice", gettext("可填：%(allowed)s") % {"allowed": allowed})
    return mapping[key]


def to_int(raw, col: Column) -> int | None:
    d = _number(raw)
    if d is None:
        return None
    if d != d.to_integral() or d <= 0 or d > 100000:
        raise CellError("cell.not_number", gettext("应为正整数"))
    return int(d)


def to_email(raw, col: Column) -> str:
    s = to_text(raw, col)
    if s:
        try:
            validate_email(s)
        except ValidationError:
            raise CellError("cell.bad_email") from None
    return s


CONVERTERS: dict[str, Callable] = {
    "text": to_text,
    "code": to_code,
    "money": to_money,
    "qty": to_qty,
    "rate": to_rate,
    "date": to_date,
    "choice": to_choice,
    "int": to_int,
    "email": to_email,
}


# --- plans: what will be written -----------------------------------------------------------------------------------


@dataclass(slots=True)
class LinePlan:
    row: int
    line_no: int
    item_id: int | None
    item_name: str
    spec: str
    unit: str
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    tax_inclusive: bool
    discount: Decimal
    tax_category_id: int
    tax_rate: Decimal
    total: Decimal = Decimal("0.00")
    net: Decimal = Decimal("0.00")  # 不含税金额 after discount
    tax: Decimal = Decimal("0.00")  # 税额 after discount
    given_tax: Decimal | None = None


@dataclass(slots=True)
class DocPlan:
    row: int
    taxpayer_id: int
    counterparty_id: int | None
    source_system: str
    external_no: str
    business_date: dt.date | None
    invoicing_basis: str
    order_amount: Decimal
    paid_amount: Decimal
    refunded_amount: Decimal
    buyer_kind: str
    buyer_name: str
    buyer_tax_id: str
    buyer_address: str
    buyer_phone: str
    buyer_bank_name: str
    buyer_bank_account: str
    buyer_email: str
    buyer_mobile: str
    remark: str
    lines: list[LinePlan] = field(default_factory=list)
    delivered_on: dt.date | None = None


@dataclass
class Report:
    sheet: str
    issues: list[Issue]
    issue_count: int
    rows: int = 0
    documents: int = 0
    lines: int = 0
    amount: Decimal = Decimal("0.00")  # 不含税
    tax: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    taxpayer_ids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.issue_count == 0

    def codes(self) -> list[str]:
        return [i.code for i in self.issues]


class _Amounts(NamedTuple):
    amount: Decimal
    tax: Decimal
    rate: Decimal


class _Row:
    __slots__ = ("row", "values", "bad")

    def __init__(self, row: int, values: dict, bad: set):
        self.row = row
        self.values = values
        self.bad = bad  # keys whose cell had an error (no cascading errors on them)


# --- the validator -------------------------------------------------------------------------------------------------


class BillingValidator:
    """Validate a table of billing-document lines; optionally hand over whole valid documents chunk by chunk."""

    def __init__(self, *, user, taxpayer: Taxpayer | None = None, chunk_rows: int = 5000, max_issues: int = 10000,
                 sheet: str = ""):
        self.user = user
        self.fixed = taxpayer
        self.chunk_rows = chunk_rows
        self.max_issues = max_issues
        self.sheet = sheet
        self.issues: list[Issue] = []
        self.issue_count = 0
        self.allowed = allowed_taxpayer_ids(user)
        self.taxpayers = {t.credit_code: t for t in Taxpayer.objects.only("id", "credit_code", "taxpayer_type")}
        self.remark_chars = dict(IssuingPolicy.objects.values_list("taxpayer_id", "remark_max_chars"))
        self.categories = {
            code: (pk, summary, active, frozenset(Decimal(r).normalize() for r in rates))
            for code, pk, summary, active, rates in TaxCategory.objects.values_list(
                "code", "id", "is_summary", "is_active", "allowed_rates"
            ).iterator(chunk_size=5000)
        }
        self.rate_sets = {kind: allowed_rates(kind) for kind in ("general", "small")}
        self.line_tolerance = Decimal(getattr(settings, "TAX_LINE_TOLERANCE", "0.06"))
        self.invoice_tolerance = Decimal(getattr(settings, "TAX_INVOICE_TOLERANCE", "1.27"))
        self.index: dict[str, int] = {}
        self.header_text: dict[str, str] = {}
        self.seen: set[tuple] = set()
        self.report = Report(sheet=sheet, issues=self.issues, issue_count=0)

    # -- issues --

    def add(self, item: Issue) -> None:
        self.issue_count += 1
        self.report.issue_count = self.issue_count
        if len(self.issues) < self.max_issues:
            self.issues.append(item)

    def err(self, code: str, row: int | None, key: str = "", value: object = "", detail: str = "") -> None:
        column = self.header_text.get(key, BY_KEY[key].header if key in BY_KEY else key)
        self.add(issue(code, sheet=self.sheet, row=row, column=column, value=value, detail=detail))

    @property
    def ok(self) -> bool:
        return self.issue_count == 0

    # -- headers --

    def map_headers(self, headers: Sequence[str]) -> bool:
        before = self.issue_count
        for i, raw in enumerate(headers):
            text = str(raw or "").strip()
            if not text:
                continue
            key = HEADER_ALIASES.get(normalise_header(text))
            if key is None:
                self.add(issue("column.unknown", sheet=self.sheet, row=1, column=column_letter(i), value=text))
                continue
            if key in self.index:
                self.add(issue("column.duplicate", sheet=self.sheet, row=1, column=column_letter(i), value=text))
                continue
            self.index[key] = i
            self.header_text[key] = text
        required = [c for c in COLUMNS if c.required_column]
        if self.fixed is None:
            required.append(BY_KEY["entity"])
        for col in required:
            if col.key not in self.index:
                self.add(issue("column.missing", sheet=self.sheet, row=1, column=col.header, detail=col.header))
        if "item_code" not in self.index:
            for key in ("item_name", "tax_code", "tax_rate"):
                if key not in self.index:
                    col = BY_KEY[key]
                    self.add(issue("column.missing", sheet=self.sheet, row=1, column=col.header,
                                   detail=gettext("%(column)s（或提供 %(alternative)s 列）")
                                   % {"column": col.header, "alternative": BY_KEY["item_code"].header}))
        if "customer_code" not in self.index and "buyer_name" not in self.index:
            self.add(issue("column.missing", sheet=self.sheet, row=1, column="购买方名称",
                           detail=gettext("%(column)s（或提供 %(alternative)s 列）")
                           % {"column": "购买方名称", "alternative": BY_KEY["customer_code"].header}))
        return self.issue_count == before

    # -- the run --

    def run(self, table: Table, *, on_chunk: Callable[[list[DocPlan]], None] | None = None,
            progress: Callable[[int, int], None] | None = None, progress_every: int = 2000) -> Report:
        self.sheet = self.report.sheet = table.sheet
        for structural in table.issues:
            self.add(structural)
        if not self.map_headers(table.headers):
            return self.report
        plan = [(key, idx, CONVERTERS[BY_KEY[key].kind], BY_KEY[key]) for key, idx in self.index.items()]
        doc_keys = [k for k in DOC_KEYS if k in self.index and k not in ("entity", "source_system", "external_no")]
        current_key = None
        group: list[_Row] = []
        chunk: list[list[_Row]] = []
        chunk_size = 0
        rows = 0
        for rowno, cells in table.rows():
            rows += 1
            if progress and rows % progress_every == 0:
                progress(rows, table.total)
            values = {}
            bad = set()
            n = len(cells)
            empty = True
            for key, idx, conv, col in plan:
                raw = cells[idx] if idx < n else None
                if raw is None or raw == "":
                    values[key] = None if col.kind not in ("text", "code", "email") else ""
                    continue
                empty = False
                try:
                    values[key] = conv(raw, col)
                except CellError as exc:
                    values[key] = None if col.kind not in ("text", "code", "email") else ""
                    bad.add(key)
                    self.err(exc.code, rowno, key, raw, exc.detail)
            if empty:
                continue
            row = _Row(rowno, values, bad)
            key = (values.get("entity", ""), values.get("source_system", ""), values.get("external_no", ""))
            if key == current_key:
                first = group[0].values
                for k in doc_keys:
                    if values[k] in (None, "") or values[k] == first[k]:
                        continue  # a blank document field on a later line repeats the first line's value
                    if k not in bad and k not in group[0].bad:
                        self.err("doc.inconsistent", rowno, k, cells[self.index[k]],
                                 gettext("第%(row)s行为“%(value)s”")
                                 % {"row": group[0].row, "value": first[k] if first[k] is not None else ""})
                group.append(row)
                continue
            if group:
                chunk.append(group)
                chunk_size += len(group)
                if chunk_size >= self.chunk_rows:
                    self._process(chunk, on_chunk)
                    chunk, chunk_size = [], 0
            current_key = key
            group = [row]
            if key[2] and key in self.seen:
                self.err("doc.duplicate_in_file", rowno, "external_no", key[2])
            self.seen.add(key)
        if group:
            chunk.append(group)
        if chunk:
            self._process(chunk, on_chunk)
        self.report.rows = rows
        if progress:
            progress(rows, table.total)
        return self.report

    # -- documents, set-based --

    def _entity(self, row: _Row) -> Taxpayer | None:
        code = row.values.get("entity") or ""
        if self.fixed is not None:
            if code and code != self.fixed.credit_code and "entity" not in row.bad:
                self.err("entity.mismatch", row.row, "entity", code,
                         gettext("应为 %(code)s") % {"code": self.fixed.credit_code})
                return None
            tp = self.fixed
        else:
            if not code:
                if "entity" not in row.bad:
                    self.err("cell.required", row.row, "entity")
                return None
            tp = self.taxpayers.get(code)
            if tp is None:
                self.err("entity.unknown", row.row, "entity", code)
                return None
        if self.allowed is not None and tp.id not in self.allowed:
            self.err("entity.forbidden", row.row, "entity", code or tp.credit_code)
            return None
        return tp

    def _process(self, groups: list[list[_Row]], on_chunk) -> None:
        entities: list[Taxpayer | None] = [self._entity(g[0]) for g in groups]
        customers: dict[int, set[str]] = {}
        items: dict[int, set[str]] = {}
        numbers: dict[int, set[str]] = {}
        for g, tp in zip(groups, entities, strict=True):
            if tp is None:
                continue
            first = g[0].values
            if first.get("customer_code"):
                customers.setdefault(tp.id, set()).add(first["customer_code"])
            if first.get("external_no"):
                numbers.setdefault(tp.id, set()).add(first["external_no"])
            for r in g:
                if r.values.get("item_code"):
                    items.setdefault(tp.id, set()).add(r.values["item_code"])
        cust_map: dict[tuple[int, str], dict] = {}
        for tp_id, codes in customers.items():
            for c in Counterparty.objects.filter(taxpayer_id=tp_id, code__in=codes, is_active=True).values(
                "id", "code", "kind", "name", "tax_id", "address", "phone", "bank_name", "bank_account", "email",
                "mobile",
            ):
                cust_map[(tp_id, c["code"])] = c
        item_map: dict[tuple[int, str], dict] = {}
        for tp_id, codes in items.items():
            for it in Item.objects.filter(taxpayer_id=tp_id, code__in=codes, is_active=True).values(
                "id", "code", "name", "spec", "unit", "tax_category__code", "tax_rate", "unit_price",
                "price_includes_tax",
            ):
                item_map[(tp_id, it["code"])] = it
        existing: set[tuple[int, str, str]] = set()
        for tp_id, nos in numbers.items():
            for src, no in BillingDocument.objects.filter(taxpayer_id=tp_id, external_no__in=nos).values_list(
                "source_system", "external_no"
            ):
                existing.add((tp_id, src, no))

        plans: list[DocPlan] = []
        for g, tp in zip(groups, entities, strict=True):
            before = self.issue_count
            doc = self._document(g, tp, cust_map, item_map, existing)
            self.report.taxpayer_ids.add(tp.id) if tp is not None else None
            if doc is not None and self.issue_count == before:
                plans.append(doc)
                self.report.documents += 1
                self.report.lines += len(doc.lines)
        if on_chunk is not None and self.ok and plans:
            on_chunk(plans)

    def _document(self, g: list[_Row], tp: Taxpayer | None, cust_map, item_map, existing) -> DocPlan | None:
        head = g[0]
        v = head.values
        rowno = head.row
        ext = v.get("external_no") or ""
        if not ext and "external_no" not in head.bad:
            self.err("cell.required", rowno, "external_no")
        source_system = v.get("source_system") or ""
        if tp is not None and ext and (tp.id, source_system, ext) in existing:
            self.err("doc.duplicate_in_db", rowno, "external_no", ext)

        buyer = {k: v.get(k) or "" for k in ("buyer_name", "buyer_tax_id", "buyer_address", "buyer_phone",
                                              "buyer_bank_name", "buyer_bank_account", "buyer_email",
                                              "buyer_mobile")}
        buyer["buyer_kind"] = v.get("buyer_kind") or ""
        counterparty_id = None
        code = v.get("customer_code") or ""
        if code and tp is not None:
            c = cust_map.get((tp.id, code))
            if c is None:
                self.err("customer.unknown", rowno, "customer_code", code)
            else:
                counterparty_id = c["id"]
                master = {"buyer_kind": c["kind"], "buyer_name": c["name"], "buyer_tax_id": c["tax_id"],
                          "buyer_address": c["address"], "buyer_phone": c["phone"], "buyer_bank_name": c["bank_name"],
                          "buyer_bank_account": c["bank_account"], "buyer_email": c["email"],
                          "buyer_mobile": c["mobile"]}
                for k in ("buyer_name", "buyer_tax_id", "buyer_kind"):
                    given = buyer[k]
                    if k == "buyer_tax_id":
                        given = compact_id(given).upper() if given else ""
                    if given and master[k] and given != master[k]:
                        self.err("customer.mismatch", rowno, k, buyer[k],
                                 gettext("客户资料为“%(value)s”") % {"value": master[k]})
                for k, mv in master.items():
                    if not buyer[k]:
                        buyer[k] = mv or ""
        kind = buyer["buyer_kind"] or "company"
        buyer["buyer_kind"] = kind
        if not buyer["buyer_name"] and "buyer_name" not in head.bad and not (code and counterparty_id is None):
            self.err("cell.required", rowno, "buyer_name")
        tax_id = compact_id(buyer["buyer_tax_id"]).upper() if buyer["buyer_tax_id"] else ""
        buyer["buyer_tax_id"] = tax_id
        if tax_id:
            check = is_acceptable_tax_id(tax_id)
            if not check.ok:
                self.err("tax_id.invalid", rowno, "buyer_tax_id", tax_id, check.reason)
        elif kind == "company" and "buyer_tax_id" not in head.bad and not (code and counterparty_id is None):
            self.err("tax_id.required", rowno, "buyer_tax_id")
        remark = v.get("remark") or ""
        if remark and tp is not None:
            limit = self.remark_chars.get(tp.id, 150)
            if len(remark) > limit or len(remark.encode("utf-8")) > REMARK_MAX_BYTES:
                self.err("doc.remark_too_long", rowno, "remark", remark,
                         gettext("%(chars)s 字（%(bytes)s 字节），最多 %(limit)s 字且不超过 450 字节")
                         % {"chars": len(remark), "bytes": len(remark.encode("utf-8")), "limit": limit})

        lines = self._lines(g, tp, item_map)
        if tp is None or lines is None:
            return None
        problem = document_lines_problem(len(lines))
        if problem:
            self.err("doc.too_many_lines", rowno, "external_no", ext, problem)
            return None
        total = sum((ln.total for ln in lines), Decimal("0.00"))
        if abs(total) >= MONEY_LIMIT:
            self.err("doc.out_of_range", rowno, "order_amount", total)
            return None
        report = check_tolerances(
            [_Amounts(ln.net, ln.tax, ln.tax_rate) for ln in lines],
            line_limit=self.line_tolerance,
            invoice_limit=self.invoice_tolerance,
        )
        for grp in report.group_breaches:
            self.err("doc.tax_tolerance", lines[grp.line_indexes[0]].row, "tax",
                     f"{grp.rate:%}", gettext("税率 %(rate)s：误差 %(error)s")
                     % {"rate": grp.rate.normalize(), "error": f"{abs(grp.error):.4f}"})
        order_amount = v.get("order_amount")
        if order_amount is not None and order_amount != total:
            self.err("doc.totals", rowno, "order_amount", order_amount,
                     gettext("明细价税合计之和为 %(total)s") % {"total": total})
        paid = v.get("paid_amount") or Decimal("0.00")
        refunded = v.get("refunded_amount") or Decimal("0.00")
        for key, amount in (("paid_amount", paid), ("refunded_amount", refunded)):
            if amount < 0:
                self.err("cell.negative", rowno, key, amount)
        if refunded > paid:
            self.err("doc.refund_exceeds_paid", rowno, "refunded_amount", refunded,
                     gettext("实收 %(paid)s") % {"paid": paid})
        self.report.amount += sum((ln.net for ln in lines), Decimal("0.00"))
        self.report.tax += sum((ln.tax for ln in lines), Decimal("0.00"))
        self.report.total += total
        return DocPlan(
            row=rowno, taxpayer_id=tp.id, counterparty_id=counterparty_id, source_system=source_system,
            external_no=ext, business_date=v.get("business_date"), invoicing_basis=v.get("invoicing_basis") or "",
            order_amount=order_amount if order_amount is not None else total, paid_amount=paid,
            refunded_amount=refunded, remark=remark, lines=lines, delivered_on=v.get("delivered_on"), **buyer,
        )

    def _lines(self, g: list[_Row], tp: Taxpayer | None, item_map) -> list[LinePlan] | None:
        lines: list[LinePlan] = []
        numbers: set[int] = set()
        broken = False
        allowed_rates = self.rate_sets["small" if tp is not None and tp.taxpayer_type == "small" else "general"]
        last_normal: LinePlan | None = None
        for r in g:
            v = r.values
            rowno = r.row
            before = self.issue_count
            prop = v.get("line_property") or 0
            item = None
            code = v.get("item_code") or ""
            if code and tp is not None:
                item = item_map.get((tp.id, code))
                if item is None:
                    self.err("item.unknown", rowno, "item_code", code)
            name = v.get("item_name") or ""
            tax_code = v.get("tax_code") or ""
            rate = v.get("tax_rate")
            spec = v.get("spec") or ""
            unit = v.get("unit") or ""
            inclusive = v.get("tax_inclusive")
            inclusive = True if inclusive is None else inclusive
            qty, price, amount = v.get("quantity"), v.get("unit_price"), v.get("amount")
            if item is not None:
                if tax_code and tax_code != item["tax_category__code"]:
                    self.err("item.mismatch", rowno, "tax_code", tax_code,
                             gettext("商品资料为 %(value)s") % {"value": item["tax_category__code"]})
                if rate is not None and rate != item["tax_rate"].normalize():
                    self.err("item.mismatch", rowno, "tax_rate", rate,
                             gettext("商品资料为 %(value)s") % {"value": item["tax_rate"].normalize()})
                name = name or item["name"]
                tax_code = tax_code or item["tax_category__code"]
                rate = rate if rate is not None else item["tax_rate"].normalize()
                spec = spec or item["spec"]
                unit = unit or item["unit"]
                if (qty is not None and price is None and item["unit_price"] is not None
                        and "unit_price" not in r.bad and item["price_includes_tax"] == inclusive):
                    price = item["unit_price"].normalize()
            if not name and "item_name" not in r.bad and not (code and item is None):
                self.err("cell.required", rowno, "item_name")
            category_id = None
            if not tax_code:
                if "tax_code" not in r.bad and not (code and item is None):
                    self.err("cell.required", rowno, "tax_code")
            elif len(tax_code) != 19 or not tax_code.isdigit():
                self.err("tax_code.format", rowno, "tax_code", tax_code)
            else:
                cat = self.categories.get(tax_code)
                if cat is None or not cat[2]:
                    self.err("tax_code.unknown", rowno, "tax_code", tax_code)
                elif cat[1]:
                    self.err("tax_code.summary", rowno, "tax_code", tax_code)
                else:
                    category_id = cat[0]
                    if rate is not None and category_rate_problem(rate, cat[3], tp.taxpayer_type if tp else "general"):
                        self.err("rate.category", rowno, "tax_rate", f"{rate:%}",
                                 gettext("该编码适用税率：%(rates)s")
                                 % {"rates": gettext("、").join(f"{r:.0%}" for r in sorted(cat[3], reverse=True))})
            if rate is None:
                if "tax_rate" not in r.bad and not (code and item is None):
                    self.err("cell.required", rowno, "tax_rate")
            elif rate not in allowed_rates:
                kind = gettext("小规模纳税人") if tp is not None and tp.taxpayer_type == "small" else gettext("一般纳税人")
                self.err("rate.not_allowed", rowno, "tax_rate", f"{rate:%}", kind)
            if amount is None:
                if "amount" not in r.bad:
                    self.err("cell.required", rowno, "amount")
            discount = v.get("discount") or Decimal("0.00")

            if prop == 1:  # 折扣行: folded into the line it follows (§8.4)
                prev = last_normal
                if prev is None or lines[-1] is not prev:
                    self.err("line.discount", rowno, "line_property", "折扣行", gettext("折扣行必须紧跟被折扣行"))
                elif amount is not None:
                    if amount >= 0:
                        self.err("line.discount", rowno, "amount", amount, gettext("折扣行金额应为负数"))
                    elif -amount + prev.discount > prev.amount:
                        self.err("line.discount", rowno, "amount", amount,
                                 gettext("折扣超过被折扣行金额 %(amount)s") % {"amount": prev.amount})
                    if name and name != prev.item_name:
                        self.err("line.discount", rowno, "item_name", name, gettext("折扣行商品名称须与被折扣行一致"))
                    if rate is not None and rate != prev.tax_rate:
                        self.err("line.discount", rowno, "tax_rate", rate, gettext("折扣行税率须与被折扣行一致"))
                    if inclusive != prev.tax_inclusive:
                        self.err("line.discount", rowno, "tax_inclusive", "", gettext("折扣行含税标志须与被折扣行一致"))
                    if self.issue_count == before and not r.bad:
                        prev.discount += -amount
                        last_normal = None  # one discount per line (折扣行不允许多行折扣)
                if self.issue_count != before or r.bad:
                    broken = True
                continue

            negative = [k for k, x in (("quantity", qty), ("unit_price", price), ("amount", amount)) if x is not None and x < 0]
            for k in negative:
                self.err("line.negative", rowno, k, v.get(k))
            if qty is not None and qty == 0:
                self.err("cell.zero", rowno, "quantity", qty)
            if amount is not None and amount == 0:
                self.err("cell.zero", rowno, "amount", amount)
            if (qty is None) != (price is None) and "quantity" not in r.bad and "unit_price" not in r.bad:
                self.err("line.qty_price_pair", rowno, "unit_price" if price is None else "quantity")
            elif qty is not None and price is not None and amount is not None and not negative:
                if abs(qty * price - amount) > FEN:
                    self.err("line.amount_mismatch", rowno, "amount", amount,
                             gettext("数量×单价 = %(product)s") % {"product": qty * price})
            if discount < 0:
                self.err("cell.negative", rowno, "discount", discount)
            elif amount is not None and discount > amount > 0:
                self.err("line.discount", rowno, "discount", discount, gettext("折扣超过金额 %(amount)s") % {"amount": amount})
            line_no = v.get("line_no")
            if line_no is None:
                line_no = (max(numbers) + 1) if numbers else 1
            if line_no in numbers:
                self.err("line.duplicate_no", rowno, "line_no", line_no)
            numbers.add(line_no)
            given_tax = v.get("tax")
            if given_tax is not None and amount is not None and rate is not None and self.issue_count == before:
                net = amount if not inclusive else amount - given_tax
                if abs(net * rate - given_tax) > self.line_tolerance:
                    self.err("line.tax_tolerance", rowno, "tax", given_tax,
                             gettext("金额×税率 = %(tax)s") % {"tax": (net * rate).quantize(FEN)})
            if self.issue_count != before or broken or r.bad:
                broken = True
                last_normal = None
                continue
            ln = LinePlan(
                row=rowno, line_no=line_no, item_id=item["id"] if item else None, item_name=name, spec=spec,
                unit=unit, quantity=qty, unit_price=price, amount=amount, tax_inclusive=inclusive,
                discount=discount, tax_category_id=category_id, tax_rate=rate, given_tax=given_tax,
            )
            lines.append(ln)
            last_normal = ln
        if broken:
            return None
        if not lines:
            self.err("doc.no_lines", g[0].row, "external_no", g[0].values.get("external_no"))
            return None
        for ln in lines:
            main = split_line(amount=ln.amount, rate=ln.tax_rate, tax_inclusive=ln.tax_inclusive)
            tax = ln.given_tax if ln.given_tax is not None else main.tax
            net = main.total - tax if ln.tax_inclusive else main.amount
            total = net + tax
            if ln.discount:
                disc = split_line(amount=ln.discount, rate=ln.tax_rate, tax_inclusive=ln.tax_inclusive)
                net, tax, total = net - disc.amount, tax - disc.tax, total - disc.total
            ln.net, ln.tax, ln.total = net, tax, total
            if abs(total) >= MONEY_LIMIT:  # a tax-exclusive amount near the limit plus its tax
                self.err("cell.out_of_range", ln.row, "amount", ln.amount, gettext("价税合计超出金额范围"))
                broken = True
        return None if broken else lines


def validate_rows(headers: Sequence[str], rows: Iterable[Sequence], *, user, taxpayer: Taxpayer | None = None,
                  sheet: str = "Sheet1") -> tuple[Report, list[DocPlan]]:
    """Validate rows already in memory (the admin path); returns the report and, when valid, all document plans."""
    collected: list[DocPlan] = []
    validator = BillingValidator(user=user, taxpayer=taxpayer, sheet=sheet, chunk_rows=10**9)
    report = validator.run(table_from_rows(list(headers), [list(r) for r in rows], sheet=sheet),
                           on_chunk=collected.extend)
    return report, (collected if report.ok else [])


__all__ = ["BillingValidator", "DocPlan", "LinePlan", "Report", "validate_rows", "LEVY_RATES"]
