"""Customer links, bearer tokens and callback tokens never reach a log, the audit trail or the integration log.

A customer link (``…/i/<token>/``) opens an invoice without logging in, an API token (``fpd_…``) acts as its
client, and the token in a Nuonuo callback address (``…/callback/<entity id>/<token>/``,
``invoicing.channels.nuonuo_callback``) is the only proof a callback carries: all three are masked like secrets
wherever text is recorded. ``redact_text``/``redact`` mask them in strings and JSON-like values; ``install_log_redaction`` makes every log record (whatever its handler: Django's console, the
Celery worker's file, pytest's caplog) pass through ``redact_text``, message and traceback alike. Services also
redact at the source (the SMS text, delivery errors, event payloads) so nothing depends on the logging set-up alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

MASK = "***"
_PATTERNS = (
    # /i/<token>: the customer link route (delivery/urls.py), absolute or relative, with or without a suffix.
    (re.compile(r"(/i/)[A-Za-z0-9_-]{8,}"), r"\1" + MASK),
    # API bearer tokens (api/models.py TOKEN_PREFIX).
    (re.compile(r"\b(fpd_)[A-Za-z0-9_-]{8,}"), r"\1" + MASK),
    # <NUONUO_CALLBACK_URL>/<entity id>/<token>: the callback route (issuing/urls.py), in an order's callBackUrl
    # as logged, or in an access log line.
    (re.compile(r"(/callback/\d+/)[A-Za-z0-9_-]{8,}"), r"\1" + MASK),
)


def redact_text(text: str) -> str:
    if not text or ("/i/" not in text and "fpd_" not in text and "/callback/" not in text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of a JSON-like ``value`` with links and tokens masked in every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


class _RedactingFactory:
    """A log record factory that masks what the wrapped factory made (``fapiao_redacting`` marks it as installed)."""

    fapiao_redacting = True

    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self.base = base

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's business, not ours
            return record
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if redact_text(text) != text:
                record.exc_text = redact_text(text)
        return record


def install_log_redaction() -> None:
    """Idempotent: wraps the current log record factory once per process."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "fapiao_redacting", False):
        logging.setLogRecordFactory(_RedactingFactory(current))
