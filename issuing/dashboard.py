"""Issuing's cards on the admin home (``invoicing.dashboard``): the review queue, issuing that needs a person,
red-letter forms about to expire, and quotas nearly spent. Each provider runs one query, scoped to the user."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.dashboard import (
    Card,
    ChartPart,
    Series,
    chart_months,
    count_tone,
    dashboard_card_register,
    dashboard_chart_register,
    month_start,
)
from invoicing.formatting import rate as rate_label
from invoicing.models import Taxpayer
from invoicing.scoping import scope_queryset
from issuing.applications.models import ApplicationStatus, InvoiceApplication, QuotaPeriod
from issuing.applications.selectors import quota_month
from issuing.paperstock.selectors import paper_stock_low
from issuing.platform.models import InvoiceBuyerMonth, InvoiceDailyRate
from issuing.redletter.models import Initiator, RedLetterForm, red_form_due_soon_q

QUOTA_WARN_SHARE = Decimal("0.8")


def _link(name: str, **params: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def review_queue_cards(user: User) -> list[Card]:
    """待审核 and how many of them waited longer than ``DASHBOARD_REVIEW_WAIT_HOURS`` (customer service too)."""
    hours: int = settings.DASHBOARD_REVIEW_WAIT_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    counts = scope_queryset(InvoiceApplication.objects.all(), user).aggregate(
        waiting=Count("pk", filter=Q(status=ApplicationStatus.PENDING_REVIEW)),
        overdue=Count("pk", filter=Q(status=ApplicationStatus.PENDING_REVIEW, created_at__lt=cutoff)),
    )
    return [
        Card(title=gettext("待审核申请"), value=str(counts["waiting"]), tone="info" if counts["waiting"] else "ok",
             url=_link("issuing_invoiceapplication", status__exact=ApplicationStatus.PENDING_REVIEW), order=10),
        Card(title=gettext("待审核超时"), value=str(counts["overdue"]), tone=count_tone(counts["overdue"]),
             url=_link("issuing_invoiceapplication", status__exact=ApplicationStatus.PENDING_REVIEW,
                       created_at__lt=cutoff.isoformat(sep=" ", timespec="seconds")),
             help=gettext("等待审核超过 %(hours)d 小时") % {"hours": hours},
             order=11),
    ]


def issuing_cards(user: User) -> list[Card]:
    """需人工处理 (still 开票中 after the attempts) and 开票失败."""
    counts = scope_queryset(InvoiceApplication.objects.all(), user).aggregate(
        attention=Count("pk", filter=Q(needs_attention=True)),
        failed=Count("pk", filter=Q(status=ApplicationStatus.FAILED)),
    )
    return [
        Card(title=gettext("开票需人工处理"), value=str(counts["attention"]), tone=count_tone(counts["attention"]),
             url=_link("issuing_invoiceapplication", needs_attention="1"), order=20),
        Card(title=gettext("开票失败"), value=str(counts["failed"]), tone=count_tone(counts["failed"], bad=True),
             url=_link("issuing_invoiceapplication", status__exact=ApplicationStatus.FAILED), order=21),
    ]


def red_form_cards(user: User) -> list[Card]:
    """Our side's red-letter forms whose confirmation window closes within 24 hours (ours to confirm or theirs)."""
    counts = scope_queryset(RedLetterForm.objects.filter(red_form_due_soon_q(timezone.now())), user).aggregate(
        due=Count("pk"), ours=Count("pk", filter=Q(initiator=Initiator.BUYER)),
    )
    return [
        Card(title=gettext("红字确认单24小时内到期（销项）"), value=str(counts["due"]), tone=count_tone(counts["due"]),
             url=_link("issuing_redletterform", queue="due"),
             help=gettext("其中待我方确认 %(count)d 张") % {"count": counts["ours"]}, order=30),
    ]


def quota_cards(user: User) -> list[Card]:
    """Entities whose month's quota is more than 80% used (one row per entity, so bounded by the entities)."""
    month = quota_month()
    rows = list(
        scope_queryset(QuotaPeriod.objects.filter(month=month, total__gt=0), user)
        .filter(used__gt=F("total") * QUOTA_WARN_SHARE)
        .order_by("taxpayer__name").values_list("taxpayer__short_name", "taxpayer__name")
    )
    names = "、".join(short or name for short, name in rows)
    return [
        Card(title=gettext("授信额度已用超过80%"), value=str(len(rows)), tone=count_tone(len(rows)),
             url=_link("issuing_quotaperiod", month=month),
             help=gettext("主体：%(names)s") % {"names": names} if rows else gettext("本月额度充足"), order=40),
    ]


CHART_DAYS = 30


def issued_by_day_chart(user: User) -> list[ChartPart]:
    """Issued amount and tax per day and rate, the last 30 days (blue and red netted), from the daily rollup."""
    today = timezone.localdate()
    start = today - timedelta(days=CHART_DAYS - 1)
    rows = list(
        scope_queryset(InvoiceDailyRate.objects.filter(issue_date__gte=start, issue_date__lte=today), user)
        .values("issue_date", "tax_rate").annotate(amount=Sum("amount"), tax=Sum("tax"))
        .order_by("issue_date", "-tax_rate")
    )
    days = [(start + timedelta(days=i)).isoformat() for i in range(CHART_DAYS)]
    rates = sorted({r["tax_rate"] for r in rows}, reverse=True)
    cell = {(r["issue_date"].isoformat(), r["tax_rate"]): r for r in rows}
    series = []
    for field, word, stack in (("amount", gettext("金额"), "amount"), ("tax", gettext("税额"), "tax")):
        for rate in rates:
            series.append(Series(name=f"{rate_label(rate)} {word}", stack=stack,
                                 values=[cell[(d, rate)][field] if (d, rate) in cell else None for d in days]))
    return [ChartPart(chart="issued_by_day", title=gettext("近30天开票金额与税额（按税率）"), kind="bar",
                      categories=days, series=series, category_label=gettext("开票日期"), order=10)]


def output_tax_chart(user: User) -> list[ChartPart]:
    """销项税额 per month, the last 12 months, from the daily rollup; receiving adds 进项税额 to the same chart."""
    months = chart_months(timezone.localdate())
    start = month_start(months[0])
    rows = (
        scope_queryset(InvoiceDailyRate.objects.filter(issue_date__gte=start), user)
        .annotate(period=TruncMonth("issue_date")).values("period").annotate(tax=Sum("tax")).order_by("period")
    )
    by_month = {r["period"].strftime("%Y-%m"): r["tax"] for r in rows}
    return [ChartPart(chart="tax_by_month", title=gettext("近12个月销项税额与进项税额"), kind="line",
                      categories=months, series=[Series(name=gettext("销项税额"), values=[by_month.get(m) for m in months])],
                      category_label=gettext("月份"), order=20)]


TOP_BUYERS = 10


def top_buyers_chart(user: User) -> list[ChartPart]:
    """The ten buyers with the largest amount issued to them in the last 12 months (red invoices netted)."""
    months = chart_months(timezone.localdate())
    rows = list(
        scope_queryset(InvoiceBuyerMonth.objects.filter(month__gte=month_start(months[0])), user)
        .values("buyer_tax_id", "buyer_name").annotate(amount=Sum("amount"), tax=Sum("tax"))
        .order_by("-amount", "buyer_tax_id", "buyer_name")[:TOP_BUYERS]
    )
    return [ChartPart(chart="top_buyers", title=gettext("近12个月开票金额前十的购买方"), kind="hbar",
                      categories=[r["buyer_name"] for r in rows],
                      series=[Series(name=gettext("金额"), values=[r["amount"] for r in rows]),
                              Series(name=gettext("税额"), values=[r["tax"] for r in rows])],
                      category_label=gettext("购买方"), order=40)]
def paper_stock_cards(user: User) -> list[Card]:
    """数电纸票 stock running low: the (entity, kind) pairs below the threshold (bounded by entities × 2 kinds)."""
    low = paper_stock_low(scope_queryset(Taxpayer.objects.all(), user, field="pk").values_list("pk", flat=True))
    names = "、".join(f"{row.taxpayer_name} {row.kind_label} {row.remaining}" for row in low)
    return [
        Card(title=gettext("纸质发票库存不足"), value=str(len(low)), tone="warn" if low else "ok",
             url=_link("issuing_paperbatch"),
             help=gettext("剩余：%(names)s") % {"names": names} if low else gettext("纸票库存充足或未使用纸票"),
             order=45),
    ]


def register() -> None:
    dashboard_card_register(review_queue_cards, customer_service=True)
    dashboard_card_register(issuing_cards)
    dashboard_card_register(red_form_cards)
    dashboard_card_register(quota_cards)
    dashboard_chart_register(issued_by_day_chart)
    dashboard_chart_register(output_tax_chart)
    dashboard_chart_register(top_buyers_chart)
    dashboard_card_register(paper_stock_cards)
