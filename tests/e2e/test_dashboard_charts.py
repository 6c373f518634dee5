"""The admin home's charts in Chromium: ECharts draws each chart (offline, from the vendored file), each chart's
table holds the same numbers and is shown by the toggle; finance_sz sees its own entity's numbers only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from invoicing.actors import SystemActor
from invoicing.dashboard import dashboard_charts
from invoicing.models import Taxpayer
from receiving import services
from tests.delivery.factories import make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ["issued_by_day", "tax_by_month", "received_by_source", "top_buyers", "top_sellers"]


SELLER = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")


def _invoices() -> None:
    """Each demo entity issues one invoice today and receives one (entered by hand), larger for each entity."""
    today = timezone.localdate()
    for n, entity in enumerate(Taxpayer.objects.order_by("pk"), start=1):
        make_invoice(entity, lines=n, issue_date=today)
        amount = Decimal(1000 * n)
        services.received_invoice_create_manual(
            taxpayer=entity, actor=SystemActor("test"), kind="82", number=f"2531200000012345{n:04d}", issue_date=today,
            seller_name=SELLER[0], seller_tax_id=SELLER[1], buyer_name=entity.name, buyer_tax_id=entity.credit_code,
            amount=amount, tax=amount * Decimal("0.06"), total=amount * Decimal("1.06"),
            lines=[{"item_name": "*信息技术服务*软件开发服务", "amount": amount, "tax_rate": "0.06",
                    "tax": amount * Decimal("0.06")}])


def _table(page, chart_id: str) -> list[list[str]]:
    rows = page.locator(f"#chart-{chart_id}-table tbody tr")
    return [[cell.strip() for cell in rows.nth(i).locator("th, td").all_inner_texts()] for i in range(rows.count())]


def _expected(chart: dict) -> list[list[str]]:
    if not chart["rows"]:
        return [["暂无数据"]]
    return [[str(v) for v in row] for row in chart["table"]]  # amounts as 2,078.90, counts as 18,592


def _total(chart: dict) -> Decimal:
    return sum((Decimal(str(v)) for row in chart["rows"] for v in row[1:]), Decimal(0))


@pytest.mark.parametrize("username", ["finance", "finance_sz"])
def test_the_charts_are_drawn_with_their_tables(demo_world, login, shots, live_server, username):
    _invoices()
    requests: list[str] = []
    page = login(username)
    page.on("request", lambda r: requests.append(r.url))
    page.reload()
    page.wait_for_selector(".fapiao-charts")
    for chart_id in CHARTS:
        page.wait_for_selector(f"#chart-{chart_id} .fapiao-chart-canvas canvas")
    shots(page, "charts")
    assert all(url.startswith(live_server.url) for url in requests), "the admin must work offline"
    user = User.objects.get(username=username)
    charts = {c["id"]: c for c in dashboard_charts(user)}
    assert list(charts) == CHARTS
    for chart_id in CHARTS:
        assert _table(page, chart_id) == _expected(charts[chart_id]), chart_id
    box = page.locator("#chart-received_by_source-tablebox")
    assert box.bounding_box()["width"] <= 1  # in the page (and read by screen readers), visually hidden
    page.locator("#chart-received_by_source .fapiao-chart-toggle").click()
    assert box.bounding_box()["width"] > 100 and page.locator("#chart-received_by_source-table").is_visible()
    assert not page.locator("#chart-received_by_source .fapiao-chart-canvas").is_visible()
    shots(page, "table-view")
    everyone = {c["id"]: c for c in dashboard_charts(User.objects.get(username="finance"))}
    if username == "finance_sz":
        assert _total(charts["received_by_source"]) < _total(everyone["received_by_source"])
        assert _total(charts["tax_by_month"]) < _total(everyone["tax_by_month"])


def test_the_invoice_summary_page_draws_its_chart(demo_world, login, shots, live_server):
    _invoices()
    page = login("finance")
    today = timezone.localdate()
    page.goto(f"{live_server.url}/issuing/reports/?date_from={today:%Y}-01-01&date_to={today.isoformat()}")
    page.wait_for_selector("#chart-summary_by_month .fapiao-chart-canvas canvas")
    assert page.locator("#chart-summary_by_month-table tbody tr").count() >= 1
    shots(page, "summary-chart")
