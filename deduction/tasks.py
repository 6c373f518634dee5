"""Celery tasks of deduction: automatic transfers-out caught up, the bulk 勾选 job (beat entries in
``deduction/celery_schedule.py``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model

from deduction import bulk, transfers
from deduction.celery_schedule import BEAT_SCHEDULE
from invoicing.celery import beat_schedule_add
from invoicing.intake import jobs

logger = logging.getLogger(__name__)


@shared_task(name="deduction.transfers_out_catch_up", ignore_result=True)  # type: ignore[untyped-decorator]
def transfers_out_catch_up_task(taxpayer_id: int | None = None) -> dict[str, int]:
    """Automatic transfers-out (lines 20 and 23a) whose cause no signal turned into an entry
    (``transfers.transfers_out_catch_up``)."""
    made = transfers.transfers_out_catch_up(taxpayer_id=taxpayer_id)
    return {"made": len(made)}


@shared_task(name="deduction.bulk_select")  # type: ignore[untyped-decorator]  # Celery ships no type information
def bulk_select_task(job_id: str) -> dict[str, Any]:
    """Run (or, delivered again after a crash, resume) a bulk selection job as the user who started it."""
    job = jobs.read(job_id) or {}
    if job.get("status") in (jobs.SUCCEEDED, jobs.FAILED):
        return dict(job.get("result") or {})
    user = get_user_model().objects.get(pk=job["user_id"])
    try:
        done = bulk.deduction_bulk_select_run(job_id=job_id, actor=user)
    except Exception:
        logger.exception("bulk selection job %s stopped", job_id)
        raise  # the record keeps its progress: running the task again resumes it
    return dict(done.get("result") or {})


beat_schedule_add(BEAT_SCHEDULE)
