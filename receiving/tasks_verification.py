"""Celery tasks of verification: the bulk job and the periodic retry of what waits (its beat entry in
``receiving/celery_schedule.py``)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from celery import shared_task
from django.contrib.auth import get_user_model

from invoicing.actors import SystemActor
from receiving import verification
from receiving.control_models import JobStatus, VerificationJob

RETRY_ACTOR = SystemActor("verification")


class VerificationJobResult(TypedDict):
    """What the bulk verification job returns (kept by the Celery result backend)."""

    job: int
    status: str
    done: NotRequired[int]
    waiting: NotRequired[int]


@shared_task(name="receiving.verification_job")  # type: ignore[untyped-decorator]  # Celery ships no type information
def verification_job_task(job_id: int) -> VerificationJobResult:
    """Run a bulk verification. What waits (platform unavailable, budget) is picked up by the periodic retry."""
    job = VerificationJob.objects.select_related("taxpayer").get(pk=job_id)
    if job.status == JobStatus.DONE:
        return {"job": job_id, "status": job.status}
    actor = get_user_model().objects.filter(pk=job.created_by_id).first() if job.created_by_id else RETRY_ACTOR
    job = verification.verification_job_run(job=job, actor=actor)
    return {"job": job_id, "status": job.status, "done": job.done, "waiting": job.waiting}


@shared_task(name="receiving.verification_retry_due")  # type: ignore[untyped-decorator]  # as above
def verification_retry_due_task() -> int:
    return verification.verification_retry_due(actor=RETRY_ACTOR)
