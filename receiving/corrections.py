"""Correcting a pool record by hand (a wrong date, amount, check code or party typed or read): the fields change,
the event keeps both values, and what depends on the record follows: a cached verification no longer matches the
record's key fields (so it may be verified again at once), overrides of its rules lapse, and its rules run again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from invoicing.actors import Actor
from invoicing.events import event_record
from receiving.models import ReceivedInvoice
from receiving.services import FIELD_WORDS, P_REVIEW, authorize
from receiving.signals import invoice_arrived_on_commit
from receiving.stats import received_rollup

CORRECTABLE = ("issue_date", "check_code", "seller_name", "seller_tax_id", "buyer_name", "buyer_tax_id", "amount",
               "tax", "total", "passenger_name")


def received_invoice_correct(*, record: ReceivedInvoice, changes: dict[str, Any], note: str,
                             actor: Actor) -> ReceivedInvoice:
    """Change some fields of a pool record; each is checked like the record's own fields (length, the total is
    amount + tax), and nothing is written unless all pass."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": gettext("请填写更正说明")})
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise ValidationError({"changes": gettext("这些字段不能更正：%(fields)s") % {"fields": "、".join(unknown)}})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_REVIEW)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        changed = [name for name in changes if getattr(locked, name) != before[name]]
        if not changed:
            return locked
        locked.full_clean(exclude=[f.name for f in ReceivedInvoice._meta.fields if f.name not in changed])
        received_rollup([locked.pk], sign=-1)  # out of the statistics as stored, back in as corrected
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "updated_at"])
                received_rollup([locked.pk])
        except IntegrityError as exc:
            raise ValidationError(gettext("更正后的金额不一致：价税合计应等于金额加税额")) from exc
        event_record(obj=locked, action="correct", actor=actor, reason=note[:500],
                     data={"fields": {name: {"from": str(before[name] if before[name] is not None else ""),
                                             "to": str(getattr(locked, name) if getattr(locked, name) is not None
                                                       else "")} for name in changed},
                           "words": [str(FIELD_WORDS.get(name, name)) for name in changed]},
                     taxpayer=locked.taxpayer)
        invoice_arrived_on_commit(locked.pk)
    return locked
