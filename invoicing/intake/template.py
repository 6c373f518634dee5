"""What every import template shares: the instructions sheet (a row per column, then the rules) and the bytes of the
workbook. Each app's template decides its columns, sheets and example rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font


def help_sheet_add(wb: Workbook, *, title: str, header: Sequence[str], rows: Iterable[Sequence[object]],
                   rules: Iterable[str], widths: Mapping[str, int]) -> None:
    """Add the instructions sheet: ``header`` in bold, a row per column, a blank row, "规则" and one rule a row;
    ``widths`` by column letter; long texts wrap at the top of their cells."""
    ws = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    ws.append([])
    ws.append(["规则"])
    for text in rules:
        ws.append([text])
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def workbook_bytes(wb: Workbook) -> bytes:
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
