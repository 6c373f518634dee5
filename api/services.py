"""Writes of the api app: issuing API client credentials."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from api.models import TOKEN_PREFIX, ApiClient, token_digest
from invoicing.events import event_record
from invoicing.models import Taxpayer


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
