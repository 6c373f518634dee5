"""The Excel import and the platform download as a finance user meets them in the browser: a file with a wrong row
shows every error with its row, column and rule and writes nothing, the corrected file ends on the batch page; the
download button fills the pool from the sandbox and the list shows the watermark."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADERS = ["收票主体税号", "票种", "发票号码", "开票日期", "销售方名称", "销售方纳税人识别号", "合计金额", "合计税额", "价税合计"]
YUNTU = "91440101MA5CYUN00U"


def workbook(path, rows):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return str(path)


def row(number, total="1060.00"):
    return [YUNTU, "数电专票", number, "2026-11-20", "杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N", "1000.00", "60.00",
            total]


def test_an_excel_file_with_a_wrong_row_lists_its_errors_and_the_corrected_one_fills_the_pool(
        login, live_server, demo_world, shots, tmp_path):
    from receiving.models import ReceivedInvoice

    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/")
    page.click(".object-tools >> text=Excel 导入")
    page.wait_for_selector("#excel-template")
    shots(page, "excel-page")
    bad = workbook(tmp_path / "bad.xlsx", [row("26332000000077770001"), row("26332000000077770002", total="9.99")])
    page.set_input_files("#id_file", bad)
    page.click("input[type=submit]")
    page.wait_for_selector("#excel-issues")
    shots(page, "excel-errors")
    issues = page.locator("#excel-issues tbody tr").all_inner_texts()
    assert issues and all("\t3\t" in r and "invoice.amounts" in r for r in issues)
    assert page.locator("#excel-errors-download").count() == 1
    assert not ReceivedInvoice.objects.filter(number__startswith="2633200000007777").exists()

    good = workbook(tmp_path / "good.xlsx", [row("26332000000077770001"), row("26332000000077770002")])
    page.set_input_files("#id_file", good)
    page.click("input[type=submit]")
    page.wait_for_selector("#fapiao-items tbody tr:nth-child(2)")
    shots(page, "excel-batch")
    rows = page.locator("#fapiao-items tbody tr").all_inner_texts()
    assert all("新建" in r for r in rows) and "26332000000077770002" in rows[1]


def test_the_download_button_fills_the_pool_and_the_list_shows_the_watermark(login, live_server, demo_world,
                                                                             shots):
    from receiving.models import Method, PlatformSync, ReceivedInvoice, Source
    from sandbox.demo import seed as seed_sandbox

    seed_sandbox()  # the platform accounts, and invoices from third-party sellers to each demo entity
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/")
    page.click(".object-tools >> text=平台下载")
    page.wait_for_selector("#fapiao-download-button")
    page.select_option("#id_download_taxpayer", label="云途出行")
    shots(page, "platform-list")
    page.click("#fapiao-download-button")
    page.wait_for_selector("#result_list")
    shots(page, "platform-downloaded")
    sync = PlatformSync.objects.get(taxpayer__credit_code=YUNTU)
    assert sync.last_ok and sync.synced_through is not None
    listed = page.locator("#result_list tbody tr").all_inner_texts()
    assert any(f"#{sync.last_collection_id}" in r for r in listed)
    assert Source.objects.filter(method=Method.PLATFORM, invoice__taxpayer__credit_code=YUNTU).count() >= 12
    page.click(f"text=#{sync.last_collection_id}")
    page.wait_for_selector("#fapiao-items tbody tr")
    shots(page, "platform-batch")
    assert ReceivedInvoice.objects.filter(taxpayer__credit_code=YUNTU, platform_status="normal").count() >= 12
