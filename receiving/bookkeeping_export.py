"""What was booked (入账) in a period, as an Excel workbook for the accountants: one row per invoice with the
accounting dimensions (voucher, date, account, cost centre, claim), the invoice's figures and what is left of it after
red-flushing. Scoped to the user's entities; rows are read with a server-side cursor and written by openpyxl's
write-only mode into a temporary file that is streamed back, so memory stays flat whatever the period holds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Any

from django.db.models import QuerySet
from django.utils.translation import gettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from invoicing.models import Taxpayer
from invoicing.scoping import MaybeUser, scope_queryset
from receiving.models import PlatformStatus, ReceivedInvoice, ReceivedKind, UseState

MONEY = "#,##0.00"
FIELDS = ("taxpayer__name", "voucher_no", "booked_on", "account_code", "cost_centre", "claim_no", "kind", "code",
          "number", "issue_date", "seller_name", "seller_tax_id", "amount", "tax", "total", "red_amount", "red_tax",
          "platform_status", "platform_booked", "red_attention", "booked_by__username", "booked_by__first_name",
          "booked_by__last_name")


def booked_in_period(*, user: MaybeUser, date_from: date, date_to: date,
                     taxpayer: Taxpayer | None = None) -> QuerySet[ReceivedInvoice]:
    """Invoices booked (已入账) with a 入账日期 in [date_from, date_to], of the user's entities only."""
    qs = scope_queryset(ReceivedInvoice.objects.all(), user).filter(
        use_state=UseState.BOOKED, booked_on__gte=date_from, booked_on__lte=date_to)
    if taxpayer is not None:
        qs = qs.filter(taxpayer=taxpayer)
    return qs.order_by("taxpayer_id", "booked_on", "voucher_no", "id")


def headers() -> list[str]:
    return [gettext("主体"), gettext("凭证号"), gettext("入账日期"), gettext("会计科目"), gettext("成本中心"),
            gettext("报销单号"), gettext("票种"), gettext("发票代码"), gettext("发票号码"), gettext("开票日期"),
            gettext("销售方名称"), gettext("销售方纳税人识别号"), gettext("合计金额"), gettext("合计税额"),
            gettext("价税合计"), gettext("已红冲价税合计"), gettext("剩余可用金额"), gettext("发票状态"),
            gettext("平台已入账"), gettext("红冲待处理"), gettext("入账人")]


def _rows(qs: QuerySet[ReceivedInvoice]) -> Iterator[list[Any]]:
    kinds = dict(ReceivedKind.choices)
    statuses = dict(PlatformStatus.choices)
    yes, no = gettext("是"), gettext("否")
    zero = Decimal("0.00")
    for (entity, voucher, booked_on, account, centre, claim, kind, code, number, issued, seller, seller_id, amount,
         tax, total, red_amount, red_tax, status, platform_booked, attention, username, first,
         last) in qs.values_list(*FIELDS).iterator(chunk_size=2000):
        red = (red_amount or zero) + (red_tax or zero)
        yield [entity, voucher, booked_on, account, centre, claim, str(kinds.get(kind, kind)), code, number, issued,
               seller, seller_id, amount, tax, total, red, (total - red) if total is not None else None,
               str(statuses.get(status, status)), yes if platform_booked else no, yes if attention else "",
               f"{last}{first}".strip() or username or ""]


MONEY_COLUMNS = {12, 13, 14, 15, 16}
DATE_COLUMNS = {2, 9}


def write_booked(qs: QuerySet[ReceivedInvoice]) -> IO[bytes]:
    """The workbook in a temporary file, positioned at its start (the caller streams and closes it)."""
    book = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = book.create_sheet(gettext("入账明细"))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in headers():
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in _rows(qs):
        cells = []
        for i, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value)
            if i in MONEY_COLUMNS:
                cell.number_format = MONEY
            elif i in DATE_COLUMNS:
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    out = tempfile.TemporaryFile()
    book.save(out)
    out.seek(0)
    return out
