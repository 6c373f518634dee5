"""The beat scheduler: django-celery-beat's database scheduler, sending only on the host that holds a lock.

Beat must run once: two beats would send every periodic task twice. A beat started on a second host (a failover
spare, a deploy that overlaps) takes a PostgreSQL session-level advisory lock on a connection of its own before each
tick; the one that holds it sends, the others wait and take over within ``max_interval`` seconds once the holder's
connection is gone (its process ended or its host died: the server releases the lock). On SQLite (development, one
host) there is nothing to share and the scheduler always sends.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# pg_advisory_lock key of the beat: an arbitrary constant no other lock of the project uses ("fapiao beat").
BEAT_LOCK_KEY = 0x66617069616F62


def _expiry_stored(entry: dict[str, Any]) -> dict[str, Any]:
    options = dict(entry.get("options") or {})
    expires = options.get("expires")
    if isinstance(expires, (int, float)) and "expire_seconds" not in options:
        options["expire_seconds"] = max(1, round(options.pop("expires")))
    return {**entry, "options": options}


class SingleBeatScheduler(DatabaseScheduler):  # type: ignore[misc]  # django-celery-beat is untyped
    _lock_connection: BaseDatabaseWrapper | None = None
    _holds_lock = False

    def holds_lock(self) -> bool:
        """Whether this scheduler may send now: take the lock if it is free, keep it if held (connection alive)."""
        if connections["default"].vendor != "postgresql":
            return True
        try:
            if self._lock_connection is None:
                # Not Django's per-thread connection: that one is closed between ticks, and the lock with it.
                self._lock_connection = connections.create_connection("default")
            with self._lock_connection.cursor() as cursor:
                if self._holds_lock:
                    cursor.execute("SELECT 1")
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
                    (acquired,) = cursor.fetchone()
                    if acquired:
                        logger.info("beat: this scheduler holds the lock and sends periodic tasks")
                    self._holds_lock = bool(acquired)
        except Exception:  # noqa: BLE001 - a lost connection loses the lock: stand by and try again next tick
            logger.warning("beat: lock connection lost; standing by", exc_info=True)
            self.release_lock()
        return self._holds_lock

    def release_lock(self) -> None:
        self._holds_lock = False
        if self._lock_connection is not None:
            try:
                self._lock_connection.close()  # the server releases a session's advisory locks with it
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._lock_connection = None

    def update_from_dict(self, mapping: dict[str, dict[str, Any]]) -> None:
        """The settings' entries, with Celery's ``expires`` option (seconds) stored as django-celery-beat's
        ``expire_seconds``: its model knows only that one and drops the other without a word, so a periodic task
        left in the queue while the workers are down would run late instead of expiring."""
        super().update_from_dict({name: _expiry_stored(entry) for name, entry in mapping.items()})

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.holds_lock():
            return float(self.max_interval)
        result: float = super().tick(*args, **kwargs)
        return result

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_lock()
