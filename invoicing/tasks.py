"""The kernel's Celery tasks: the daily digest of the admin home's red cards (``invoicing.notifications``)."""

from __future__ import annotations

from celery import shared_task
from celery.schedules import crontab

from invoicing import notifications
from invoicing.celery import beat_schedule_add

BEAT_SCHEDULE = {
    "invoicing-dashboard-digest": {
        "task": "invoicing.send_dashboard_digests",
        "schedule": crontab(hour=8, minute=0),  # CELERY_TIMEZONE (Asia/Shanghai): before the working day
        "options": {"expires": 6 * 3600},
    },
}


@shared_task(name="invoicing.send_dashboard_digests", ignore_result=True)  # type: ignore[untyped-decorator]  # Celery ships no type information
def dashboard_digests_send() -> int:
    return notifications.dashboard_digests_send()


beat_schedule_add(BEAT_SCHEDULE)
