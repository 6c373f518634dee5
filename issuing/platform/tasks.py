"""Issuing tasks: thin. Load by id, call ``issuing.platform.services``, retry with backoff on ``ChannelUnavailable``."""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from invoicing.celery import beat_schedule_add
from invoicing.channels.base import ChannelUnavailable
from issuing.celery_schedule import BEAT_SCHEDULE
from issuing.platform import services as platform_services
from issuing.platform.reconcile import reconcile_all

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="issuing.issue_application", acks_late=True, max_retries=None)
def issue_application_task(self, application_id: int) -> str:
    """One attempt; ``ChannelUnavailable`` → retry after base·2^(n-1) seconds, same serial.

    The service counts attempts and stops raising once the application needs a person, so ``max_retries`` is
    unlimited here: the number of attempts is ``ISSUING_MAX_ATTEMPTS``, decided in one place.
    """
    while True:
        try:
            outcome = platform_services.issue_attempt(application_id=application_id)
        except ChannelUnavailable as exc:
            attempt = getattr(exc, "attempt", self.request.retries + 1)
            if self.request.is_eager:
                # Eager (tests, CELERY_TASK_ALWAYS_EAGER): there is no broker to come back through, and an eager
                # retry with propagation raises instead of re-running. Try again in place; the service bounds it.
                continue
            countdown = platform_services.retry_countdown(attempt - 1)
            logger.info("issue %s unavailable (%s), attempt %s in %ss", application_id, exc.kind, attempt, countdown)
            raise self.retry(exc=exc, countdown=countdown) from None
        if outcome == platform_services.Outcome.PENDING and not self.request.is_eager:
            # The platform accepted the request and finishes it asynchronously: look again shortly instead of
            # leaving it to the periodic poller, so an approved application shows its invoice within seconds.
            check_issue_result_task.apply_async((application_id, 1), countdown=FOLLOW_UP_SECONDS)
        return outcome


@shared_task(name="issuing.issue_batch", acks_late=True, ignore_result=True)
def issue_batch_task(application_ids: list[int]) -> dict:
    """Many applications queued together (a bulk 发起开票): ``issuing.issue_batch``; those the platform could not
    take now go on alone as ``issue_application_task`` after their backoff, pending ones get the follow-up checks.
    Redelivered after a killed worker, it finds what was issued by serial (duplicate → query): still one invoice."""
    report = platform_services.issue_batch(application_ids=application_ids)
    _follow_up(report)
    return report.as_dict()


@shared_task(name="issuing.issue_drain", acks_late=True, ignore_result=True)
def issue_drain_task() -> dict:
    """Single submissions waiting for the grouped path (``application_request_issue``): claim up to a batch and
    start them (``issue_drain_claim``, committed), arm the next drain at once when the batch was full (another
    worker takes it meanwhile), then issue them as ``issue_batch_task`` does, with the same follow-ups. Killed after
    the claim, its applications are 开票中 with their serials: the poller finds them, as for a batch task."""
    platform_services.issue_drain_disarm()
    claim = platform_services.issue_drain_claim()
    if claim.full:
        platform_services.issue_drain_arm(now=True)
    if not claim.marked:
        return {"claimed": 0, "refused": len(claim.refused)}
    report = platform_services.issue_claimed(claim)
    _follow_up(report)
    return report.as_dict() | {"claimed": len(claim.marked), "refused": len(claim.refused)}


def _follow_up(report: platform_services.BatchReport) -> None:
    """Those the platform could not take now go on alone after their backoff; pending ones get the checks."""
    for application_id, attempt in report.retry:
        issue_application_task.apply_async((application_id,), countdown=platform_services.retry_countdown(attempt - 1))
    for application_id in report.pending:
        check_issue_result_task.apply_async((application_id, 1), countdown=FOLLOW_UP_SECONDS)


FOLLOW_UP_SECONDS = 2
FOLLOW_UP_CHECKS = 10


@shared_task(name="issuing.check_issue_result", ignore_result=True)
def check_issue_result_task(application_id: int, check: int) -> None:
    """Query one pending application a few times after it was accepted; the periodic poller remains the net."""
    report = platform_services.issue_poll_pending(older_than_seconds=0, application_id=application_id)
    if report.pending and check < FOLLOW_UP_CHECKS:
        check_issue_result_task.apply_async((application_id, check + 1), countdown=FOLLOW_UP_SECONDS * check)


@shared_task(name="issuing.poll_pending_issues", ignore_result=True)
def poll_pending_issues_task(older_than_seconds: int | None = None) -> dict:
    return platform_services.issue_poll_pending(older_than_seconds=older_than_seconds).as_dict()


@shared_task(name="issuing.reconcile_issuing")
def reconcile_issuing_task(day: str | None = None, taxpayer_id: int | None = None) -> list[dict]:
    """Daily: every active entity's invoices of ``day`` (default yesterday) against the platform."""
    return [r.as_dict() for r in reconcile_all(day=date.fromisoformat(day) if day else None, taxpayer_id=taxpayer_id)]


beat_schedule_add(BEAT_SCHEDULE)
