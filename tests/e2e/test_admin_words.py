"""Money, rates and words as finance and customer service see them in Debian's Chromium: amounts with separators,
right-aligned, the audit trail in words, an Excel export with number formats, English and back."""

from __future__ import annotations

import openpyxl
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_world(demo_world):
    """The demo's billing documents and applications too (as ``make run`` seeds them)."""
    from issuing.demo import seed

    seed()


def _cells(page, column_class: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#result_list td.{column_class}").all_inner_texts()]


def test_amounts_read_with_separators_and_reviewers_by_name(login, live_server, demo_world, shots):
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/")
    totals = _cells(page, "field-money_total")
    assert "12,720.00" in totals and "108.00" in totals and "12720.00" not in totals
    assert page.locator("#result_list td.field-money_total").first.evaluate(
        "e => getComputedStyle(e).textAlign") == "right"
    assert "李客服" in _cells(page, "field-person_reviewer") and "service" not in _cells(page, "field-person_reviewer")
    shots(page, "applications")
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/")
    assert "10,600.00" in _cells(page, "field-money_order_amount")
    shots(page, "billing-documents")
    page.goto(f"{live_server.url}/admin/invoicing/event/")
    actions = _cells(page, "field-action_display")
    assert "领取" in actions and "创建" in actions and "claim" not in actions and "create" not in actions
    assert "待审核" in _cells(page, "field-to_state_display")
    filters = page.inner_text("#changelist-filter")
    assert "Celery" not in filters and "周期任务" not in filters
    shots(page, "events")


def test_service_sees_names_and_no_framework_internals(login, live_server, demo_world, shots):
    page = login("service")
    home = page.inner_text("#content-main")
    assert "Celery" not in home and "周期任务" not in home and "任务结果" not in home
    shots(page, "home")
    page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/")
    assert "李客服" in _cells(page, "field-person_reviewer")
    shots(page, "applications")


def test_excel_export_has_number_formats(login, live_server, demo_world, shots, tmp_path):
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/")
    with page.expect_download() as info:
        page.locator("a", has_text="导出 Excel").click()
    path = tmp_path / "applications.xlsx"
    info.value.save_as(path)
    ws = openpyxl.load_workbook(path).worksheets[0]
    headers = [c.value for c in ws[1]]
    total = headers.index("价税合计") + 1
    values = {ws.cell(row=r, column=total).value: ws.cell(row=r, column=total).number_format
              for r in range(2, ws.max_row + 1)}
    assert 108 in values and values[108] == "#,##0.00"  # shows as 108.00 in Excel
    assert set(values.values()) == {"#,##0.00"}
    shots(page, "exported")


def test_switching_to_english_and_back(login, live_server, demo_world, shots):
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/")
    assert "价税合计" in page.inner_text("#result_list thead")
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    head = page.inner_text("#result_list thead")
    assert "total (tax included)" in head.lower() and "价税合计" not in head, head
    assert "12,720.00" in _cells(page, "field-money_total")
    shots(page, "english")
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")
    assert "价税合计" in page.inner_text("#result_list thead")
    shots(page, "chinese-again")
