"""The downloadable error workbook: one row per problem, with sheet, row, column, value, rule and message."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO

from django.utils.translation import ngettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from invoicing.intake.issues import Issue

HEADERS = ("工作表", "行号", "列", "单元格内容", "规则", "错误说明")


def write_error_workbook(issues: Iterable[Issue], target: str | Path | IO[bytes], *, total: int | None = None) -> None:
    """Write the issues to ``target`` (a path or a binary file object) in write-only mode."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("导入错误")
    ws.column_dimensions["D"].width = 30
    ws.column_dimensions["F"].width = 60
    bold = Font(bold=True)
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    shown = 0
    for item in issues:
        value = item.value
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
            value = "'" + value  # never let a spreadsheet evaluate what a user typed
        ws.append([item.sheet, item.row, item.column, value, item.code, item.message])
        shown += 1
    if total is not None and total > shown:
        more = total - shown
        text = ngettext("另有 %(count)s 条错误未列出，请先修正以上错误", "另有 %(count)s 条错误未列出，请先修正以上错误", more)
        ws.append(["", None, "", "", "", text % {"count": more}])
    wb.save(target)
