"""Deduction's reactions to what the receiving side reports (``receiving/signals.py``, connected in
``DeductionConfig.ready``): the automatic transfers-out of ``deduction/transfers.py``.

The work is queued on ``transaction.on_commit`` (it runs once whatever sent the signal has committed) and a failure
never reaches the receiving side: it is logged and the periodic catch-up makes the entry later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from deduction import transfers

logger = logging.getLogger(__name__)


def _later(work: Callable[[], object], what: str) -> None:
    def run() -> None:
        try:
            work()
        except Exception:  # the catch-up task tries again
            logger.exception("automatic transfer-out for %s failed", what)

    transaction.on_commit(run)


def on_red_form_applied(sender: Any, *, form_id: int, **kwargs: Any) -> None:
    _later(lambda: transfers.transfer_out_red_form(form_id=form_id), f"red form {form_id}")


def on_risk_level_changed(sender: Any, *, invoice_id: int, **kwargs: Any) -> None:
    _later(lambda: transfers.transfer_out_abnormal(invoice_id=invoice_id), f"invoice {invoice_id}")
