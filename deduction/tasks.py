"""Celery tasks of deduction: the bulk 勾选 job."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model

from deduction import bulk
from invoicing.intake import jobs

logger = logging.getLogger(__name__)


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
