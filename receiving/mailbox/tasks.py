"""Celery tasks of the mailboxes: beat (``receiving/celery_schedule.py``) sends ``receiving.mailboxes_due`` every minute, which sends one
``receiving.mailbox_fetch`` per mailbox due (one failing mailbox never holds up another)."""

from __future__ import annotations

import logging

from celery import shared_task

from receiving.mailbox import fetching, services

logger = logging.getLogger(__name__)

@shared_task(name="receiving.mailboxes_due")
def mailboxes_due_task() -> list[int]:
    due = services.mailboxes_claim_due()
    for mailbox_id in due:
        mailbox_fetch_task.delay(mailbox_id)
    return due


@shared_task(name="receiving.mailbox_fetch", acks_late=True)
def mailbox_fetch_task(mailbox_id: int) -> dict:
    result = fetching.mailbox_fetch(mailbox_id)
    return {"mailbox": result.mailbox, "status": result.status, "messages": result.messages, "files": result.files,
            "issues": result.issues}
