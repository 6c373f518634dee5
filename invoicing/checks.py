"""System checks for what the product needs from the machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from invoicing.documents.fonts import documents_environment_problems
from invoicing.fields import fernet


@register("fapiao")
def documents_environment(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    return [
        Error(problem, id="fapiao.E001", hint="make run installs them: sudo apt-get install libharfbuzz-subset0 fonts-wqy-zenhei")
        for problem in documents_environment_problems()
    ]


@register("fapiao", deploy=False)
def field_encryption_keys(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Production refuses to start without FIELD_ENCRYPTION_KEYS; every key must be a valid Fernet key."""
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", [])
    if not keys:
        return [Error("FIELD_ENCRYPTION_KEYS is not set: channel and webhook secrets cannot be stored encrypted",
                      id="fapiao.E010",
                      hint="Set FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEYS_FILE) to a key made with "
                           "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")]
    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="fapiao.E011")]
    return []
