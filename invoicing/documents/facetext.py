"""Reading invoice fields from positioned page text (OFD text objects, PDF glyphs): labels, columns, rows.

Coordinates are millimetres on a 210 mm wide page, y growing downwards. Used by the OFD reader when a package has
no invoice XML, and by the PDF reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from invoicing.documents.model import InvoiceLine, parse_decimal, parse_rate, split_item_name


def advance(ch: str, size: float) -> float:
    return size * 0.5 if ord(ch) < 0x2E80 else size


def text_width(text: str, size: float) -> float:
    return sum(advance(c, size) for c in text)


@dataclass
class PlacedText:
    page: int  # page index (0-based)
    id: str
    x: float
    y: float
    w: float
    size: float
    text: str

    @property
    def right(self) -> float:
        return self.x + self.w


_TAXID_RE = re.compile(r"[0-9A-Z]{15,20}")
_WORDS_RE = re.compile(r"[负零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正]{2,}")



def _rows(texts: list[PlacedText], tolerance: float = 1.6) -> list[list[PlacedText]]:
    rows: list[list[PlacedText]] = []
    for t in sorted(texts, key=lambda t: (t.y, t.x)):
        if rows and abs(rows[-1][0].y - t.y) <= tolerance:
            rows[-1].append(t)
        else:
            rows.append([t])
    return [sorted(r, key=lambda t: t.x) for r in rows]


def _squash(s: str) -> str:
    return re.sub(r"[\s\u3000:：]", "", s)


_LABELS = ("名称", "纳税人识别号", "统一社会信用代码", "地址", "开户行", "发票号码", "开票日期", "发票代码", "校验码",
           "机器编号", "开票人", "收款人", "复核", "销售方", "密码", "备注", "价税合计", "小写", "大写")


def _is_label(t: PlacedText) -> bool:
    s = _squash(t.text)
    return any(s.startswith(lbl) for lbl in _LABELS) or s in {"购", "买", "方", "销", "售", "信", "息", "(小写)",
                                                            "（小写）", "合", "计"}


_BLOCK_CHARS = "购买方信息销售"


def _after_label(rows: list[list[PlacedText]], label: str, pattern: re.Pattern[str] | None = None, *,
                 anywhere: bool = False) -> list[str]:
    """Values to the right of each occurrence of ``label`` (until the next label or a wide gap), in reading order.

    The label must start a text fragment (so 项目名称 is not 名称) unless ``anywhere``; a leading character of the
    vertical 购买方信息 / 销售方信息 block label is ignored (PDF text extraction glues it to the row).
    """
    values = []
    for row in rows:
        for i, t in enumerate(row):
            squashed = _squash(t.text)
            head = squashed.lstrip(_BLOCK_CHARS) if not squashed.startswith(label) else squashed
            if not (head.startswith(label) or (anywhere and label in squashed)):
                continue
            segments = (head if head.startswith(label) else squashed).split(label)[1:]
            for k, seg in enumerate(segments):
                parts = [re.sub(r"^[^\w¥-]*", "", seg)] if seg else []
                if k == len(segments) - 1:
                    right = t.right
                    for nxt in row[i + 1:]:
                        if nxt.text in {":", "："}:
                            right = nxt.right
                            continue
                        if _is_label(nxt) or nxt.x - right > 12.0:
                            break
                        parts.append(nxt.text)
                        right = nxt.right
                value = "".join(parts).strip()
                if pattern is not None:
                    m = pattern.search(value.replace(" ", ""))
                    value = m.group(0) if m else ""
                if value:
                    values.append(value)
    return values


def _numbers(row: list[PlacedText]) -> list[str]:
    out = []
    for t in row:
        s = t.text.replace("¥", "").replace("￥", "").replace(" ", "")
        if s == "***" or re.fullmatch(r"-?\d[\d,]*\.\d{1,2}", s):
            out.append(s)
    return out


def header_values(texts: list[PlacedText], *, row_tolerance: float = 1.6) -> dict[str, str]:
    """Header fields from positioned page text (page 1), by label. Shared with the PDF reader."""
    first_page = [t for t in texts if t.page == 0]
    rows = _rows(first_page, row_tolerance)
    values: dict[str, str] = {}

    def put(name: str, value: str | None) -> None:
        if value and name not in values:
            values[name] = value

    numbers = _after_label(rows, "发票号码", re.compile(r"\d{20}|\d{8}"))
    put("InvoiceNo", numbers[0] if numbers else None)
    codes = _after_label(rows, "发票代码", re.compile(r"\d{12}|\d{10}"))
    put("InvoiceCode", codes[0] if codes else None)
    dates = _after_label(rows, "开票日期", re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{2}-\d{2}"))
    put("IssueDate", dates[0] if dates else None)
    checks = _after_label(rows, "校验码", re.compile(r"\d{20}"))
    put("InvoiceCheckCode", checks[0] if checks else None)
    names = _after_label(rows, "名称")
    ids = _after_label(rows, "纳税人识别号", _TAXID_RE, anywhere=True)
    if len(names) >= 2:
        put("BuyerName", names[0])
        put("SellerName", names[1])
    if len(ids) < 2:  # ids printed on their own row, apart from the label: take them from the party block
        ids = _party_block_ids(rows)
    if len(ids) >= 2:
        put("BuyerTaxID", ids[0])
        put("SellerTaxID", ids[1])
    drawers = _after_label(rows, "开票人")
    put("InvoiceClerk", drawers[0] if drawers else None)

    all_rows = [r for page in sorted({t.page for t in texts})
                for r in _rows([t for t in texts if t.page == page], row_tolerance)]
    for row in all_rows:  # the totals follow the line table, which may run over several pages
        joined = _squash("".join(t.text for t in row))
        if joined.startswith("合计") and "TaxExclusiveTotalAmount" not in values:
            nums = _numbers(row)
            if nums:
                put("TaxExclusiveTotalAmount", nums[0])
                put("TaxTotalAmount", nums[1] if len(nums) > 1 else None)
        elif "价税合计" in joined and "TaxInclusiveTotalAmount" not in values:
            nums = _numbers(row)
            put("TaxInclusiveTotalAmount", nums[-1] if nums else None)
            words = [m.group(0) for t in row if (m := _WORDS_RE.search(_squash(t.text))) and len(m.group(0)) > 2]
            put("TaxInclusiveTotalAmountWithWords", words[0] if words else None)
    for t in first_page:
        s = _squash(t.text)
        if "发票" in s and ("（" in s or "(" in s or s.endswith("发票")) and len(s) <= 24 and "号码" not in s \
                and "代码" not in s and "日期" not in s:
            put("TypeOfInvoice", s)
    remark = _remark(rows)
    put("Note", remark)
    return values


def _party_block_ids(rows: list[list[PlacedText]]) -> list[str]:
    """Tax-id-looking fragments between the first 名称 row and the table header, in reading order."""
    start = next((i for i, r in enumerate(rows) if any(_squash(t.text).startswith("名称") for t in r)), None)
    if start is None:
        return []
    out = []
    for row in rows[start:]:
        if any(_squash(t.text).startswith("项目名称") for t in row):
            break
        for t in row:
            m = _TAXID_RE.search(_squash(t.text))
            if m and re.search(r"\d", m.group(0)) and len(m.group(0)) >= 15:
                out.append(m.group(0))
    return out


def _remark(rows: list[list[PlacedText]]) -> str:
    flat = [t for row in rows for t in row]
    bei = [t for t in flat if _squash(t.text) == "备"]
    zhu = [t for t in flat if _squash(t.text) == "注"]
    for b in bei:
        for z in zhu:
            if abs(z.x - b.x) < 1.5 and 0 < z.y - b.y < 20:
                top, bottom = b.y - 4.0, z.y + 4.0
                parts = [t.text for row in rows for t in row
                         if top <= t.y <= bottom and t.x > b.x + 2.0 and not _is_label(t)]
                return " ".join(parts).strip()
    return ""


_HEADER_KEYS = {
    "项目名称": "item", "货物或应税劳务、服务名称": "item", "货物或应税劳务名称": "item", "规格型号": "spec",
    "单位": "unit", "数量": "qty", "单价": "price", "金额": "amount", "税率/征收率": "rate", "税率": "rate",
    "征收率": "rate", "税额": "tax",
}
_END_WORDS = ("合计", "小计", "总计", "价税合计")


def _header_columns(row: list[PlacedText]) -> list[tuple[str, float]]:
    """(key, centre x) per header cell. Every fragment is a column; unknown ones (序号, 建筑服务发生地, 车牌号 ...)
    are kept apart; letter-spaced labels split in two ("单", "位") are joined back."""
    cols: list[tuple[str, float]] = []
    i = 0
    while i < len(row):
        t = row[i]
        name = _squash(t.text)
        if name not in _HEADER_KEYS and i + 1 < len(row) and name + _squash(row[i + 1].text) in _HEADER_KEYS:
            nxt = row[i + 1]
            cols.append((_HEADER_KEYS[name + _squash(nxt.text)], (t.x + nxt.right) / 2))
            i += 2
            continue
        cols.append((_HEADER_KEYS.get(name, "other:" + name), t.x + t.w / 2))
        i += 1
    return cols


def line_from_cells(cells: dict[str, str], *, line_no: int) -> InvoiceLine | None:
    """One item line from its cells' text by column (item, spec, unit, qty, price, amount, rate, tax); ``None`` for
    a row without an amount or the "详见销货清单" pointer to an attachment."""
    item = cells.get("item", "")
    amount = parse_decimal(cells.get("amount"))
    if amount is None or "详见" in item:
        return None
    rate_text = cells.get("rate", "")
    rate = parse_rate(rate_text)
    return InvoiceLine(
        line_no=line_no, item_name=item, short_name=split_item_name(item)[0],
        spec=cells.get("spec", ""), unit=cells.get("unit", ""),
        quantity=parse_decimal(cells.get("qty")), unit_price=parse_decimal(cells.get("price")),
        amount=amount, tax_rate=rate, tax=parse_decimal(cells.get("tax")),
        tax_rate_text="" if rate is not None else (rate_text or "***"),
    )


def table_lines(texts: list[PlacedText], row_tolerance: float = 1.6) -> list[InvoiceLine]:
    """Item lines from positioned text: columns from the header labels, rows down to the 合计 row, per page."""
    lines: list[InvoiceLine] = []
    for page in sorted({t.page for t in texts}):
        rows = _rows([t for t in texts if t.page == page], row_tolerance)
        header_index, columns = None, []
        for i, row in enumerate(rows):
            cols = _header_columns(row)
            if {"item", "amount"} <= {k for k, _ in cols}:
                header_index, columns = i, sorted(cols, key=lambda c: c[1])
                break
        if header_index is None:
            continue
        bounds = [(a[1] + b[1]) / 2 for a, b in zip(columns, columns[1:], strict=False)]
        cells_rows: list[dict[str, str]] = []
        for row in rows[header_index + 1:]:
            joined = _squash("".join(t.text for t in row))
            if any(joined.startswith(w) for w in _END_WORDS) or "价税合计" in joined:
                break
            cells: dict[str, str] = {}
            for t in row:
                centre = t.x + t.w / 2 if t.w else t.x
                index = sum(1 for b in bounds if centre > b)
                key = columns[index][0]
                cells[key] = (cells.get(key, "") + t.text).strip()
            if "amount" in cells or not cells_rows:
                cells_rows.append(cells)
            else:  # a wrapped item name or spec continues the line above
                for key, value in cells.items():
                    cells_rows[-1][key] = cells_rows[-1].get(key, "") + value
        for cells in cells_rows:
            line = line_from_cells(cells, line_no=len(lines) + 1)
            if line is not None:
                lines.append(line)
    return lines


def kind_from_title(title: str) -> str:
    if title.startswith("电子发票") or title.startswith("纸质发票"):
        special = "专用" in title
        paper = title.startswith("纸质")
        return ("85" if special else "86") if paper else ("81" if special else "82")
    return ""
