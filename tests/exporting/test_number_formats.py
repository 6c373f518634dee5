"""Excel exports carry number formats: money as #,##0.00 (so 108.00 does not show as 108), counts as #,##0."""

import io

import openpyxl
import pytest
from django.urls import reverse

from issuing.reports.xlsx import MONEY_FORMAT

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.importing.admin_urls")]


def _sheet(response):
    return openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]


def test_invoice_export_formats_money_columns(client, invoices, fiona, yuntu):
    client.force_login(fiona)
    url = reverse("admin:issuing_invoice_stream_export", args=["xlsx"], current_app="testadmin")
    ws = _sheet(client.get(url, {"taxpayer__id__exact": yuntu.pk}))
    headers = [c.value for c in ws[1]]
    total = headers.index("价税合计") + 1
    cells = [ws.cell(row=r, column=total) for r in range(2, ws.max_row + 1)]
    assert cells and all(c.number_format == MONEY_FORMAT for c in cells)
    assert all(isinstance(c.value, int | float) for c in cells)  # numbers, not text
    number = ws.cell(row=2, column=headers.index("发票号码") + 1)
    assert number.number_format == "General" and isinstance(number.value, str)


def test_report_export_formats_money_and_counts(client, invoices, fiona):
    client.force_login(fiona)
    year = {"date_from": "2026-01-01", "date_to": "2026-12-31"}
    ws = _sheet(client.get(reverse("issuing:reports"), {"report": "summary", "format": "xlsx", **year}))
    headers = [c.value for c in ws[1]]
    assert ws.cell(row=2, column=headers.index("蓝字金额") + 1).number_format == MONEY_FORMAT
    assert ws.cell(row=2, column=headers.index("蓝字张数") + 1).number_format == "#,##0"
