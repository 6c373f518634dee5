"""Reports, each one aggregate query, each exportable through the same streaming writers.

* 发票汇总表: by entity, period (month) and tax rate: invoice count, amount and tax for blue invoices, red invoices
  and net (blue + red; red invoices carry negative amounts). Voided invoices (作废) are left out.
* Invoice detail: one row per invoice line (the ``invoice_detail`` export spec).
* Application status: applications by entity and status, with count and 价税合计.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext

from invoicing.dashboard import ChartPart, Series, chart_data
from invoicing.formatting import rate as rate_label
from invoicing.scoping import scope_queryset
from invoicing.tax import q2
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform.models import InvoiceDailyRate, InvoiceLine, InvoiceStatus
from issuing.reports.specs import Col, ExportSpec, get_spec

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ReportFilters:
    taxpayer_ids: tuple[int, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _money(expr, flt=None):
    return Coalesce(Sum(expr, filter=flt), ZERO)


def summary_rows(user, filters: ReportFilters = ReportFilters()) -> list[dict]:
    """发票汇总表 rows (scoped to the user's entities), one aggregate query over the daily rollup
    (``InvoiceDailyRate``, kept by ``issuing/platform/rollup.py`` in the invoices' own transactions): a few thousand rows
    a year instead of every invoice line. Equal to ``summary_rows_live``."""
    qs = scope_queryset(InvoiceDailyRate.objects.all(), user, "taxpayer")
    if filters.taxpayer_ids:
        qs = qs.filter(taxpayer_id__in=filters.taxpayer_ids)
    if filters.date_from:
        qs = qs.filter(issue_date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(issue_date__lte=filters.date_to)
    blue, red = Q(is_red=False), Q(is_red=True)
    rows = (
        qs.annotate(period=TruncMonth("issue_date"))
        .values("taxpayer_id", "taxpayer__name", "period", "tax_rate")
        .annotate(
            blue_count=Coalesce(Sum("invoice_count", filter=blue), 0),
            blue_amount=_money("amount", blue),
            blue_tax=_money("tax", blue),
            red_count=Coalesce(Sum("invoice_count", filter=red), 0),
            red_amount=_money("amount", red),
            red_tax=_money("tax", red),
        )
        .filter(Q(blue_count__gt=0) | Q(red_count__gt=0))
        .order_by("taxpayer__name", "period", "-tax_rate")
    )
    return [_summary_row(r["taxpayer_id"], r["taxpayer__name"], r["period"], r["tax_rate"], r) for r in rows]


def summary_rows_live(user, filters: ReportFilters = ReportFilters()) -> list[dict]:
    """发票汇总表 rows aggregated from the invoice lines themselves (scoped to the user's entities): what the rollup
    must always equal. Seconds at a million invoices; tests and checks compare ``summary_rows`` with it."""
    qs = scope_queryset(InvoiceLine.objects.all(), user, "invoice__taxpayer").exclude(
        invoice__status=InvoiceStatus.VOIDED
    )
    if filters.taxpayer_ids:
        qs = qs.filter(invoice__taxpayer_id__in=filters.taxpayer_ids)
    if filters.date_from:
        qs = qs.filter(invoice__issue_date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(invoice__issue_date__lte=filters.date_to)
    blue, red = Q(invoice__is_red=False), Q(invoice__is_red=True)
    rows = (
        qs.annotate(period=TruncMonth("invoice__issue_date"))
        .values("invoice__taxpayer_id", "invoice__taxpayer__name", "period", "tax_rate")
        .annotate(
            blue_count=Count("invoice", distinct=True, filter=blue),
            blue_amount=_money("amount", blue),
            blue_tax=_money("tax", blue),
            red_count=Count("invoice", distinct=True, filter=red),
            red_amount=_money("amount", red),
            red_tax=_money("tax", red),
        )
        .order_by("invoice__taxpayer__name", "period", "-tax_rate")
    )
    if connection.vendor == "postgresql":
        # JIT compilation costs seconds on this one aggregate (measured at 1M invoices) and saves nothing.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            rows = list(rows)
    else:
        rows = list(rows)
    return [_summary_row(r["invoice__taxpayer_id"], r["invoice__taxpayer__name"], r["period"], r["tax_rate"], r)
            for r in rows]


def _summary_row(taxpayer_id: int, taxpayer: str, period, rate: Decimal, r: dict) -> dict:
    # To the fen: on SQLite (the demo) sums of decimal columns come back as binary floats (0.00999999999999979);
    # on PostgreSQL they are exact and this changes nothing.
    r = {k: q2(v) if k.endswith(("_amount", "_tax")) else v for k, v in r.items()}
    return {
        "taxpayer_id": taxpayer_id,
        "taxpayer": taxpayer,
        "period": period.strftime("%Y-%m") if period else "",
        "rate": rate,
        "rate_label": f"{(rate * 100).normalize():f}%",
        "blue_count": r["blue_count"], "blue_amount": r["blue_amount"], "blue_tax": r["blue_tax"],
        "blue_total": r["blue_amount"] + r["blue_tax"],
        "red_count": r["red_count"], "red_amount": r["red_amount"], "red_tax": r["red_tax"],
        "red_total": r["red_amount"] + r["red_tax"],
        "net_count": r["blue_count"] + r["red_count"],
        "net_amount": r["blue_amount"] + r["red_amount"],
        "net_tax": r["blue_tax"] + r["red_tax"],
        "net_total": r["blue_amount"] + r["red_amount"] + r["blue_tax"] + r["red_tax"],
    }


SUMMARY_KEYS = ("taxpayer", "period", "rate", "blue_count", "blue_amount", "blue_tax", "blue_total", "red_count",
                "red_amount", "red_tax", "red_total", "net_count", "net_amount", "net_tax", "net_total")
SUMMARY_SPEC = ExportSpec(
    name="invoice_summary", model=InvoiceLine, filename="发票汇总表", scope_field="invoice__taxpayer",
    columns=(
        Col("主体", "taxpayer"), Col("所属月份", "period"), Col("税率", "rate", "rate"),
        Col("蓝字张数", "blue_count", "int"), Col("蓝字金额", "blue_amount", "money"),
        Col("蓝字税额", "blue_tax", "money"), Col("蓝字价税合计", "blue_total", "money"),
        Col("红字张数", "red_count", "int"), Col("红字金额", "red_amount", "money"),
        Col("红字税额", "red_tax", "money"), Col("红字价税合计", "red_total", "money"),
        Col("合计张数", "net_count", "int"), Col("净额金额", "net_amount", "money"),
        Col("净额税额", "net_tax", "money"), Col("净额价税合计", "net_total", "money"),
    ),
)


def summary_totals(rows: list[dict]) -> dict:
    keys = [k for k in SUMMARY_KEYS if k.endswith(("_amount", "_tax", "_total"))]
    totals = {k: sum((r[k] for r in rows), ZERO) for k in keys}
    return totals


def summary_tuples(rows: list[dict]) -> list[tuple]:
    return [tuple(r[k] for k in SUMMARY_KEYS) for r in rows]


def application_status_rows(user, filters: ReportFilters = ReportFilters()) -> list[dict]:
    qs = scope_queryset(InvoiceApplication.objects.all(), user)
    if filters.taxpayer_ids:
        qs = qs.filter(taxpayer_id__in=filters.taxpayer_ids)
    if filters.date_from:
        qs = qs.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__date__lte=filters.date_to)
    labels = dict(ApplicationStatus.choices)
    rows = (
        qs.values("taxpayer__name", "status")
        .annotate(count=Count("id"), amount=_money("amount"), tax=_money("tax"), total=_money("total"))
        .order_by("taxpayer__name", "status")
    )
    return [{"taxpayer": r["taxpayer__name"], "status": str(labels.get(r["status"], r["status"])),
             "count": r["count"], "amount": r["amount"], "tax": r["tax"], "total": r["total"]} for r in rows]


STATUS_KEYS = ("taxpayer", "status", "count", "amount", "tax", "total")
STATUS_SPEC = ExportSpec(
    name="application_status", model=InvoiceApplication, filename="开票申请状态",
    columns=(Col("主体", "taxpayer"), Col("状态", "status"), Col("张数", "count", "int"),
             Col("合计金额", "amount", "money"), Col("合计税额", "tax", "money"), Col("价税合计", "total", "money")),
)


def status_tuples(rows: list[dict]) -> list[tuple]:
    return [tuple(r[k] for k in STATUS_KEYS) for r in rows]


def detail_queryset(user, filters: ReportFilters = ReportFilters()):
    spec = get_spec("invoice_detail")
    qs = spec.scoped(InvoiceLine.objects.all(), user).order_by("invoice__issue_date", "invoice_id", "line_no")
    if filters.taxpayer_ids:
        qs = qs.filter(invoice__taxpayer_id__in=filters.taxpayer_ids)
    if filters.date_from:
        qs = qs.filter(invoice__issue_date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(invoice__issue_date__lte=filters.date_to)
    return spec, qs


def summary_chart(summary: list[dict]) -> dict[str, Any]:
    """The summary's net amount and tax per month and rate as a chart (``invoicing.dashboard``), from the rows
    already read: no query of its own."""
    periods = sorted({r["period"] for r in summary})
    rates = sorted({r["rate"] for r in summary}, reverse=True)
    cell: dict[tuple[str, Decimal], dict[str, Decimal]] = {}
    for r in summary:  # several entities: their rows of the same month and rate add up
        c = cell.setdefault((r["period"], r["rate"]), {"net_amount": ZERO, "net_tax": ZERO})
        c["net_amount"] += r["net_amount"]
        c["net_tax"] += r["net_tax"]
    series = [
        Series(name=f"{rate_label(rate)} {word}", stack=key,
               values=[cell[(p, rate)][key] if (p, rate) in cell else None for p in periods])
        for key, word in (("net_amount", gettext("金额")), ("net_tax", gettext("税额"))) for rate in rates
    ]
    return chart_data([ChartPart(chart="summary_by_month", title=gettext("开票金额与税额（按月份、税率，红蓝相抵）"),
                                 kind="bar", categories=periods, series=series, category_label=gettext("月份"))])
