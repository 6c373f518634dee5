"""The issuing app's periodic tasks, added to Celery beat by ``issuing/tasks.py`` (``on_after_finalize``).

With ``CELERY_BEAT_SCHEDULER = django_celery_beat.schedulers:DatabaseScheduler`` beat copies these entries into
``PeriodicTask`` rows when it starts, so they show (and can be paused) in the admin.
"""

from __future__ import annotations

from celery.schedules import crontab

POLL_SECONDS = 30.0

BEAT_SCHEDULE = {
    "issuing-poll-pending": {
        "task": "issuing.poll_pending_issues",
        "schedule": POLL_SECONDS,
        "options": {"expires": POLL_SECONDS * 2},  # a backlog of polls is pointless: the next one does the same
    },
    "issuing-reconcile-daily": {
        "task": "issuing.reconcile_issuing",
        "schedule": crontab(hour=2, minute=30),  # CELERY_TIMEZONE (Asia/Shanghai): yesterday is complete by then
    },
    "issuing-purge-job-files": {
        "task": "issuing.purge_job_files",
        "schedule": crontab(hour=3, minute=10),
    },
}
