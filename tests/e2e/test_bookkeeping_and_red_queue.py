"""Bookkeeping and the red-letter queue in the browser: finance books two received invoices with a voucher in one
go, then meets the supplier's red-letter form in the queue with its countdown and confirms it; the pool record
shows what is left of the invoice and that the booking must be adjusted."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform_world(demo_world):
    from invoicing.models import Taxpayer
    from sandbox import demo as sandbox_demo
    from tests.receiving.platform_world import supplied_invoice

    sandbox_demo.seed()
    supplier = Taxpayer.objects.get(credit_code="91440101MA5CYUN00U")
    buyer = Taxpayer.objects.get(credit_code="91440300MA5FM1NGYB")
    return supplier, [supplied_invoice(supplier, buyer) for _ in range(2)]


def test_finance_books_in_bulk_then_confirms_the_suppliers_form_in_the_queue(login, live_server, platform_world,
                                                                             shots):
    from decimal import Decimal

    from invoicing.channels.base import RedFormLine, RedFormRequest
    from tests.receiving.platform_world import channel_of

    supplier, records = platform_world
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/")
    for record in records:
        page.check(f"input.action-select[value='{record.pk}']")
    page.select_option("select[name=action]", "book_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=确认入账")
    page.fill("#id_voucher_no", "记-2026-12-001")
    page.fill("#id_booked_on", "2026-12-06")
    page.fill("#id_account_code", "6602.01")
    page.fill("#id_cost_centre", "研发中心")
    shots(page, "voucher")
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist")
    shots(page, "booked")
    assert "已入账 2 张发票" in page.inner_text(".messagelist")
    assert page.locator(".fapiao-booking.booked").count() == 2

    channel_of(supplier).red_form_apply(RedFormRequest("HZ-E2E-1", records[0].number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal("-100.00"), tax=Decimal("-6.00")),)))
    page.goto(f"{live_server.url}/admin/receiving/receivedredform/")
    page.click("button.fapiao-pull")
    page.wait_for_selector(".messagelist")
    assert "新收到 1 张红字确认单" in page.inner_text(".messagelist")
    countdown = page.inner_text("#result_list .fapiao-countdown")
    assert "小时" in countdown
    shots(page, "queue")
    page.click("#result_list tbody tr:first-child th a")
    page.click("button.fapiao-confirm")
    page.wait_for_selector(".messagelist")
    shots(page, "confirmed")
    assert "04 购销双方已确认" in page.inner_text(".messagelist")
    page.click(f"text={records[0].number}")
    page.wait_for_selector("text=剩余可用金额")
    shots(page, "record")
    body = page.inner_text("#content")
    assert "部分红冲" in body and "1,484.00" in body and "记-2026-12-001" in body
