"""Excel import of received invoices: one row per invoice, all or nothing.

The template (``build_template``) has a data sheet, an example sheet that is never imported and the instructions.
``import_received_file`` reads the file with the kernel's readers (``invoicing.intake``: .xlsx or .csv, structural
problems found first), converts each cell, and checks each row with the rules of manual entry
(``services.manual_values``, domain.md §2, §8, §9) and the parties check; an invoice twice in the file is an error.
Every problem is an ``Issue`` with sheet, row, column, value and rule, and one problem anywhere means nothing is
written: the caller gets every issue (and writes the error workbook). A clean file is written in one transaction, one
batch (采集方式 Excel) per entity, each row one item: *created*, or *duplicate* for an invoice already in the pool
(which gets the batch as one more source: nothing is collected twice).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from invoicing.actors import Actor, actor_user, is_system
from invoicing.ids import compact_id
from invoicing.intake.issues import FileRejected, Issue, issue
from invoicing.intake.readers import Table, column_letter, open_table
from invoicing.intake.template import help_sheet_add, workbook_bytes
from invoicing.models import Taxpayer
from invoicing.scoping import user_may_act_on
from invoicing.validators import unsafe_char, unsafe_text_message
from receiving import services
from receiving.models import Collection, DataSource, Method, ReceivedKind
from receiving.reading import InvoiceValues

DATA_SHEET = "收票明细"
EXAMPLE_SHEET = "示例（不导入）"
HELP_SHEET = "填写说明"
FEN = Decimal("0.01")
MONEY_LIMIT = Decimal(10) ** 16


def max_rows() -> int:
    return int(getattr(settings, "RECEIVING_EXCEL_MAX_ROWS", 5000))


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str  # text | code | money | date | kind
    max_len: int = 0
    required: bool = False
    help: str = ""
    example: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("entity", "收票主体税号", "code", 20, False, "收票主体（购买方）的统一社会信用代码；导入时选定主体则可留空"),
    Column("kind", "票种", "kind", 0, True, "必填：数电专票、数电普票、增值税专用发票（税控）等，或查验代码 81、82、01、04…",
           "数电专票"),
    Column("code", "发票代码", "code", 12, False, "税控发票必填（10 或 12 位）；数电发票留空", ""),
    Column("number", "发票号码", "code", 30, True, "必填：数电发票 20 位，税控发票 8 位；请设为文本格式",
           "26332000000012345678"),
    Column("issue_date", "开票日期", "date", 0, True, "必填，YYYY-MM-DD", "2026-11-20"),
    Column("seller_name", "销售方名称", "text", 200, False, "除客票外必填", "杭州西湖云计算服务有限公司"),
    Column("seller_tax_id", "销售方纳税人识别号", "code", 20, False, "请设为文本格式", "91330106MA2GL8XY7N"),
    Column("buyer_name", "购买方名称", "text", 200, False, ""),
    Column("buyer_tax_id", "购买方纳税人识别号", "code", 20, False, "请设为文本格式"),
    Column("amount", "合计金额", "money", 0, False, "不含税，最多 2 位小数；除客票外必填", "1000.00"),
    Column("tax", "合计税额", "money", 0, False, "可留空（价税合计 − 合计金额）", "60.00"),
    Column("total", "价税合计", "money", 0, False, "可留空（合计金额 + 合计税额）；须等于二者之和", "1060.00"),
    Column("is_red", "红字发票", "flag", 0, False, "红字发票填“是”（其金额、税额、价税合计为负数）；蓝字发票留空或填“否”", ""),
    Column("check_code", "校验码", "code", 20, False, "", ""),
    Column("remark", "备注", "text", 500, False, "", ""),
)
BY_KEY = {c.key: c for c in COLUMNS}


def normalise_header(text: str) -> str:
    return (str(text or "").strip().replace("*", "").replace("＊", "").replace("（", "(").replace("）", ")")
            .replace(" ", "").split("(")[0])


HEADER_ALIASES: dict[str, str] = {normalise_header(c.header): c.key for c in COLUMNS}
HEADER_ALIASES.update({c.key: c.key for c in COLUMNS})
HEADER_ALIASES.update({"主体税号": "entity", "发票类型": "kind", "金额": "amount", "税额": "tax", "销方名称": "seller_name",
                       "销方税号": "seller_tax_id", "购方名称": "buyer_name", "购方税号": "buyer_tax_id"})
KIND_WORDS: dict[str, str] = {str(label): value for value, label in ReceivedKind.choices}
KIND_WORDS.update({value: value for value in ReceivedKind.values})
KIND_WORDS.update({"专票": "81", "普票": "82", "数电票（增值税专用发票）": "81", "数电票（普通发票）": "82"})

RULES_TEXT = [
    "在“收票明细”工作表填写，一行一张发票；“示例（不导入）”工作表只是填写示例，导入时不读取。",
    "整个文件全部校验通过才会导入；任何一行有错，都不会写入任何数据，并列出每个错误的行、列和规则（可下载错误清单）。",
    "校验规则与手工录入相同：发票号码格式、开票日期不晚于今天、合计金额 + 合计税额 = 价税合计、纳税人识别号校验位。",
    "同一张发票在文件中出现两次是错误；已在发票池中的发票不会重复入池，只记下本次来源。",
    "发票号码、发票代码、纳税人识别号请设为“文本”格式，避免 Excel 把长数字变成科学计数法。",
    "不要合并单元格，不要使用公式，不要加密工作簿。支持 .xlsx 和 UTF-8/GBK 编码的 .csv。",
]


def build_template(*, entity: Taxpayer | None = None) -> bytes:
    """The template workbook. Its example is addressed to ``entity`` (one the downloading user may see), or leaves
    the receiving entity and the buyer blank: it never shows another entity's name or tax id."""
    wb = Workbook()
    ws = wb.worksheets[0]  # a new workbook's one sheet, the active one (the stubs type ``active`` as optional)
    ws.title = DATA_SHEET
    example_ws = wb.create_sheet(EXAMPLE_SHEET)
    headers = [("*" if c.required else "") + c.header for c in COLUMNS]
    fill = PatternFill("solid", fgColor="DDEBF7")
    for sheet in (ws, example_ws):
        sheet.append(headers)
        for i, col in enumerate(COLUMNS, 1):
            cell = sheet.cell(row=1, column=i)
            cell.font = Font(bold=True)
            cell.fill = fill
            sheet.column_dimensions[get_column_letter(i)].width = max(12, len(col.header) * 2 + 4)
        sheet.freeze_panes = "A2"
    example = {c.key: c.example for c in COLUMNS}
    if entity is not None:
        example.update(entity=entity.credit_code, buyer_name=entity.name, buyer_tax_id=entity.credit_code)
    example_ws.append([example[c.key] or None for c in COLUMNS])
    # Numbers and ids as text, so that Excel keeps every digit of what people type or paste.
    for i, col in enumerate(COLUMNS, 1):
        if col.kind == "code":
            for r in range(2, 502):
                ws.cell(row=r, column=i).number_format = "@"
            example_ws.cell(row=2, column=i).number_format = "@"
    help_sheet_add(
        wb, title=HELP_SHEET, header=["列名", "是否必填", "说明", "示例"],
        rows=([col.header, "必填" if col.required else "选填", col.help, example[col.key]] for col in COLUMNS),
        rules=RULES_TEXT, widths={"A": 22, "C": 80, "D": 26},
    )
    return workbook_bytes(wb)


# --- cells ---------------------------------------------------------------------------------------------------------


class CellError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _checked(text: str, col: Column) -> str:
    found = unsafe_char(text)
    if found is not None:
        raise CellError("cell.bad_char", unsafe_text_message(*found))
    if col.max_len and len(text) > col.max_len:
        raise CellError("cell.too_long", gettext("%(length)s 个字符，最多 %(limit)s 个") % {
            "length": len(text), "limit": col.max_len})
    return text


def to_text(raw: object, col: Column) -> str:
    if _blank(raw):
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return _checked(str(int(raw)), col)
    if isinstance(raw, dt.date):
        return _checked(raw.isoformat(), col)
    return _checked(str(raw).strip(), col)


def to_code(raw: object, col: Column) -> str:
    """Numbers and ids are text; a number cell is taken without '.0' if exact, refused if digits are lost."""
    if _blank(raw):
        return ""
    if isinstance(raw, bool):
        raise CellError("cell.bad_text")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise CellError("cell.bad_text")
        if abs(raw) >= 1e15:  # Excel keeps 15 significant digits: a 20-digit number typed as a number is lost
            raise CellError("cell.lost_digits")
        return _checked(str(int(raw)), col)
    text = str(raw).strip()
    if "E+" in text.upper() and text.replace(".", "").upper().replace("E+", "").isdigit():
        raise CellError("cell.lost_digits")
    return _checked(text, col)


def to_money(raw: object, col: Column) -> Decimal | None:
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        raise CellError("cell.not_number")
    try:
        if isinstance(raw, float):
            d = Decimal(repr(raw))
        elif isinstance(raw, int):
            d = Decimal(raw)
        else:
            d = Decimal(str(raw).strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", ""))
    except InvalidOperation:
        raise CellError("cell.not_number") from None
    if not d.is_finite():
        raise CellError("cell.not_number")
    if abs(d) >= MONEY_LIMIT:
        raise CellError("cell.out_of_range", gettext("超出金额范围"))
    if d != d.quantize(FEN):
        raise CellError("cell.decimals", gettext("金额最多 2 位小数"))
    return d.quantize(FEN)


FLAG_WORDS = {"是": True, "红字": True, "红": True, "y": True, "yes": True, "true": True, "1": True,
              "否": False, "蓝字": False, "蓝": False, "n": False, "no": False, "false": False, "0": False}


def to_flag(raw: object, col: Column) -> bool:
    if _blank(raw):
        return False
    if isinstance(raw, bool):
        return raw
    text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip().lower()
    if text not in FLAG_WORDS:
        raise CellError("cell.bad_choice", gettext("填“是”或“否”"))
    return FLAG_WORDS[text]


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日")


def to_date(raw: object, col: Column) -> dt.date | None:
    if _blank(raw):
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise CellError("cell.bad_date")


def to_kind(raw: object, col: Column) -> str:
    if _blank(raw):
        return ""
    text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
    if text.isdigit() and len(text) == 1:
        text = text.zfill(2)
    kind = KIND_WORDS.get(text)
    if kind is None:
        raise CellError("invoice.kind", gettext("可填票种名称（如 数电专票）或代码（如 81）"))
    return kind


CONVERTERS: dict[str, Callable[[object, Column], Any]] = {
    "text": to_text, "code": to_code, "money": to_money, "date": to_date, "kind": to_kind, "flag": to_flag,
}

# manual_values' field -> the column and the rule its messages come under
FIELD_RULES = {
    "kind": ("kind", "invoice.kind"), "number": ("number", "invoice.key"), "code": ("code", "invoice.key"),
    "issue_date": ("issue_date", "invoice.date"), "amount": ("amount", "invoice.amounts"),
    "tax": ("tax", "invoice.amounts"), "total": ("total", "invoice.amounts"), "__all__": ("total", "invoice.amounts"),
    "seller_name": ("seller_name", "cell.required"), "seller_tax_id": ("seller_tax_id", "tax_id.invalid"),
    "buyer_tax_id": ("buyer_tax_id", "tax_id.invalid"), "buyer_name": ("buyer_name", "invoice.party"),
    "blue_number": ("is_red", "invoice.amounts"),
}


# --- the import ----------------------------------------------------------------------------------------------------


@dataclass
class Row:
    rowno: int
    taxpayer: Taxpayer
    values: InvoiceValues


@dataclass
class ExcelOutcome:
    filename: str
    sheet: str = ""
    ok: bool = False
    rows: int = 0
    issues: list[Issue] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    created: int = 0
    duplicate: int = 0

    @property
    def issue_count(self) -> int:
        return len(self.issues)


class Validator:
    def __init__(self, *, actor: Actor, taxpayer: Taxpayer | None, sheet: str) -> None:
        self.actor = actor
        self.fixed = taxpayer
        self.sheet = sheet
        self.issues: list[Issue] = []
        self.index: dict[str, int] = {}
        self.header_text: dict[str, str] = {}
        self.rows: list[Row] = []
        self._entities: dict[str, Taxpayer | None] = {}
        self._seen: dict[tuple[int, str, str], int] = {}

    def err(self, code: str, row: int | None, key: str = "", value: object = "", detail: str = "") -> None:
        column = self.header_text.get(key, BY_KEY[key].header if key in BY_KEY else key)
        self.issues.append(issue(code, sheet=self.sheet, row=row, column=column, value=value, detail=detail))

    def map_headers(self, headers: Sequence[str]) -> bool:
        before = len(self.issues)
        for i, raw in enumerate(headers):
            text = str(raw or "").strip()
            if not text:
                continue
            key = HEADER_ALIASES.get(normalise_header(text))
            if key is None:
                self.issues.append(issue("column.unknown", sheet=self.sheet, row=1, column=column_letter(i),
                                         value=text))
            elif key in self.index:
                self.issues.append(issue("column.duplicate", sheet=self.sheet, row=1, column=column_letter(i),
                                         value=text))
            else:
                self.index[key] = i
                self.header_text[key] = text
        required = [c for c in COLUMNS if c.required] + ([BY_KEY["entity"]] if self.fixed is None else [])
        for col in required:
            if col.key not in self.index:
                self.issues.append(issue("column.missing", sheet=self.sheet, row=1, column=col.header,
                                         detail=col.header))
        return len(self.issues) == before

    def entity(self, rowno: int, raw: str) -> Taxpayer | None:
        if not raw:
            if self.fixed is None:
                self.err("cell.required", rowno, "entity")
            return self.fixed
        code = compact_id(raw)
        if self.fixed is not None:
            if code != self.fixed.credit_code:
                self.err("entity.mismatch", rowno, "entity", raw)
                return None
            return self.fixed
        if code not in self._entities:
            self._entities[code] = Taxpayer.objects.filter(credit_code=code).first()
        found = self._entities[code]
        if found is None:
            self.err("entity.unknown", rowno, "entity", raw)
            return None
        user = actor_user(self.actor)
        if not is_system(self.actor) and (user is None or not user_may_act_on(user, found.pk)):
            self.err("entity.forbidden", rowno, "entity", raw)
            return None
        return found

    def row(self, rowno: int, cells: Sequence[object]) -> None:
        values: dict[str, Any] = {}
        raw_of: dict[str, object] = {}
        empty = True
        for key, idx in self.index.items():
            col = BY_KEY[key]
            raw = cells[idx] if idx < len(cells) else None
            raw_of[key] = raw
            if not _blank(raw):
                empty = False
            try:
                values[key] = CONVERTERS[col.kind](raw, col)
            except CellError as exc:
                values[key] = None
                self.err(exc.code, rowno, key, raw, exc.detail)
        if empty:
            return
        bad = len(self.issues)
        for col in COLUMNS:
            if col.required and col.key in self.index and _blank(raw_of.get(col.key)):
                self.err("cell.required", rowno, col.key)
        taxpayer = self.entity(rowno, values.get("entity") or "")
        if len(self.issues) > bad or taxpayer is None or any(v is None and not _blank(raw_of.get(k))
                                                             for k, v in values.items()):
            return
        try:
            checked = services.manual_values(
                kind=values.get("kind") or "", number=values.get("number") or "", code=values.get("code") or "",
                issue_date=values.get("issue_date"), seller_name=values.get("seller_name") or "",
                seller_tax_id=values.get("seller_tax_id") or "", buyer_name=values.get("buyer_name") or "",
                buyer_tax_id=values.get("buyer_tax_id") or "", amount=values.get("amount"), tax=values.get("tax"),
                total=values.get("total"), check_code=values.get("check_code") or "",
                remark=values.get("remark") or "", is_red=bool(values.get("is_red")))
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                key, rule = FIELD_RULES.get(name, ("number", "invoice.key"))
                for message in messages:
                    self.err(rule, rowno, key, raw_of.get(key, ""), message)
            return
        parties = services.parties_check(checked, taxpayer)
        if parties.reasons:
            self.err("invoice.wrong_way", rowno, "buyer_name", values.get("buyer_name") or "",
                     "；".join(r["message"] for r in parties.reasons))
            return
        key3 = (taxpayer.pk, checked.code, checked.number)
        first = self._seen.get(key3)
        if first is not None:
            self.err("invoice.duplicate_in_file", rowno, "number", values.get("number") or "",
                     gettext("与第 %(row)s 行是同一张发票") % {"row": first})
            return
        self._seen[key3] = rowno
        self.rows.append(Row(rowno, taxpayer, checked))


def import_received_file(path: str | os.PathLike[str], *, actor: Actor, taxpayer: Taxpayer | None = None,
                         filename: str = "") -> ExcelOutcome:
    """Validate the whole file, then write it all in one transaction, or nothing (see the module's text)."""
    filename = filename or os.path.basename(str(path))
    outcome = ExcelOutcome(filename=filename)
    user = actor_user(actor)  # only a user row holds permissions (as in ``services.authorize``)
    if not is_system(actor) and not (user is not None and user.is_authenticated and user.is_active
                                     and user.has_perm(services.P_COLLECT)):
        outcome.issues = [issue("receiving.permission", sheet=filename)]
        return outcome
    if taxpayer is not None:
        try:
            services.authorize(actor, taxpayer.pk, services.P_COLLECT)
        except PermissionDenied:
            outcome.issues = [issue("entity.forbidden", sheet=filename, value=taxpayer.credit_code)]
            return outcome
    try:
        table = open_table(path, filename)
    except FileRejected as exc:
        outcome.issues = exc.issues
        return outcome
    try:
        rows = _validate(table, outcome, actor=actor, taxpayer=taxpayer)
    finally:
        table.close()
    if outcome.issues:
        return outcome
    _write(outcome, rows=rows, actor=actor)
    return outcome


def _validate(table: Table, outcome: ExcelOutcome, *, actor: Actor, taxpayer: Taxpayer | None) -> list[Row]:
    outcome.sheet = table.sheet
    validator = Validator(actor=actor, taxpayer=taxpayer, sheet=table.sheet)
    validator.issues.extend(table.issues)
    if table.total > max_rows():
        validator.issues.append(issue("file.too_many_rows", sheet=table.sheet, detail=gettext(
            "%(rows)s 行，上限 %(limit)s 行") % {"rows": table.total, "limit": max_rows()}))
    elif validator.map_headers(table.headers):
        for rowno, cells in table.rows():
            validator.row(rowno, cells)
        if not validator.rows and not validator.issues:
            validator.issues.append(issue("sheet.empty", sheet=table.sheet))
    outcome.issues = validator.issues
    outcome.rows = len(validator.rows)
    return validator.rows


def _write(outcome: ExcelOutcome, *, rows: list[Row], actor: Actor) -> None:
    with transaction.atomic():
        batches: dict[int, Collection] = {}
        for row in rows:
            batch = batches.get(row.taxpayer.pk)
            if batch is None:
                batch = services.collection_start(taxpayer=row.taxpayer, method=Method.EXCEL, actor=actor,
                                                  note=outcome.filename[:300])
                batches[row.taxpayer.pk] = batch
            item = services.collection_add_values(
                collection=batch, name=gettext("第 %(row)s 行 %(invoice)s") % {
                    "row": row.rowno, "invoice": row.values.number}, values=row.values, source=DataSource.MANUAL,
                actor=actor)
            if item.outcome == "duplicate":
                outcome.duplicate += 1
            else:
                outcome.created += 1
        outcome.collections = [services.collection_finish(collection=b, actor=actor) for b in batches.values()]
    outcome.ok = True
