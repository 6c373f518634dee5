"""The admin home's number cards: each counts the right rows of the user's entities, links to the filtered list
behind it, and the page runs the same number of queries at any data size."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deduction.models import PeriodState, TaxPeriod
from delivery.models import Delivery, DeliveryStatus
from invoicing.channels.models import ChannelToken
from invoicing.dashboard import Card, dashboard_cards, dashboard_charts
from invoicing.models import ChannelCall, Job
from issuing.applications.models import ApplicationStatus, InvoiceApplication, QuotaPeriod
from issuing.applications.selectors import quota_month
from issuing.redletter.models import RedLetterForm
from receiving.control_models import InvoiceCheck
from receiving.models import Collection, PlatformReconciliation, ReceivedRedForm
from receiving.stats import received_rollup
from tests.delivery.factories import make_invoice
from tests.issuing.factories import InvoiceApplicationFactory
from tests.receiving.controls import pool_invoice

pytestmark = pytest.mark.django_db

_serial = itertools.count(1)


def _cards(user) -> dict[str, Card]:
    return {str(card.title): card for card in dashboard_cards(user)}


def _by_prefix(cards: dict[str, Card], prefix: str) -> Card:
    (card,) = [c for title, c in cards.items() if title.startswith(prefix)]
    return card


def _add(entity, *, old_pending=1, failed=1) -> None:
    """One entity's share of the world; called again with the same counts it adds the same again."""
    now = timezone.now()
    n = next(_serial)
    InvoiceApplicationFactory(taxpayer=entity)  # pending, just now
    for _ in range(old_pending):
        old = InvoiceApplicationFactory(taxpayer=entity)
        InvoiceApplication.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=30))
    for _ in range(failed):
        InvoiceApplicationFactory(taxpayer=entity, status=ApplicationStatus.FAILED)
    InvoiceApplicationFactory(taxpayer=entity, status=ApplicationStatus.ISSUING, needs_attention=True)
    invoice = make_invoice(entity, issue_date=timezone.localdate())  # today: inside every chart's window
    RedLetterForm.objects.create(taxpayer=entity, blue_invoice=invoice, initiator="buyer", reason="01", status="03",
                                 request_no=f"R{entity.pk}-{n}-a", expires_at=now + timedelta(hours=5))
    RedLetterForm.objects.create(taxpayer=entity, blue_invoice=invoice, initiator="seller", reason="01", status="02",
                                 request_no=f"R{entity.pk}-{n}-b", expires_at=now + timedelta(hours=60))
    Delivery.objects.create(invoice=invoice, channel="email", target="a@example.com", status=DeliveryStatus.FAILED)
    bounced = Delivery.objects.create(invoice=invoice, channel="email", target="b@example.com",
                                      status=DeliveryStatus.BOUNCED)
    Delivery.objects.create(invoice=invoice, channel="email", target="b@example.com", status=DeliveryStatus.SENT,
                            resend_of=bounced)
    review = pool_invoice(entity, review_state="review")
    blocked = pool_invoice(entity)
    InvoiceCheck.objects.create(invoice=blocked, taxpayer=entity, rules_outcome="block")
    pending = pool_invoice(entity)
    InvoiceCheck.objects.create(invoice=pending, taxpayer=entity, verify_pending=True)
    received_rollup([review, blocked, pending])  # as the services do when they write a pool record
    ReceivedRedForm.objects.create(taxpayer=entity, invoice=review, initiator="seller", status="02", reason="01",
                                   request_no=f"RR{entity.pk}-{n}", expires_at=now + timedelta(hours=3))
    Collection.objects.create(taxpayer=entity, method="upload", status="failed")
    Collection.objects.create(taxpayer=entity, method="upload", status="done", rejected_count=2)
    Collection.objects.create(taxpayer=entity, method="upload", status="done")
    today = timezone.localdate()
    PlatformReconciliation.objects.create(taxpayer=entity, date_from=today, date_to=today, difference_count=4)
    ChannelCall.objects.create(taxpayer=entity, channel="sandbox", operation="issue", outcome="ok")
    ChannelCall.objects.create(taxpayer=entity, channel="sandbox", operation="issue", outcome="unavailable")
    for kind, status, in_error in (("import", "failed", 0), ("receiving_excel", "succeeded", 3),
                                   ("import", "succeeded", 0), ("export", "failed", 0)):
        Job.objects.create(pk=uuid.uuid4().hex, kind=kind, taxpayer=entity, status=status, rows_in_error=in_error)
    old = Job.objects.create(pk=uuid.uuid4().hex, kind="import", taxpayer=entity, status="failed")
    Job.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=8))


@pytest.fixture
def world(yuntu, mingyuan):
    _add(yuntu, old_pending=2, failed=1)
    _add(mingyuan, old_pending=1, failed=3)
    QuotaPeriod.objects.create(taxpayer=yuntu, month=quota_month(), total=Decimal("1000.00"), used=Decimal("900.00"))
    QuotaPeriod.objects.create(taxpayer=mingyuan, month=quota_month(), total=Decimal("1000.00"),
                               used=Decimal("100.00"))
    ChannelToken.objects.create(taxpayer=mingyuan, channel="nuonuo", last_error="凭据被拒绝")
    return yuntu, mingyuan


def test_finance_of_every_entity_sees_each_card_count_both(world, fiona):
    cards = _cards(fiona)
    # 1 + 2 and 1 + 1, and each entity's application behind its invoice; none of the failed or issuing ones
    assert cards["待审核申请"].value == "7"
    assert cards["待审核超时"].value == "3"
    assert cards["待审核超时"].tone == "warn"
    assert cards["开票需人工处理"].value == "2"
    assert cards["开票失败"].value == "4"
    assert cards["开票失败"].tone == "bad"
    assert cards["红字确认单24小时内到期（销项）"].value == "2"
    assert cards["红字确认单24小时内到期（进项）"].value == "2"
    assert cards["授信额度已用超过80%"].value == "1"
    assert "云途" in str(cards["授信额度已用超过80%"].help)
    assert cards["交付失败"].value == "2"  # the bounced one was resent
    assert cards["收票待复核"].value == "2"
    assert cards["收票被规则阻止"].value == "2"
    assert cards["查验待完成"].value == "2"
    assert cards["采集失败或有拒收"].value == "4"
    assert cards["未与平台对上的发票"].value == "8"
    assert cards["导入/采集任务失败或有错误行"].value == "4"  # not the export, the succeeded import or the old one
    assert cards["导入/采集任务失败或有错误行"].tone == "bad"
    channel = cards["通道近1小时不可用比例"]
    assert channel.value == "50%"
    assert channel.tone == "bad"  # a refused token
    assert "1 个主体" in str(channel.help)
    assert channel.url == ""  # finance does not read the integration log
    period = _by_prefix(cards, "所属期")
    assert "0/2" in str(period.help)


def test_only_the_latest_reconciliation_of_an_entity_counts(world, fiona):
    yuntu, _mingyuan = world
    today = timezone.localdate()
    PlatformReconciliation.objects.create(taxpayer=yuntu, date_from=today, date_to=today, difference_count=1)
    assert _cards(fiona)["未与平台对上的发票"].value == "5"


def test_a_confirmed_period_counts_in_the_deadline_card(world, fiona):
    yuntu, _mingyuan = world
    period_card = _by_prefix(_cards(fiona), "所属期")
    period = str(period_card.title).split()[1]
    TaxPeriod.objects.create(taxpayer=yuntu, period=period, state=PeriodState.CONFIRMED)
    assert "1/2" in str(_by_prefix(_cards(fiona), "所属期").help)


def test_finance_of_one_entity_sees_only_its_numbers(world, lily):
    cards = _cards(lily)
    assert cards["待审核申请"].value == "3"
    assert cards["待审核超时"].value == "1"
    assert cards["开票失败"].value == "3"
    assert cards["开票需人工处理"].value == "1"
    assert cards["红字确认单24小时内到期（销项）"].value == "1"
    assert cards["授信额度已用超过80%"].value == "0"
    assert cards["交付失败"].value == "1"
    assert cards["收票待复核"].value == "1"
    assert cards["未与平台对上的发票"].value == "4"
    assert cards["导入/采集任务失败或有错误行"].value == "2"
    assert cards["通道近1小时不可用比例"].value == "50%"
    assert "1/1" not in str(_by_prefix(cards, "所属期").help)
    assert "0/1" in str(_by_prefix(cards, "所属期").help)


def test_customer_service_sees_its_queue_and_deliveries_only(world, sam):
    assert set(_cards(sam)) == {"待审核申请", "待审核超时", "交付失败"}


def test_the_administrator_gets_the_integration_log_link(world, ada):
    assert _cards(ada)["通道近1小时不可用比例"].url == "/admin/invoicing/channelcall/"


def test_each_link_opens_its_filtered_list(world, client, fiona, ada):
    client.force_login(ada)
    for card in dashboard_cards(ada):
        response = client.get(card.url)
        assert response.status_code == 200, (card.title, card.url)
        assert "?e=1" not in response.get("Location", ""), card.url
    response = client.get(_cards(ada)["开票失败"].url)
    assert response.context["cl"].result_count == 4
    response = client.get(_cards(ada)["待审核超时"].url)
    assert response.context["cl"].result_count == 3
    response = client.get(_cards(ada)["交付失败"].url)
    assert response.context["cl"].result_count == 2  # not the bounced ones that were resent
    response = client.get(_cards(ada)["红字确认单24小时内到期（进项）"].url)
    assert response.context["cl"].result_count == 2
    response = client.get(_cards(ada)["导入/采集任务失败或有错误行"].url)
    assert response.context["cl"].result_count == 6  # the list has no 7-day bound: the old failed imports too


def test_the_home_page_shows_the_cards_above_the_apps(world, client, lily, sam):
    client.force_login(lily)
    page = client.get("/admin/").content.decode()
    assert "fapiao-dashboard" in page
    assert page.index("fapiao-dashboard") < page.index('id="content-main"') or "app-list" in page
    client.force_login(sam)
    page = client.get("/admin/").content.decode()
    assert "待审核超时" in page
    assert "开票失败" not in page


def _home_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def test_the_page_runs_the_same_queries_at_any_size(world, client, lily):
    yuntu, mingyuan = world
    client.force_login(lily)
    _home_queries(client)  # warm caches that are not per request (content types, the session)
    few = _home_queries(client)
    for _ in range(10):
        _add(yuntu)
        _add(mingyuan, failed=2)
    many = _home_queries(client)
    assert many == few
    assert _cards(lily)["开票失败"].value == str(3 + 10 * 2)
    charts = {c["id"]: c for c in dashboard_charts(lily)}
    assert sum(charts["received_by_source"]["series"][0]["values"]) == 3 * 11  # lily's entity only
    page = client.get("/admin/").content.decode()
    assert page.count('class="fapiao-chart"') == 5 and page.count('class="fapiao-chart-table"') == 5


def _chart(charts: list[dict], chart_id: str) -> dict:
    (chart,) = [c for c in charts if c["id"] == chart_id]
    return chart


def test_the_charts_add_up_the_rollups_of_the_users_entities(world, fiona, lily, sam):
    yuntu, mingyuan = world
    everyone, own = dashboard_charts(fiona), dashboard_charts(lily)
    assert [c["id"] for c in everyone] == ["issued_by_day", "tax_by_month", "received_by_source", "top_buyers",
                                           "top_sellers"]
    today = timezone.localdate().isoformat()
    issued = _chart(everyone, "issued_by_day")
    assert issued["categories"][-1] == today and len(issued["categories"]) == 30
    # make_invoice: two 6% lines, 1000.00 and 2000.00 (tax 180.00), per entity, today
    assert {s["name"]: s["values"][-1] for s in issued["series"]} == {"6% 金额": Decimal("6000.00"),
                                                                     "6% 税额": Decimal("360.00")}
    assert {s["name"]: s["values"][-1] for s in _chart(own, "issued_by_day")["series"]} == {
        "6% 金额": Decimal("3000.00"), "6% 税额": Decimal("180.00")}
    tax = _chart(everyone, "tax_by_month")
    assert [s["name"] for s in tax["series"]] == ["销项税额", "进项税额"]
    month = timezone.localdate().strftime("%Y-%m")
    assert len(tax["categories"]) == 12
    row = dict(zip(tax["categories"], tax["rows"], strict=True))
    pool_month = (timezone.localdate() - timedelta(days=3)).strftime("%Y-%m")
    assert row[month][1] == Decimal("360.00")
    assert row[pool_month][2] >= Decimal("360.00")  # three pool invoices of 60.00 tax per entity
    assert _chart(own, "received_by_source")["rows"] == [["XML", 3]]
    assert _chart(everyone, "received_by_source")["rows"] == [["XML", 6]]
    buyers = _chart(everyone, "top_buyers")  # the same buyer on both entities' invoices
    assert buyers["rows"] == [["上海白鹭文化传媒有限公司", Decimal("6000.00"), Decimal("360.00")]]
    assert _chart(own, "top_buyers")["rows"] == [["上海白鹭文化传媒有限公司", Decimal("3000.00"), Decimal("180.00")]]
    sellers = _chart(own, "top_sellers")
    assert sellers["rows"] == [[sellers["categories"][0], Decimal("3000.00"), Decimal("180.00")]]
    assert dashboard_charts(sam) == []  # customer service gets the cards of its queue only


def test_the_chart_tables_show_money_with_separators_and_counts_as_whole_numbers(world, client, fiona):
    client.force_login(fiona)
    page = client.get("/admin/").content.decode()
    # make_invoice: 1000.00 + 2000.00 at 6%, tax 180.00, per entity; both entities bill the same buyer
    assert '<th scope="row">上海白鹭文化传媒有限公司</th><td>6,000.00</td><td>360.00</td>' in page
    assert '<th scope="row">XML</th><td>6</td>' in page  # invoices received: a count, no decimals
    table = page.split('id="chart-issued_by_day-table"')[1].split("</table>")[0]
    assert "<td>0.00</td>" in table and "<td>0</td>" not in table  # a day without invoices: no amount, 0.00


def test_the_home_page_carries_each_chart_with_its_table_and_translated_labels(world, client, lily):
    client.force_login(lily)
    page = client.get("/admin/").content.decode()
    assert 'id="fapiao-chart-data"' in page and "echarts.min.js" in page
    assert "<caption>近12个月销项税额与进项税额</caption>" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Output tax and input tax, last 12 months" in page
