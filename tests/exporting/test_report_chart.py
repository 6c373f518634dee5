"""The 发票汇总表 page's chart: the net amount and tax per month and rate from the rows the page already read, with
the same numbers in its table; scoped like the summary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from issuing.reports import summary

pytestmark = pytest.mark.django_db

YEAR = {"date_from": "2026-01-01", "date_to": "2026-12-31"}


def _chart(page) -> dict:
    (chart,) = page.context["charts"]
    return chart


def test_the_chart_adds_up_to_the_summary(client, invoices, fiona):
    client.force_login(fiona)
    page = client.get(reverse("issuing:reports"), YEAR)
    chart = _chart(page)
    totals = summary.summary_totals(page.context["summary"])
    by_name = {s["name"]: s["values"] for s in chart["series"]}
    assert sum((sum(v) for name, v in by_name.items() if name.endswith("金额")), Decimal(0)) == totals["net_amount"]
    assert sum((sum(v) for name, v in by_name.items() if name.endswith("税额")), Decimal(0)) == totals["net_tax"]
    html = page.content.decode()
    assert 'id="chart-summary_by_month"' in html and 'id="chart-summary_by_month-table"' in html
    assert "echarts.min.js" in html and 'id="fapiao-chart-data"' in html
    assert "2026-10" in chart["categories"]


def test_the_chart_is_of_the_users_entities(client, invoices, lily):
    client.force_login(lily)
    chart = _chart(client.get(reverse("issuing:reports"), YEAR))
    # mingyuan: 100.00 at 6% (issued on the factory's day) and 50.00 at 13% in November
    assert sorted(v for s in chart["series"] if s["name"].endswith("金额") for v in s["values"] if v) == [
        Decimal("50.00"), Decimal("100.00")]
