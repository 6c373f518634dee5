"""The deduction app's periodic tasks, added to Celery beat by ``deduction/tasks.py`` (``on_after_finalize``)."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "deduction-transfers-out-catch-up": {  # causes the receiving side's signals did not turn into entries
        "task": "deduction.transfers_out_catch_up",
        "schedule": crontab(minute=25),  # hourly, clear of receiving's quarter-hourly red-form pull
        "options": {"expires": 3600},
    },
}
