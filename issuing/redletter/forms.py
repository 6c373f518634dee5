"""Our side of a 红字确认单: request, submit, confirm, reject, revoke and discard (domain.md §11.1).

* ``redletter_request`` writes a form (a draft unless ``submit``) against a blue invoice, under a row lock on that
  invoice: full, by lines, or by an amount spread pro rata, checked against what is left of each blue line
  (``lines``, ``blue``), so the cumulative red never exceeds the blue whatever runs at the same time. A blue invoice
  has at most one open form at a time (the platform's rule too).
* ``redletter_submit`` commits the intent (提交中, the stable ``request_no``, the application 红冲中) and then has the
  platform called outside the transaction (``sync.redletter_send``).
* Buyer-initiated forms (03) are confirmed (04) or rejected (06) by finance; our own forms may be revoked (02 → 08,
  01 → 08, 04 → 09 while no red invoice exists); a draft never sent may be discarded.

Errors for people go through ``gettext`` (the request's language); what is written into forms, invoices, the audit
trail and ``last_error`` stays in the default language, like the rest of the data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django_fsm import can_proceed

from invoicing.actors import Actor, actor_label, actor_user
from invoicing.channels.base import (
    BuyerStatus,
    Capability,
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
)
from invoicing.events import event_record
from invoicing.tax import q2, to_decimal
from issuing import workflow
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.application_moves import application_start_red
from issuing.redletter.blue import (
    blue_check,
    blue_lock,
    blue_open_forms,
    blue_remaining,
    blue_reserving_lines,
    blue_units,
    form_lock,
)
from issuing.redletter.lines import (
    ZERO,
    RedLine,
    Unit,
    check_red_lines,
    lines_for_gross,
    red_line_for,
    remaining_units,
    rest_lines,
)
from issuing.redletter.models import Initiator, RedFormState, RedLetterForm, RedLetterFormLine
from issuing.redletter.policy import P_DECIDE, P_REQUEST_ANY, policy_for, reason_allows_partial
from issuing.redletter.sync import apply_remote, channel_for, redletter_send
from issuing.workflow import authorize

logger = logging.getLogger(__name__)

F = RedFormState


def _next_request_no() -> str:
    return workflow.next_number("HZ")


def _plan_lines(
    blue: Invoice, *, reason: str, is_full: bool, lines: Sequence[dict[str, Any]] | None,
    amount_with_tax: Decimal | None, exclude_form: int | None = None,
) -> tuple[bool, list[RedLine]]:
    """(is_full, red lines) for a request, checked against what is left. Raises ValidationError with every problem."""
    policy = policy_for(blue.taxpayer)
    units = blue_units(blue)
    remaining = remaining_units(units, blue_reserving_lines(blue, exclude_form=exclude_form))
    touched = blue.red_amount_total > 0 or any(u.total != r.total for u, r in zip(units, remaining, strict=True))
    if is_full and not lines and amount_with_tax is None:
        if not touched:
            planned = rest_lines(remaining)
            check_red_lines(remaining, planned)
            return True, planned
        # Already partly red: what is left goes as a partial form covering every remaining line (the platform
        # refuses a full form then). Needs a reason that allows partial red.
        if not reason_allows_partial(reason, policy):
            raise ValidationError(
                gettext(
                    "蓝字发票 %(number)s 已部分红冲，剩余部分只能按部分红冲开具；冲红原因「%(reason)s」不允许部分红冲，"
                    "请选择销货退回或销售折让"
                )
                % {"number": blue.number, "reason": reason}
            )
        planned = rest_lines(remaining)
        check_red_lines(remaining, planned)
        return False, planned
    if not reason_allows_partial(reason, policy):
        raise ValidationError(
            gettext("冲红原因「%(reason)s」只能全额红冲（开票有误只能全额红冲；服务中止按主体设置）") % {"reason": reason}
        )
    if amount_with_tax is not None:
        planned = lines_for_gross(remaining, to_decimal(amount_with_tax, "amount_with_tax"))
    else:
        by_no = {u.line_no: u for u in remaining}
        planned = []
        for raw in lines or ():
            no = int(raw["blue_line_no"])
            u = by_no.get(no)
            amount = q2(abs(to_decimal(raw["amount"], "amount")))
            tax = raw.get("tax")
            qty = raw.get("quantity")
            if u is None:
                planned.append(RedLine(no, -amount, -q2(abs(to_decimal(tax or 0, "tax")))))
                continue
            planned.append(red_line_for(u, amount=amount, tax=None if tax in (None, "") else to_decimal(tax, "tax"),
                                        quantity=None if qty in (None, "") else to_decimal(qty, "quantity")))
    check_red_lines(remaining, planned)
    return False, planned


def _write_totals_only(form: RedLetterForm, planned: Sequence[RedLine]) -> None:
    form.amount = sum((rl.amount for rl in planned), ZERO)
    form.tax = sum((rl.tax for rl in planned), ZERO)
    form.total = form.amount + form.tax


def _write_lines(form: RedLetterForm, planned: Sequence[RedLine], units: Sequence[Unit]) -> None:
    by_no = {u.line_no: u for u in units}
    RedLetterFormLine.objects.filter(form=form).delete()
    RedLetterFormLine.objects.bulk_create(
        RedLetterFormLine(
            form=form, blue_line_no=rl.blue_line_no, blue_line_id=by_no[rl.blue_line_no].line_id,
            item_name=by_no[rl.blue_line_no].item_name, quantity=rl.quantity,
            unit_price=by_no[rl.blue_line_no].unit_price, tax_rate=by_no[rl.blue_line_no].rate,
            amount=rl.amount, tax=rl.tax,
        )
        for rl in sorted(planned, key=lambda x: x.blue_line_no)
    )
    form.amount = sum((rl.amount for rl in planned), ZERO)
    form.tax = sum((rl.tax for rl in planned), ZERO)
    form.total = form.amount + form.tax


def redletter_request(
    *,
    actor: Actor,
    blue_invoice: Invoice,
    reason: str,
    is_full: bool = True,
    lines: Sequence[dict[str, Any]] | None = None,
    amount_with_tax: Decimal | str | None = None,
    submit: bool = False,
    note: str = "",
    refund_key: str | None = None,
    billing_document: BillingDocument | None = None,
    reissue_amount: Decimal | None = None,
    channel: Any = None,
) -> RedLetterForm:
    """A red-flush request against ``blue_invoice``: full, by lines (``blue_line_no``, ``amount`` 不含税, optional
    ``tax`` and ``quantity``), or by ``amount_with_tax`` spread pro rata. A draft (customer service may raise one)
    unless ``submit``, which needs finance's permission and sends it to the platform at once."""
    if reason not in ("01", "02", "03", "04"):
        raise ValidationError({"reason": gettext("冲红原因代码不合法：%(reason)s") % {"reason": reason}})
    if lines or amount_with_tax is not None:
        is_full = False
    authorize(actor, blue_invoice.taxpayer_id, *P_REQUEST_ANY, any_of=True)
    if submit:
        authorize(actor, blue_invoice.taxpayer_id, P_DECIDE)
    with transaction.atomic():
        blue = blue_lock(blue_invoice)
        blue_check(blue)
        if submit and blue_open_forms(blue).exists():
            raise ValidationError(gettext("蓝字发票 %(number)s 存在未完成的红字确认单") % {"number": blue.number})
        full, planned = _plan_lines(blue, reason=reason, is_full=is_full, lines=lines,
                                    amount_with_tax=amount_with_tax)
        form = RedLetterForm(
            taxpayer=blue.taxpayer, blue_invoice=blue, initiator=Initiator.SELLER, reason=reason, is_full=full,
            request_no=_next_request_no(), refund_key=refund_key, billing_document=billing_document,
            reissue_amount=reissue_amount, note=note[:300],
            requested_by=actor_user(actor),
        )
        _write_totals_only(form, planned)
        form.full_clean(exclude=["status", "blue_invoice", "taxpayer", "billing_document", "reissue_application"])
        form.save()
        _write_lines(form, planned, blue_units(blue))
        form.save(update_fields=["amount", "tax", "total"])
        event_record(obj=form, action="create", actor=actor, actor_label=actor_label(actor), to_state=form.status,
                     reason=note, data={"blue": blue.number, "reason": reason, "full": full,
                                        "total": str(form.total), "refund_key": refund_key or ""})
        if submit:
            _mark_submitting(form, blue, actor=actor)
    if submit:
        return redletter_send(form_id=form.pk, channel=channel)
    return form


def redletter_buyer_status(*, blue_invoice: Invoice, channel: Any = None) -> BuyerStatus | None:
    """The buyer's 用途确认 / 入账 of ``blue_invoice`` as the platform knows it, or None where the channel cannot
    tell (no ``Capability.BUYER_STATUS``, the platform unavailable or not answering it). Never inside a transaction."""
    ch = channel_for(blue_invoice.taxpayer, channel)
    if not ch.supports(Capability.BUYER_STATUS) or not blue_invoice.channel_serial:
        return None
    try:
        result = ch.query_issue(blue_invoice.channel_serial)
    except (ChannelUnavailable, ChannelRejected, ChannelUnsupported, ChannelDuplicate) as exc:
        logger.info("buyer status of %s unknown: %s", blue_invoice.number, exc.__class__.__name__)
        return None
    return result.buyer_status


def redletter_check_partial(*, blue_invoice: Invoice, channel: Any = None) -> BuyerStatus | None:
    """Before a partial red goes anywhere: where the platform can tell that the buyer has neither confirmed the use of
    ``blue_invoice`` (用途确认) nor booked it (入账确认), only a full red is possible (domain.md §11.1), so refuse
    with the rule and the remedy. Unknown status passes: the platform decides, and its refusal names the remedy."""
    status = redletter_buyer_status(blue_invoice=blue_invoice, channel=channel)
    if status is not None and not status.confirmed:
        raise ValidationError(
            gettext("购方尚未对蓝字发票 %(number)s 进行用途确认或入账确认，按规定只能全额红冲，不能部分红冲。"
                    "请改为全额红冲（需要时就剩余金额重新申请开票），或请购方先在税务平台完成用途确认或入账确认后再部分红冲。")
            % {"number": blue_invoice.number}
        )
    return status


def _mark_submitting(form: RedLetterForm, blue: Invoice, *, actor: Actor) -> None:
    before = form.status
    form.submit()
    form.save()
    event_record(obj=form, action="submit", actor=actor, actor_label=actor_label(actor), from_state=before,
                 to_state=form.status, data={"request_no": form.request_no, "attempt": form.submit_attempts})
    application_start_red(blue, form, actor)


def redletter_submit(*, form: RedLetterForm, actor: Actor, channel: Any = None) -> RedLetterForm:
    """草稿 / 提交失败 → 提交中 (finance): capacity checked again under the blue invoice's lock, the intent committed
    with the form's stable ``request_no``, then the platform is called outside the transaction."""
    authorize(actor, form.taxpayer_id, P_DECIDE)
    with transaction.atomic():
        blue = blue_lock(form.blue_invoice_id)
        locked = form_lock(form)
        if locked.status == F.SUBMITTING:
            pass  # a double click: send again with the same request_no below
        elif not can_proceed(locked.submit):
            raise ValidationError(
                gettext("红字确认单 %(form)s 状态为「%(status)s」，不能提交")
                % {"form": locked, "status": locked.get_status_display()}
            )
        else:
            blue_check(blue)
            if blue_open_forms(blue, exclude_form=locked.pk).exists():
                raise ValidationError(gettext("蓝字发票 %(number)s 存在未完成的红字确认单") % {"number": blue.number})
            remaining = blue_remaining(blue, exclude_form=locked.pk)
            planned = [RedLine(ln.blue_line_no, ln.amount, ln.tax, ln.quantity) for ln in locked.lines.all()]
            check_red_lines(remaining, planned)
            if locked.is_full and (blue.red_amount_total > 0 or blue.status != InvoiceStatus.NORMAL):
                raise ValidationError(
                    gettext("蓝字发票 %(number)s 已部分红冲，不能再全额红冲；请按剩余明细重新申请") % {"number": blue.number}
                )
            _mark_submitting(locked, blue, actor=actor)
    return redletter_send(form_id=locked.pk, channel=channel)


def _decide(form: RedLetterForm, *, actor: Actor, operation: str, allowed: Sequence[str], initiator: str | None,
            channel: Any) -> RedLetterForm:
    authorize(actor, form.taxpayer_id, P_DECIDE)
    fresh = RedLetterForm.objects.select_related("taxpayer").get(pk=form.pk)
    if fresh.status not in allowed or (initiator and fresh.initiator != initiator) or not fresh.form_no:
        raise ValidationError(
            gettext("红字确认单 %(form)s 状态为「%(status)s」，不能执行该操作")
            % {"form": fresh, "status": fresh.get_status_display()}
        )
    ch = channel_for(fresh, channel)
    try:
        remote = getattr(ch, operation)(fresh.form_no)
    except ChannelUnavailable as exc:
        raise ValidationError(gettext("平台暂不可用，请稍后再试：%(error)s") % {"error": exc.message}) from exc
    except ChannelRejected as exc:
        raise ValidationError(gettext("平台拒绝：%(error)s") % {"error": exc}) from exc
    return apply_remote(form_id=fresh.pk, remote=remote, channel=ch, actor=actor)


def redletter_confirm(*, form: RedLetterForm, actor: Actor, channel: Any = None) -> RedLetterForm:
    """购方录入待销方确认 (03) → 04: the platform issues the red invoice, which is recorded."""
    return _decide(form, actor=actor, operation="red_form_confirm", allowed=(F.BUYER_ENTERED,),
                   initiator=Initiator.BUYER, channel=channel)


def redletter_reject(*, form: RedLetterForm, actor: Actor, channel: Any = None) -> RedLetterForm:
    """03 → 06 (作废：购方录入销方否认)."""
    return _decide(form, actor=actor, operation="red_form_reject", allowed=(F.BUYER_ENTERED,),
                   initiator=Initiator.BUYER, channel=channel)


def redletter_revoke(*, form: RedLetterForm, actor: Actor, channel: Any = None) -> RedLetterForm:
    """Our own form: 02 / 01 → 08, 04 → 09 (only while no red invoice has been issued)."""
    if form.red_invoice_id:
        raise ValidationError(gettext("红字确认单 %(form)s 已开具红字发票，不能撤销") % {"form": form})
    return _decide(form, actor=actor, operation="red_form_revoke",
                   allowed=(F.SELLER_ENTERED, F.NO_CONFIRMATION, F.CONFIRMED), initiator=Initiator.SELLER,
                   channel=channel)


def redletter_discard(*, form: RedLetterForm, actor: Actor) -> None:
    """Delete a draft that was never sent (nothing else is ever deleted)."""
    authorize(actor, form.taxpayer_id, *P_REQUEST_ANY, any_of=True)
    with transaction.atomic():
        locked = form_lock(form)
        if locked.status != F.DRAFT:
            raise ValidationError(gettext("红字确认单 %(form)s 已提交，不能删除") % {"form": locked})
        event_record(obj=locked, action="discard", actor=actor, from_state=locked.status)
        locked.delete()
