"""System checks for what the product needs from the machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import Resolver404, resolve

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


@register("fapiao")
def nuonuo_callback_address(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """NUONUO_CALLBACK_URL, when set, leads to the callback endpoint (``<base>/<entity id>/<token>/``), over HTTPS
    outside development. Resolved by name: the kernel imports no app."""
    base = str(getattr(settings, "NUONUO_CALLBACK_URL", "") or "")
    if not base:
        return []
    parts = urlsplit(base)
    found: list[CheckMessage] = []
    if parts.scheme != "https" and not settings.DEBUG:
        found.append(Warning("NUONUO_CALLBACK_URL is not an https:// address: Nuonuo would post results in clear",
                             id="fapiao.W020"))
    try:
        match = resolve(f"{parts.path.rstrip('/')}/1/{'0' * 40}/")
    except Resolver404:
        match = None
    if match is None or match.url_name != "nuonuo_callback":
        found.append(Warning("NUONUO_CALLBACK_URL does not lead to the callback endpoint: Nuonuo's callbacks would be "
                             "lost (polling still records every result)", id="fapiao.W021",
                             hint="Use https://<public host>/channels/nuonuo/callback"))
    return found
