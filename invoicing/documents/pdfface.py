"""Reading an invoice face from a PDF text layer by the face's structure (words with coordinates).

The rules come from the printed layouts (domain.md §4, the face in docs/invoice-face.png), not from the positions of
one sample:

* Parties are found by label (名称, 纳税人识别号 / 统一社会信用代码) and assigned to the buyer or the seller by the
  block label they sit in (购买方 / 销售方, printed vertically on 数电 and legacy faces), never by position alone.
  A value is on the label's line (after a colon, or in the next word) or, when the line is empty, on the line below
  provided that line carries no label of its own. A name that reaches the edge of its box and continues on the next
  line is joined.
* The 合计 row's figures are assigned to the 金额 / 税额 columns by the header cells' positions; a lone "¥" is
  joined to the figure after it.
* A line row is anchored on its rate cell (13%, 免税, 不征税, ***): the money figure before it is the amount, the one
  after it the tax; quantity and unit price go to the nearest of their header cells. A row without figures continues
  the line above (wrapped names). Lines are kept whether or not they add up: the cross-checks judge them.
* Multi-page faces and 销货清单 pages contribute lines from every table; the totals are taken once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from invoicing.documents.facetext import line_from_cells
from invoicing.documents.model import InvoiceLine, normalize_text


@dataclass
class Word:
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    text: str

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1.0)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    def overlaps(self, other: Word, share: float = 0.35) -> bool:
        common = min(self.bottom, other.bottom) - max(self.top, other.top)
        return self.page == other.page and common > share * min(self.height, other.height)


@dataclass
class Face:
    """What the face says, field by field (raw strings), plus the lines and notes on how each was found."""

    values: dict[str, str] = field(default_factory=dict)
    lines: list[InvoiceLine] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # field -> how it was found when not by the plain rule
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (field, code, message)
    word_count: int = 0
    title: str = ""


def words_from_pdf(pdf: Any) -> list[Word]:
    out: list[Word] = []
    for index, page in enumerate(pdf.pages):
        found = page.extract_words(x_tolerance=1.5, y_tolerance=2.0, keep_blank_chars=False, use_text_flow=False)
        singles = sum(1 for w in found if len(w["text"]) == 1)
        if found and singles > 0.6 * len(found):  # letter-spaced text (re-rendered faces): join by glyph size
            found = page.extract_words(x_tolerance_ratio=2.0, y_tolerance=2.0, keep_blank_chars=False,
                                       use_text_flow=False)
        for w in found:
            text = normalize_text(unicodedata.normalize("NFKC", w["text"]) if _needs_nfkc(w["text"]) else w["text"])
            if text:
                out.append(Word(index, float(w["x0"]), float(w["x1"]), float(w["top"]), float(w["bottom"]), text))
    return out


def _needs_nfkc(text: str) -> bool:
    return any("\uff01" <= c <= "\uff5e" and c not in "（）：" for c in text) or "\u3000" in text


def squash(s: str) -> str:
    return re.sub(r"[\s\u3000:：]", "", s)


_MONEY_RE = re.compile(r"^[¥￥]?\s*(-?\d[\d,]*\.\d{2})$")
_RATE_RE = re.compile(r"^(\d{1,2}(?:\.\d+)?%|免税|不征税|\*\*\*|出口零税率?)$")
_TAXID_RE = re.compile(r"[0-9A-Z]{15,20}")
_WORDS_RE = re.compile(r"[负零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正]{2,}")
_PARTY_LABELS = ("名称", "纳税人识别号", "统一社会信用代码")
# Labels that start a field on the face: a value never runs into one of them.
_ALL_LABELS = ("名称", "纳税人识别号", "统一社会信用代码", "地址", "地址、电话", "开户行", "电话", "发票号码", "开票日期",
               "发票代码", "校验码", "机器编号", "开票人", "收款人", "复核", "密码", "备注", "价税合计", "合计",
               "项目名称", "购买方", "销售方", "订单号")
_BLOCK = {"购": "buyer", "买": "buyer", "销": "seller", "售": "seller"}


# ------------------------------------------------------------------------------------------- label search


@dataclass
class Label:
    words: list[Word]
    rest: str  # text after the label inside the last word (after its colon), may be empty
    how: str = ""  # where its value was found: "same-line" or "next-line"

    @property
    def first(self) -> Word:
        return self.words[0]

    @property
    def last(self) -> Word:
        return self.words[-1]


def _row_of(words: list[Word], w: Word) -> list[Word]:
    return sorted((o for o in words if o is not w and o.overlaps(w) ), key=lambda o: o.x0)


def find_labels(words: list[Word], label: str, *, anywhere: bool = False, exclude: tuple[str, ...] = ()) -> list[Label]:
    """Occurrences of ``label``, also when letter-spaced into several words ("名" … "称:")."""
    found: list[Label] = []
    used: set[int] = set()
    for w in words:
        if id(w) in used:
            continue
        s = squash(w.text)
        if any(s.startswith(e) for e in exclude):
            continue
        if (s.startswith(label) or (anywhere and label in s)):
            rest = _after_colon(w.text, label)
            found.append(Label([w], rest))
            continue
        if not label.startswith(s) or not s:
            continue
        # letter-spaced: join the following words on the row while they keep spelling the label
        parts, acc = [w], s
        row = [o for o in _row_of(words, w) if o.x0 > w.x0]
        for o in row:
            acc2 = acc + squash(o.text)
            if acc2.startswith(label) and len(acc) < len(label):
                parts.append(o)
                acc = acc2
                break
            if label.startswith(acc2):
                parts.append(o)
                acc = acc2
                continue
            break
        if acc.startswith(label) and len(parts) > 1:
            used.update(id(p) for p in parts)
            found.append(Label(parts, _after_colon(parts[-1].text, label[-1])))
    return found


def _after_colon(text: str, label: str) -> str:
    for sep in ("：", ":"):
        if sep in text:
            return text.split(sep, 1)[1].strip()
    t = squash(text)
    i = t.find(label)
    return t[i + len(label):] if i >= 0 else ""


def is_label(w: Word) -> bool:
    s = squash(w.text)
    return any(s.startswith(lbl) for lbl in _ALL_LABELS) or s in {"名", "称", "密", "备", "注", "校", "验", "码",
                                                                "地", "合", "计"}


def _right_of(words: list[Word], label: Label, *, max_gap: float) -> list[Word]:
    """Words after the label on its row, up to the next label or a gap wider than ``max_gap``."""
    out: list[Word] = []
    right = label.last.x1
    for o in sorted((o for o in words if o.overlaps(label.last) and o.x0 >= label.last.x1 - 2.0
                     and o not in label.words), key=lambda o: o.x0):
        if is_label(o) or o.x0 - right > max_gap:
            break
        out.append(o)
        right = o.x1
    return out


def _below(words: list[Word], label: Label, *, lines: float = 2.2) -> list[Word]:
    """The row under the label (within ``lines`` line heights), when it carries no label of its own."""
    h = label.last.height
    right = min((o.x0 for o in words if o.overlaps(label.last) and o.x0 > label.last.x1 and is_label(o)),
                default=1e9)
    candidates = [o for o in words if o.page == label.last.page and label.last.bottom - 0.2 * h < o.top
                  <= label.last.bottom + lines * h and label.first.x0 - h <= o.x0 < right
                  and not (len(squash(o.text)) == 1 and squash(o.text) in "购买销售方信息")]
    if not candidates:
        return []
    top = min(o.top for o in candidates)
    row = sorted((o for o in candidates if o.top < top + 0.6 * h), key=lambda o: o.x0)
    if any(is_label(o) for o in row):
        return []
    return row


# ------------------------------------------------------------------------------------------- parties


def _em(words: list[Word]) -> float:
    heights = sorted(w.height for w in words)
    return heights[len(heights) // 2] if heights else 10.0


def _block_of(words: list[Word], label: Label) -> str:
    """buyer / seller by the block label left of (or above) the field label; "" when there is none.

    The vertical block labels (购 买 方 信 息 / 销 售 方 信 息, one character per word) form a column: the column whose
    height spans the field label, nearest to its left, names the party.
    """
    lw = label.first
    columns: list[list[Word]] = []
    for m in sorted((w for w in words if w.page == lw.page and squash(w.text) in "购买销售方信息" and
                     len(squash(w.text)) == 1), key=lambda w: (round(w.x0), w.top)):
        for col in columns:
            if abs(col[0].x0 - m.x0) <= 2 and m.top - col[-1].bottom < 3 * m.height:
                col.append(m)
                break
        else:
            columns.append([m])
    best, best_d = "", 1e9
    for col in columns:
        chars = "".join(squash(w.text) for w in col)
        party = "buyer" if ("购" in chars or "买" in chars) else "seller" if ("销" in chars or "售" in chars) else ""
        top, bottom = min(w.top for w in col), max(w.bottom for w in col)
        if party and col[0].x1 <= lw.x0 + 2 and top - lw.height <= lw.cy <= bottom + lw.height:
            d = lw.x0 - col[0].x1
            if d < best_d:
                best, best_d = party, d
    if best:
        return best
    for m in words:  # horizontal block labels: 购买方信息 / 销售方 on the label's row, or as a heading above it
        if m.page != lw.page or m is lw:
            continue
        s = squash(m.text)
        party = ("buyer" if s.startswith(("购买方", "购方")) else
                 "seller" if s.startswith(("销售方", "销方")) and "章" not in s else "")
        if not party:
            continue
        if m.x1 <= lw.x0 + 2 and abs(m.cy - lw.cy) <= 4 * lw.height:
            d = (lw.x0 - m.x1) + 0.5 * abs(m.cy - lw.cy)
        elif abs(m.x0 - lw.x0) < 8 * lw.height and 0 < lw.top - m.bottom <= 6 * lw.height:
            d = (lw.top - m.bottom) + 50
        else:
            continue
        if d < best_d:
            best, best_d = party, d
    return best


def _box_right(words: list[Word], value_words: list[Word], page_right: float) -> float:
    """Right edge of the box a value sits in: the next block label (密 码 区, 备 注, 销 售 方) on its row, else the page."""
    if not value_words:
        return page_right
    last = value_words[-1]
    blockers = [o.x0 for o in words if o.overlaps(last, 0.0) or abs(o.cy - last.cy) < 2 * last.height
                if o.page == last.page and o.x0 > last.x1 and squash(o.text)[:1] in "密备销购名统纳"]
    return min(blockers, default=page_right)


def _value(words: list[Word], label: Label, pattern: re.Pattern[str] | None, max_gap: float) -> tuple[str, str, list[Word]]:
    """(value, how, words) for a label: same line first, then the line below."""
    if label.rest:
        text = label.rest
        more = _right_of(words, label, max_gap=max_gap)
        if pattern is None:
            text = text + "".join(o.text for o in more)
        return _match(text, pattern), "same-line", [label.last, *more]
    more = _right_of(words, label, max_gap=max_gap)
    if more and pattern is not None:
        for o in more:
            if pattern.fullmatch(squash(o.text)):
                return squash(o.text), "same-line", [o]
    if more:
        return _match("".join(o.text for o in more), pattern), "same-line", more
    below = _below(words, label)
    if below and pattern is not None:
        for o in below:
            if pattern.fullmatch(squash(o.text)):
                return squash(o.text), "next-line", [o]
    if below:
        return _match("".join(o.text for o in below), pattern), "next-line", below
    return "", "", []


def _match(text: str, pattern: re.Pattern[str] | None) -> str:
    text = text.strip()
    if pattern is None:
        return text
    m = pattern.search(text.replace(" ", ""))
    return m.group(0) if m else ""


def read_parties(words: list[Word], face: Face, page_right: float) -> None:
    first_page = [w for w in words if w.page == 0]
    em = _em(first_page)
    names = find_labels(first_page, "名称", exclude=("项目名称", "货物", "名称及"))
    ids = find_labels(first_page, "纳税人识别号", anywhere=True) or find_labels(first_page, "统一社会信用代码",
                                                                             anywhere=True)
    assigned: dict[str, list[tuple[str, str, Label, list[Word]]]] = {"Name": [], "TaxID": []}
    for kind, labels, pattern in (("Name", names, None), ("TaxID", ids, _TAXID_RE)):
        for lbl in labels:
            value, how, vwords = _value(first_page, lbl, pattern, max_gap=4 * em)
            if kind == "Name" and value and vwords:
                value = _join_wrapped(first_page, lbl, value, vwords, page_right)
            lbl.how = how
            assigned[kind].append((_block_of(first_page, lbl), value, lbl, vwords))
    for kind, items in assigned.items():
        if not items:
            continue
        parties = [p for p, *_ in items]
        if set(parties) == {"buyer", "seller"} and len(parties) == 2 or (parties.count("buyer") <= 1 and
                                                                         parties.count("seller") <= 1 and
                                                                         all(parties)):
            for party, value, lbl, _ in items:
                key = ("Buyer" if party == "buyer" else "Seller") + kind
                if value:
                    face.values.setdefault(key, value)
                    if lbl.how == "next-line":
                        face.notes[key] = "next-line"
        else:  # no block labels: reading order (left/top first = buyer), flagged
            ordered = sorted(items, key=lambda it: (it[2].first.top > items[0][2].first.top + 3 * em, it[2].first.x0))
            for party, (_, value, _lbl, _w) in zip(("Buyer", "Seller"), ordered, strict=False):
                if value:
                    face.values.setdefault(party + kind, value)
                    face.notes[party + kind] = "position"
            face.problems.append((("buyer_name" if kind == "Name" else "buyer_tax_id"), "party_by_position",
                                  "购买方/销售方标签未识别，按版面位置判断"))


def _join_wrapped(words: list[Word], lbl: Label, value: str, vwords: list[Word], page_right: float) -> str:
    """Join a name's second line when the first reaches its box edge and the next line holds no label."""
    last = vwords[-1]
    box_right = _box_right(words, vwords, page_right)
    if box_right - last.x1 > 3 * last.height:
        return value
    start_x = vwords[0].x0 if vwords[0] is not lbl.last else lbl.first.x0
    h = last.height
    below = [o for o in words if o.page == last.page and last.bottom - 0.2 * h < o.top <= last.bottom + 1.2 * h
             and start_x - h <= o.x0 < box_right and o.x1 <= box_right + h
             and not (len(squash(o.text)) == 1 and squash(o.text) in "购买销售方信息")]
    if not below or any(is_label(o) for o in below) or any(_TAXID_RE.fullmatch(squash(o.text)) for o in below):
        return value
    # the labels of the row below (left of the value column) must be absent too
    row_left = [o for o in words if o.page == last.page and o.overlaps(below[0]) and lbl.first.x0 - 2 <= o.x0
                < below[0].x0 and is_label(o)]
    if row_left:
        return value
    return value + "".join(o.text for o in sorted(below, key=lambda o: o.x0))


# ------------------------------------------------------------------------------------------- header fields


def read_header(words: list[Word], face: Face) -> None:
    first_page = [w for w in words if w.page == 0]
    em = _em(first_page)

    def first(label: str, pattern: re.Pattern[str], key: str, joiner: str = "") -> None:
        for lbl in find_labels(first_page, label):
            if lbl.rest and (m := pattern.search(lbl.rest.replace(" ", ""))):
                face.values.setdefault(key, m.group(0))
                return
            more = _right_of(first_page, lbl, max_gap=6 * em)
            text = joiner.join(o.text for o in more)
            if m := pattern.search(text.replace(" ", "")):
                face.values.setdefault(key, m.group(0))
                return
            below = _below(first_page, lbl)
            if below and (m := pattern.search("".join(o.text for o in below).replace(" ", ""))):
                face.values.setdefault(key, m.group(0))
                face.notes[key] = "next-line"
                return

    first("发票号码", re.compile(r"\d{20}|\d{8}"), "InvoiceNo")
    first("发票代码", re.compile(r"\d{12}|\d{10}"), "InvoiceCode")
    first("开票日期", re.compile(r"\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2}"), "IssueDate")
    first("校验码", re.compile(r"\d{20}"), "InvoiceCheckCode")
    first("机器编号", re.compile(r"\d{12}"), "MachineNo")
    for w in first_page:
        s = squash(w.text)
        if "发票" in s and len(s) <= 30 and not any(x in s for x in ("号码", "代码", "日期", "监制", "详见")):
            face.title = face.title or s
        if s.startswith("电子发票(") or s.startswith("电子发票（") or s.startswith("纸质发票"):
            face.title = s


# ------------------------------------------------------------------------------------------- table and totals

_HEADER_KEYS = {
    "项目名称": "item", "货物或应税劳务、服务名称": "item", "货物或应税劳务名称": "item", "货物(劳务)名称": "item",
    "货物（劳务）名称": "item", "规格型号": "spec", "单位": "unit", "数量": "qty", "单价": "price", "金额": "amount",
    "税率/征收率": "rate", "税率": "rate", "征收率": "rate", "税额": "tax",
}


def _header_cells(row: list[Word]) -> list[tuple[str, float, float]]:
    """(key, x0, x1) per header cell, joining letter-spaced labels ("金" "额")."""
    cells: list[tuple[str, float, float]] = []
    i = 0
    while i < len(row):
        name = squash(row[i].text)
        if name in _HEADER_KEYS:
            cells.append((_HEADER_KEYS[name], row[i].x0, row[i].x1))
            i += 1
            continue
        joined, j = name, i + 1
        while j < len(row) and len(joined) < 12 and joined not in _HEADER_KEYS:
            joined += squash(row[j].text)
            j += 1
        if joined in _HEADER_KEYS:
            cells.append((_HEADER_KEYS[joined], row[i].x0, row[j - 1].x1))
            i = j
        else:
            cells.append(("other", row[i].x0, row[i].x1))
            i += 1
    return cells


def _rows(words: list[Word]) -> list[list[Word]]:
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.page, w.cy)):
        if rows and rows[-1][0].page == w.page and abs(rows[-1][0].cy - w.cy) <= 0.45 * max(w.height,
                                                                                          rows[-1][0].height):
            rows[-1].append(w)
        else:
            rows.append([w])
    return [sorted(r, key=lambda w: w.x0) for r in rows]


def _money_tokens(row: list[Word]) -> list[tuple[Word, str]]:
    """Money figures in a row; a lone ¥ joins the figure after it; "（小写）¥300.00" gives 300.00."""
    out: list[tuple[Word, str]] = []
    for w in row:
        s = w.text.replace(" ", "").replace("￥", "¥")
        if "¥" in s:
            s = s[s.index("¥") + 1:]
        m = _MONEY_RE.match(s)
        if m:
            out.append((w, m.group(1).replace(",", "")))
    return out


def read_table(words: list[Word], face: Face) -> None:
    rows = _rows(words)
    totals_rows: list[list[Word]] = []
    lines: list[dict[str, Any]] = []
    amount_col: tuple[float, float] | None = None
    tax_col: tuple[float, float] | None = None
    i = 0
    while i < len(rows):
        row = rows[i]
        cells = _header_cells(row)
        keys = {k for k, *_ in cells}
        if not ({"item", "amount"} <= keys):
            if _is_total_row(row):
                totals_rows.append(row)
            i += 1
            continue
        cols = {k: (x0, x1) for k, x0, x1 in cells}
        amount_col, tax_col = cols.get("amount"), cols.get("tax")
        ordered = sorted(cells, key=lambda c: c[1])
        text_bounds = []  # (key, left) for item/spec/unit: left-aligned text columns
        for k, x0, _ in ordered:
            if k in ("item", "spec", "unit", "other"):
                text_bounds.append((k, x0))
        i += 1
        while i < len(rows) and rows[i][0].page == row[0].page:
            r = rows[i]
            if _is_total_row(r) or any(squash(w.text).startswith(("价税合计", "备注", "小计", "总计", "合计"))
                                       for w in r):
                break
            _table_row(r, ordered, lines)
            i += 1
    if not lines and not totals_rows:
        return
    face.lines = _to_lines(lines)
    _read_totals(words, totals_rows, face, amount_col, tax_col)


def _is_total_row(row: list[Word]) -> bool:
    s = squash("".join(w.text for w in row[:3]))
    return s.startswith("合计") and "价税" not in s


def _table_row(row: list[Word], ordered: list[tuple[str, float, float]], lines: list[dict[str, Any]]) -> None:
    rate_i = next((k for k, w in enumerate(row) if _RATE_RE.match(squash(w.text))), None)
    moneys = [w for w in row if _MONEY_RE.match(w.text.replace(" ", ""))]
    # text columns: left-aligned cells before the first numeric column
    numeric_left = min((x0 for k, x0, _ in ordered if k in ("qty", "price", "amount")), default=1e9)
    centres = [(k, (x0 + x1) / 2) for k, x0, x1 in ordered if k in ("item", "spec", "unit", "other")
               and x0 < numeric_left]
    cells: dict[str, str] = {}
    ends: dict[str, Word] = {}
    numbers: list[Word] = []
    for w in row:
        if w.x0 < numeric_left - 1 and not (rate_i is not None and w is row[rate_i]) and (
                w.x1 <= numeric_left - 1 or not re.fullmatch(r"-?[\d.,]+", w.text)):
            key = min(centres, key=lambda c: abs(c[1] - w.cx))[0] if centres else "item"
            prev = ends.get(key)
            gap = " " if prev is not None and w.x0 - prev.x1 > 0.2 * w.height else ""
            cells[key] = cells.get(key, "") + gap + w.text
            ends[key] = w
            continue
        numbers.append(w)
    if rate_i is None and not moneys:
        if lines:  # continuation of a wrapped name, spec or unit
            for k, v in cells.items():
                lines[-1][k] = lines[-1].get(k, "") + v
        return
    line: dict[str, Any] = dict(cells)
    if rate_i is not None:
        rate_w = row[rate_i]
        line["rate"] = squash(rate_w.text)
        before = [w for w in numbers if w.x1 <= rate_w.x0 + 0.5]
        after = [w for w in numbers if w.x0 >= rate_w.x1 - 0.5]
        if before and _MONEY_RE.match(before[-1].text):
            line["amount"] = before[-1].text
            before = before[:-1]
        if after:
            line["tax"] = after[0].text
        elif squash(rate_w.text) in ("免税", "不征税", "***"):
            line["tax"] = "***"
    else:  # no rate cell: the header positions decide
        before = []
        for w in numbers:
            key = min((c for c in ordered if c[0] in ("qty", "price", "amount", "tax")),
                      key=lambda c: abs((c[1] + c[2]) / 2 - w.cx), default=("other", 0, 0))[0]
            if key in ("amount", "tax"):
                line[key] = w.text
            else:
                before.append(w)
        line["uncertain_columns"] = True
    qp = [c for c in ordered if c[0] in ("qty", "price")]
    for w in before:
        if qp:
            key = min(qp, key=lambda c: min(abs(c[1] - w.x0), abs(c[2] - w.x1), abs((c[1] + c[2]) / 2 - w.cx)))[0]
            line.setdefault(key, w.text)
    lines.append(line)


def _to_lines(raw: list[dict[str, Any]]) -> list[InvoiceLine]:
    out: list[InvoiceLine] = []
    for cells in raw:
        line = line_from_cells(cells, line_no=len(out) + 1)
        if line is not None:
            out.append(line)
    return out


def _read_totals(words: list[Word], totals_rows: list[list[Word]], face: Face,
                 amount_col: tuple[float, float] | None, tax_col: tuple[float, float] | None) -> None:
    found: list[tuple[str | None, str | None]] = []
    for row in totals_rows:
        tokens = _money_tokens(row) + [(w, "***") for w in row if squash(w.text) in ("***", "¥***")]
        tokens.sort(key=lambda t: t[0].x0)
        amount = tax = None
        if amount_col and tax_col and tokens:
            for w, v in tokens:
                da = min(abs(w.x1 - amount_col[1]), abs(w.cx - (amount_col[0] + amount_col[1]) / 2))
                dt = min(abs(w.x1 - tax_col[1]), abs(w.cx - (tax_col[0] + tax_col[1]) / 2))
                if da <= dt and amount is None:
                    amount = v
                elif dt < da and tax is None:
                    tax = v
        elif tokens:
            amount = tokens[0][1]
            tax = tokens[1][1] if len(tokens) > 1 else None
            face.notes["TaxExclusiveTotalAmount"] = "position"
        found.append((amount, tax))
    if found:
        distinct = {f for f in found if f[0] is not None}
        if len(distinct) > 1:
            face.problems.append(("amount", "several_totals", "多页合计金额不一致，已取最后一页"))
        amount, tax = found[-1]
        if amount:
            face.values["TaxExclusiveTotalAmount"] = amount
        if tax:
            face.values["TaxTotalAmount"] = "0.00" if tax == "***" else tax
    # 价税合计: the figure after （小写）, and the words after （大写）, on the label's line
    for lbl in find_labels(words, "小写", anywhere=True):
        w = lbl.last
        own = _money_tokens([w])
        near = own or _money_tokens(sorted((o for o in words if o.overlaps(w) and o.x1 > w.x1 and o is not w),
                                           key=lambda o: o.x0))
        if near:
            face.values.setdefault("TaxInclusiveTotalAmount", near[0][1])
            break
    for lbl in find_labels(words, "大写", anywhere=True):
        w = lbl.last
        for o in sorted((o for o in words if (o.overlaps(w) and o.x0 >= w.x1 - 2) or o is w), key=lambda o: o.x0):
            m = _WORDS_RE.search(squash(o.text).split("大写")[-1])
            if m and (len(m.group(0)) > 2 or m.group(0).endswith(("整", "正", "分", "角"))):
                face.values.setdefault("TaxInclusiveTotalAmountWithWords", m.group(0))
                break


def read_face(words: list[Word], page_right: float) -> Face:
    face = Face(word_count=len(words))
    if not words:
        return face
    read_header(words, face)
    read_parties(words, face, page_right)
    read_table(words, face)
    return face
