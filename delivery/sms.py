"""Text messages: a small provider interface, and the default provider that only writes to the log.

A real provider (Aliyun, Tencent Cloud, ...) implements ``SmsProvider.send`` and is named in the setting
``DELIVERY_SMS_PROVIDER`` as a dotted path. ``send`` returns the provider's message id, or raises ``SmsError``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from invoicing.redaction import redact_text

logger = logging.getLogger("delivery.sms")

DEFAULT_PROVIDER = "delivery.sms.LogSmsProvider"


class SmsError(Exception):
    """The provider refused or failed to take the message."""


class SmsProvider(Protocol):
    def send(self, mobile: str, text: str) -> str:
        """Send ``text`` to ``mobile``; return the provider's message id."""
        ...


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 11 else "****"


class LogSmsProvider:
    """Sends nothing: logs the message (mobile masked) and returns a local id. The Delivery row keeps the record."""

    def send(self, mobile: str, text: str) -> str:
        message_id = f"log-{uuid.uuid4().hex}"
        # The text carries the customer link, which opens the invoice: logged masked, like the mobile.
        logger.info("sms %s to %s: %s", message_id, mask_mobile(mobile), redact_text(text))
        return message_id


def sms_provider() -> SmsProvider:
    return import_string(getattr(settings, "DELIVERY_SMS_PROVIDER", DEFAULT_PROVIDER))()
