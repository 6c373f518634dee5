"""Streaming writers: rows from ``values_list().iterator()`` (a server-side cursor on PostgreSQL), formatted per
column kind, to CSV (generated chunk by chunk into a StreamingHttpResponse) or to XLSX (written row by row into the zip by
``issuing.reports.xlsx``, then sent in blocks). Memory stays flat whatever the number of rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from functools import partial
from itertools import islice
from operator import is_not
from pathlib import Path
from urllib.parse import quote

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from issuing.reports.specs import ExportSpec
from issuing.reports.xlsx import write_xlsx_rows

CHUNK = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(v) -> str:
    if v is None:
        return ""
    s = str(v)
    return "'" + s if s[:1] in FORMULA_PREFIXES else s


def _rate(v):
    if v is None:
        return ""
    return f"{(v * 100).normalize():f}%"


def _qty_csv(v):
    return "" if v is None else format(v.normalize(), "f")


def _qty_xlsx(v):
    return None if v is None else v.normalize()


def _money_csv(v):
    return "" if v is None else f"{v:.2f}"


def _date_csv(v):
    return "" if v is None else v.isoformat()


def _dt_csv(v):
    return "" if v is None else timezone.localtime(v).strftime("%Y-%m-%d %H:%M:%S")


def _dt_xlsx(v):
    return None if v is None else timezone.localtime(v).replace(tzinfo=None)


def _bool(v):
    return "" if v is None else ("是" if v else "否")


def _same(v):
    return v


def formatters(spec: ExportSpec, fmt: str) -> list[Callable]:
    out = []
    for col in spec.columns:
        k = col.kind
        if k == "text":
            out.append(_safe_text)
        elif k == "money":
            out.append(_money_csv if fmt == "csv" else _same)
        elif k == "qty":
            out.append(_qty_csv if fmt == "csv" else _qty_xlsx)
        elif k == "rate":
            out.append(_rate)
        elif k == "date":
            out.append(_date_csv if fmt == "csv" else _same)
        elif k == "datetime":
            out.append(_dt_csv if fmt == "csv" else _dt_xlsx)
        elif k == "bool":
            out.append(_bool)
        elif k == "choice":
            labels = spec.choices.get(col.path, {})
            out.append(lambda v, labels=labels: labels.get(v, "" if v is None else str(v)))
        else:
            out.append(_same)
    return out


def iter_rows(spec: ExportSpec, qs: QuerySet | Iterable, fmt: str) -> Iterator[list]:
    """Formatted rows. ``qs`` is a queryset (read with values_list + iterator) or an iterable of tuples."""
    fs = formatters(spec, fmt)
    source = qs.values_list(*spec.paths).iterator(chunk_size=CHUNK) if isinstance(qs, QuerySet) else qs
    for values in source:
        yield [f(v) for f, v in zip(fs, values, strict=True)]


class _Echo:
    def write(self, value):
        return value


_BOOL_LABELS = {True: "是", False: "否"}
_FORMULA_START = re.compile("\n[" + re.escape("".join(FORMULA_PREFIXES)) + "]")
_CENT = Decimal("0.01")
_NOT_NONE = partial(is_not, None)


def _csv_column(kind: str, f: Callable, labels: dict | None) -> Callable[[tuple], Sequence]:
    """A formatter of one whole column of a chunk, equal cell for cell to ``f`` as written by ``csv.writer`` (which
    writes None as ""), doing the common case in C (map over builtins, membership tests) and falling back to ``f``
    per cell only where the common case does not hold."""

    def slow(col: tuple) -> Sequence:
        return list(map(f, col))

    if kind == "text":
        def text(col: tuple) -> Sequence:
            try:  # strings (and None, written as ""), none starting like a formula: unchanged
                joined = "\n".join(filter(None, col))
                if not joined.startswith(FORMULA_PREFIXES) and not _FORMULA_START.search(joined):
                    return col
            except TypeError:  # something other than a string: str() it per cell
                pass
            return slow(col)
        return text
    if kind == "money":
        def money(col: tuple) -> Sequence:
            # amounts read from a 2-place decimal column have the exponent -2, and then the str() that csv.writer
            # applies to them is already the 2-place form: the column goes through as it is
            try:
                if all(map(_CENT.same_quantum, filter(_NOT_NONE, col))):
                    return col
            except TypeError:  # a float, a string...: same_quantum takes decimals and integers only
                pass
            return slow(col)
        return money
    if kind == "date":
        def date(col: tuple) -> Sequence:  # str(a date) is its isoformat()
            return col if set(map(type, col)) <= {dt.date, type(None)} else slow(col)
        return date
    if kind in ("bool", "choice"):
        table = _BOOL_LABELS if kind == "bool" else (labels or {})

        def lookup(col: tuple) -> Sequence:
            try:
                out = list(map(table.get, col))
            except TypeError:  # unhashable
                return slow(col)
            misses = out.count(None)
            return out if not misses or misses == col.count(None) and None not in table else slow(col)
        return lookup
    if f is _same:
        return lambda col: col
    return slow


def csv_chunks(spec: ExportSpec, qs, *, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
    """UTF-8 with a BOM (so Excel opens Chinese correctly), 500 rows per chunk. Each chunk is formatted column by
    column (``_csv_column``) and written with one ``writerows``: no per-row Python work."""
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(spec.headers)).encode("utf-8")
    columns = [_csv_column(c.kind, f, spec.choices.get(c.path)) for c, f in zip(spec.columns, formatters(spec, "csv"),
                                                                                  strict=True)]
    width = len(columns)
    source = iter(qs.values_list(*spec.paths).iterator(chunk_size=CHUNK) if isinstance(qs, QuerySet) else qs)
    # csv.writer writes row by row into a UTF-8 text wrapper, which encodes each line as it comes (a StringIO would
    # widen Chinese text to four bytes a character, then build and encode the whole chunk again)
    buffer = io.BytesIO()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    body = csv.writer(out)
    n = 0
    while rows := list(islice(source, 500)):
        cols = list(zip(*rows, strict=True))
        if len(cols) != width:
            raise ValueError(f"rows of {len(cols)} values for {width} columns")
        body.writerows(zip(*[fmt(col) for fmt, col in zip(columns, cols, strict=True)], strict=True))
        out.flush()
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        n += len(rows)
        if progress:
            progress(n, 0)


def write_xlsx(spec: ExportSpec, qs, target, *, progress: Callable[[int, int], None] | None = None,
               title: str = "") -> int:
    """Stream the rows into an .xlsx (``issuing.reports.xlsx``: row by row into the zip, flat memory)."""
    widths = [max(10, min(40, len(c.header) * 2 + 4)) for c in spec.columns]
    return write_xlsx_rows(target, spec.headers, iter_rows(spec, qs, "xlsx"), sheet=title or spec.filename,
                           widths=widths, progress=progress, kinds=[c.kind for c in spec.columns])


def write_file(spec: ExportSpec, qs, target: str | Path, fmt: str, *, progress=None) -> int:
    """Write an export to ``target`` atomically (temporary file, then rename); return the number of rows."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix="." + fmt)
    os.close(fd)
    try:
        if fmt == "csv":
            written = [0]  # rows, as csv_chunks counts them (a cell may hold a line break: lines are not rows)

            def counted(done: int, total: int) -> None:
                written[0] = done
                if progress:
                    progress(done, total)

            with open(tmp, "wb") as fh:
                for chunk in csv_chunks(spec, qs, progress=counted):
                    fh.write(chunk)
            n = written[0]
        else:
            n = write_xlsx(spec, qs, tmp, progress=progress)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


def _disposition(filename: str) -> str:
    ascii_name = "export" + Path(filename).suffix
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def stamped(name: str, fmt: str) -> str:
    return f"{name}-{timezone.localtime():%Y%m%d-%H%M%S}.{fmt}"


def export_response(spec: ExportSpec, qs, fmt: str, *, filename: str = ""):
    """A streamed download: CSV generated as it is sent; XLSX spooled to a temporary file and sent in blocks."""
    filename = filename or stamped(spec.filename, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(spec, qs), content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        tmp = tempfile.TemporaryFile()  # noqa: SIM115 - handed to FileResponse, which closes it
        write_xlsx(spec, qs, tmp)
        tmp.seek(0)
        response = FileResponse(
            tmp, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response["Content-Disposition"] = _disposition(filename)
    response["Cache-Control"] = "no-store"
    return response


