"""发票汇总表 ties out: blue + red = net, equal to a plain Python sum over invoices; scoped; one query."""

from collections import defaultdict
from decimal import Decimal

import pytest

from invoicing.scoping import allowed_taxpayer_ids
from issuing.platform.models import InvoiceLine, InvoiceStatus
from issuing.reports import summary

pytestmark = pytest.mark.django_db


def python_summary(taxpayer_ids=None):
    acc = defaultdict(lambda: {"blue": set(), "red": set(), "ba": Decimal(0), "bt": Decimal(0), "ra": Decimal(0),
                               "rt": Decimal(0)})
    for ln in InvoiceLine.objects.select_related("invoice"):
        inv = ln.invoice
        if inv.status == InvoiceStatus.VOIDED or (taxpayer_ids is not None and inv.taxpayer_id not in taxpayer_ids):
            continue
        a = acc[(inv.taxpayer_id, inv.issue_date.strftime("%Y-%m"), ln.tax_rate.normalize())]
        side = "red" if inv.is_red else "blue"
        a[side].add(inv.pk)
        a["ra" if inv.is_red else "ba"] += ln.amount
        a["rt" if inv.is_red else "bt"] += ln.tax
    return {k: (len(v["blue"]), v["ba"], v["bt"], len(v["red"]), v["ra"], v["rt"]) for k, v in acc.items()}


def test_the_summary_ties_out_to_the_invoices(invoices, fiona):
    rows = summary.summary_rows(fiona)
    got = {(r["taxpayer_id"], r["period"], r["rate"].normalize()):
           (r["blue_count"], r["blue_amount"], r["blue_tax"], r["red_count"], r["red_amount"], r["red_tax"])
           for r in rows}
    assert got == python_summary()
    for r in rows:
        assert r["net_amount"] == r["blue_amount"] + r["red_amount"]
        assert r["net_tax"] == r["blue_tax"] + r["red_tax"]
        assert r["net_total"] == r["net_amount"] + r["net_tax"]
        assert r["net_count"] == r["blue_count"] + r["red_count"]
    oct_6 = next(r for r in rows if r["period"] == "2026-10" and r["rate"] == Decimal("0.06")
                 and r["taxpayer_id"] == invoices.taxpayer_id)
    assert (oct_6["blue_count"], oct_6["blue_amount"], oct_6["red_count"], oct_6["red_amount"]) == (
        2, Decimal("1500.00"), 1, Decimal("-1000.00"))
    assert oct_6["net_amount"] == Decimal("500.00") and oct_6["net_tax"] == Decimal("30.00")
    totals = summary.summary_totals(rows)
    assert totals["net_amount"] == totals["blue_amount"] + totals["red_amount"]


def test_the_summary_is_one_query(invoices, fiona):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    allowed_taxpayer_ids(fiona)  # the user's scope is read once per request
    with CaptureQueriesContext(connection) as queries:
        summary.summary_rows(fiona)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "GROUP BY" in selects[0]


def test_lily_sees_only_mingyuan(invoices, lily, mingyuan):
    rows = summary.summary_rows(lily)
    assert {r["taxpayer_id"] for r in rows} == {mingyuan.pk}
    got = {(r["taxpayer_id"], r["period"], r["rate"].normalize()):
           (r["blue_count"], r["blue_amount"], r["blue_tax"], r["red_count"], r["red_amount"], r["red_tax"])
           for r in rows}
    assert got == python_summary({mingyuan.pk})
    spec, qs = summary.detail_queryset(lily)
    assert set(qs.values_list("invoice__taxpayer_id", flat=True)) == {mingyuan.pk}


def test_filters_by_entity_and_date(invoices, fiona, yuntu):
    import datetime as dt

    rows = summary.summary_rows(fiona, summary.ReportFilters(taxpayer_ids=(yuntu.pk,),
                                                             date_from=dt.date(2026, 11, 1)))
    assert [(r["period"], r["blue_amount"]) for r in rows] == [("2026-11", Decimal("300.00"))]


def test_application_status_report(fiona, yuntu):
    from issuing.applications.models import InvoiceApplication

    InvoiceApplication.objects.create(number="SQ1", taxpayer=yuntu, buyer_name="张伟", amount=Decimal("100.00"),
                                      tax=Decimal("6.00"), total=Decimal("106.00"))
    InvoiceApplication.objects.create(number="SQ2", taxpayer=yuntu, buyer_name="李娜", amount=Decimal("10.00"),
                                      tax=Decimal("0.60"), total=Decimal("10.60"))
    rows = summary.application_status_rows(fiona)
    assert rows == [{"taxpayer": yuntu.name, "status": "待审核", "count": 2, "amount": Decimal("110.00"),
                     "tax": Decimal("6.60"), "total": Decimal("116.60")}]
