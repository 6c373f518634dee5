"""Receiving's cards on the admin home (``invoicing.dashboard``): the pool's review and controls, collecting that
failed, inbound red-letter forms about to expire and the platform reconciliation's differences. One query each."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
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
from invoicing.scoping import scope_queryset
from receiving.control_models import RulesOutcome
from receiving.models import (
    Collection,
    CollectionStatus,
    DataSource,
    PlatformReconciliation,
    ReceivedInvoice,
    ReceivedRedForm,
    ReviewState,
)
from receiving.redforms import received_red_form_due_soon_q
from receiving.stats_models import ReceivedMonthlyStat

TOP_SELLERS = 10

COLLECTION_DAYS = 7  # failed batches older than this are history, not a card


def _link(name: str, **params: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def pool_cards(user: User) -> list[Card]:
    """待复核, blocked by the rules (不可使用), verification not finished."""
    counts = scope_queryset(ReceivedInvoice.objects.all(), user).aggregate(
        review=Count("pk", filter=Q(review_state=ReviewState.NEEDS_REVIEW)),
        blocked=Count("pk", filter=Q(controls__rules_outcome=RulesOutcome.BLOCK)),
        pending=Count("pk", filter=Q(controls__verify_pending=True)),
    )
    changelist = "receiving_receivedinvoice"
    return [
        Card(title=gettext("收票待复核"), value=str(counts["review"]), tone=count_tone(counts["review"]),
             url=_link(changelist, review_state__exact=ReviewState.NEEDS_REVIEW), order=50),
        Card(title=gettext("收票被规则阻止"), value=str(counts["blocked"]), tone=count_tone(counts["blocked"]),
             url=_link(changelist, rules=RulesOutcome.BLOCK), order=51),
        Card(title=gettext("查验待完成"), value=str(counts["pending"]), tone=count_tone(counts["pending"]),
             url=_link(changelist, verify="pending"), order=52),
    ]


def collection_cards(user: User) -> list[Card]:
    """Collecting batches of the last days that failed, or that refused some of their files."""
    since = timezone.now() - timedelta(days=COLLECTION_DAYS)
    counts = scope_queryset(Collection.objects.filter(created_at__gte=since), user).aggregate(
        failed=Count("pk", filter=Q(status=CollectionStatus.FAILED)),
        rejected=Count("pk", filter=Q(rejected_count__gt=0) & ~Q(status=CollectionStatus.FAILED)),
    )
    total = counts["failed"] + counts["rejected"]
    return [
        Card(title=gettext("采集失败或有拒收"), value=str(total), tone=count_tone(counts["failed"], bad=True)
             if counts["failed"] else count_tone(total),
             url=_link("receiving_collection", status__exact=CollectionStatus.FAILED) if counts["failed"]
             else _link("receiving_collection"),
             help=gettext("近%(days)d天：失败 %(failed)d 批，有拒收 %(rejected)d 批")
             % {"days": COLLECTION_DAYS, "failed": counts["failed"], "rejected": counts["rejected"]}, order=60),
    ]


def red_form_cards(user: User) -> list[Card]:
    """Inbound red-letter forms whose confirmation window closes within 24 hours."""
    due = scope_queryset(ReceivedRedForm.objects.filter(received_red_form_due_soon_q(timezone.now())), user).count()
    return [
        Card(title=gettext("红字确认单24小时内到期（进项）"), value=str(due), tone=count_tone(due),
             url=_link("receiving_receivedredform", queue="due"), order=31),
    ]


def reconciliation_cards(user: User) -> list[Card]:
    """Differences of each entity's latest reconciliation with the platform (one row per entity at most)."""
    newer = PlatformReconciliation.objects.filter(taxpayer=OuterRef("taxpayer"), created_at__gt=OuterRef("created_at"))
    latest = scope_queryset(PlatformReconciliation.objects.filter(~Exists(newer)), user)
    counts = latest.aggregate(differences=Sum("difference_count"), incomplete=Count("pk", filter=Q(complete=False)))
    differences = counts["differences"] or 0
    return [
        Card(title=gettext("未与平台对上的发票"), value=str(differences), tone=count_tone(differences),
             url=_link("receiving_platformreconciliation"),
             help=gettext("各主体最近一次收票对账的差异；%(count)d 个主体对账不完整") % {"count": counts["incomplete"]}
             if counts["incomplete"] else gettext("各主体最近一次收票对账的差异"), order=90),
    ]


def _last_months(user: User) -> tuple[list[str], QuerySet[ReceivedMonthlyStat]]:
    months = chart_months(timezone.localdate())
    return months, scope_queryset(ReceivedMonthlyStat.objects.filter(month__gte=month_start(months[0])), user)


def input_tax_chart(user: User) -> list[ChartPart]:
    """进项税额 per month of issue, the last 12 months, from the monthly rollup (beside issuing's 销项税额)."""
    months, qs = _last_months(user)
    by_month = {r["month"].strftime("%Y-%m"): r["tax"]
                for r in qs.values("month").annotate(tax=Sum("tax")).order_by("month")}
    return [ChartPart(chart="tax_by_month", title=gettext("近12个月销项税额与进项税额"), kind="line",
                      categories=months, series=[Series(name=gettext("进项税额"), values=[by_month.get(m) for m in months])],
                      category_label=gettext("月份"), order=20)]


def received_by_source_chart(user: User) -> list[ChartPart]:
    """Invoices received in the last 12 months (by month of issue) per data source."""
    _months, qs = _last_months(user)
    words = dict(DataSource.choices)
    rows = list(qs.values("data_source").annotate(n=Sum("invoice_count")).order_by("-n", "data_source"))
    return [ChartPart(chart="received_by_source", title=gettext("近12个月收票来源"), kind="pie",
                      categories=[str(words.get(r["data_source"], r["data_source"])) for r in rows],
                      series=[Series(name=gettext("张数"), values=[r["n"] for r in rows])],
                      category_label=gettext("数据来源"), order=30)]


def top_sellers_chart(user: User) -> list[ChartPart]:
    """The ten suppliers with the largest amount received in the last 12 months."""
    _months, qs = _last_months(user)
    rows = list(qs.values("seller_tax_id").annotate(amount=Sum("amount"), tax=Sum("tax"), name=Max("seller_name"))
                .order_by("-amount", "seller_tax_id")[:TOP_SELLERS])
    return [ChartPart(chart="top_sellers", title=gettext("近12个月收票金额前十的销售方"), kind="hbar",
                      categories=[r["name"] or r["seller_tax_id"] or gettext("（未填）") for r in rows],
                      series=[Series(name=gettext("金额"), values=[r["amount"] for r in rows]),
                              Series(name=gettext("税额"), values=[r["tax"] for r in rows])],
                      category_label=gettext("销售方"), order=50)]


def register() -> None:
    dashboard_card_register(pool_cards)
    dashboard_card_register(collection_cards)
    dashboard_card_register(red_form_cards)
    dashboard_card_register(reconciliation_cards)
    dashboard_chart_register(input_tax_chart)
    dashboard_chart_register(received_by_source_chart)
    dashboard_chart_register(top_sellers_chart)
