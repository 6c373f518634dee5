"""The receiving statistics in the browser: finance reads 收票统计 by month after invoices came into both entities'
pools, switches to suppliers and kinds, narrows to one entity and exports the Excel; 报销统计 by claimant and
department (a rejected claim left out, the paid part shown); 明远's own finance user sees only 明远's figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = ("广州云途出行科技有限公司", "91440101MA5CYUN00U")
MINGYUAN = ("深圳明远信息技术有限公司", "91440300MA5FM1NGYB")
CHANGCHENG = ("北京长城办公用品有限公司", "91110105MA00CHCG1X")
_numbers = iter(range(1, 100))


def _received(buyer, seller, *, kind, day, amount, rate):
    from receiving import services

    amount, rate = Decimal(amount), Decimal(rate)
    tax = (amount * rate).quantize(Decimal("0.01"))
    return services.received_invoice_create_manual(
        taxpayer=buyer, actor=None, kind=kind, number=f"25442000000000{next(_numbers):06d}", issue_date=day,
        seller_name=seller[0], seller_tax_id=seller[1], buyer_name=buyer.name, buyer_tax_id=buyer.credit_code,
        amount=amount, tax=tax, total=amount + tax,
        lines=[{"item_name": "*信息技术服务*软件开发服务", "amount": amount, "tax_rate": rate, "tax": tax}])


@pytest.fixture
def stats_world(demo_world, monkeypatch, settings):
    """明远's pool: two 数电专票 from 云途 (October, November) and a 数电普票 from 长城 (November); 云途's pool: a 数电普票
    from 明远 (November), all of 2025. Claims: 明远's 林小华 (市场部) paid, 林小华 rejected, 周杰 (研发部) submitted;
    云途's 赵敏 (财务部) submitted."""
    from invoicing.models import Taxpayer
    from receiving import claims, verification
    from receiving.claims import LineInput
    from tests.receiving.controls import FakeVerifier

    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: FakeVerifier())
    yuntu = Taxpayer.objects.get(credit_code=YUNTU[1])
    mingyuan = Taxpayer.objects.get(credit_code=MINGYUAN[1])
    m1 = _received(mingyuan, YUNTU, kind="81", day=dt.date(2025, 10, 15), amount="1000.00", rate="0.06")
    m2 = _received(mingyuan, YUNTU, kind="81", day=dt.date(2025, 11, 3), amount="2000.00", rate="0.06")
    m3 = _received(mingyuan, CHANGCHENG, kind="82", day=dt.date(2025, 11, 20), amount="400.00", rate="0.13")
    y1 = _received(yuntu, MINGYUAN, kind="82", day=dt.date(2025, 11, 10), amount="300.00", rate="0.06")

    def submitted(entity, name, department, lines):
        claim = claims.claim_create(taxpayer=entity, claimant_name=name, department=department, actor=None,
                                    lines=[LineInput(invoice=i, amount=Decimal(a) if a else None) for i, a in lines])
        return claims.claim_submit(claim=claim, actor=None)

    paid = submitted(mingyuan, "林小华", "市场部", [(m1, "800.00"), (m3, None)])
    claims.claim_approve(claim=paid, actor=None)
    claims.claim_mark_paid(claim=paid, actor=None)
    claims.claim_reject(claim=submitted(mingyuan, "林小华", "市场部", [(m2, None)]), reason="重复报销", actor=None)
    submitted(mingyuan, "周杰", "研发部", [(m2, "1000.00")])
    submitted(yuntu, "赵敏", "财务部", [(y1, None)])
    return yuntu, mingyuan


def _table(page) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """The statistics table: {(entity, grouping): [the figures]} and the total row's figures."""
    rows = {}
    for tr in page.locator(".fapiao-statistics-table tbody tr").all():
        cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
        rows[(cells[0], cells[1])] = cells[2:]
    total = [c.strip() for c in page.locator(".fapiao-statistics-table tfoot th").all_inner_texts()]
    return rows, total


def _query(page, *, month_from="", month_to="", taxpayer=None):
    if month_from:
        page.fill(".fapiao-filters input[name=month_from]", month_from)
    if month_to:
        page.fill(".fapiao-filters input[name=month_to]", month_to)
    if taxpayer is not None:
        page.select_option(".fapiao-filters select[name=taxpayer]", taxpayer)
    page.click(".fapiao-filters button[type=submit]")
    page.wait_for_load_state()


def _download(page, tmp_path, name) -> list[tuple]:
    with page.expect_download() as info:
        page.locator(".fapiao-filters a", has_text="导出 Excel").click()
    path = tmp_path / name
    info.value.save_as(path)
    return [tuple(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


def test_finance_reads_regroups_and_exports_the_receiving_statistics(login, live_server, stats_world, shots,
                                                                      tmp_path):
    yuntu, mingyuan = stats_world
    page = login("finance")
    page.goto(f"{live_server.url}/receiving/statistics/")
    # this year so far by default: the 2025 invoices are not in it
    assert page.input_value(".fapiao-filters input[name=month_from]") == f"{timezone.localdate():%Y}-01"
    assert page.inner_text(".fapiao-statistics-table tbody").strip() == "暂无数据"
    _query(page, month_from="2025-01", month_to="2025-12")
    rows, total = _table(page)
    assert rows == {(YUNTU[0], "2025-11"): ["1", "300.00", "18.00"],
                    (MINGYUAN[0], "2025-10"): ["1", "1,000.00", "60.00"],
                    (MINGYUAN[0], "2025-11"): ["2", "2,400.00", "172.00"]}, rows
    assert total == ["合计", "", "4", "3,700.00", "250.00"]
    assert page.inner_text(".fapiao-statistics-by strong") == "按月份"
    shots(page, "by-month")

    page.locator(".fapiao-statistics-by a", has_text="按销售方").click()
    page.wait_for_load_state()
    assert page.inner_text(".fapiao-statistics-by strong") == "按销售方"
    rows, total = _table(page)
    assert rows == {(YUNTU[0], MINGYUAN[0]): ["1", "300.00", "18.00"],
                    (MINGYUAN[0], YUNTU[0]): ["2", "3,000.00", "180.00"],
                    (MINGYUAN[0], CHANGCHENG[0]): ["1", "400.00", "52.00"]}, rows
    assert total == ["合计", "", "4", "3,700.00", "250.00"]
    shots(page, "by-seller")

    page.locator(".fapiao-statistics-by a", has_text="按票种").click()
    page.wait_for_load_state()
    rows, _total = _table(page)
    assert rows == {(YUNTU[0], "数电普票"): ["1", "300.00", "18.00"],
                    (MINGYUAN[0], "数电专票"): ["2", "3,000.00", "180.00"],
                    (MINGYUAN[0], "数电普票"): ["1", "400.00", "52.00"]}, rows

    # one entity, by supplier, November only: the page and its Excel agree
    page.locator(".fapiao-statistics-by a", has_text="按销售方").click()
    page.wait_for_load_state()
    _query(page, month_from="2025-11", month_to="2025-11", taxpayer=str(mingyuan.pk))
    assert page.inner_text(".fapiao-statistics-by strong") == "按销售方"
    rows, total = _table(page)
    assert rows == {(MINGYUAN[0], YUNTU[0]): ["1", "2,000.00", "120.00"],
                    (MINGYUAN[0], CHANGCHENG[0]): ["1", "400.00", "52.00"]}, rows
    assert total == ["合计", "", "2", "2,400.00", "172.00"]
    shots(page, "mingyuan-november")
    sheet = _download(page, tmp_path, "received.xlsx")
    assert sheet[0] == ("主体", "销售方", "张数", "金额", "税额")
    assert sorted(sheet[1:-1]) == sorted([(MINGYUAN[0], YUNTU[0], 1, 2000, 120), (MINGYUAN[0], CHANGCHENG[0], 1, 400, 52)])
    assert sheet[-1] == ("合计", None, 2, 2400, 172)


def test_finance_reads_the_claim_statistics_by_claimant_and_department(login, live_server, stats_world, shots,
                                                                       tmp_path):
    page = login("finance")
    page.goto(f"{live_server.url}/receiving/claim-statistics/")
    assert page.inner_text(".fapiao-statistics-by strong") == "按报销人"
    rows, total = _table(page)
    # the rejected claim of 林小华 is left out; his paid claim shows in the last column
    assert rows == {(YUNTU[0], "赵敏"): ["1", "1", "318.00", "0.00"],
                    (MINGYUAN[0], "林小华"): ["1", "2", "1,252.00", "1,252.00"],
                    (MINGYUAN[0], "周杰"): ["1", "1", "1,000.00", "0.00"]}, rows
    assert total == ["合计", "", "3", "4", "2,570.00", "1,252.00"]
    shots(page, "claims-by-claimant")

    page.locator(".fapiao-statistics-by a", has_text="按部门").click()
    page.wait_for_load_state()
    rows, _total = _table(page)
    assert rows == {(YUNTU[0], "财务部"): ["1", "1", "318.00", "0.00"],
                    (MINGYUAN[0], "市场部"): ["1", "2", "1,252.00", "1,252.00"],
                    (MINGYUAN[0], "研发部"): ["1", "1", "1,000.00", "0.00"]}, rows
    page.locator(".fapiao-statistics-by a", has_text="按票据类型").click()
    page.wait_for_load_state()
    rows, _total = _table(page)
    assert rows == {(YUNTU[0], "数电普票"): ["1", "1", "318.00", "0.00"],
                    (MINGYUAN[0], "数电专票"): ["2", "2", "1,800.00", "800.00"],
                    (MINGYUAN[0], "数电普票"): ["1", "1", "452.00", "452.00"]}, rows
    shots(page, "claims-by-kind")
    sheet = _download(page, tmp_path, "claims.xlsx")
    assert sheet[0] == ("主体", "票据类型", "报销单数", "发票张数", "报销金额", "其中已付款")
    assert sorted(sheet[1:-1]) == sorted([(YUNTU[0], "数电普票", 1, 1, 318, 0), (MINGYUAN[0], "数电专票", 2, 2, 1800, 800),
                                          (MINGYUAN[0], "数电普票", 1, 1, 452, 452)])
    assert sheet[-1] == ("合计", None, 4, 4, 2570, 1252)


def test_a_user_of_one_entity_sees_only_its_figures(login, live_server, stats_world, shots, tmp_path):
    yuntu, mingyuan = stats_world
    page = login("finance_sz")
    page.goto(f"{live_server.url}/receiving/statistics/?month_from=2025-01&month_to=2025-12&by=seller")
    options = page.locator(".fapiao-filters select[name=taxpayer] option").all_inner_texts()
    assert not any("云途" in o for o in options) and any("明远" in o for o in options), options
    rows, total = _table(page)
    assert rows == {(MINGYUAN[0], YUNTU[0]): ["2", "3,000.00", "180.00"],
                    (MINGYUAN[0], CHANGCHENG[0]): ["1", "400.00", "52.00"]}, rows
    assert total == ["合计", "", "3", "3,400.00", "232.00"]
    shots(page, "received-mingyuan-only")
    sheet = _download(page, tmp_path, "received.xlsx")
    assert {r[0] for r in sheet[1:-1]} == {MINGYUAN[0]} and sheet[-1] == ("合计", None, 3, 3400, 232)
    # asking for 云途 by its id gives nothing of 云途
    page.goto(f"{live_server.url}/receiving/statistics/?month_from=2025-01&month_to=2025-12&by=seller"
              f"&taxpayer={yuntu.pk}")
    rows, total = _table(page)
    assert {entity for entity, _seller in rows} == {MINGYUAN[0]} and total[2] == "3", (rows, total)

    page.goto(f"{live_server.url}/receiving/claim-statistics/")
    rows, total = _table(page)
    assert rows == {(MINGYUAN[0], "林小华"): ["1", "2", "1,252.00", "1,252.00"],
                    (MINGYUAN[0], "周杰"): ["1", "1", "1,000.00", "0.00"]}, rows
    assert total == ["合计", "", "2", "3", "2,252.00", "1,252.00"]
    shots(page, "claims-mingyuan-only")
