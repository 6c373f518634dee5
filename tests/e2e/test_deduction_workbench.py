"""The deduction workbench in the browser: finance opens 明远's period, selects two received 专票, applies for the
statistics, confirms, and reads 附列资料二 with the invoices behind line 2."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform_world(demo_world):
    from invoicing.models import Taxpayer
    from sandbox import demo as sandbox_demo
    from tests.receiving.platform_world import supplied_invoice

    sandbox_demo.seed()
    from tests.deduction.world import this_month_open

    supplier = Taxpayer.objects.get(credit_code="91440101MA5CYUN00U")
    buyer = Taxpayer.objects.get(credit_code="91440300MA5FM1NGYB")
    return buyer, this_month_open(buyer), [supplied_invoice(supplier, buyer) for _ in range(2)]


def test_finance_selects_confirms_and_reads_the_report(login, live_server, platform_world, shots):
    buyer, period, records = platform_world  # the invoices are issued today: this month's period takes them
    page = login("finance")
    page.goto(f"{live_server.url}/admin/deduction/taxperiod/")
    page.select_option("#fapiao-open-period select[name=taxpayer]", str(buyer.pk))
    page.fill("#fapiao-open-period input[name=period]", period)
    page.click("#fapiao-open-period button[type=submit]")
    page.wait_for_selector("#fapiao-workbench")
    for record in records:
        page.check(f"#fapiao-selectable input[value='{record.pk}']")
    shots(page, "selectable")
    page.click("button[form=fapiao-select]")
    page.wait_for_selector(".messagelist")
    assert "平台已接受 2 张" in page.inner_text(".messagelist")
    assert page.locator("#fapiao-totals").inner_text().count("数电专票") == 1
    page.click("button[form=fapiao-step-statistics_apply]")
    page.wait_for_load_state()
    shots(page, "statistics")
    assert "已申请统计" in page.inner_text(".messagelist")
    page.click("button[form=fapiao-step-confirm]")
    page.wait_for_selector(".messagelist")
    assert "已确认" in page.inner_text(".messagelist")
    shots(page, "confirmed")
    page.click("text=附列资料（二）")
    page.wait_for_selector("#fapiao-schedule2")
    shots(page, "report")
    row = page.locator("#fapiao-schedule2 tr", has=page.locator("td:text-is('2')")).first
    assert "180.00" in row.inner_text()
    row.locator("a").last.click()  # the tax figure: the invoices behind line 2, each linked to its record
    page.wait_for_selector("#fapiao-drilldown")
    shots(page, "line-2")
    drill = page.inner_text("#fapiao-drilldown")
    assert str(records[0].pk) in drill and str(records[1].pk) in drill and "90.00" in drill
