"""红字确认单 against invoices in our pool, on the buyer's side (domain.md §11.1).

* Inbound: a supplier's form against an invoice we hold (销方录入待购方确认, 02) is pulled per entity by
  ``received_red_forms_pull`` (the periodic task) into the queue with the platform's 72-hour deadline; finance
  confirms (04: the platform issues the red invoice) or rejects (05) it through the channel. Left alone, the platform
  voids it after 72 hours (07) and the next pull records that.
* Outbound: as the buyer we may raise a form against a supplier's invoice we hold once we have booked it or
  confirmed its use (else only the seller may, §11.1): full, or by lines. The intent is committed with a stable
  request number before the platform is called; unavailable → the pull sends it again; refused → 提交失败 with the
  platform's message.
* Either way, once the red invoice exists the pool record is updated: its red-flushed amount grows, its remaining
  usable amount shrinks, its platform status becomes 部分红冲 / 全额红冲; a record already booked, reimbursed or
  selected for deduction is flagged (红冲待处理, with an event): the deduction side turns a deducted one into a
  transfer-out (附列资料（二）line 20, §11.1 "Effect on the buyer").

Platform calls never run inside a transaction; every change is made under a row lock and recorded as an event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    RedForm,
    RedFormLine,
    RedFormRequest,
    TaxChannel,
)
from invoicing.events import event_record
from invoicing.models import Taxpayer
from receiving.claims_models import HOLDING_STATES, ClaimLine
from receiving.models import (
    RED_FORM_CODES,
    PlatformStatus,
    ReceivedInvoice,
    ReceivedInvoiceLine,
    ReceivedRedForm,
    ReceivedRedFormLine,
    ReceivedRedFormState,
    ReceivedRedReason,
    RedInitiator,
    UseState,
)
from receiving.services import authorize
from receiving.signals import red_form_applied_on_commit

logger = logging.getLogger(__name__)

S = ReceivedRedFormState
P_DECIDE = "receiving.decide_receivedredform"
P_REQUEST = "receiving.add_receivedredform"
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
WAITING = (S.SELLER_ENTERED, S.BUYER_ENTERED)
EFFECTIVE = (S.NO_CONFIRMATION, S.CONFIRMED)
USED_STATES = (UseState.BOOKED, UseState.REIMBURSED, UseState.SELECTED)
PLATFORM = "platform"  # invoicing.actors.ACTOR_LABELS
DUE_SOON = timedelta(hours=24)


def received_red_form_due_soon_q(now: datetime) -> Q:
    """Inbound forms waiting for a confirmation whose window closes within 24 hours (the admin home's card)."""
    return Q(status__in=WAITING, expires_at__gt=now, expires_at__lte=now + DUE_SOON)


def _q2(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _channel(taxpayer: Taxpayer, channel: TaxChannel | None) -> TaxChannel:
    return channel if channel is not None else get_channel(taxpayer)


def open_forms(record: ReceivedInvoice) -> list[ReceivedRedForm]:
    """Forms that still hold part of the invoice: being sent, waiting, or effective without the red invoice yet."""
    return list(ReceivedRedForm.objects.filter(invoice=record).filter(
        Q(status__in=(S.SUBMITTING, *WAITING)) | Q(status__in=EFFECTIVE, applied=False)))


def countdown(form: ReceivedRedForm, *, now: datetime | None = None) -> int | None:
    """Seconds left before the platform voids a waiting form (negative: past the deadline); None when not waiting."""
    if form.status not in WAITING or form.expires_at is None:
        return None
    return int((form.expires_at - (now or timezone.now())).total_seconds())


# --- applying what the platform says -------------------------------------------------------------------------------


def _replace_lines(form: ReceivedRedForm, remote: RedForm) -> None:
    if not remote.lines:
        return
    form.lines.all().delete()
    ReceivedRedFormLine.objects.bulk_create(
        ReceivedRedFormLine(form=form, blue_line_no=x.blue_line_no, item_name=x.item_name[:300], quantity=x.quantity,
                            amount=x.amount, tax_rate=x.tax_rate, tax=x.tax)
        for x in remote.lines
    )


def _apply_red_to_pool(form: ReceivedRedForm, actor: Actor) -> None:
    """The red invoice exists: the pool record's remaining amount shrinks, its status follows, a used one is
    flagged. Called under the form's lock; takes the record's."""
    record = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=form.invoice_id)
    before_status = record.platform_status
    record.red_amount += -form.amount
    record.red_tax += -form.tax
    remaining = record.remaining_total
    full = form.is_full or (remaining is not None and remaining <= ZERO)
    record.platform_status = PlatformStatus.RED_FULL if full else PlatformStatus.RED_PARTIAL
    record.platform_status_code = "03" if full else "04"
    # a claim holding part of it counts as a use too, whatever the record's use state (a record stays 在池 while
    # claims hold only part of it)
    used = (record.use_state in USED_STATES or record.platform_booked
            or ClaimLine.objects.filter(invoice=record, claim__state__in=HOLDING_STATES).exists())
    if used:
        record.red_attention = True
    record.save()
    event_record(obj=record, action="received_red_flushed", actor=actor, actor_label="" if actor else PLATFORM,
                 reason=str(record.get_platform_status_display()),
                 data={"status_before": before_status, "status": record.platform_status, "form_no": form.form_no, "red_invoice": form.red_invoice_number,
                       "red_amount": str(-form.amount), "red_tax": str(-form.tax),
                       "remaining_total": str(remaining) if remaining is not None else ""},
                 taxpayer=record.taxpayer)
    if used:
        event_record(obj=record, action="received_red_attention", actor_label=PLATFORM,
                     reason=gettext("发票已入账、报销或抵扣后被红冲：请调整凭证；已抵扣的须做进项税额转出"),
                     data={"use_state": record.use_state, "platform_booked": record.platform_booked,
                           "claims": list(ClaimLine.objects.filter(invoice=record, claim__state__in=HOLDING_STATES)
                                          .values_list("claim__claim_no", flat=True)),
                           "form_no": form.form_no, "red_total": str(-(form.amount + form.tax))},
                     taxpayer=record.taxpayer)
    form.applied = True
    red_form_applied_on_commit(form_id=form.pk, invoice_id=record.pk, taxpayer_id=record.taxpayer_id)


def apply_remote(*, form_id: int, remote: RedForm, actor: Actor = None) -> ReceivedRedForm:
    """Take the platform's view of a form (status, deadline, lines, red invoice) under its lock, and update the pool
    once its red invoice exists."""
    with transaction.atomic():
        form = ReceivedRedForm.objects.select_for_update().select_related("taxpayer").get(pk=form_id)
        before = form.status
        if remote.status in RED_FORM_CODES and remote.status != form.status:
            form.take_remote_status(code=remote.status)
        form.form_no = form.form_no or remote.form_no
        form.form_uuid = form.form_uuid or remote.uuid
        form.expires_at = remote.expires_at
        form.is_full = remote.is_full
        form.amount, form.tax = remote.total_amount, remote.total_tax
        if before in (S.SUBMITTING, S.SUBMIT_FAILED) or not form.lines.exists():
            _replace_lines(form, remote)
        if remote.red_invoice_number and not form.red_invoice_number:
            form.red_invoice_number, form.red_issued_at = remote.red_invoice_number, remote.red_issued_at
        if form.red_invoice_number and form.status in EFFECTIVE and not form.applied:
            _apply_red_to_pool(form, actor)
        form.save()
        if form.status != before:
            event_record(obj=form, action="received_red_form_status", actor=actor,
                         actor_label="" if actor else PLATFORM, from_state=before, to_state=form.status,
                         data={"form_no": form.form_no, "red_invoice": form.red_invoice_number},
                         taxpayer=form.taxpayer)
    return form


# --- inbound forms --------------------------------------------------------------------------------------------------


@dataclass
class PullReport:
    seen: int = 0
    created: int = 0
    updated: int = 0
    sent: int = 0
    skipped: list[str] = field(default_factory=list)


def _create_inbound(taxpayer: Taxpayer, record: ReceivedInvoice, remote: RedForm) -> ReceivedRedForm:
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        form = ReceivedRedForm(
            taxpayer=taxpayer, invoice=locked, initiator=RedInitiator.SELLER, reason=remote.reason,
            is_full=remote.is_full, form_no=remote.form_no, form_uuid=remote.uuid,
            request_no=f"IN-{taxpayer.pk}-{remote.form_no}", amount=remote.total_amount, tax=remote.total_tax,
            expires_at=remote.expires_at,
        )
        form.take_remote_status(code=remote.status)
        form.save()
        _replace_lines(form, remote)
        event_record(obj=form, action="received_red_form_inbound", actor_label=PLATFORM, to_state=form.status,
                     data={"form_no": form.form_no, "blue": locked.number, "seller": remote.seller_credit_code,
                           "total": str(form.total)},
                     taxpayer=taxpayer)
    return form


def received_red_forms_pull(*, taxpayer: Taxpayer, channel: TaxChannel | None = None) -> PullReport:
    """Forms the platform holds for ``taxpayer`` as the buyer: new inbound ones (waiting for us, or issued without
    our confirmation because we had not booked) for invoices in the pool; our open forms queried; our forms the
    platform never answered sent again with their request number."""
    report = PullReport()
    ch = _channel(taxpayer, channel)
    handled: set[str] = set()
    remotes: list[RedForm] = []
    for status in (None, S.NO_CONFIRMATION.value, S.CONFIRMED.value):
        remotes.extend(ch.red_form_list_inbound(status=status))
    for remote in remotes:
        if remote.form_no in handled or remote.buyer_credit_code != taxpayer.credit_code:
            continue
        handled.add(remote.form_no)
        report.seen += 1
        known = ReceivedRedForm.objects.filter(taxpayer=taxpayer, form_no=remote.form_no).first()
        if known is not None:
            if known.status == remote.status and (known.applied or not remote.red_invoice_number):
                continue  # nothing new: no lock, no write
            report.updated += int(_changed(known, apply_remote(form_id=known.pk, remote=remote)))
            continue
        if remote.initiator != "seller":
            continue
        record = ReceivedInvoice.objects.filter(taxpayer=taxpayer, number=remote.blue_number, code="").first()
        if record is None:
            report.skipped.append(f"{remote.form_no}: {remote.blue_number}")
            continue
        try:
            created = _create_inbound(taxpayer, record, remote)
        except IntegrityError:
            continue  # another pull recorded it meanwhile
        report.created += 1
        if created.status in EFFECTIVE and remote.red_invoice_number:
            apply_remote(form_id=created.pk, remote=remote)
    stale = ReceivedRedForm.objects.filter(taxpayer=taxpayer).filter(
        Q(status__in=(S.SUBMITTING, *WAITING)) | Q(status__in=EFFECTIVE, applied=False)
    ).exclude(form_no__in=handled)
    for form in stale:
        try:
            if form.status == S.SUBMITTING:
                report.sent += 1
                after = red_form_send(form=form, channel=ch)
            else:
                after = apply_remote(form_id=form.pk, remote=ch.red_form_query(form.form_no))
        except ChannelRejected as exc:
            logger.info("red form %s: %s", form.pk, exc)
            continue
        report.updated += int(_changed(form, after))
    return report


def _changed(before: ReceivedRedForm, after: ReceivedRedForm) -> bool:
    return (before.status, before.applied) != (after.status, after.applied)


def _decide(form: ReceivedRedForm, *, actor: Actor, operation: str, action: str,
            channel: TaxChannel | None) -> ReceivedRedForm:
    fresh = ReceivedRedForm.objects.select_related("taxpayer", "invoice").get(pk=form.pk)
    authorize(actor, fresh.taxpayer_id, P_DECIDE)
    if not fresh.is_waiting_for_us:
        raise ValidationError(gettext("红字确认单 %(form)s 状态为「%(status)s」，不能确认或拒绝") % {
            "form": fresh, "status": fresh.get_status_display()})
    ch = _channel(fresh.taxpayer, channel)
    try:
        remote = getattr(ch, operation)(fresh.form_no)
    except ChannelUnavailable as exc:
        raise ValidationError(gettext("平台暂不可用，请稍后再试：%(error)s") % {"error": exc.message}) from exc
    except ChannelRejected as exc:
        try:  # the platform's view (07 after 72 hours, decided elsewhere) goes into the queue
            apply_remote(form_id=fresh.pk, remote=ch.red_form_query(fresh.form_no))
        except (ChannelRejected, ChannelUnavailable):
            pass
        raise ValidationError(gettext("平台拒绝：%(error)s") % {"error": exc}) from exc
    event_record(obj=fresh, action=action, actor=actor, from_state=fresh.status, to_state=remote.status,
                 data={"form_no": fresh.form_no, "blue": fresh.invoice.number}, taxpayer=fresh.taxpayer)
    return apply_remote(form_id=fresh.pk, remote=remote, actor=actor)


def received_red_form_confirm(*, form: ReceivedRedForm, actor: Actor,
                              channel: TaxChannel | None = None) -> ReceivedRedForm:
    """销方录入待购方确认 (02) → 04: the platform issues the red invoice; the pool record follows."""
    return _decide(form, actor=actor, operation="red_form_confirm", action="received_red_form_confirm",
                   channel=channel)


def received_red_form_reject(*, form: ReceivedRedForm, actor: Actor,
                             channel: TaxChannel | None = None) -> ReceivedRedForm:
    """02 → 05 (作废：销方录入购方否认)."""
    return _decide(form, actor=actor, operation="red_form_reject", action="received_red_form_reject",
                   channel=channel)


# --- forms we raise as the buyer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedLineChoice:
    """One line of the blue invoice to red-flush, by its line number; ``amount`` (不含税, positive) defaults to
    all that is left of the line."""

    line_no: int
    amount: Decimal | None = None


def _already_red(record: ReceivedInvoice) -> dict[int, Decimal]:
    rows = ReceivedRedFormLine.objects.filter(form__invoice=record).filter(
        Q(form__status__in=(S.SUBMITTING, *WAITING, *EFFECTIVE))
    ).values("blue_line_no").annotate(red=Sum("amount"))
    return {r["blue_line_no"]: -(r["red"] or ZERO) for r in rows}


def _planned_lines(record: ReceivedInvoice, choices: Sequence[RedLineChoice]) -> list[RedFormLine]:
    lines = {ln.line_no: ln for ln in ReceivedInvoiceLine.objects.filter(invoice=record)}
    used = _already_red(record)
    errors: list[str] = []
    out: list[RedFormLine] = []
    seen: set[int] = set()
    for choice in choices:
        line = lines.get(choice.line_no)
        if line is None or choice.line_no in seen:
            errors.append(gettext("第 %(no)s 行：发票上没有这一行，或重复选择") % {"no": choice.line_no})
            continue
        seen.add(choice.line_no)
        left = line.amount - used.get(line.line_no, ZERO)
        try:
            amount = _q2(Decimal(choice.amount)) if choice.amount is not None else left
        except (InvalidOperation, TypeError):
            errors.append(gettext("第 %(no)s 行：红冲金额不是数字") % {"no": choice.line_no})
            continue
        if amount <= ZERO or amount > left:
            errors.append(gettext("第 %(no)s 行：红冲金额应大于 0 且不超过可冲金额 %(left)s") % {
                "no": choice.line_no, "left": f"{left:,.2f}"})
            continue
        rate = line.tax_rate or ZERO
        whole = amount == line.amount and line.tax is not None
        tax = line.tax if whole and line.tax is not None else _q2(amount * rate)
        out.append(RedFormLine(blue_line_no=line.line_no, item_name=line.item_name, tax_code=line.tax_code,
                               amount=-amount, tax_rate=rate, tax=-tax,
                               quantity=None, unit_price=line.unit_price))
    if not choices:
        errors.append(gettext("部分红冲：请至少选择一行"))
    if errors:
        raise ValidationError(errors)
    return out


def received_red_form_request(*, record: ReceivedInvoice, reason: str, actor: Actor,
                              lines: Sequence[RedLineChoice] | None = None,
                              channel: TaxChannel | None = None) -> ReceivedRedForm:
    """As the buyer, raise a form against ``record``: full (``lines`` None) or by lines. The seller confirms it."""
    if reason not in ReceivedRedReason.values:
        raise ValidationError({"reason": gettext("冲红原因不合法")})
    is_full = lines is None
    if not is_full and reason == ReceivedRedReason.ISSUED_IN_ERROR:
        raise ValidationError({"reason": gettext("冲红原因为「开票有误」时只能全额红冲")})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_REQUEST)
        if locked.is_red or not locked.is_shudian:
            raise ValidationError(gettext("发票 %(number)s 不是数电蓝字发票，不能发起红字确认单") % {"number": locked})
        if locked.platform_status in (PlatformStatus.VOIDED, PlatformStatus.RED_FULL):
            raise ValidationError(gettext("发票 %(number)s 状态为「%(status)s」，不能红冲") % {
                "number": locked, "status": locked.get_platform_status_display()})
        if not (locked.platform_booked or locked.use_state in (UseState.BOOKED, UseState.SELECTED)):
            # §11.1: before the buyer books or confirms the use, only the seller may raise a (full) form
            raise ValidationError(gettext("发票 %(number)s 尚未入账或用途确认，应由销方发起红字确认单") % {"number": locked})
        if open_forms(locked):
            raise ValidationError(gettext("发票 %(number)s 存在未完成的红字确认单") % {"number": locked})
        if is_full and locked.red_amount > ZERO:
            raise ValidationError(gettext("发票 %(number)s 已部分红冲，请按剩余明细部分红冲") % {"number": locked})
        planned = [] if lines is None else _planned_lines(locked, lines)
        form = ReceivedRedForm(
            taxpayer=locked.taxpayer, invoice=locked, initiator=RedInitiator.BUYER, reason=reason, is_full=is_full,
            request_no=f"HZB{uuid.uuid4().hex[:20].upper()}", created_by=actor_user(actor),
            amount=sum((x.amount for x in planned), ZERO) if planned else -(locked.amount or ZERO),
            tax=sum((x.tax for x in planned), ZERO) if planned else -(locked.tax or ZERO),
        )
        form.save()
        ReceivedRedFormLine.objects.bulk_create(
            ReceivedRedFormLine(form=form, blue_line_no=x.blue_line_no, item_name=x.item_name[:300],
                                amount=x.amount, tax_rate=x.tax_rate, tax=x.tax) for x in planned)
        event_record(obj=form, action="received_red_form_request", actor=actor, to_state=form.status,
                     data={"request_no": form.request_no, "blue": locked.number, "full": is_full,
                           "lines": [x.blue_line_no for x in planned], "total": str(form.total)},
                     taxpayer=locked.taxpayer)
    return red_form_send(form=form, channel=channel)


def red_form_send(*, form: ReceivedRedForm, channel: TaxChannel | None = None) -> ReceivedRedForm:
    """Send a form we raised (提交中) with its request number; a repeat returns the same form on the platform."""
    fresh = ReceivedRedForm.objects.select_related("taxpayer", "invoice").get(pk=form.pk)
    if fresh.status != S.SUBMITTING:
        return fresh
    request = RedFormRequest(
        request_no=fresh.request_no, blue_number=fresh.invoice.number, reason=fresh.reason, initiator="buyer",
        lines=tuple(RedFormLine(blue_line_no=x.blue_line_no, amount=x.amount, tax=x.tax, tax_rate=x.tax_rate)
                    for x in fresh.lines.all()) if not fresh.is_full else (),
    )
    try:
        remote = _channel(fresh.taxpayer, channel).red_form_apply(request)
    except ChannelUnavailable as exc:
        logger.info("red form %s pending: %s", fresh.pk, exc.message)
        return fresh
    except (ChannelRejected, ChannelUnsupported) as exc:
        with transaction.atomic():
            locked = ReceivedRedForm.objects.select_for_update().get(pk=fresh.pk)
            if locked.status == S.SUBMITTING:
                locked.fail_submit(message=str(exc)[:1000])
                locked.save()
                event_record(obj=locked, action="received_red_form_submit_failed", actor_label=PLATFORM,
                             from_state=S.SUBMITTING, to_state=locked.status, reason=str(exc)[:500],
                             taxpayer=fresh.taxpayer)
        return locked
    return apply_remote(form_id=fresh.pk, remote=remote)
