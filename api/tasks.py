"""API housekeeping tasks."""

from __future__ import annotations

from celery import shared_task

from api import authentication, idempotency
from invoicing.celery import beat_schedule_add

BEAT_SCHEDULE = {
    "api-purge-idempotency-records": {
        "task": "api.purge_idempotency_records",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "api-purge-hmac-nonces": {
        "task": "api.purge_hmac_nonces",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
}


@shared_task(name="api.purge_idempotency_records", ignore_result=True)
def purge_idempotency_records_task() -> int:
    return idempotency.purge_expired()


@shared_task(name="api.purge_hmac_nonces", ignore_result=True)
def purge_hmac_nonces_task() -> int:
    return authentication.purge_nonces()


beat_schedule_add(BEAT_SCHEDULE)
