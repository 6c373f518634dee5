"""Provider access tokens: one per entity and channel in the database, refreshed ahead of expiry, fetched once.

A provider limits how many tokens an app may fetch (Nuonuo: 50 in 30 days, each valid 24 hours), and every worker
process needs the token. So the token lives in ``ChannelToken`` and ``token_get`` is the only way to it:

* a token valid for longer than ``REFRESH_AHEAD`` is returned without a lock;
* otherwise the row is locked (``select_for_update``) and checked again: the first worker fetches, the others wait
  on the lock and then find the new token. While the old token is still valid, a worker that finds the row locked
  (``skip_locked``) keeps using the old token instead of waiting;
* the fetch happens while the row is locked, on purpose: the lock is what makes it happen once. Only this one row is
  locked, in its own short transaction (the fetch has its own short time-outs), never inside the caller's work;
* every fetch, failed or not, is counted in ``fetches``; at the provider's cap the fetch is refused locally
  (``ChannelUnavailable(kind="session")``) rather than spent.

When the provider refuses a token that should be valid, ``token_invalidate`` marks it expired (only if it is still the
one that was refused), unless it was fetched moments ago: then the token is not the problem, and fetching again would
only spend the cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from invoicing.channels.base import ChannelError, ChannelUnavailable
from invoicing.channels.models import ChannelToken
from invoicing.models import Taxpayer

REFRESH_AHEAD = timedelta(hours=1)  # fetch a new token when the stored one has less than this left
CAP_WINDOW = timedelta(days=30)
MIN_AGE_TO_INVALIDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class TokenGrant:
    """What the provider's token endpoint answered."""

    access_token: str
    expires_in: int  # seconds


Fetch = Callable[[], TokenGrant]


def _usable(row: ChannelToken, now: datetime, *, margin: timedelta) -> bool:
    return bool(row.access_token) and row.expires_at is not None and row.expires_at - now > margin


def _recent(fetches: list[str], now: datetime) -> list[str]:
    return [at for at in fetches if datetime.fromisoformat(at) > now - CAP_WINDOW]


def token_get(*, taxpayer: Taxpayer, channel: str, fetch: Fetch, cap: int) -> str:
    """A valid access token for ``taxpayer`` on ``channel``: the stored one, or a new one from ``fetch()`` (at most
    ``cap`` fetches in 30 days). Never call it inside a transaction: it may wait for another worker's fetch."""
    now = timezone.now()
    row = ChannelToken.objects.filter(taxpayer=taxpayer, channel=channel).first()
    if row is not None and _usable(row, now, margin=REFRESH_AHEAD):
        return str(row.access_token)
    if row is None:
        row, _ = ChannelToken.objects.get_or_create(taxpayer=taxpayer, channel=channel)
    failure: ChannelError
    with transaction.atomic():
        locked = ChannelToken.objects.select_for_update(skip_locked=True).filter(pk=row.pk).first()
        if locked is None:  # another worker is fetching right now
            current = ChannelToken.objects.get(pk=row.pk)
            if _usable(current, now, margin=timedelta(0)):
                return str(current.access_token)  # still valid: no need to wait for the new one
            locked = ChannelToken.objects.select_for_update().get(pk=row.pk)
        now = timezone.now()  # after waiting for the lock
        if _usable(locked, now, margin=REFRESH_AHEAD):
            return str(locked.access_token)  # fetched by the worker that held the lock
        fetches = _recent(list(locked.fetches or []), now)
        if len(fetches) >= cap:
            locked.fetches = fetches
            locked.last_error = f"已达{cap}次/30天的令牌获取上限"
            locked.save(update_fields=["fetches", "last_error", "updated_at"])
            if _usable(locked, now, margin=timedelta(0)):
                return str(locked.access_token)  # not refreshed, but still valid for a while
            failure = ChannelUnavailable(locked.last_error, kind="session", code="token_cap")
        else:
            fetches.append(now.isoformat())
            locked.fetches = fetches
            try:
                grant = fetch()
            except ChannelError as exc:
                locked.last_error = f"{exc.code or exc.__class__.__name__}: {exc.message}"[:2000]
                locked.save(update_fields=["fetches", "last_error", "updated_at"])
                failure = exc
            else:
                locked.access_token = grant.access_token
                locked.fetched_at = now
                locked.expires_at = now + timedelta(seconds=grant.expires_in)
                locked.last_error = ""
                locked.save()
                return grant.access_token
    raise failure


def token_invalidate(*, taxpayer: Taxpayer, channel: str, token: str) -> bool:
    """The provider refused ``token``. Returns whether asking ``token_get`` again can help: True when a newer token
    is stored already, or after marking this one expired (the next ``token_get`` fetches a new one); False, leaving
    it, when this token was fetched less than five minutes ago (then the token is not what is wrong)."""
    now = timezone.now()
    with transaction.atomic():
        row = ChannelToken.objects.select_for_update().filter(taxpayer=taxpayer, channel=channel).first()
        if row is None or row.access_token != token:
            return True
        if row.fetched_at is not None and now - row.fetched_at < MIN_AGE_TO_INVALIDATE:
            return False
        row.expires_at = now
        row.save(update_fields=["expires_at", "updated_at"])
    return True
