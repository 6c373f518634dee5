"""Celery tasks of the mailboxes: beat (``receiving/celery_schedule.py``) sends ``receiving.mailboxes_due`` every minute, which sends one
``receiving.mailbox_fetch`` per mailbox due (one failing mailbox never holds up another)."""

from __future__ import annotations

import logging
from typing import TypedDict

from celery import shared_task

from receiving.mailbox import fetching, services

logger = logging.getLogger(__name__)


class FetchTaskResult(TypedDict):
    """What a mailbox's run returns (kept by the Celery result backend)."""

    mailbox: int
    status: str
    messages: int
    files: int
    issues: int


@shared_task(name="receiving.mailboxes_due")  # type: ignore[untyped-decorator]  # Celery ships no type information
def mailboxes_due_task() -> list[int]:
    due = services.mailboxes_claim_due()
    for mailbox_id in due:
        mailbox_fetch_task.delay(mailbox_id)
    return due


@shared_task(name="receiving.mailbox_fetch", acks_late=True)  # type: ignore[untyped-decorator]  # as above
def mailbox_fetch_task(mailbox_id: int) -> FetchTaskResult:
    result = fetching.mailbox_fetch(mailbox_id)
    return {"mailbox": result.mailbox, "status": result.status, "messages": result.messages, "files": result.files,
            "issues": result.issues}
