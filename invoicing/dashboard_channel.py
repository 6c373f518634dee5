"""The kernel's own card on the admin home: the tax-platform channel's health, from the integration log
(``ChannelCall``) and the channels' access tokens. Two queries, scoped to the user's entities."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext

from invoicing.channels.models import ChannelToken
from invoicing.dashboard import Card, Tone, dashboard_card_register
from invoicing.models import ChannelCall
from invoicing.scoping import scope_queryset

LOOKBACK = timedelta(days=7)  # the last successful call is searched this far back (the log's time index)
UNHEALTHY_SHARE = 0.2


def channel_cards(user: User) -> list[Card]:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    calls = scope_queryset(ChannelCall.objects.filter(created_at__gte=now - LOOKBACK), user).aggregate(
        hour=Count("pk", filter=Q(created_at__gte=hour_ago)),
        unavailable=Count("pk", filter=Q(created_at__gte=hour_ago, outcome=ChannelCall.Outcome.UNAVAILABLE)),
        last_ok=Max("created_at", filter=Q(outcome=ChannelCall.Outcome.OK)),
    )
    refused = scope_queryset(ChannelToken.objects.exclude(last_error=""), user).count()
    hour, unavailable = calls["hour"], calls["unavailable"]
    share = unavailable / hour if hour else 0.0
    value = f"{share:.0%}" if hour else "—"
    tone: Tone = "bad" if refused or share >= UNHEALTHY_SHARE else ("warn" if unavailable else "ok")
    session = (gettext("会话：%(count)d 个主体的凭据或令牌被拒绝") % {"count": refused} if refused
               else gettext("会话：正常"))
    last_ok = (formats.date_format(timezone.localtime(calls["last_ok"]), "Y-m-d H:i") if calls["last_ok"]
               else gettext("近7天无"))
    url = reverse("admin:invoicing_channelcall_changelist") if user.has_perm("invoicing.view_channelcall") else ""
    return [
        Card(title=gettext("通道近1小时不可用比例"), value=value, tone=tone, url=url,
             help=gettext("近1小时 %(unavailable)d/%(hour)d 次调用不可用；%(session)s；最近一次成功调用：%(last_ok)s")
             % {"unavailable": unavailable, "hour": hour, "session": session, "last_ok": last_ok}, order=5),
    ]


def register() -> None:
    dashboard_card_register(channel_cards)
