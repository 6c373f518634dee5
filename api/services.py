"""Writes of the api app: API client credentials, the audit trail of API calls, the API's own rules on top of the
issuing services, webhook subscriptions, and the invoice deliveries a client asks for."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from api.models import TOKEN_PREFIX, ApiClient, ClientDelivery, WebhookSubscription, token_digest
from delivery.models import Channel, Delivery
from delivery.services import delivery_send, webhook_endpoint_subscribe, webhook_endpoint_unsubscribe
from invoicing.events import event_record
from invoicing.models import Event, Taxpayer
from issuing.applications import selectors as application_selectors
from issuing.applications.compliance import ComplianceError
from issuing.applications.models import InvoiceApplication
from issuing.platform.models import Invoice, InvoiceStatus


@dataclass(frozen=True)
class Credentials:
    """What a new client is told once: the bearer token and the HMAC key. Only the token's hash is kept."""

    client: ApiClient
    token: str
    hmac_key_id: str
    hmac_secret: str


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _set_secrets(client: ApiClient) -> tuple[str, str]:
    token = _new_token()
    secret = secrets.token_urlsafe(32)
    client.token_hash = token_digest(token)
    client.token_hint = token[: len(TOKEN_PREFIX) + 4]
    client.hmac_key_id = "ak_" + secrets.token_hex(8)
    client.hmac_secret = secret
    return token, secret


def api_client_create(
    *,
    name: str,
    taxpayers: Iterable[Taxpayer],
    throttle_rate: str = "600/min",
    can_download_files: bool = False,
    actor=None,
) -> Credentials:
    client = ApiClient(name=name, throttle_rate=throttle_rate, can_download_files=can_download_files)
    token, secret = _set_secrets(client)
    client.full_clean(exclude=["taxpayers"])
    with transaction.atomic():
        client.save()
        client.taxpayers.set(list(taxpayers))
        for taxpayer in client.taxpayers.all():
            event_record(obj=client, action="api_client_created", actor=actor, taxpayer=taxpayer)
    return Credentials(client=client, token=token, hmac_key_id=client.hmac_key_id, hmac_secret=secret)


def api_client_prepare(client: ApiClient) -> Credentials:
    """Fill a new, unsaved client (the admin's add form) with fresh credentials; the caller saves it."""
    token, secret = _set_secrets(client)
    return Credentials(client=client, token=token, hmac_key_id=client.hmac_key_id, hmac_secret=secret)


def api_client_rotate(*, client: ApiClient, actor=None) -> Credentials:
    """New token and HMAC key; the old ones stop working at once."""
    with transaction.atomic():
        locked = ApiClient.objects.select_for_update().get(pk=client.pk)
        token, secret = _set_secrets(locked)
        locked.save(update_fields=["token_hash", "token_hint", "hmac_key_id", "hmac_secret"])
        event_record(obj=locked, action="api_client_rotated", actor=actor, taxpayer=None)
    return Credentials(client=locked, token=token, hmac_key_id=locked.hmac_key_id, hmac_secret=secret)


# --- the audit trail of API calls ---------------------------------------------------------------------------------


def api_call_record(
    *, client: ApiClient, obj: models.Model, action: str, idempotency_key: str = "", data: dict[str, Any] | None = None
) -> Event:
    """Name the client in the audit trail, next to the event of the service it called (the issuing services record
    an API call as the system's)."""
    data = dict(data or {})
    if idempotency_key:
        data["idempotency_key"] = idempotency_key
    return event_record(obj=obj, action=action, actor_label=client.actor_label, data=data)


# --- applications: the API refuses at once what the approval would refuse -----------------------------------------

# Rules that describe this month's capacity rather than the application: an API application that breaks only these
# is still accepted, and waits in review like one entered in the admin.
NOT_BLOCKING_AT_CREATION = frozenset({"quota"})


def application_refuse_noncompliant(*, application: InvoiceApplication) -> None:
    """Raise ``ComplianceError`` (every failure, each naming its field) when ``application`` breaks a rule the
    reviewer's approval runs (issuing/applications/compliance.py), apart from ``NOT_BLOCKING_AT_CREATION``."""
    failures = [f for f in application_selectors.application_failures(application)
                if f.code not in NOT_BLOCKING_AT_CREATION]
    if failures:
        raise ComplianceError(failures)


# --- webhook subscriptions ---------------------------------------------------------------------------------------


def webhook_subscription_create(
    *, client: ApiClient, taxpayer: Taxpayer, url: str, events: list[str], name: str = ""
) -> WebhookSubscription:
    """Subscribe ``url`` to ``events`` of ``taxpayer``: a new webhook endpoint (delivery app) that belongs to
    ``client``, named after the client unless ``name`` is given."""
    if taxpayer.pk not in client.taxpayer_ids():
        raise PermissionDenied(gettext("无权操作该主体的数据"))
    with transaction.atomic():
        endpoint = webhook_endpoint_subscribe(taxpayer=taxpayer, url=url, events=events, name=name or client.name,
                                              actor=client.actor)
        return WebhookSubscription.objects.create(client=client, endpoint=endpoint)


def webhook_subscription_cancel(*, client: ApiClient, subscription: WebhookSubscription) -> None:
    """End one of ``client``'s subscriptions: its endpoint is switched off and keeps its delivery history."""
    if subscription.client_id != client.pk:
        raise PermissionDenied(gettext("无权操作该主体的数据"))
    webhook_endpoint_unsubscribe(endpoint=subscription.endpoint, actor=client.actor)


# --- deliveries a client asks for ------------------------------------------------------------------------------------

DELIVERY_WINDOW = timedelta(days=1)


class DeliveryLimitReached(Exception):  # noqa: N818 - a refusal the view turns into 429
    def __init__(self, scope: str, limit: int, wait: int):
        self.scope, self.limit, self.wait = scope, limit, wait
        super().__init__(f"{scope} limit {limit} reached; retry in {wait}s")


def delivery_limits() -> tuple[int, int]:
    """(per invoice, per client) deliveries a client may ask for in any 24 hours."""
    return (int(getattr(settings, "API_DELIVERIES_PER_INVOICE_PER_DAY", 5)),
            int(getattr(settings, "API_DELIVERIES_PER_CLIENT_PER_DAY", 200)))


def _wait(oldest, now) -> int:
    return max(1, math.ceil((oldest + DELIVERY_WINDOW - now).total_seconds()))


def invoice_delivery_request(*, client: ApiClient, invoice: Invoice, email: str) -> Delivery:
    """Send ``invoice`` by e-mail to ``email`` for ``client``, through the delivery app (tracked like the admin's
    deliveries, sent after commit), within the per-invoice and per-client limits of a rolling 24 hours."""
    per_invoice, per_client = delivery_limits()
    with transaction.atomic():
        # The client's row serialises its requests, so that two at once cannot both take the last allowance.
        ApiClient.objects.select_for_update().filter(pk=client.pk).first()
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status == InvoiceStatus.VOIDED:
            raise ValidationError(gettext("已作废的发票不能发送"), code="transition_not_allowed")
        now = timezone.now()
        recent = ClientDelivery.objects.filter(client=client, created_at__gt=now - DELIVERY_WINDOW)
        for scope, limit, rows in (("invoice", per_invoice, recent.filter(invoice=locked)),
                                   ("client", per_client, recent)):
            times = list(rows.order_by("-created_at").values_list("created_at", flat=True)[:limit])
            if len(times) >= limit:
                raise DeliveryLimitReached(scope, limit, _wait(times[-1], now))
        delivery = delivery_send(invoice=locked, channel=Channel.EMAIL, target=email, actor=None)
        ClientDelivery.objects.create(client=client, delivery=delivery, invoice=locked)
        event_record(obj=delivery, action="api_delivery_requested", actor_label=client.actor_label,
                     data={"invoice": locked.number, "channel": Channel.EMAIL}, taxpayer=locked.taxpayer)
    return delivery
