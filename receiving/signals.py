"""Signals the receiving services send, each after the transaction that made the change commits (at once outside
one). Other apps listen to them: receiving never imports those apps.

``invoice_arrived``: a pool record was created or completed by a file (``invoice_id``). The receiving rules listen
(connected in ``ReceivingConfig.ready``) and run for that record.

``red_form_applied``: a red-letter form's red invoice exists and the pool record was reduced by it (``form_id``,
``invoice_id``, ``taxpayer_id``). Deduction listens: a deducted invoice's red part is transferred out (line 20).

``risk_level_changed``: a pool record's 风险等级 changed (``invoice_id``, ``before``, ``after``; ``02`` is 异常凭证).
Deduction listens: a deducted invoice that became an abnormal voucher is transferred out (line 23a), and back when
it is cleared.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

invoice_arrived = Signal()
red_form_applied = Signal()
risk_level_changed = Signal()


def invoice_arrived_on_commit(invoice_id: int) -> None:
    """Send ``invoice_arrived`` for ``invoice_id`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: invoice_arrived.send(sender=None, invoice_id=invoice_id))


def red_form_applied_on_commit(*, form_id: int, invoice_id: int, taxpayer_id: int) -> None:
    transaction.on_commit(lambda: red_form_applied.send(sender=None, form_id=form_id, invoice_id=invoice_id,
                                                        taxpayer_id=taxpayer_id))


def risk_level_changed_on_commit(*, invoice_id: int, before: str, after: str) -> None:
    transaction.on_commit(lambda: risk_level_changed.send(sender=None, invoice_id=invoice_id, before=before,
                                                          after=after))
