"""The receiving app's periodic tasks, added to Celery beat by ``receiving/tasks.py`` (``on_after_finalize``)."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "receiving-purge-staging": {
        "task": "receiving.purge_staging",
        "schedule": crontab(minute=40),  # hourly: finished batches' staged files go within the hour
        "options": {"expires": 3600},
    },
    "receiving-booking-retry": {
        "task": "receiving.booking_retry",
        "schedule": crontab(minute="*/5"),  # 入账 waiting for the platform: again every five minutes
        "options": {"expires": 300},
    },
    "receiving-red-forms-pull": {
        "task": "receiving.red_forms_pull",
        "schedule": crontab(minute="*/15"),  # a supplier's form has 72 hours: seen within a quarter of an hour
        "options": {"expires": 900},
    },
}
