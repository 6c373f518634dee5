"""The receiving app's periodic tasks, added to Celery beat by ``receiving/tasks.py`` (``on_after_finalize``)."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "receiving-purge-staging": {
        "task": "receiving.purge_staging",
        "schedule": crontab(minute=40),  # hourly: finished batches' staged files go within the hour
        "options": {"expires": 3600},
    },
}
