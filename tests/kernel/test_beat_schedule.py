"""Each app's periodic tasks reach beat's schedule, whether its tasks module is imported before or after the Celery
app is finalized (a process that sends a task first finalizes it before autodiscovery imports the rest)."""

from celery.schedules import crontab

from invoicing.celery import app, beat_schedule_add


def test_entries_added_after_the_app_is_finalized_are_in_the_schedule():
    app.finalize()
    assert app.finalized
    entry = {"task": "invoicing.send_dashboard_digests", "schedule": crontab(minute=0)}
    try:
        beat_schedule_add({"test-late-entry": entry})
        assert app.conf.beat_schedule["test-late-entry"] is entry
    finally:
        app.conf.beat_schedule.pop("test-late-entry", None)


def test_an_entry_of_the_settings_wins_over_the_app_default():
    app.finalize()
    mine = {"task": "invoicing.send_dashboard_digests", "schedule": crontab(minute=5)}
    app.conf.beat_schedule["test-overridden"] = mine
    try:
        beat_schedule_add({"test-overridden": {"task": "invoicing.send_dashboard_digests", "schedule": 60.0}})
        assert app.conf.beat_schedule["test-overridden"] is mine
    finally:
        app.conf.beat_schedule.pop("test-overridden", None)


def test_every_app_registers_its_entries():
    app.finalize()
    # the tasks modules (what a worker and beat import at start) register their app's entries when imported
    from api.tasks import BEAT_SCHEDULE as API
    from deduction.tasks import BEAT_SCHEDULE as DEDUCTION
    from delivery.tasks import BEAT_SCHEDULE as DELIVERY
    from invoicing.tasks import BEAT_SCHEDULE as KERNEL
    from issuing.platform.tasks import BEAT_SCHEDULE as ISSUING
    from issuing.redletter.tasks import BEAT_SCHEDULE as REDLETTER
    from receiving.tasks import BEAT_SCHEDULE as RECEIVING

    for entries in (API, DEDUCTION, DELIVERY, KERNEL, ISSUING, REDLETTER, RECEIVING):
        assert entries
        for name in entries:
            assert name in app.conf.beat_schedule, name
