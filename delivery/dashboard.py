"""Delivery's card on the admin home (``invoicing.dashboard``): deliveries that failed or bounced and were not
resent. Customer service sees it too (it resends). One query, scoped to the user's entities."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext

from delivery.models import Delivery, DeliveryStatus, failed_not_resent_q
from invoicing.dashboard import Card, count_tone, dashboard_card_register
from invoicing.scoping import scope_queryset


def delivery_cards(user: User) -> list[Card]:
    qs = scope_queryset(Delivery.objects.filter(failed_not_resent_q()), user, "invoice__taxpayer")
    counts = qs.aggregate(total=Count("pk"), bounced=Count("pk", filter=Q(status=DeliveryStatus.BOUNCED)))
    url = reverse("admin:delivery_delivery_changelist") + "?" + urlencode({"todo": "failed"})
    return [
        Card(title=gettext("交付失败"), value=str(counts["total"]), tone=count_tone(counts["total"], bad=True),
             url=url, help=gettext("未重发的失败或被退回的交付；其中被退回 %(count)d 条") % {"count": counts["bounced"]},
             order=70),
    ]


def register() -> None:
    dashboard_card_register(delivery_cards, customer_service=True)
