"""Signed webhook POSTs to upstream systems.

Each request carries::

    X-Fapiao-Event:      invoice.issued
    X-Fapiao-Delivery:   <id of the WebhookDelivery row, stable across retries: use it to drop duplicates>
    X-Fapiao-Timestamp:  <unix seconds>
    X-Fapiao-Signature:  sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the endpoint's secret>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant time, and rejects
timestamps older than a few minutes (``webhook_verify`` does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

from invoicing import netguard

SIGNATURE_HEADER = "X-Fapiao-Signature"
TIMESTAMP_HEADER = "X-Fapiao-Timestamp"
EVENT_HEADER = "X-Fapiao-Event"
DELIVERY_HEADER = "X-Fapiao-Delivery"
TIMEOUT = (5, 15)  # connect, read (seconds)


class WebhookError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def webhook_url_problem(url: str, *, resolve: bool) -> str | None:
    """Why ``url`` may not receive webhooks, or None. A webhook is a request this server makes on a customer's
    behalf: the kernel's address rule (``invoicing.netguard``) keeps it off the loopback, private, link-local
    (cloud metadata) and other internal addresses. ``resolve``: also look the name up (at sending time; the check
    at subscription time must not depend on DNS). ``WEBHOOK_ALLOW_PRIVATE_HOSTS`` lifts the rule (a receiver on
    the same network, tests)."""
    try:
        verdict = netguard.url_verdict(url, resolve=resolve,
                                       allow_internal=getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", False))
    except netguard.LookupFailedError as exc:
        raise WebhookError(str(exc)) from exc  # a lookup that fails now may work later: retry
    if verdict is netguard.Verdict.BAD_SCHEME:
        return _("推送地址须为 http 或 https 网址")
    if verdict is netguard.Verdict.INTERNAL:
        return _("推送地址不能指向本机或内网地址：%(host)s") % {"host": netguard.url_host(url)}
    return None


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300,
                   now: float | None = None) -> bool:
    """True when ``signature`` is ours for this timestamp and body, and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except (TypeError, ValueError):
        return False
    if age > tolerance:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature or "")


def webhook_body(*, delivery_id: int | str, event: str, payload: dict[str, Any]) -> bytes:
    envelope = {"id": str(delivery_id), "event": event, "data": payload}
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True).encode("utf-8")


def webhook_post(*, url: str, secret: str, event: str, delivery_id: int | str, payload: dict[str, Any]) -> int:
    """POST one signed event. Returns the HTTP status on 2xx; raises ``WebhookError`` otherwise."""
    body = webhook_body(delivery_id=delivery_id, event=event, payload=payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "FapiaoDesk-Webhook/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
    }
    problem = webhook_url_problem(url, resolve=True)
    if problem:
        raise WebhookError(problem)
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookError(f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code)
    return response.status_code
