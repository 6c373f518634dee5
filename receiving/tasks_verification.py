"""Celery tasks of verification: the bulk job and the periodic retry of what waits."""

from __future__ import annotations

from celery import Celery, shared_task
from django.contrib.auth import get_user_model

from invoicing.actors import SystemActor
from invoicing.celery import app as celery_app
from receiving import verification
from receiving.control_models import JobStatus, VerificationJob

RETRY_ACTOR = SystemActor("verification")


@shared_task(name="receiving.verification_job")
def verification_job_task(job_id: int) -> dict:
    """Run a bulk verification. What waits (platform unavailable, budget) is picked up by the periodic retry."""
    job = VerificationJob.objects.select_related("taxpayer").get(pk=job_id)
    if job.status == JobStatus.DONE:
        return {"job": job_id, "status": job.status}
    actor = get_user_model().objects.filter(pk=job.created_by_id).first() if job.created_by_id else RETRY_ACTOR
    job = verification.verification_job_run(job=job, actor=actor)
    return {"job": job_id, "status": job.status, "done": job.done, "waiting": job.waiting}


@shared_task(name="receiving.verification_retry_due")
def verification_retry_due_task() -> int:
    return verification.verification_retry_due(actor=RETRY_ACTOR)


BEAT_SCHEDULE = {
    "receiving-verification-retry": {
        "task": "receiving.verification_retry_due",
        "schedule": 60.0,
        "options": {"expires": 120.0},  # a backlog of retries is pointless: the next one does the same
    },
}


def _register_schedule(sender: Celery, **_kwargs: object) -> None:
    for name, entry in BEAT_SCHEDULE.items():
        sender.conf.beat_schedule.setdefault(name, entry)


celery_app.on_after_finalize.connect(_register_schedule, weak=False)
_register_schedule(celery_app)
