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
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

SIGNATURE_HEADER = "X-Fapiao-Signature"
TIMESTAMP_HEADER = "X-Fapiao-Timestamp"
EVENT_HEADER = "X-Fapiao-Event"
DELIVERY_HEADER = "X-Fapiao-Delivery"
TIMEOUT = (5, 15)  # connect, read (seconds)


class WebhookError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# Host names that never leave the machine or the internal network, refused without a DNS lookup.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def webhook_url_problem(url: str, *, resolve: bool) -> str | None:
    """Why ``url`` may not receive webhooks, or None. A webhook is a request this server makes on a customer's
    behalf: to the loopback, private, link-local (cloud metadata) or other internal addresses it would reach what
    the customer cannot (server-side request forgery). ``resolve``: also look the name up (at sending time; the
    check at subscription time must not depend on DNS). ``WEBHOOK_ALLOW_PRIVATE_HOSTS`` lifts the rule (a
    receiver on the same network, tests)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("推送地址须为 http 或 https 网址")
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", False):
        return None
    host = parts.hostname.rstrip(".").lower()
    refused = _("推送地址不能指向本机或内网地址：%(host)s") % {"host": host}
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return refused
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return refused if _private(literal) else None
    if not resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookError(f"DNS: {host}: {exc}") from exc  # a lookup that fails now may work later: retry
    if any(_private(ipaddress.ip_address(info[4][0].split("%", 1)[0])) for info in infos):
        return refused
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
