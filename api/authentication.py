"""How an upstream system proves who it is: a bearer token, or an HMAC signature over the request.

Bearer: ``Authorization: Bearer <token>``. Only the token's SHA-256 is stored.

HMAC: ``X-Api-Key: <key id>``, ``X-Timestamp: <unix seconds>``, ``X-Nonce: <16-64 of [A-Za-z0-9_-]>``,
``X-Signature: <hex>`` where the signature is HMAC-SHA256 with the client's secret over five lines joined by
``\\n``::

    METHOD
    /api/v1/path/?query
    timestamp
    nonce
    sha256 hex of the raw body (of b"" when there is none)

A timestamp more than ``HMAC_MAX_SKEW`` seconds away from our clock is refused, and a nonce the client already used
within that window is refused (``HmacNonce``, kept a little longer than the window), so a captured request cannot be
replayed. ``API_HMAC_REQUIRE_NONCE = False`` still accepts the older four-line signature without a nonce (no replay
protection) while integrators move over.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from api.errors import english
from api.models import ApiClient, HmacNonce, token_digest

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
    "missing_nonce": ("HMAC 认证需要 X-Nonce 头（每个请求不同的随机串）",
                      "HMAC authentication needs an X-Nonce header (a different random string for every request)"),
    "bad_nonce": ("X-Nonce 应为 16–64 个字母、数字、- 或 _", "X-Nonce must be 16-64 letters, digits, '-' or '_'"),
    "replayed": ("该 X-Nonce 已使用过（重放的请求）", "This X-Nonce was already used (a replayed request)"),
}
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


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


def hmac_signature(secret: str, *, method: str, path: str, timestamp: str, body: bytes, nonce: str | None = None) -> str:
    """The signature a client sends in X-Signature (also used by our tests and documented in the module).
    ``nonce=None`` gives the older four-line form, accepted only when ``API_HMAC_REQUIRE_NONCE`` is off."""
    parts = [method.upper(), path, timestamp, *([nonce] if nonce is not None else []), hashlib.sha256(body or b"").hexdigest()]
    message = "\n".join(parts)
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def require_nonce() -> bool:
    return bool(getattr(settings, "API_HMAC_REQUIRE_NONCE", True))


def nonce_use(client: ApiClient, nonce: str) -> bool:
    """Record ``nonce`` as used by ``client``; False when it was used before (a replay). Requests are not wrapped
    in a transaction (no ATOMIC_REQUESTS), so the row commits at once and a request that fails later still spends
    its nonce; the unique constraint settles two concurrent uses."""
    try:
        with transaction.atomic():
            HmacNonce.objects.create(client=client, nonce=nonce)
    except IntegrityError:
        return False
    return True


def purge_nonces(*, now=None) -> int:
    """Delete nonces older than twice the clock window: a request that old is refused by its timestamp anyway."""
    cutoff = (now or timezone.now()) - timedelta(seconds=2 * HMAC_MAX_SKEW)
    deleted, _ = HmacNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class HmacAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        meta = request.META
        key_id = meta.get("HTTP_X_API_KEY", "")
        timestamp = meta.get("HTTP_X_TIMESTAMP", "")
        signature = meta.get("HTTP_X_SIGNATURE", "")
        nonce = meta.get("HTTP_X_NONCE")
        if not (key_id or timestamp or signature):
            return None
        if not (key_id and timestamp and signature):
            raise ClientAuthenticationFailed("missing_hmac")
        if nonce is None and require_nonce():
            raise ClientAuthenticationFailed("missing_nonce")
        if nonce is not None and not _NONCE.match(nonce):
            raise ClientAuthenticationFailed("bad_nonce")
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
            nonce=nonce,
        )
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise ClientAuthenticationFailed("bad_signature")
        if nonce is not None and not nonce_use(client, nonce):
            raise ClientAuthenticationFailed("replayed")
        return _authenticated(client)

    def authenticate_header(self, request) -> str:
        return 'HMAC-SHA256 realm="api"'
