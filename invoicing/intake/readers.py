"""Reading import files: sniffing by magic bytes, then .xlsx through python-calamine or .csv through the csv module.

Structural problems are found here, before any cell is validated: another file type renamed to .xlsx, an encrypted
(CFB/OLE) workbook or a legacy .xls, a zip bomb, a file or sheet too large, an empty sheet, merged cells, formulas.

calamine returns numbers as floats and formula cells as their cached value (empty when a program never calculated
them), so formulas are found by scanning the sheet's XML for ``<f>`` elements, in chunks, without loading it.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias
from xml.etree import ElementTree

from django.conf import settings
from django.utils.translation import gettext, gettext_noop, ngettext
from python_calamine import CalamineWorkbook

from invoicing.intake.issues import FileRejected, Issue, issue

logger = logging.getLogger(__name__)
MB = 1024 * 1024


def max_file_bytes() -> int:
    return int(getattr(settings, "BILLING_IMPORT_MAX_FILE_BYTES", 200 * MB))


def stream_above_bytes() -> int:
    """Sheets whose XML is larger than this are read in slices (``_open_xlsx_sliced``) instead of whole by calamine,
    which holds the whole sheet in memory (~180 MB per 100k lines of the template). Keeps memory flat for huge files."""
    return int(getattr(settings, "BILLING_IMPORT_STREAM_ABOVE_BYTES", 96 * MB))


def max_rows() -> int:
    return int(getattr(settings, "BILLING_IMPORT_MAX_ROWS", 1_000_000))


MAX_UNZIPPED_BYTES = 2048 * MB
MAX_ZIP_RATIO = 200  # a real sheet compresses ~10-30×; a zip bomb far more
MAX_STRUCTURE_ISSUES = 50  # merged ranges / formula cells listed one by one; the rest are counted

PREFERRED_SHEETS = ("业务单据明细", "明细")
INSTRUCTION_SHEETS = ("填写说明", "说明", "示例（不导入）")  # the template's example sheet is never imported

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OTHER_MAGIC = {
    b"%PDF": gettext_noop("PDF 文件"),
    b"\x89PNG": gettext_noop("PNG 图片"),
    b"\xff\xd8\xff": gettext_noop("JPEG 图片"),
    b"GIF8": gettext_noop("GIF 图片"),
    b"Rar!": gettext_noop("RAR 压缩包"),
    b"7z\xbc\xaf": gettext_noop("7z 压缩包"),
    b"\x1f\x8b": gettext_noop("gzip 压缩包"),
    b"<?xml": gettext_noop("XML 文件"),
    b"{\\rtf": gettext_noop("RTF 文档"),
}


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


Cells: TypeAlias = Sequence[object]
"""One row's cells: text from a CSV file; text, numbers, booleans and dates from a sheet (as calamine reads them);
whatever the rows given to ``table_from_rows`` hold."""

SheetCell: TypeAlias = (
    int | float | str | bool | datetime.time | datetime.date | datetime.datetime | datetime.timedelta)
"""A cell as calamine reads it (python-calamine's stubs spell this union out and export no name for it)."""


@dataclass
class Table:
    """One sheet (or a CSV file) as a header and an iterator of (row number, cells)."""

    kind: str  # "xlsx" | "csv"
    sheet: str
    headers: list[str]
    total: int  # data rows, blank ones included (progress only)
    _rows: Iterable[tuple[int, Cells]]
    issues: list[Issue] = field(default_factory=list)  # structural problems (merged cells, formulas)
    header_row: int = 1
    col_offset: int = 0
    # Releases what the rows are read from (the open file, the workbook, temporary files); called by close().
    _closer: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def rows(self) -> Iterator[tuple[int, Cells]]:
        yield from self._rows

    def close(self) -> None:
        if self._closer:
            self._closer()


# --- sniffing ------------------------------------------------------------------------------------------------------


def sniff(path: str | os.PathLike[str], filename: str = "") -> str:
    """'xlsx' or 'csv' from the file's bytes (and, for text, its name); raise FileRejected otherwise."""
    path = Path(path)
    name = filename or path.name
    size = path.stat().st_size
    if size > max_file_bytes():
        detail = gettext("%(size)s MB，上限 %(limit)s MB") % {
            "size": f"{size / MB:.1f}", "limit": f"{max_file_bytes() / MB:.0f}"}
        raise FileRejected([issue("file.too_large", detail=detail)])
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise FileRejected([issue("sheet.empty", sheet=name)])
    if head.startswith(b"PK\x03\x04"):
        _check_xlsx_zip(path, name)
        return "xlsx"
    if head.startswith(CFB_MAGIC):
        raise FileRejected([_cfb_issue(path, name)])
    for magic, what in OTHER_MAGIC.items():
        if head.startswith(magic):
            raise FileRejected([issue("file.type", sheet=name, detail=gettext("实际是%(what)s") % {"what": gettext(what)})])
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "csv"  # Excel's "Unicode text": UTF-16 with a byte-order mark, read by _open_csv
    if b"\x00" in head:
        if _looks_like_utf16(head):
            raise FileRejected([issue("file.encoding", sheet=name, detail=gettext(
                "文件是没有 BOM 的 UTF-16 文本；请另存为“CSV UTF-8（逗号分隔）”或 .xlsx"))])
        raise FileRejected([issue("file.type", sheet=name, detail=gettext("二进制文件"))])
    if name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise FileRejected([issue("file.type", sheet=name,
                                  detail=gettext("扩展名是 Excel，但内容是文本；如为 CSV 请改名为 .csv"))])
    return "csv"


def _corrupt(exc: Exception, *, sheet: str = "") -> Issue:
    """The reader's own words stay in the log; the user reads the rule."""
    logger.info("import file %s unreadable: %r", sheet, exc)
    return issue("file.corrupt", sheet=sheet)


def _undecodable(exc: Exception, *, sheet: str) -> Issue:
    logger.info("import file %s undecodable: %r", sheet, exc)
    if isinstance(exc, UnicodeDecodeError):
        return issue("file.encoding", sheet=sheet, detail=gettext("文件中有无法按 %(encoding)s 解码的字节")
                     % {"encoding": exc.encoding.upper()})
    return issue("file.encoding", sheet=sheet)


def _looks_like_utf16(head: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: NUL bytes on one side only, and it decodes."""
    sample = head[: len(head) // 2 * 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if max(even, odd) < len(sample) // 8 or min(even, odd) > max(even, odd) // 10:
        return False
    try:
        sample.decode("utf-16-le" if odd > even else "utf-16-be")
    except UnicodeDecodeError:
        return False
    return True


def _cfb_issue(path: Path, name: str) -> Issue:
    """An OLE compound file: an encrypted OOXML workbook (EncryptedPackage) or a legacy .xls / .doc."""
    with open(path, "rb") as fh:
        data = fh.read(4 * MB)
    if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
        return issue("file.encrypted", sheet=name)
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return issue("file.type", sheet=name, detail=gettext("这是旧版 .xls 工作簿，请另存为 .xlsx"))
    return issue("file.type", sheet=name, detail=gettext("这是 Office 97-2003 格式的其他文档"))


def _check_xlsx_zip(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise FileRejected([_corrupt(exc, sheet=name)]) from exc
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        what = gettext("Word 文档") if "word/document.xml" in names else gettext("其他 zip 文件")
        raise FileRejected([issue("file.type", sheet=name, detail=gettext("实际是%(what)s") % {"what": what})])
    unzipped = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if unzipped > MAX_UNZIPPED_BYTES or (unzipped > 50 * MB and unzipped / packed > MAX_ZIP_RATIO):
        detail = gettext("解压后 %(size)s MB") % {"size": f"{unzipped / MB:.0f}"}
        raise FileRejected([issue("file.too_large", sheet=name, detail=detail)])


# --- opening -------------------------------------------------------------------------------------------------------


def open_table(path: str | os.PathLike[str], filename: str = "", *, sheet: str | None = None) -> Table:
    kind = sniff(path, filename)
    return _open_xlsx(Path(path), sheet) if kind == "xlsx" else _open_csv(Path(path), filename or Path(path).name)


def _pick_sheet(names: list[str], wanted: str | None) -> str:
    if wanted and wanted in names:
        return wanted
    for preferred in PREFERRED_SHEETS:
        if preferred in names:
            return preferred
    for name in names:
        if name not in INSTRUCTION_SHEETS:
            return name
    return names[0]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _open_xlsx(path: Path, wanted: str | None) -> Table:

    try:
        wb = CalamineWorkbook.from_path(str(path))
        names = list(wb.sheet_names)
        sheet_name = _pick_sheet(names, wanted)
    except Exception as exc:  # calamine raises its own error types for broken parts
        raise FileRejected([_corrupt(exc)]) from exc
    structure = _scan_structure(path, sheet_name)
    if structure.xml_bytes > stream_above_bytes():
        wb.close()
        return _open_xlsx_sliced(path, sheet_name, structure)
    try:
        sh = wb.get_sheet_by_name(sheet_name)
    except Exception as exc:
        raise FileRejected([_corrupt(exc)]) from exc
    height = sh.height
    if height == 0:
        raise FileRejected([issue("sheet.empty", sheet=sheet_name)])
    if height - 1 > max_rows():
        detail = gettext("%(rows)s 行，上限 %(limit)s 行") % {"rows": height - 1, "limit": max_rows()}
        raise FileRejected([issue("file.too_many_rows", sheet=sheet_name, detail=detail)])
    start_row, start_col = sh.start or (0, 0)
    rows = sh.iter_rows()
    header_cells = next(rows, None) or []
    headers = [_text(h) for h in header_cells]
    if not any(headers) or height < 2:
        raise FileRejected([issue("sheet.empty", sheet=sheet_name)])
    first = start_row + 2  # spreadsheet row number of the first data row

    def gen() -> Iterator[tuple[int, Cells]]:
        for i, cells in enumerate(rows):
            yield first + i, cells

    return Table(kind="xlsx", sheet=sheet_name, headers=headers, total=height - 1, _rows=gen(),
                 issues=structure.issues(sheet_name), header_row=start_row + 1, col_offset=start_col,
                 _closer=wb.close)


def slice_bytes() -> int:
    """A sheet read in slices is cut into pieces of about this much XML, each read by calamine in turn."""
    return int(getattr(settings, "BILLING_IMPORT_SLICE_BYTES", 8 * MB))


_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*/>")


def _sheet_slices(zf: zipfile.ZipFile, part: str, limit: int) -> Generator[bytes, None, None]:
    """The sheet's XML cut at row boundaries into standalone sheets of about ``limit`` bytes (the head, without its
    ``<dimension>``, then some whole rows), streamed: never more than a slice and a read block in memory."""
    with zf.open(part) as fh:
        buf = b""
        while True:  # the head: everything up to and including <sheetData>
            chunk = fh.read(1 << 20)
            buf += chunk
            m = _SHEET_DATA.search(buf)
            if m or not chunk:
                break
        if not m or m.group(2):  # no rows at all
            return
        prefix = m.group(1) or b""
        head = _DIMENSION.sub(b"", buf[:m.end()])
        row_end, data_end = b"</" + prefix + b"row>", b"</" + prefix + b"sheetData>"
        foot = data_end + b"</" + prefix + b"worksheet>"
        body = bytearray(buf[m.end():])
        del buf
        done = False
        while not done:
            chunk = fh.read(1 << 20)
            body += chunk
            end = body.find(data_end)
            if end >= 0 or not chunk:
                del body[end if end >= 0 else len(body):]
                done = True
            while body and (done or len(body) >= limit):
                if done and len(body) <= limit:
                    cut = len(body)
                else:  # the last whole row within the limit, else the first whole row
                    cut = body.rfind(row_end, 0, limit + len(row_end))
                    if cut < 0:
                        cut = body.find(row_end)
                    if cut >= 0:
                        cut += len(row_end)
                    elif done:
                        cut = len(body)
                    else:
                        break  # no whole row yet: read on
                yield head + bytes(body[:cut]) + foot
                del body[:cut]


def _open_xlsx_sliced(path: Path, sheet_name: str, structure: _Structure) -> Table:
    """A huge sheet read by calamine slice by slice (``_sheet_slices``, each written with the workbook's other parts
    to a temporary .xlsx): calamine's speed and cell types, and memory bounded by the slice, not the file."""


    total = max(structure.rows - 1, 0)
    if total > max_rows():
        detail = gettext("%(rows)s 行，上限 %(limit)s 行") % {"rows": total, "limit": max_rows()}
        raise FileRejected([issue("file.too_many_rows", sheet=sheet_name, detail=detail)])
    workdir = Path(tempfile.mkdtemp(prefix="fapiao-import-"))
    try:
        zf = zipfile.ZipFile(path)
        part = _sheet_part(zf, sheet_name)
        if part is None:  # not reached: the scan that sent the sheet here measured this part
            raise KeyError(sheet_name)
        base = workdir / "base.xlsx"
        with zipfile.ZipFile(base, "w", zipfile.ZIP_STORED) as out:  # every part but the sheet, once
            for info in zf.infolist():
                if info.filename != part:
                    out.writestr(info.filename, zf.read(info.filename))
        slices = _sheet_slices(zf, part, max(slice_bytes(), 1))
    except Exception as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise FileRejected([_corrupt(exc)]) from exc

    def close() -> None:
        slices.close()
        zf.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def sheets() -> Iterator[tuple[int, int, Iterator[list[SheetCell]]]]:
        """(first row, first column, rows) of each slice, 0-based as calamine gives them. The first slice's rows as
        the whole-sheet path reads them (``iter_rows``); the others' from their first row on (``iter_rows`` would
        start at the sheet's row 1 and yield every row before the slice, empty)."""
        first = True
        target = workdir / "slice.xlsx"
        for doc in slices:
            shutil.copyfile(base, target)
            with zipfile.ZipFile(target, "a", zipfile.ZIP_STORED) as out:
                out.writestr(part, doc)
            del doc
            try:
                wb = CalamineWorkbook.from_path(str(target))
                sh = wb.get_sheet_by_name(sheet_name)
            except Exception as exc:
                raise FileRejected([_corrupt(exc)]) from exc
            try:
                if sh.height and sh.start:
                    yield sh.start[0], sh.start[1], sh.iter_rows() if first else iter(sh.to_python())
                    first = False
            finally:
                del sh
                wb.close()

    try:
        pieces = sheets()
        first = next(pieces, None)
        header_cells = next(first[2], None) if first else None
        headers = [_text(h) for h in header_cells or []]
        if first is None or not any(headers):  # no slice at all has no headers either
            raise FileRejected([issue("sheet.empty", sheet=sheet_name)])
    except BaseException:
        close()
        raise
    start_row, start_col, first_rows = first

    def gen() -> Iterator[tuple[int, Cells]]:
        try:
            for i, cells in enumerate(first_rows):
                yield start_row + 2 + i, cells
            for row0, col0, rows in pieces:
                pad: list[SheetCell] = [""] * (col0 - start_col) if col0 > start_col else []
                skip = start_col - col0 if col0 < start_col else 0  # cells left of the header's first column
                for i, cells in enumerate(rows):
                    yield row0 + 1 + i, pad + cells if pad else cells[skip:] if skip else cells
        finally:
            close()

    return Table(kind="xlsx", sheet=sheet_name, headers=headers, total=total, _rows=gen(),
                 issues=structure.issues(sheet_name), header_row=start_row + 1, col_offset=start_col, _closer=close)


_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]+)([0-9]+)"')


def _sheet_part(zf: zipfile.ZipFile, sheet_name: str) -> str | None:
    workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rel_id = None
    for sh in workbook.iter(f"{_NS_MAIN}sheet"):
        if sh.get("name") == sheet_name:
            rel_id = sh.get(f"{_NS_REL}id")
    if rel_id is None:
        return None
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    for rel in rels:
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')
_ROW = re.compile(rb"<(?:\w+:)?row[\s>]")


@dataclass
class _Structure:
    """What one streaming pass over a sheet's XML finds: formula cells, merged ranges, row count, size."""

    xml_bytes: int = 0
    rows: int = 0
    formulas: list[tuple[str, int | None]] = field(default_factory=list)
    formula_count: int = 0
    merged: list[tuple[str, int]] = field(default_factory=list)
    merged_count: int = 0

    def issues(self, sheet: str) -> list[Issue]:
        out = []
        for ref, row in self.merged:
            out.append(issue("sheet.merged_cells", sheet=sheet, row=row, column=ref, value=ref))
        if self.merged_count > len(self.merged):
            more = self.merged_count - len(self.merged)
            out.append(issue("sheet.merged_cells", sheet=sheet, detail=gettext("另有 %(count)s 处") % {"count": more}))
        for col, formula_row in self.formulas:
            out.append(issue("sheet.formula", sheet=sheet, row=formula_row, column=col,
                             value=f"{col}{formula_row or ''}"))
        if self.formula_count > len(self.formulas):
            more = self.formula_count - len(self.formulas)
            out.append(issue("sheet.formula", sheet=sheet,
                             detail=ngettext("另有 %(count)s 个公式单元格", "另有 %(count)s 个公式单元格", more)
                             % {"count": more}))
        return out


def _scan_structure(path: Path, sheet_name: str) -> _Structure:
    """Stream the sheet's XML once (1 MB at a time): formulas, merged cells, rows. Flat memory."""
    found = _Structure()
    try:
        with zipfile.ZipFile(path) as zf:
            part = _sheet_part(zf, sheet_name)
            if part is None or part not in zf.namelist():
                return found
            found.xml_bytes = zf.getinfo(part).file_size
            with zf.open(part) as fh:
                tail = b""
                while True:
                    chunk = fh.read(1 << 20)
                    buf = tail + chunk
                    if chunk:
                        # keep the incomplete last element for the next round
                        cut = buf.rfind(b"<c ")  # a whole cell, so a formula finds its reference
                        if cut <= 0 or len(buf) - cut > 65536:
                            cut = buf.rfind(b"<")
                        if cut <= 0 or len(buf) - cut > 65536:
                            cut = len(buf)
                        scan, tail = buf[:cut], buf[cut:]
                    else:
                        scan, tail = buf, b""
                    found.rows += len(_ROW.findall(scan))
                    for m in _FORMULA.finditer(scan):
                        found.formula_count += 1
                        if len(found.formulas) < MAX_STRUCTURE_ISSUES:
                            cell_start = max(scan.rfind(b"<c ", 0, m.start()), scan.rfind(b":c ", 0, m.start()) - 1)
                            ref = _CELL_REF.match(scan, cell_start) if cell_start >= 0 else None
                            found.formulas.append((ref.group(1).decode(), int(ref.group(2))) if ref else ("", None))
                    for m in _MERGE.finditer(scan):
                        found.merged_count += 1
                        if len(found.merged) < MAX_STRUCTURE_ISSUES:
                            merged_ref = b"%s%s:%s%s" % m.groups()
                            found.merged.append((merged_ref.decode(), int(m.group(2))))
                    if not chunk:
                        break
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        return found
    return found


def _detect_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the BOM says which byte order, and is removed when decoding
    for enc in ("utf-8-sig", "gb18030"):
        try:
            sample.decode(enc)
            return enc
        except UnicodeDecodeError as exc:
            # a multi-byte character cut at the end of the sample is fine
            if enc == "utf-8-sig" and exc.start >= len(sample) - 3 and len(sample) == 1 << 20:
                return enc
    raise FileRejected([issue("file.encoding")])


def _open_csv(path: Path, name: str) -> Table:
    encoding = _detect_encoding(path)
    total = 0
    newline = b"\n\x00" if encoding == "utf-16" else b"\n"  # approximate for UTF-16: progress and the row cap only
    with open(path, "rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            total += block.count(newline)
    if total > max_rows() + 1:
        detail = gettext("约 %(rows)s 行，上限 %(limit)s 行") % {"rows": total, "limit": max_rows()}
        raise FileRejected([issue("file.too_many_rows", sheet=name, detail=detail)])
    fh = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by Table.close / the generator
    # Excel saves "Unicode text" (UTF-16) with tabs between cells; a header with tabs and no comma is read that way.
    first = fh.readline()
    fh.seek(0)
    reader = csv.reader(fh, delimiter="\t" if "\t" in first and "," not in first else ",")
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        fh.close()
        raise FileRejected([issue("sheet.empty", sheet=name)]) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        fh.close()
        raise FileRejected([_undecodable(exc, sheet=name)]) from exc
    if not any(headers):
        fh.close()
        raise FileRejected([issue("sheet.empty", sheet=name)])

    def gen() -> Iterator[tuple[int, Cells]]:
        try:
            for i, cells in enumerate(reader):
                yield i + 2, cells
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FileRejected([_undecodable(exc, sheet=name)]) from exc
        finally:
            fh.close()

    return Table(kind="csv", sheet=name, headers=headers, total=max(total - 1, 0), _rows=gen(), _closer=fh.close)


def table_from_rows(headers: list[str], rows: Sequence[Sequence[object]], *, sheet: str = "Sheet1") -> Table:
    """A Table over rows already in memory (the admin path's tablib dataset, tests)."""
    return Table(kind="memory", sheet=sheet, headers=[_text(h) for h in headers], total=len(rows),
                 _rows=((i + 2, list(r)) for i, r in enumerate(rows)))


def read_bytes_table(data: bytes, filename: str) -> Table:
    """Open uploaded bytes (spooled to a temporary file, which is removed when the table is closed)."""

    suffix = Path(filename).suffix or ".bin"
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115
    try:
        tmp.write(data)
        tmp.close()
        table = open_table(tmp.name, filename)
    except BaseException:
        os.unlink(tmp.name)
        raise
    inner = table._closer

    def closer() -> None:
        if inner:
            inner()
        try:
            os.unlink(tmp.name)
        except FileNotFoundError:
            pass

    table._closer = closer
    return table


__all__ = ["Table", "open_table", "sniff", "table_from_rows", "read_bytes_table", "column_letter"]
