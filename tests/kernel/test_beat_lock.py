"""Beat started on two hosts: only the scheduler holding the PostgreSQL advisory lock sends periodic tasks."""

import pytest

from invoicing.beat import SingleBeatScheduler
from invoicing.celery import app

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _scheduler() -> SingleBeatScheduler:
    return SingleBeatScheduler(app=app, lazy=True)


def test_one_of_two_beats_sends_and_the_other_takes_over_when_it_stops():
    first, second = _scheduler(), _scheduler()
    try:
        assert first.holds_lock() is True
        assert second.holds_lock() is False
        assert first.holds_lock() is True  # kept, not taken twice
        # The standby does not send: its tick only waits for the next try.
        assert second.tick() == second.max_interval
        first.release_lock()  # the first host stops (or its connection dies)
        assert second.holds_lock() is True
        assert first.holds_lock() is False
    finally:
        first.release_lock()
        second.release_lock()


def test_a_lost_lock_connection_stands_the_scheduler_by_until_it_can_take_the_lock_again():
    beat = _scheduler()
    try:
        assert beat.holds_lock() is True
        beat._lock_connection.connection.close()  # the server went away under it
        assert beat.holds_lock() is False
        assert beat.holds_lock() is True
    finally:
        beat.release_lock()
