"""Automatic 进项税额转出 (domain.md §15): what happens after an invoice was deducted in a confirmed period.

* a red-letter form is confirmed against it and its red invoice exists → line 20, the tax of the red part (at most
  what was deducted and not yet transferred), one entry per form;
* it becomes an abnormal voucher (异常凭证, 风险等级 02) → line 23a, the tax it deducted (less what line 20 already
  took back); cleared later (风险等级 01) → a negative 23a entry of the same amount. Each episode once.

Each entry goes into the entity's current period that is still open for 勾选 or statistics (never a confirmed or filed
one, and always later than the period that deducted the invoice), with its invoice and a ``source_key`` naming its
cause: the unique key and the check made under the period's and the invoice's locks make every cause count once,
whichever path sees it first — the receiving side's signals (``deduction/apps.py``), the periodic catch-up
(``transfers_out_catch_up``, beat in ``deduction/celery_schedule.py``) or the workbench's button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from deduction.models import PeriodState, Purpose, Selection, SelectionState, TaxPeriod, TransferLine, TransferOut
from deduction.periods import current_period, period_after
from invoicing.actors import SYSTEM, Actor, actor_user
from invoicing.events import event_record
from receiving.models import ReceivedInvoice, ReceivedRedForm, RiskLevel
from receiving.services import authorize

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
P_PERIOD = "deduction.change_taxperiod"
CLOSED = (PeriodState.CONFIRMED, PeriodState.FILED)


def deducted_selection(invoice_id: int) -> Selection | None:
    """The invoice's accepted 抵扣 selection in a confirmed (or filed) period, if it has one."""
    return (Selection.objects.filter(invoice_id=invoice_id, state=SelectionState.ACCEPTED, purpose=Purpose.DEDUCT,
                                     tax_period__state__in=CLOSED)
            .select_related("tax_period").first())


def target_period(*, taxpayer_id: int, after: str, today: date | None = None) -> TaxPeriod:
    """The period an automatic transfer-out goes into: the entity's current one, else the first later one that is
    not confirmed or filed, and always later than ``after`` (the period that deducted the invoice). Created open."""
    candidate = current_period(taxpayer_id=taxpayer_id, today=today or timezone.localdate())
    if candidate <= after:
        candidate = period_after(after)
    while True:
        row = TaxPeriod.objects.filter(taxpayer_id=taxpayer_id, period=candidate).first()
        if row is None:
            row, created = TaxPeriod.objects.get_or_create(taxpayer_id=taxpayer_id, period=candidate)
            if created:
                event_record(obj=row, action="create", actor=SYSTEM, data={"period": candidate})
        if row.state not in CLOSED:
            return row
        candidate = period_after(candidate)


def _lock(period: TaxPeriod, invoice_id: int, actor: Actor) -> tuple[TaxPeriod, ReceivedInvoice] | None:
    """The period, then the invoice, under lock (the selection's order); None when the period may take no more."""
    locked = TaxPeriod.objects.select_for_update().select_related("taxpayer").get(pk=period.pk)
    authorize(actor, locked.taxpayer_id, P_PERIOD)
    if locked.state == PeriodState.FILED:
        return None
    return locked, ReceivedInvoice.objects.select_for_update().get(pk=invoice_id)


def _sum(qs: QuerySet[TransferOut]) -> Decimal:
    value = qs.aggregate(s=Sum("tax"))["s"]
    return value if value is not None else ZERO


def _red_room(invoice: ReceivedInvoice, sel: Selection) -> Decimal:
    """What line 20 may still take for ``invoice``: the red tax that came after the selection (the face tax it took
    was already less what was red-flushed before), at most the deducted tax, less what line 20 took already."""
    red_before = (invoice.tax or ZERO) - sel.face_tax if invoice.tax is not None else ZERO
    since = invoice.red_tax - max(red_before, ZERO)
    done = _sum(TransferOut.objects.filter(invoice=invoice, line=TransferLine.RED_FORM))
    return min(since, sel.effective_tax) - done


def _create(period: TaxPeriod, line: str, tax: Decimal, key: str, invoice: ReceivedInvoice, actor: Actor,
            reason: str, data: dict[str, object]) -> TransferOut:
    row = TransferOut.objects.create(tax_period=period, line=line, tax=tax, reason=reason[:300], invoice=invoice,
                                     automatic=True, source_key=key, created_by=actor_user(actor))
    event_record(obj=period, action="transfer_out", actor=actor, reason=reason[:500], taxpayer=period.taxpayer,
                 data={"line": line, "tax": str(tax), "invoice_id": invoice.pk, "automatic": True, "source": key,
                       **data})
    return row


def transfer_out_red_form(*, form_id: int, actor: Actor = SYSTEM, tax_period: TaxPeriod | None = None,
                          today: date | None = None) -> TransferOut | None:
    """Line 20 for a red-letter form whose red invoice exists, against an invoice deducted in an earlier confirmed
    period: the form's red tax, at most what may still be taken (``_red_room``). Once per form; None when nothing is
    due (not deducted, already done, the period is not later than the deduction)."""
    form = ReceivedRedForm.objects.filter(pk=form_id, applied=True).first()
    if form is None:
        return None
    sel = deducted_selection(form.invoice_id)
    if sel is None:
        return None
    key = f"red-form:{form.pk}"
    if TransferOut.objects.filter(source_key=key).exists():
        return None
    period = tax_period or target_period(taxpayer_id=sel.tax_period.taxpayer_id, after=sel.tax_period.period,
                                         today=today)
    if period.taxpayer_id != sel.tax_period.taxpayer_id or period.period <= sel.tax_period.period:
        return None
    with transaction.atomic():
        pair = _lock(period, form.invoice_id, actor)
        if pair is None or TransferOut.objects.filter(source_key=key).exists():
            return None
        locked, invoice = pair
        due = min(-form.tax, _red_room(invoice, sel))
        if due <= 0:
            return None
        return _create(locked, TransferLine.RED_FORM, due, key, invoice, actor, gettext(
            "发票 %(number)s（%(period)s 已抵扣）按红字确认单 %(form)s 红冲，红字税额 %(tax)s") % {
            "number": invoice, "period": sel.tax_period.period, "form": form.form_no or form.pk, "tax": -form.tax},
            {"form_id": form.pk, "form_no": form.form_no, "deducted_in": sel.tax_period.period})


def transfer_out_red_residual(*, invoice_id: int, actor: Actor, tax_period: TaxPeriod) -> TransferOut | None:
    """Line 20 for red tax on a deducted invoice that no form explains (the button: e.g. a red invoice entered by
    hand): keyed by the red tax it reached, within the same room as the forms'."""
    sel = deducted_selection(invoice_id)
    if sel is None or tax_period.period <= sel.tax_period.period:
        return None
    with transaction.atomic():
        pair = _lock(tax_period, invoice_id, actor)
        if pair is None:
            return None
        locked, invoice = pair
        key = f"red:{invoice.pk}:{invoice.red_tax}"
        due = _red_room(invoice, sel)
        if invoice.red_tax <= 0 or due <= 0 or TransferOut.objects.filter(source_key=key).exists():
            return None
        return _create(locked, TransferLine.RED_FORM, due, key, invoice, actor, gettext(
            "发票 %(number)s（%(period)s 已抵扣）被红冲，红字税额 %(tax)s") % {
            "number": invoice, "period": sel.tax_period.period, "tax": invoice.red_tax},
            {"deducted_in": sel.tax_period.period})


def transfer_out_abnormal(*, invoice_id: int, actor: Actor = SYSTEM, tax_period: TaxPeriod | None = None,
                          today: date | None = None) -> TransferOut | None:
    """Line 23a for an invoice deducted in an earlier confirmed period: abnormal (02) with nothing transferred for
    it → the deducted tax less what line 20 took; cleared (01) with a transfer standing → the negative of it."""
    sel = deducted_selection(invoice_id)
    if sel is None:
        return None
    period = tax_period or target_period(taxpayer_id=sel.tax_period.taxpayer_id, after=sel.tax_period.period,
                                         today=today)
    if period.taxpayer_id != sel.tax_period.taxpayer_id or period.period <= sel.tax_period.period:
        return None
    with transaction.atomic():
        pair = _lock(period, invoice_id, actor)
        if pair is None:
            return None
        locked, invoice = pair
        autos = TransferOut.objects.filter(invoice=invoice, line=TransferLine.ABNORMAL, automatic=True)
        standing = _sum(autos)
        raised = autos.filter(tax__gt=0).count()
        if invoice.risk_level == RiskLevel.ABNORMAL and standing == 0:
            tax = sel.effective_tax - _sum(TransferOut.objects.filter(invoice=invoice, line=TransferLine.RED_FORM))
            if tax <= 0:
                return None
            key = f"abnormal:{invoice.pk}:{raised + 1}"
            reason = gettext("发票 %(number)s（%(period)s 已抵扣）为异常凭证") % {
                "number": invoice, "period": sel.tax_period.period}
        elif invoice.risk_level == RiskLevel.NORMAL and standing > 0:
            tax = -standing
            key = f"abnormal-cleared:{invoice.pk}:{raised}"
            reason = gettext("发票 %(number)s 异常凭证已解除，转回进项税额") % {"number": invoice}
        else:
            return None
        if TransferOut.objects.filter(source_key=key).exists():
            return None
        return _create(locked, TransferLine.ABNORMAL, tax, key, invoice, actor, reason,
                       {"risk_level": invoice.risk_level, "deducted_in": sel.tax_period.period})


def _deducted() -> Q:
    return Q(deduction_selections__state=SelectionState.ACCEPTED, deduction_selections__purpose=Purpose.DEDUCT,
             deduction_selections__tax_period__state__in=CLOSED)


def transfers_out_catch_up(*, taxpayer_id: int | None = None, tax_period: TaxPeriod | None = None,
                           actor: Actor = SYSTEM, today: date | None = None) -> list[TransferOut]:
    """Every cause a signal missed (a worker down, an error): applied red forms of deducted invoices without their
    entry, deducted abnormal vouchers with nothing standing, cleared ones with something standing. With
    ``tax_period`` (the workbench's button) the entries go there, and red tax no form explains is taken too."""
    if tax_period is not None:
        taxpayer_id = tax_period.taxpayer_id
    made: list[TransferOut] = []
    invoices = ReceivedInvoice.objects.filter(_deducted())
    if taxpayer_id is not None:
        invoices = invoices.filter(taxpayer_id=taxpayer_id)
    done_forms = {int(k.split(":")[1]) for k in TransferOut.objects.filter(source_key__startswith="red-form:")
                  .values_list("source_key", flat=True)}
    forms = (ReceivedRedForm.objects.filter(applied=True, invoice__in=invoices.filter(red_tax__gt=0))
             .exclude(pk__in=done_forms).order_by("pk").values_list("pk", flat=True))
    for form_id in forms:
        row = _safely(transfer_out_red_form, form_id=form_id, actor=actor, tax_period=tax_period, today=today)
        if row is not None:
            made.append(row)
    if tax_period is not None:
        for invoice_id in invoices.filter(red_tax__gt=0).order_by("pk").values_list("pk", flat=True):
            row = transfer_out_red_residual(invoice_id=invoice_id, actor=actor, tax_period=tax_period)
            if row is not None:
                made.append(row)
    standing = (TransferOut.objects.filter(line=TransferLine.ABNORMAL, automatic=True, invoice__isnull=False)
                .values("invoice_id").annotate(net=Sum("tax")).filter(net__gt=0).values_list("invoice_id", flat=True))
    abnormal = invoices.filter(Q(risk_level=RiskLevel.ABNORMAL) | Q(risk_level=RiskLevel.NORMAL, pk__in=standing))
    for invoice_id in abnormal.order_by("pk").values_list("pk", flat=True).distinct():
        row = _safely(transfer_out_abnormal, invoice_id=invoice_id, actor=actor, tax_period=tax_period, today=today)
        if row is not None:
            made.append(row)
    return made


def _safely(fn: Callable[..., TransferOut | None], **kwargs: Any) -> TransferOut | None:
    """One cause's failure (an unexpected error) must not stop the others: logged, tried again next time. A refusal
    the user must see (the button) is raised."""
    try:
        return fn(**kwargs)
    except (PermissionDenied, ValidationError):
        raise
    except Exception:
        logger.exception("automatic transfer-out %s %s failed", getattr(fn, "__name__", fn), kwargs)
        return None
