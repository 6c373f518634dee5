"""How an upstream system proves who it is: a bearer token, or an HMAC signature over the request.

Bearer: ``Authorization: Bearer <token>``. Only the token's SHA-256 is stored.

HMAC: ``X-Api-Key: <key id>``, ``X-Timestamp: <unix seconds>``, ``X-Signature: <hex>`` where the signature is
HMAC-SHA256 with the client's secret over four lines joined by ``\\n``::

    METHOD
    /api/v1/path/?query
    timestamp
    sha256 hex of the raw body (of b"" when there is none)

A timestamp more than ``HMAC_MAX_SKEW`` seconds away from our clock is refused, which bounds replays of a captured
request to that window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from api.errors import english
from api.models import ApiClient, token_digest

HMAC_MAX_SKEW = 300  # seconds
LAST_USED_RESOLUTION = 60  # seconds: last_used_at is written at most once a minute per client

_REASONS = {
    "bad_header": ("Authorization 头格式应为 Bearer <令牌>", "The Authorization header must be 'Bearer <token>'"),
    "bad_token": ("令牌无效或客户端已停用", "Invalid token, or the client is disabled"),
    "bad_key": ("X-Api-Key 无效或客户端已停用", "Invalid X-Api-Key, or the client is disabled"),
    "missing_hmac": (
        "HMAC 认证需要 X-Api-Key、X-Timestamp 和 X-Signature 三个头",
        "HMAC authentication needs the X-Api-Key, X-Timestamp and X-Signature headers",
    ),
    "bad_timestamp": ("X-Timestamp 应为 Unix 秒数", "X-Timestamp must be Unix seconds"),
    "skew": (
        f"X-Timestamp 与服务器时间相差超过 {HMAC_MAX_SKEW} 秒",
        f"X-Timestamp is more than {HMAC_MAX_SKEW} seconds away from the server's clock",
    ),
    "bad_signature": ("签名不正确", "The signature does not match"),
}


class ClientAuthenticationFailed(exceptions.AuthenticationFailed):
    def __init__(self, reason: str):
        zh, en = _REASONS[reason]
        super().__init__(detail=en if english() else zh)


@dataclass(frozen=True)
class ClientPrincipal:
    """``request.user`` for an API call: the client, not a staff user. ``request.auth`` is the ApiClient."""

    client: ApiClient
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_anonymous: bool = False

    def __str__(self) -> str:
        return self.client.actor_label

    @property
    def pk(self) -> None:  # never a user id: services must not store it in a user foreign key
        return None


def _authenticated(client: ApiClient) -> tuple[ClientPrincipal, ApiClient]:
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > LAST_USED_RESOLUTION:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return ClientPrincipal(client), client


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # another scheme: not ours
        if len(parts) != 2:
            raise ClientAuthenticationFailed("bad_header")
        try:
            token = parts[1].decode("ascii")
        except UnicodeError:
            raise ClientAuthenticationFailed("bad_header") from None
        client = ApiClient.objects.filter(token_hash=token_digest(token), is_active=True).first()
        if client is None:
            raise ClientAuthenticationFailed("bad_token")
        return _authenticated(client)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def hmac_signature(secret: str, *, method: str, path: str, timestamp: str, body: bytes) -> str:
    """The signature a client sends in X-Signature (also used by our tests and documented in the module)."""
    message = "\n".join([method.upper(), path, timestamp, hashlib.sha256(body or b"").hexdigest()])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


class HmacAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        meta = request.META
        key_id = meta.get("HTTP_X_API_KEY", "")
        timestamp = meta.get("HTTP_X_TIMESTAMP", "")
        signature = meta.get("HTTP_X_SIGNATURE", "")
        if not (key_id or timestamp or signature):
            return None
        if not (key_id and timestamp and signature):
            raise ClientAuthenticationFailed("missing_hmac")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise ClientAuthenticationFailed("bad_timestamp") from None
        if abs(time.time() - sent_at) > HMAC_MAX_SKEW:
            raise ClientAuthenticationFailed("skew")
        client = ApiClient.objects.filter(hmac_key_id=key_id, is_active=True).first()
        if client is None:
            raise ClientAuthenticationFailed("bad_key")
        expected = hmac_signature(
            client.hmac_secret,
            method=request.method,
            path=request._request.get_full_path(),
            timestamp=timestamp,
            body=request._request.body,
        )
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise ClientAuthenticationFailed("bad_signature")
        return _authenticated(client)

    def authenticate_header(self, request) -> str:
        return 'HMAC-SHA256 realm="api"'
