"""Celery tasks of deduction (their beat entries in ``deduction/celery_schedule.py``)."""

from __future__ import annotations

from celery import Celery, shared_task

from deduction import transfers
from deduction.celery_schedule import BEAT_SCHEDULE
from invoicing.celery import app as celery_app


@shared_task(name="deduction.transfers_out_catch_up", ignore_result=True)  # type: ignore[untyped-decorator]
def transfers_out_catch_up_task(taxpayer_id: int | None = None) -> dict[str, int]:
    """Automatic transfers-out (lines 20 and 23a) whose cause no signal turned into an entry
    (``transfers.transfers_out_catch_up``)."""
    made = transfers.transfers_out_catch_up(taxpayer_id=taxpayer_id)
    return {"made": len(made)}


def _register_schedule(sender: Celery, **kwargs: object) -> None:
    for name, entry in BEAT_SCHEDULE.items():
        sender.conf.beat_schedule.setdefault(name, entry)


celery_app.on_after_finalize.connect(_register_schedule, weak=False)
_register_schedule(celery_app)
