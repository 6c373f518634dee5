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
    "receiving-platform-download": {
        "task": "receiving.platform_download_all",
        "schedule": crontab(hour=1, minute=40),  # CELERY_TIMEZONE (Asia/Shanghai): yesterday is complete by then
    },
    "receiving-platform-reconcile": {
        "task": "receiving.platform_reconcile_all",
        "schedule": crontab(hour=2, minute=50),  # after the download
    },
    "receiving-verification-retry": {
        "task": "receiving.verification_retry_due",
        "schedule": 60.0,
        "options": {"expires": 120.0},  # a backlog of retries is pointless: the next one does the same
    },
}
