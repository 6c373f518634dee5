"""The admin's bookkeeping: bulk 入账 / 取消入账, the booked-in-period export, the red-letter queue with its
countdown and buttons, and the buyer's form by lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from invoicing import roles
from invoicing.channels.base import RedFormLine, RedFormRequest
from receiving import bookkeeping, redforms, services
from receiving.bookkeeping import Voucher
from receiving.models import PlatformStatus, ReceivedInvoice, ReceivedRedForm, UseState
from tests.factories import UserFactory
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

POOL = "admin:receiving_receivedinvoice_changelist"
QUEUE = "admin:receiving_receivedredform_changelist"
EXPORT = "admin:receiving_receivedinvoice_booked_export"


@pytest.fixture
def supplier(yuntu):
    return connect(yuntu)


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def two(supplier, entity, fiona):
    return [supplied_invoice(supplier, entity, actor=fiona) for _ in range(2)]


def book(record, voucher_no="记-7", booked_on=date(2026, 11, 30), **kw):
    return bookkeeping.received_invoice_book(record=record, voucher=Voucher(voucher_no, booked_on, **kw), actor=None,
                                             channel=channel_of(record.taxpayer))


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_bulk_booking_asks_for_the_voucher_then_books_through_the_platform(client, fiona, two):
    client.force_login(fiona)
    ids = [str(r.pk) for r in two]
    page = client.post(reverse(POOL), {"action": "book_selected", ACTION_CHECKBOX_NAME: ids})
    assert page.status_code == 200 and "凭证号" in page.content.decode()
    done = client.post(reverse(POOL), {"action": "book_selected", ACTION_CHECKBOX_NAME: ids, "apply": "1",
                                       "voucher_no": "记-2026-11-088", "booked_on": "2026-11-30",
                                       "account_code": "6602", "cost_centre": "销售部"}, follow=True)
    assert "已入账 2 张发票" in messages_of(done)
    assert set(ReceivedInvoice.objects.values_list("use_state", "voucher_no", "platform_booked")) == {
        (UseState.BOOKED, "记-2026-11-088", True)}
    again = client.post(reverse(POOL), {"action": "book_selected", ACTION_CHECKBOX_NAME: ids, "apply": "1",
                                        "voucher_no": "记-1", "booked_on": "2026-11-30"}, follow=True)
    assert any("2 张发票未能处理" in m for m in messages_of(again))
    undone = client.post(reverse(POOL), {"action": "unbook_selected", ACTION_CHECKBOX_NAME: ids}, follow=True)
    assert "已取消入账 2 张发票" in messages_of(undone)
    assert set(ReceivedInvoice.objects.values_list("use_state", flat=True)) == {UseState.IN_POOL}


def test_customer_service_gets_no_booking_action_and_no_export(client, two):
    clerk = UserFactory(username="cs", role=roles.CUSTOMER_SERVICE, entities=None)
    client.force_login(clerk)
    assert client.get(reverse(EXPORT)).status_code == 403
    assert client.get(reverse(QUEUE)).status_code == 403


def test_the_record_page_shows_the_voucher_and_the_pool_a_booking_column(client, fiona, two):
    book(two[0], account_code="6602.01", cost_centre="研发中心")
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[two[0].pk])).content.decode()
    assert "记-7" in page and "6602.01" in page and "研发中心" in page and "剩余可用金额" in page
    assert "发起红字确认单" in page  # booked: as the buyer we may raise a form
    listing = client.get(reverse(POOL)).content.decode()
    assert "已入账 记-7" in listing


def test_the_export_holds_what_was_booked_in_the_period_for_the_users_entities(client, fiona, two, supplier, entity):
    book(two[0], "记-11-1", date(2026, 11, 3), account_code="6602", cost_centre="销售部")
    book(two[1], "记-12-1", date(2026, 12, 1))  # outside the period
    # another entity's booked invoice (云途 received one too)
    theirs = services.received_invoice_create_manual(
        taxpayer=supplier, actor=None, kind="82", number="25440000000000000777", issue_date=date(2026, 11, 2),
        seller_name="某供应商", seller_tax_id="91440300MA5FM1NGYB", buyer_name=supplier.name,
        buyer_tax_id=supplier.credit_code, amount=Decimal("100.00"), tax=Decimal("6.00"), total=Decimal("106.00"))
    ReceivedInvoice.objects.filter(pk=theirs.pk).update(use_state=UseState.BOOKED, voucher_no="云-1",
                                                        booked_on=date(2026, 11, 5))
    client.force_login(fiona)
    period = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    response = client.get(reverse(EXPORT), period)
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    rows = list(load_workbook(BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    header = rows[0]
    assert {"凭证号", "入账日期", "会计科目", "成本中心", "报销单号", "剩余可用金额"} <= set(header)
    vouchers = sorted(r[header.index("凭证号")] for r in rows[1:])
    assert vouchers == ["云-1", "记-11-1"]
    mine = next(r for r in rows[1:] if r[header.index("凭证号")] == "记-11-1")
    assert (mine[header.index("会计科目")], mine[header.index("成本中心")]) == ("6602", "销售部")
    assert mine[header.index("价税合计")] == 1590 and mine[header.index("剩余可用金额")] == 1590

    lily = UserFactory(username="lily2", role=roles.FINANCE, entities=[entity])
    client.force_login(lily)
    rows = list(load_workbook(BytesIO(b"".join(client.get(reverse(EXPORT), period).streaming_content)))
                .active.iter_rows(values_only=True))
    assert [r[1] for r in rows[1:]] == ["记-11-1"]
    bad = client.get(reverse(EXPORT), {"date_from": "2026-12-01", "date_to": "2026-11-01"})
    assert bad.status_code == 200 and "开始日期不能晚于结束日期" in bad.content.decode()


def test_the_queue_shows_the_countdown_and_finance_confirms_with_the_button(client, fiona, two, supplier, entity):
    booked = book(two[0])
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-Q-1", booked.number, "04", lines=(
        RedFormLine(blue_line_no=1, amount=Decimal("-1000.00"), tax=Decimal("-60.00")),)))
    client.force_login(fiona)
    pulled = client.post(reverse("admin:receiving_receivedredform_pull"), follow=True)
    assert any("新收到 1 张红字确认单" in m for m in messages_of(pulled))
    page = client.get(reverse(QUEUE), {"queue": "mine"}).content.decode()
    assert "fapiao-countdown" in page and "小时" in page
    form = ReceivedRedForm.objects.get()
    detail = client.get(reverse("admin:receiving_receivedredform_change", args=[form.pk])).content.decode()
    assert "确认（同意红冲）" in detail
    client.post(reverse("admin:receiving_receivedredform_decide", args=[form.pk, "confirm"]))
    record = ReceivedInvoice.objects.get(pk=booked.pk)
    assert record.platform_status == PlatformStatus.RED_PARTIAL and record.red_attention
    assert record.remaining_total == Decimal("530.00")


def test_the_queue_runs_a_constant_number_of_queries(client, fiona, supplier, entity):
    client.force_login(fiona)

    def add(n):
        for _ in range(n):
            record = book(supplied_invoice(supplier, entity))
            channel_of(supplier).red_form_apply(RedFormRequest(f"HZ-{record.pk}", record.number, "02"))
        redforms.received_red_forms_pull(taxpayer=entity, channel=channel_of(entity))

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(QUEUE)).status_code == 200
        return len(ctx.captured_queries)

    add(1)
    few = count()
    add(4)
    assert count() == few


def test_the_buyer_raises_a_partial_form_by_picking_lines(client, fiona, two):
    booked = book(two[0])
    client.force_login(fiona)
    url = reverse("admin:receiving_receivedinvoice_red_form", args=[booked.pk])
    assert "软件开发服务" in client.get(url).content.decode()
    response = client.post(url, {"reason": "04", "full": "0", "line_2": "on", "amount_2": "120.00"})
    assert response.status_code == 302
    form = ReceivedRedForm.objects.get()
    assert form.status == "03" and [(x.blue_line_no, x.amount) for x in form.lines.all()] == [
        (2, Decimal("-120.00"))]
    unbooked = two[1]
    assert client.get(reverse("admin:receiving_receivedinvoice_red_form", args=[unbooked.pk])).status_code == 403
