"""Red-letter tasks: thin. Poll forms (status changes, the 72-hour expiry on the platform's clock, red invoices),
pull forms our buyers raised, and red-flush refunds; each calls ``issuing.redletter.sync`` or ``.refunds``.

The beat entries are added to Celery's schedule the way ``issuing/platform/tasks.py`` adds its own. This module is
imported by ``issuing/tasks.py``, which the workers' autodiscovery loads.
"""

from __future__ import annotations

import logging

from celery import shared_task

from invoicing.celery import beat_schedule_add
from invoicing.channels.base import ChannelError
from invoicing.models import Taxpayer
from issuing.redletter.models import RedLetterForm
from issuing.redletter.refunds import refunds_scan
from issuing.redletter.sync import (
    redletter_expire_due,
    redletter_poll,
    redletter_pull_inbound,
    redletter_send,
    redletter_sync,
)

logger = logging.getLogger(__name__)

POLL_SECONDS = 60.0
INBOUND_SECONDS = 300.0
REFUND_SECONDS = 60.0

BEAT_SCHEDULE = {
    "redletter-poll": {
        "task": "issuing.redletter_poll",
        "schedule": POLL_SECONDS,
        "options": {"expires": POLL_SECONDS * 2},
    },
    "redletter-expire-due": {
        "task": "issuing.redletter_expire_due",
        "schedule": 15 * 60.0,
        "options": {"expires": 15 * 60.0},
    },
    "redletter-pull-inbound": {
        "task": "issuing.redletter_pull_inbound",
        "schedule": INBOUND_SECONDS,
        "options": {"expires": INBOUND_SECONDS},
    },
    "redletter-refunds": {
        "task": "issuing.redletter_refunds",
        "schedule": REFUND_SECONDS,
        "options": {"expires": REFUND_SECONDS * 2},
    },
}


@shared_task(name="issuing.redletter_send", acks_late=True)
def redletter_send_task(form_id: int) -> str:
    return redletter_send(form_id=form_id).status


@shared_task(name="issuing.redletter_sync", acks_late=True)
def redletter_sync_task(form_id: int) -> str:
    form = RedLetterForm.objects.filter(pk=form_id).first()
    return "" if form is None else redletter_sync(form=form).status


@shared_task(name="issuing.redletter_poll", ignore_result=True)
def redletter_poll_task(taxpayer_id: int | None = None) -> dict:
    return redletter_poll(taxpayer_id=taxpayer_id).as_dict()


@shared_task(name="issuing.redletter_expire_due", ignore_result=True)
def redletter_expire_due_task() -> dict:
    return redletter_expire_due().as_dict()


@shared_task(name="issuing.redletter_pull_inbound", ignore_result=True)
def redletter_pull_inbound_task(taxpayer_id: int | None = None) -> dict:
    """Every active entity with a platform channel (or one): forms its buyers raised against its invoices."""
    qs = Taxpayer.objects.filter(is_active=True).exclude(channel="").exclude(channel_app_key="")
    if taxpayer_id is not None:
        qs = qs.filter(pk=taxpayer_id)
    totals = {"entities": 0, "created": 0, "updated": 0, "errors": 0}
    for taxpayer in qs.order_by("pk"):
        totals["entities"] += 1
        try:
            report = redletter_pull_inbound(taxpayer=taxpayer)
        except ChannelError as exc:  # unavailable, unsupported: the next run tries again
            logger.info("inbound red forms for %s: %s", taxpayer.pk, exc)
            totals["errors"] += 1
            continue
        totals["created"] += report.created
        totals["updated"] += report.updated
    return totals


@shared_task(name="issuing.redletter_refunds", ignore_result=True)
def redletter_refunds_task() -> dict:
    """Refunds recorded on billing documents (from the admin, the API or an import) red-flush on their own."""

    outcomes = refunds_scan()
    return {"refunds": len(outcomes), "forms": sum(len(o.forms) for o in outcomes)}


beat_schedule_add(BEAT_SCHEDULE)
