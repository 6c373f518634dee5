"""Finance imports billing documents from Excel in Debian's Chromium: the template downloaded from the import page, a
workbook with an error refused with a summary and an error workbook naming row, column and rule, then clean
workbooks imported through the import page (preview, confirm) and through the background import (its job page
polled until it is done), the documents then in the list."""

from __future__ import annotations

import io

import openpyxl
import pytest

from issuing.intake.template import DATA_SHEET, EXAMPLE_SHEET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TAX_ID_HEADER = "购买方纳税人识别号"


def _header_index(ws) -> dict[str, int]:
    return {str(c.value).lstrip("*"): c.column for c in ws[1] if c.value}


def _filled(template: bytes, path, *, order_no: str, bad_tax_id: str | None = None):
    """The downloaded template with its example document copied into the data sheet under ``order_no``, the buyer
    typed in (no customer code) and the demo's product code (and, with ``bad_tax_id``, the buyer's tax id spoiled), as
    a person fills it in."""
    wb = openpyxl.load_workbook(io.BytesIO(template))
    data, example = wb[DATA_SHEET], wb[EXAMPLE_SHEET]
    cols = _header_index(data)
    assert _header_index(example) == cols
    examples = [v for v in example.iter_rows(min_row=2, values_only=True) if any(x is not None for x in v)]
    assert len(examples) == 2
    for r, values in enumerate(examples, start=2):
        for c, value in enumerate(values, start=1):
            data.cell(row=r, column=c).value = value
        data.cell(row=r, column=cols["订单号"]).value = order_no
        data.cell(row=r, column=cols["客户编码"]).value = None
        data.cell(row=r, column=cols["商品编码"]).value = "S002"  # the demo's 软件技术服务费
        if bad_tax_id:
            data.cell(row=r, column=cols[TAX_ID_HEADER]).value = bad_tax_id
    wb.save(path)
    return path


def _upload_on_import_page(page, live_server, path):
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/import/")
    page.set_input_files("input[name=import_file]", str(path))
    fmt = page.locator("select[name=format]")
    if fmt.count():
        fmt.select_option(label="xlsx")
    page.locator("#content input[type=submit]").click()
    page.wait_for_load_state()


def test_excel_import_with_an_error_file_then_a_clean_one(login, live_server, shots, tmp_path):
    from invoicing.demo import seed
    from issuing.billing.models import BillingDocument

    seed()
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/")
    page.locator("#content-main .object-tools a.import_link").click()
    page.wait_for_selector("input[name=import_file]")
    shots(page, "import-page")

    # The template, from the import page's own link.
    with page.expect_download() as info:
        page.locator("#content a", has_text="导入模板").first.click()
    template = tmp_path / "template.xlsx"
    info.value.save_as(template)
    wb = openpyxl.load_workbook(template)
    assert wb.sheetnames[:2] == [DATA_SHEET, EXAMPLE_SHEET]
    data_rows = wb[DATA_SHEET].iter_rows(min_row=2, values_only=True)
    assert not any(any(v is not None for v in values) for values in data_rows)  # the examples are elsewhere
    raw = template.read_bytes()

    # A workbook with a bad buyer tax id (a document field, on both lines): refused as a whole, the error listed.
    _upload_on_import_page(page, live_server, _filled(raw, tmp_path / "bad.xlsx", order_no="E2E-IMP-1",
                                                      bad_tax_id="123"))
    summary = page.locator("#content h2").first.inner_text()
    assert "发现 1 个错误，未写入任何数据" in summary, summary
    errors = page.locator("#fapiao-import-errors tbody tr")
    assert errors.count() == 1
    cells = [t.strip() for t in errors.first.locator("td").all_inner_texts()]
    assert cells[1:5] == ["2", TAX_ID_HEADER, "123", "tax_id.invalid"], cells
    assert "纳税人识别号" in cells[5] and "not a valid" not in cells[5]
    shots(page, "errors")
    assert not BillingDocument.objects.filter(external_no="E2E-IMP-1").exists()

    with page.expect_download() as info:
        page.locator("#content a", has_text="下载错误清单").click()
    error_file = tmp_path / "errors.xlsx"
    info.value.save_as(error_file)
    ws = openpyxl.load_workbook(error_file).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("工作表", "行号", "列", "单元格内容", "规则", "错误说明")
    assert len(rows) == 2
    sheet, row_no, column, value, rule, message = rows[1]
    assert (sheet, row_no, column, value, rule) == (DATA_SHEET, 2, TAX_ID_HEADER, "123", "tax_id.invalid")
    assert message == cells[5]

    # The same workbook corrected: preview, confirm, and the list shows the document.
    _upload_on_import_page(page, live_server, _filled(raw, tmp_path / "good.xlsx", order_no="E2E-IMP-1"))
    assert page.locator("#content input[name=confirm]").count() == 1, page.inner_text("#content")
    shots(page, "preview")
    page.locator("#content input[name=confirm]").click()
    page.wait_for_selector("#result_list")
    assert "E2E-IMP-1" in page.inner_text("#result_list")
    shots(page, "imported")
    document = BillingDocument.objects.get(external_no="E2E-IMP-1")
    assert document.lines.count() == 2 and str(document.order_amount) == "2120.00"

    # The background import for large files: its job page polls until done and says what it imported.
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/import/")
    page.locator("#content a", has_text="大批量导入").first.click()
    page.set_input_files("input[name=file]", str(_filled(raw, tmp_path / "more.xlsx", order_no="E2E-IMP-2")))
    page.locator("#content-main input[type=submit]").click()
    page.wait_for_function(
        "() => ['成功', '失败', '已完成'].some(w => document.getElementById('job-status').textContent.includes(w))")
    status = page.inner_text("#job-status")
    message = page.inner_text("#job-message")
    assert "已导入 1 张单据、2 行明细" in message, (status, message)
    shots(page, "background-import")
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/?q=E2E-IMP")
    listed = page.inner_text("#result_list")
    assert "E2E-IMP-1" in listed and "E2E-IMP-2" in listed
    assert "2,120.00" in listed
    shots(page, "list")
