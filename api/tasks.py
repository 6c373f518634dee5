"""API housekeeping tasks."""

from __future__ import annotations

from celery import shared_task

from api import idempotency
from invoicing.celery import app as celery_app

BEAT_SCHEDULE = {
    "api-purge-idempotency-records": {
        "task": "api.purge_idempotency_records",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
}


@shared_task(name="api.purge_idempotency_records", ignore_result=True)
def purge_idempotency_records_task() -> int:
    return idempotency.purge_expired()


def _register_schedule(sender, **kwargs) -> None:  # noqa: ANN001
    for name, entry in BEAT_SCHEDULE.items():
        sender.conf.beat_schedule.setdefault(name, entry)


celery_app.on_after_finalize.connect(_register_schedule, weak=False)
_register_schedule(celery_app)
