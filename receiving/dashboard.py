"""Receiving's cards on the admin home (``invoicing.dashboard``): the pool's review and controls, collecting that
failed, inbound red-letter forms about to expire and the platform reconciliation's differences. One query each."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.dashboard import Card, count_tone, dashboard_card_register
from invoicing.scoping import scope_queryset
from receiving.control_models import RulesOutcome
from receiving.models import (
    Collection,
    CollectionStatus,
    PlatformReconciliation,
    ReceivedInvoice,
    ReceivedRedForm,
    ReviewState,
)
from receiving.redforms import received_red_form_due_soon_q

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


def register() -> None:
    dashboard_card_register(pool_cards)
    dashboard_card_register(collection_cards)
    dashboard_card_register(red_form_cards)
    dashboard_card_register(reconciliation_cards)
