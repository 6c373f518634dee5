"""Nuonuo's result callbacks: the address we give it, and the check of what arrives there.

Nuonuo POSTs a form to the ``callBackUrl`` of an order when its result is known: ``operater`` ("callback" for an
issue result), ``orderno`` (our serial) and ``content`` (JSON: ``c_orderno``, ``c_fpqqlsh``, ``c_status``, ...), and
expects ``{"status": "0000", "message": "同步成功"}`` back. Its published documents describe no signature on these
requests, so the address carries its own proof: ``<NUONUO_CALLBACK_URL>/<entity id>/<token>/``, the token an HMAC of
the entity under its channel secret. A request with a wrong token, or about an order the content does not name, is
refused.

Even a genuine callback is only a hint: ``callback_result`` asks the platform (``query_issue``) for the order's
result, so what gets recorded is what the poller would have recorded, through the same function. A callback and a
poll for the same invoice then make one invoice, because recording is idempotent.

The view that receives the POST is issuing's (``issuing/platform/callbacks.py``, routed at
``channels/nuonuo/callback/<entity id>/<token>/``: the kernel imports no app): it finds the entity, checks the request
here, asks the platform, records through the poller's function and answers ``CALLBACK_ANSWER``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from invoicing.channels.base import IssueResult, TaxChannel
from invoicing.models import Taxpayer

OPERATION_ISSUE_RESULT = "callback"


class CallbackRefused(Exception):  # noqa: N818 - reads as what happened to the request
    """The request is not a callback we accept; ``reason`` says why (for the log, not for the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Callback:
    """A checked issue-result callback: our serial (Nuonuo's order number) and what it claimed."""

    serial: str
    provider_serial: str
    claimed_status: str  # c_status as sent; not trusted


def callback_token(taxpayer: Taxpayer) -> str:
    key = (taxpayer.channel_secret or "").encode("utf-8")
    message = f"nuonuo-callback:{taxpayer.pk}:{taxpayer.credit_code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


def callback_url(taxpayer: Taxpayer) -> str:
    """The ``callBackUrl`` for this entity's orders, or "" when callbacks are off (``NUONUO_CALLBACK_URL`` empty)."""
    base = str(getattr(settings, "NUONUO_CALLBACK_URL", "") or "").rstrip("/")
    if not base or not taxpayer.pk or not taxpayer.channel_secret:
        return ""
    return f"{base}/{taxpayer.pk}/{callback_token(taxpayer)}/"


def callback_verify(*, taxpayer: Taxpayer, token: str, form: Mapping[str, str]) -> Callback:
    """Check a callback request (the token from its address, its form fields); raises CallbackRefused."""
    if not taxpayer.channel_secret or not hmac.compare_digest(callback_token(taxpayer), token or ""):
        raise CallbackRefused("wrong token")
    if form.get("operater", "") != OPERATION_ISSUE_RESULT:
        raise CallbackRefused(f"unsupported operater {form.get('operater', '')!r}")
    order_no = (form.get("orderno") or "").strip()
    try:
        content = json.loads(form.get("content") or "")
    except ValueError as exc:
        raise CallbackRefused("content is not JSON") from exc
    if not isinstance(content, dict):
        raise CallbackRefused("content is not an object")
    named = str(content.get("c_orderno") or order_no).strip()
    if not order_no or named != order_no:
        raise CallbackRefused("orderno missing or not the one in content")
    return Callback(serial=order_no, provider_serial=str(content.get("c_fpqqlsh") or ""),
                    claimed_status=str(content.get("c_status") or ""))


def callback_result(*, taxpayer: Taxpayer, token: str, form: Mapping[str, str], channel: TaxChannel) -> IssueResult:
    """The platform's result for the order a genuine callback names (``query_issue``: what the poller records)."""
    checked = callback_verify(taxpayer=taxpayer, token=token, form=form)
    return channel.query_issue(checked.serial)
