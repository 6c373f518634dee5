"""A small streaming .xlsx writer: the sheet XML is generated row by row straight into the zip, so memory stays flat
and it runs several times faster than openpyxl's write-only mode (which builds a cell object per value).

Values: str (inline strings, XML-escaped, control characters removed), int / Decimal / float (numbers),
bool, date and naive datetime (Excel serials with a date style), None (empty). One sheet, a bold frozen header row,
column widths.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = dt.datetime(1899, 12, 30)

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)
# cellXfs: 0 default, 1 date (numFmt 14), 2 date-time (numFmt 22), 3 bold (header), 4 money (#,##0.00: 108.00 stays
# 108.00 and 12,720.00 is grouped), 5 a whole number grouped (#,##0)
MONEY_FORMAT = "#,##0.00"
STYLE_FOR_KIND = {"money": 4, "int": 5}
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    f'<numFmts count="1"><numFmt numFmtId="164" formatCode="{MONEY_FORMAT}"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _col(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _text(value: str) -> str:
    value = escape(_ILLEGAL.sub("", value))
    if value[:1].isspace() or value[-1:].isspace():
        return f'<is><t xml:space="preserve">{value}</t></is>'
    return f"<is><t>{value}</t></is>"


def _cell(ref: str, v, style: str = "") -> str:
    """``style``: ' s="n"' for a number column's format (money, whole numbers), else ""."""
    if v is None or v == "":
        return ""
    if isinstance(v, str):
        return f'<c r="{ref}" t="inlineStr">{_text(v)}</c>'
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, Decimal):
        return f'<c r="{ref}"{style}><v>{v:f}</v></c>'
    if isinstance(v, int | float):
        return f'<c r="{ref}"{style}><v>{v!r}</v></c>'
    if isinstance(v, dt.datetime):
        serial = (v.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="2"><v>{serial!r}</v></c>'
    if isinstance(v, dt.date):
        return f'<c r="{ref}" s="1"><v>{(v - _EPOCH.date()).days}</v></c>'
    return f'<c r="{ref}" t="inlineStr">{_text(str(v))}</c>'


def write_xlsx_rows(target, headers: Sequence[str], rows: Iterable[Sequence], *, sheet: str = "Sheet1",
                    widths: Sequence[int] | None = None, progress=None, kinds: Sequence[str] | None = None) -> int:
    """Write one sheet; ``target`` is a path or a binary file object. Returns the number of data rows.

    ``kinds``: each column's kind (``Col.kind``); money columns get the number format #,##0.00, counts #,##0."""
    sheet = escape(_ILLEGAL.sub("", sheet))[:31] or "Sheet1"
    letters = [_col(i) for i in range(len(headers))]
    styles = [f' s="{STYLE_FOR_KIND[k]}"' if k in STYLE_FOR_KIND else "" for k in (kinds or ())]
    styles += [""] * (len(headers) - len(styles))
    n = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/styles.xml", STYLES)
        zf.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            cols = ""
            if widths:
                cols = "<cols>" + "".join(
                    f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths)
                ) + "</cols>"
            fh.write((
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
                f'state="frozen"/></sheetView></sheetViews>{cols}<sheetData>'
                '<row r="1">' + "".join(
                    f'<c r="{letters[i]}1" t="inlineStr" s="3">{_text(str(h))}</c>' for i, h in enumerate(headers)
                ) + "</row>"
            ).encode("utf-8"))
            buf: list[str] = []
            r = 1
            for values in rows:
                r += 1
                rs = str(r)
                buf.append(f'<row r="{rs}">' + "".join(
                    _cell(letters[i] + rs, v, styles[i]) for i, v in enumerate(values)) + "</row>")
                if len(buf) >= 1000:
                    fh.write("".join(buf).encode("utf-8"))
                    buf = []
                    if progress:
                        progress(r - 1, 0)
            if buf:
                fh.write("".join(buf).encode("utf-8"))
            fh.write(b"</sheetData></worksheet>")
            n = r - 1
    return n
