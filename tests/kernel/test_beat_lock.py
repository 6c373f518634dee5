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


@pytest.mark.django_db(transaction=True)  # the scheduler closes the connection between reads, as beat does
def test_an_entrys_expiry_reaches_the_messages_beat_sends():
    """Celery's ``expires`` option of a settings entry (seconds) becomes django-celery-beat's ``expire_seconds``,
    which it turns back into the message's expiry; left as ``expires`` it was dropped."""
    from django_celery_beat.models import PeriodicTask

    beat = _scheduler()
    beat.update_from_dict({
        "test-expiring": {"task": "delivery.requeue_stale_files", "schedule": 30.0, "options": {"expires": 60.0}},
        "test-lasting": {"task": "delivery.requeue_stale_files", "schedule": 30.0},
    })
    assert PeriodicTask.objects.get(name="test-expiring").expire_seconds == 60
    assert beat.schedule["test-expiring"].options["expires"] == 60
    assert PeriodicTask.objects.get(name="test-lasting").expire_seconds is None
    assert "expires" not in beat.schedule["test-lasting"].options


@pytest.mark.django_db(transaction=True)
def test_every_periodic_task_of_the_project_that_sets_an_expiry_keeps_it():
    from django_celery_beat.models import PeriodicTask

    app.loader.import_default_modules()  # each app's tasks module adds its entries, as in a worker or beat
    beat = _scheduler()
    beat.update_from_dict(app.conf.beat_schedule)
    expiring = {name: entry["options"]["expires"] for name, entry in app.conf.beat_schedule.items()
                if "expires" in (entry.get("options") or {})}
    assert len(expiring) >= 5
    stored = dict(PeriodicTask.objects.filter(name__in=expiring).values_list("name", "expire_seconds"))
    assert stored == {name: round(seconds) for name, seconds in expiring.items()}
