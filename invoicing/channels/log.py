"""The integration log: every channel call recorded with its outcome and masked bodies.

Masking is by key (secrets, signatures, tokens, phone, e-mail, bank account, id numbers) and by value pattern
(mobile numbers, e-mail addresses and resident ID numbers inside any string), so personal data does not leak through
free text such as a remark. Large blobs (file contents) are replaced by their size.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction

from invoicing.channels.base import ChannelDuplicate, ChannelError, ChannelRejected, ChannelUnavailable
from invoicing.ids import is_valid_id_card
from invoicing.models import ChannelCall
from invoicing.redaction import redact_text

logger = logging.getLogger(__name__)

MASK = "***"
_SECRET_KEYS = ("secret", "signature", "password", "token", "app_key", "appkey", "x-signature", "authorization")
_PHONE_KEYS = ("phone", "mobile", "tel")
_EMAIL_KEYS = ("email", "mail")
_ACCOUNT_KEYS = ("bank_account", "account_no", "bankaccount", "card_no", "buyeraccount", "saleraccount")
_ID_KEYS = ("id_card", "id_number", "sfzjhm", "idcard", "cardno")
_BLOB_KEYS = ("files", "content", "pdf", "ofd", "xml")
MAX_STRING = 2000

_MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)(0\d{2,3})-?\d{3,4}(\d{4})(?!\d)")
_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def _mask_text(text: str) -> str:
    text = redact_text(text)  # customer links and API tokens
    text = _EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _ID_CARD_RE.sub(
        lambda m: f"{m.group(1)}********{m.group(2)[-1:]}" if is_valid_id_card(m.group(0).upper()) else m.group(0),
        text,
    )
    text = _MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    text = _LANDLINE_RE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}", text)
    if len(text) > MAX_STRING:
        text = text[:MAX_STRING] + f"…(+{len(text) - MAX_STRING})"
    return text


def _mask_key(key: str, value: Any) -> Any:
    k = key.lower()
    if any(s in k for s in _SECRET_KEYS):
        return MASK if value else value
    if not isinstance(value, str) or not value:
        return None
    if any(s in k for s in _ACCOUNT_KEYS):
        return f"****{value[-4:]}" if len(value) > 4 else MASK
    if any(s in k for s in _PHONE_KEYS):
        return f"{value[:3]}****{value[-4:]}" if len(value) >= 8 else MASK
    if any(s in k for s in _EMAIL_KEYS):
        return _mask_text(value) if "@" in value else MASK
    if any(s in k for s in _ID_KEYS):
        return f"{value[:6]}********{value[-1:]}" if len(value) >= 8 else MASK
    return None


def mask(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (JSON-like) with secrets and personal data masked."""
    if key:
        masked = _mask_key(key, value)
        if masked is not None:
            return masked
        if key.lower() in _BLOB_KEYS and isinstance(value, dict):
            return {k: f"<{len(v)} chars>" if isinstance(v, str) else mask(v, k) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _mask_text(value)
    return value


def record_call(
    *,
    taxpayer: Any,
    channel: str,
    transport: str,
    operation: str,
    serial: str,
    duration_ms: int,
    outcome: str,
    http_status: int | None = None,
    error_code: str = "",
    message: str = "",
    request_body: Any = None,
    response_body: Any = None,
) -> None:
    """Write one log row in its own short transaction. A failure to log never breaks the call it describes."""
    try:
        with transaction.atomic():
            ChannelCall.objects.create(
                taxpayer=taxpayer if getattr(taxpayer, "pk", None) else None,
                channel=channel[:20],
                transport=transport[:20],
                operation=operation[:50],
                serial=(serial or "")[:64],
                duration_ms=max(0, int(duration_ms)),
                outcome=outcome,
                http_status=http_status,
                error_code=(error_code or "")[:40],
                message=_mask_text(message or ""),
                request_body=mask(request_body if request_body is not None else {}),
                response_body=mask(response_body if response_body is not None else {}),
            )
    except Exception:  # noqa: BLE001 - the log is best effort; the caller's outcome matters more
        logger.exception("could not record channel call %s %s", operation, serial)


def call_outcome(exc: ChannelError) -> tuple[str, str, str]:
    """How the integration log names a call that ended in a channel error: (outcome, error code, message)."""
    if isinstance(exc, ChannelDuplicate):
        return "duplicate", exc.code, exc.message
    if isinstance(exc, ChannelRejected):
        return "rejected", exc.code, exc.message
    if isinstance(exc, ChannelUnavailable):
        return "unavailable", exc.code or exc.kind, exc.message
    return "error", exc.code, exc.message
