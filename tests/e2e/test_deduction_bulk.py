"""Bulk 勾选 by filter in the browser: finance opens 云途's period, starts a bulk selection of its 数电专票 (a ticket of
another kind stays out), the job page reaches the end with the platform's counts, the per-invoice result workbook
names each invoice's outcome and the platform's reason, and 明远's own finance user cannot open the job."""

from __future__ import annotations

import re
from decimal import Decimal

import openpyxl
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"
MINGYUAN = "91440300MA5FM1NGYB"


@pytest.fixture
def bulk_world(demo_world):
    """云途 buys from 明远: three 数电专票 in its pool (one already selected for last month on the platform, not
    through this system) and a railway ticket, all selectable in this month's period (the current one) as far as
    this system knows."""
    from django.contrib.auth.models import User

    from deduction.periods import period_before
    from invoicing.channels.base import DeductionItem, DeductionSelectRequest
    from invoicing.models import Taxpayer
    from sandbox import demo as sandbox_demo
    from tests.deduction.world import this_month_open
    from tests.receiving.controls import pool_invoice
    from tests.receiving.platform_world import channel_of, supplied_invoice

    sandbox_demo.seed()
    yuntu = Taxpayer.objects.get(credit_code=YUNTU)
    mingyuan = Taxpayer.objects.get(credit_code=MINGYUAN)
    period = this_month_open(yuntu)  # the invoices are issued today
    finance = User.objects.get(username="finance")
    specials = [supplied_invoice(mingyuan, yuntu, actor=finance, amounts=(amount,))
                for amount in ("1000.00", "2000.00", "400.00")]
    # selected for last month on the tax bureau's own site, outside this system
    done = channel_of(yuntu).deduction_select(DeductionSelectRequest(
        period=period_before(period), items=(DeductionItem(number=specials[1].number),)))
    assert done.accepted == (specials[1].number,)
    ticket = pool_invoice(yuntu, kind="51", amount="500.00", tax="41.28", passenger_name="王会计",
                          seller=("中国铁路广州局集团有限公司", "91440000190352575W"), lines=())
    return yuntu, period, specials, ticket


def _xlsx_rows(path) -> list[tuple]:
    return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))


def test_finance_bulk_selects_by_kind_and_another_entity_cannot_see_the_job(login, live_server, bulk_world, shots,
                                                                            tmp_path, monkeypatch):
    from deduction import tasks
    from deduction.periods import period_before

    yuntu, period, (a, b, c), ticket = bulk_world
    earlier = period_before(period)  # where the platform holds b
    page = login("finance")
    page.goto(f"{live_server.url}/admin/deduction/taxperiod/")
    page.select_option("#fapiao-open-period select[name=taxpayer]", str(yuntu.pk))
    page.fill("#fapiao-open-period input[name=period]", period)
    page.click("#fapiao-open-period button[type=submit]")
    page.wait_for_selector("#fapiao-bulk")
    workbench_url = page.url
    selectable = page.inner_text("#fapiao-selectable")
    for invoice in (a, b, c, ticket):
        assert invoice.number in selectable
    shots(page, "workbench")

    # The job is queued, not run (a worker takes it below): the page shows it waiting, then polls it to the end.
    queued = []
    monkeypatch.setattr(tasks.bulk_select_task, "delay", queued.append)
    page.select_option("#fapiao-bulk select[name=kind]", "81")
    page.select_option("#fapiao-bulk select[name=purpose]", "1")
    page.click("#fapiao-bulk button[type=submit]")
    page.wait_for_selector("#job-status")
    assert "已开始批量勾选 3 张发票" in page.inner_text(".messagelist")
    job_url = page.url
    assert re.search(r"/admin/deduction/taxperiod/bulk/[0-9a-f]{32}/$", job_url), job_url
    assert (page.inner_text("#job-status"), page.inner_text("#job-count")) == ("排队中", "0/3")
    assert page.get_attribute(".fapiao-progress", "aria-valuenow") == "0"
    assert not page.locator("#job-links a:visible").count()  # the link is there, hidden until the job names its file
    shots(page, "job-queued")
    [job_id] = queued
    assert job_id in job_url
    tasks.bulk_select_task(job_id)  # what the worker does with the message
    page.wait_for_function("() => document.getElementById('job-status').textContent.includes('已完成')")
    assert page.inner_text("#job-count") == "3/3"
    assert page.inner_text("#job-message") == "已接受 2 张，拒绝 1 张，待平台确认 0 张"
    assert page.get_attribute("#job-bar", "style").replace(" ", "") == "width:100%;"
    assert page.get_attribute(".fapiao-progress", "aria-valuenow") == "100"  # for a screen reader too
    status = page.request.get(f"{job_url}status/").json()
    assert (status["done"], status["result"]) == (True, {"accepted": 2, "refused": 1, "pending": 0})
    shots(page, "job-done")

    with page.expect_download() as info:
        page.locator("#job-links a", has_text="下载勾选结果").click()
    assert info.value.suggested_filename == f"bulk-selection-{period}.xlsx"
    result = tmp_path / "result.xlsx"
    info.value.save_as(result)
    header, *body = _xlsx_rows(result)
    assert header == ("发票 ID", "发票号码", "票种", "销方名称", "销方税号", "开票日期", "金额", "税额", "结果",
                      "平台代码", "原因")
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    assert sorted(rows) == sorted([a.pk, b.pk, c.pk])  # the ticket is not a 数电专票
    for invoice in (a, b, c):
        row = rows[invoice.pk]
        assert (row["发票号码"], row["票种"], row["销方税号"]) == (invoice.number, "81", MINGYUAN)
        assert row["销方名称"] == "深圳明远信息技术有限公司"
        # the workbook holds numbers (#,##0.00): read back exactly, as Decimal
        assert (Decimal(str(row["金额"])), Decimal(str(row["税额"]))) == (invoice.amount, invoice.tax)
    assert rows[a.pk]["结果"] == rows[c.pk]["结果"] == "已接受"
    assert (rows[b.pk]["结果"], rows[b.pk]["平台代码"]) == ("已拒绝", "3504")
    assert earlier in rows[b.pk]["原因"]

    # Back on the workbench: two selected, one refused by the platform (still selectable, as is the ticket).
    page.click("text=返回抵扣工作台")
    page.wait_for_selector("#fapiao-workbench")
    assert page.url == workbench_url
    def selected_row(invoice):
        return page.locator("#fapiao-selected tr", has_text=invoice.number).inner_text().split("\t")[1:]

    assert selected_row(a) == [a.number, "抵扣", "60.00", "已勾选", "勾选成功"]
    assert selected_row(c) == [c.number, "抵扣", "24.00", "已勾选", "勾选成功"]
    assert selected_row(b) == [b.number, "抵扣", "120.00", "平台拒绝", f"发票已于{earlier}勾选"]
    selectable = page.inner_text("#fapiao-selectable")
    assert b.number in selectable and ticket.number in selectable and a.number not in selectable
    totals = page.inner_text("#fapiao-totals")
    assert "数电专票" in totals and "\t2\t1,400.00\t84.00" in totals, totals
    shots(page, "workbench-after")

    # 明远's finance user sees nothing of 云途's job: not the page, its status or its file.
    other = login("finance_sz")
    for url in (job_url, f"{job_url}status/", f"{job_url}result.xlsx"):
        response = other.goto(url)
        assert response is not None and response.status == 404, (url, response and response.status)
    shots(other, "other-entity-404")
