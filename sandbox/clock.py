"""The sandbox clock: real time plus a stored offset. Tests and the admin move it forward; business time never."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from sandbox.models import SandboxClock


def _row() -> SandboxClock:
    row, _ = SandboxClock.objects.get_or_create(pk=1)
    return row


def offset() -> timedelta:
    row = SandboxClock.objects.filter(pk=1).first()
    return timedelta(seconds=row.offset_seconds if row else 0)


def now() -> datetime:
    return timezone.now() + offset()


def advance(*, hours: float = 0, seconds: float = 0) -> datetime:
    """Move the platform's clock forward (never back) and return the new time."""
    delta = int(hours * 3600 + seconds)
    if delta < 0:
        raise ValueError("the sandbox clock only moves forward")
    with transaction.atomic():
        _row()
        row = SandboxClock.objects.select_for_update().get(pk=1)
        row.offset_seconds += delta
        row.save(update_fields=["offset_seconds"])
    return now()


def reset() -> None:
    SandboxClock.objects.update_or_create(pk=1, defaults={"offset_seconds": 0})
