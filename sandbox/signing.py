"""Request signing, shared in spirit with the providers: HMAC-SHA256 over timestamp, nonce and body.

Headers: X-App-Key, X-Timestamp (unix seconds), X-Nonce, X-Signature = hex HMAC-SHA256(secret, f"{ts}\\n{nonce}\\n{body}").
The client (invoicing/channels/sandbox.py) has its own copy of ``sign``: it must not import the sandbox.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sandbox.models import SandboxAccount, SandboxNonce

MAX_SKEW_SECONDS = 300


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


SWEEP_EVERY_SECONDS = 60


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(*, app_key: str, timestamp: str, nonce: str, signature: str, body: bytes) -> SandboxAccount:
    """The calling account, or SignatureError. Consumes the nonce."""
    if not app_key or not timestamp or not nonce or not signature:
        raise SignatureError("1001", "缺少签名参数")
    account = SandboxAccount.objects.filter(app_key=app_key, is_active=True).first()
    if account is None:
        raise SignatureError("1004", "无效的AppKey")
    if not hmac.compare_digest(sign(account.secret, timestamp, nonce, body), signature.lower()):
        raise SignatureError("1001", "签名验证失败")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("1002", "时间戳格式错误") from None
    if abs(time.time() - ts) > MAX_SKEW_SECONDS:
        raise SignatureError("1002", "时间戳超出允许范围")
    try:
        with transaction.atomic():
            SandboxNonce.objects.create(account=account, nonce=nonce[:64])
    except IntegrityError:
        raise SignatureError("1003", "重复的请求（nonce已使用）") from None
    _sweep_nonces()
    return account


_last_sweep = 0.0


def _sweep_nonces() -> None:
    """Nonces older than twice the window can never be replayed successfully: keep the table small. Once a
    minute per process is enough (the unique index, not the sweep, is what refuses a replay)."""
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep < SWEEP_EVERY_SECONDS:
        return
    _last_sweep = now
    SandboxNonce.objects.filter(created_at__lt=timezone.now() - timedelta(seconds=2 * MAX_SKEW_SECONDS)).delete()
