"""The receiving app's periodic tasks, added to Celery beat by ``receiving/tasks.py`` (``on_after_finalize``)."""

from __future__ import annotations

from celery.schedules import crontab

MAILBOXES_DUE_SECONDS = 60.0

BEAT_SCHEDULE = {
    "receiving-mailboxes-due": {  # one fetch per mailbox that is due (receiving/mailbox/tasks.py)
        "task": "receiving.mailboxes_due",
        "schedule": MAILBOXES_DUE_SECONDS,
        "options": {"expires": MAILBOXES_DUE_SECONDS},
    },
    "receiving-purge-staging": {
        "task": "receiving.purge_staging",
        "schedule": crontab(minute=40),  # hourly: finished batches' staged files go within the hour
        "options": {"expires": 3600},
    },
}
