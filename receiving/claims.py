"""报销 (reimbursement) services: a claim (报销单) of an employee holding invoices and tickets with the amount
claimed from each (receiving/claims_models.py).

- ``claim_create`` / ``claim_line_add`` / ``claim_line_remove``: a draft and its lines. Adding a line locks the
  invoice and counts what every claim that is not rejected already holds of it: the claimed amounts of one invoice
  never exceed what is left of it, its 价税合计 less what the seller red-flushed (a partly red-flushed invoice is
  usable for its unflushed part only, domain.md §14.3). The invoice's row lock serialises concurrent claims.
- ``claim_submit`` → ``claim_approve`` (the rules run before the use, ``received_invoice_check_before_use`` with
  purpose 报销; a blocking failure refuses unless finance has overridden it) or ``claim_reject`` with a reason.
- ``claim_book``: an approved claim's invoices booked in one step (入账 through the channel, the claim number on
  each voucher). ``claim_mark_paid``: paid; an invoice that paid claims now hold in full becomes 已报销.

Locks are taken claim first, then invoices by id, so that two services never wait on each other in a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_label, actor_user
from invoicing.channels.base import TaxChannel
from invoicing.events import event_record
from invoicing.models import Taxpayer
from receiving import bookkeeping
from receiving.claims_models import HOLDING_STATES, ClaimLine, ClaimSource, ClaimState, ExpenseClaim
from receiving.models import PlatformStatus, ReceivedInvoice, ReviewState, UseState
from receiving.services import authorize
from receiving.verification import received_invoice_check_before_use

P_VIEW = "receiving.view_expenseclaim"
P_ADD = "receiving.add_expenseclaim"
P_CHANGE = "receiving.change_expenseclaim"
P_APPROVE = "receiving.approve_expenseclaim"
P_PAY = "receiving.pay_expenseclaim"
FEN = Decimal("0.01")
UNUSABLE = (PlatformStatus.VOIDED, PlatformStatus.RED_FULL)


@dataclass(frozen=True)
class LineInput:
    """One invoice to claim and how much of it (``None``: what is left of it)."""

    invoice: ReceivedInvoice
    amount: Decimal | None = None
    note: str = ""


def money(value: object, *, words: str) -> Decimal:
    """A claimed amount: a positive figure to the fen (ROUND_HALF_UP), or a clear error."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": gettext("%(field)s：不是有效的金额") % {"field": words}}) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError({"amount": gettext("%(field)s：必须大于 0") % {"field": words}})
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def claimed_elsewhere(invoice_id: int, *, exclude_line: int | None = None) -> Decimal:
    """What the claims that are not rejected hold of one invoice."""
    qs = ClaimLine.objects.filter(invoice_id=invoice_id, claim__state__in=HOLDING_STATES)
    if exclude_line is not None:
        qs = qs.exclude(pk=exclude_line)
    return qs.aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


def claimable(record: ReceivedInvoice) -> Decimal:
    """What is still free to claim of an invoice (its remaining 价税合计 less what claims hold)."""
    remaining = record.remaining_total
    if remaining is None:
        return Decimal("0.00")
    return max(Decimal("0.00"), remaining - claimed_elsewhere(record.pk))


def _refusal(record: ReceivedInvoice) -> str:
    if record.review_state == ReviewState.NEEDS_REVIEW or record.use_state == UseState.IN_REVIEW:
        return gettext("发票 %(number)s 待复核，复核完成后才能报销") % {"number": record}
    if record.platform_status in UNUSABLE:
        return gettext("发票 %(number)s 状态为「%(status)s」，不能报销") % {
            "number": record, "status": record.get_platform_status_display()}
    if record.use_state not in (UseState.IN_POOL, UseState.BOOKED):
        return gettext("发票 %(number)s 使用状态为「%(state)s」，不能报销") % {
            "number": record, "state": record.get_use_state_display()}
    if record.total is None:
        return gettext("发票 %(number)s 没有价税合计，不能报销") % {"number": record}
    return ""


def _check_amount(record: ReceivedInvoice, amount: Decimal, *, exclude_line: int | None = None) -> None:
    """Under the invoice's lock: ``amount`` more fits in what is left of it."""
    remaining = record.remaining_total or Decimal("0.00")
    held = claimed_elsewhere(record.pk, exclude_line=exclude_line)
    if held + amount > remaining:
        raise ValidationError({"amount": gettext(
            "发票 %(number)s：报销金额 %(amount)s 超过可报销余额 %(free)s（剩余可用 %(remaining)s，"
            "其他报销单已占用 %(held)s）") % {"number": record, "amount": f"{amount:,.2f}",
                                            "free": f"{max(Decimal('0.00'), remaining - held):,.2f}",
                                            "remaining": f"{remaining:,.2f}", "held": f"{held:,.2f}"}})


def _locked_claim(claim: ExpenseClaim) -> ExpenseClaim:
    return ExpenseClaim.objects.select_for_update().select_related("taxpayer").get(pk=claim.pk)


def _require_state(claim: ExpenseClaim, *states: str) -> None:
    if claim.state not in states:
        raise ValidationError(gettext("报销单 %(no)s 状态为「%(state)s」，不能执行此操作") % {
            "no": claim.claim_no, "state": claim.get_state_display()}, code="transition_not_allowed")


def _add_line(claim: ExpenseClaim, line: LineInput, actor: Actor) -> ClaimLine:
    record = ReceivedInvoice.objects.select_for_update().get(pk=line.invoice.pk)
    if record.taxpayer_id != claim.taxpayer_id:
        raise ValidationError({"invoice": gettext("发票 %(number)s 不属于报销单的主体") % {"number": record}})
    refusal = _refusal(record)
    if refusal:
        raise ValidationError({"invoice": refusal})
    if ClaimLine.objects.filter(claim=claim, invoice=record).exists():
        raise ValidationError({"invoice": gettext("发票 %(number)s 已在本报销单中") % {"number": record}})
    amount = (money(line.amount, words=gettext("报销金额")) if line.amount is not None
              else claimable(record))
    if amount <= 0:
        raise ValidationError({"amount": gettext("发票 %(number)s 已无可报销余额") % {"number": record}})
    _check_amount(record, amount)
    created = ClaimLine.objects.create(claim=claim, invoice=record, amount=amount, note=(line.note or "")[:200])
    event_record(obj=claim, action="claim_line_add", actor=actor,
                 data={"invoice": record.pk, "number": str(record), "amount": str(amount)}, taxpayer=claim.taxpayer)
    return created


def claim_create(*, taxpayer: Taxpayer, claimant_name: str, actor: Actor, claimant_code: str = "",
                 department: str = "", title: str = "", lines: Sequence[LineInput] = (),
                 source: str = ClaimSource.ADMIN, external_ref: str = "") -> ExpenseClaim:
    """A draft claim with its lines, all or nothing."""
    authorize(actor, taxpayer.pk, P_ADD)
    name = (claimant_name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["claimant_name"] = [gettext("报销人：必填")]
    for key, words, value, limit in (("claimant_name", gettext("报销人"), name, 60),
                                     ("claimant_code", gettext("员工编号"), claimant_code, 40),
                                     ("department", gettext("部门"), department, 60),
                                     ("title", gettext("事由"), title, 200),
                                     ("external_ref", gettext("外部单号"), external_ref, 64)):
        if len((value or "").strip()) > limit:
            errors[key] = [gettext("%(field)s：不能超过 %(n)s 个字符") % {"field": words, "n": limit}]
    ref = (external_ref or "").strip()
    if ref and ExpenseClaim.objects.filter(taxpayer=taxpayer, external_ref=ref).exists():
        errors["external_ref"] = [gettext("外部单号：%(ref)s 已有报销单") % {"ref": ref}]
    if errors:
        raise ValidationError(errors)
    seen: set[int] = set()
    for line in lines:
        if line.invoice.pk in seen:
            raise ValidationError({"invoice": gettext("发票 %(number)s 重复出现") % {"number": line.invoice}})
        seen.add(line.invoice.pk)
    try:
        return _create(taxpayer=taxpayer, name=name, claimant_code=claimant_code, department=department,
                       title=title, lines=lines, source=source, ref=ref, actor=actor)
    except IntegrityError:  # the same external number sent twice at once: the second finds the first
        raise ValidationError({"external_ref": [gettext("外部单号：%(ref)s 已有报销单") % {"ref": ref}]}) from None


def _create(*, taxpayer: Taxpayer, name: str, claimant_code: str, department: str, title: str,
            lines: Sequence[LineInput], source: str, ref: str, actor: Actor) -> ExpenseClaim:
    with transaction.atomic():
        claim = ExpenseClaim.objects.create(
            taxpayer=taxpayer, claim_no=f"TMP{uuid.uuid4().hex}", claimant_name=name,
            claimant_code=(claimant_code or "").strip(), department=(department or "").strip(),
            title=(title or "").strip(), source=source, external_ref=ref,
            created_by=actor_user(actor), actor_label=actor_label(actor)[:100])
        claim.claim_no = f"BX{timezone.localdate():%Y%m%d}{claim.pk:06d}"
        claim.save(update_fields=["claim_no"])
        event_record(obj=claim, action="claim_create", actor=actor, to_state=claim.state,
                     data={"claim_no": claim.claim_no, "claimant": name, "source": source}, taxpayer=taxpayer)
        # invoices locked in id order: concurrent claims on the same invoices never deadlock
        for index, line in sorted(enumerate(lines, start=1), key=lambda x: x[1].invoice.pk):
            try:
                _add_line(claim, line, actor)
            except ValidationError as exc:  # named by the line's place (from 1) in the request
                raise ValidationError({f"lines[{index}]": exc.messages}) from None
    return claim


def claim_line_add(*, claim: ExpenseClaim, invoice: ReceivedInvoice, actor: Actor, amount: Decimal | None = None,
                   note: str = "") -> ClaimLine:
    """One more invoice on a draft claim (``amount`` None: what is left of the invoice)."""
    with transaction.atomic():
        locked = _locked_claim(claim)
        authorize(actor, locked.taxpayer_id, P_CHANGE)
        _require_state(locked, ClaimState.DRAFT)
        return _add_line(locked, LineInput(invoice=invoice, amount=amount, note=note), actor)


def claim_line_remove(*, line: ClaimLine, actor: Actor) -> ExpenseClaim:
    """Take an invoice off a draft claim; its amount is free again."""
    with transaction.atomic():
        locked = _locked_claim(line.claim)
        authorize(actor, locked.taxpayer_id, P_CHANGE)
        _require_state(locked, ClaimState.DRAFT)
        row = ClaimLine.objects.select_related("invoice").get(pk=line.pk, claim=locked)
        row.delete()
        event_record(obj=locked, action="claim_line_remove", actor=actor,
                     data={"invoice": row.invoice_id, "number": str(row.invoice), "amount": str(row.amount)},
                     taxpayer=locked.taxpayer)
    return locked


def claim_submit(*, claim: ExpenseClaim, actor: Actor) -> ExpenseClaim:
    """草稿 → 已提交: a claim with at least one line goes to the reviewers."""
    with transaction.atomic():
        locked = _locked_claim(claim)
        authorize(actor, locked.taxpayer_id, P_CHANGE)
        _require_state(locked, ClaimState.DRAFT)
        if not locked.lines.exists():
            raise ValidationError(gettext("报销单 %(no)s 没有发票，不能提交") % {"no": locked.claim_no})
        before = locked.state
        locked.submit()
        locked.submitted_at = timezone.now()
        locked.save()
        event_record(obj=locked, action="claim_submit", actor=actor, from_state=before, to_state=locked.state,
                     taxpayer=locked.taxpayer)
    return locked


def claim_approve(*, claim: ExpenseClaim, actor: Actor) -> ExpenseClaim:
    """已提交 → 已审批, once each invoice passes the rules run now (purpose 报销; the verification asked again when
    stale). A blocking failure refuses, naming the invoice and the rule, unless finance has overridden it."""
    current = ExpenseClaim.objects.select_related("taxpayer").get(pk=claim.pk)
    authorize(actor, current.taxpayer_id, P_APPROVE)
    _require_state(current, ClaimState.SUBMITTED)
    # the rules (and perhaps the platform) are asked before any lock is taken: the answer is checked again below
    problems: list[str] = []
    for line in current.lines.select_related("invoice").order_by("invoice_id"):
        verdict = received_invoice_check_before_use(record=line.invoice, actor=actor, purpose="reimburse")
        for failure in verdict.blocking:
            # the rule's own message names what is wrong; its code is for support (the verdict keeps it)
            problems.append(gettext("发票 %(number)s：%(message)s") % {
                "number": line.invoice, "message": failure.get("message", "")})
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        locked = _locked_claim(claim)
        _require_state(locked, ClaimState.SUBMITTED)
        lines = list(locked.lines.order_by("invoice_id"))
        for line in lines:
            record = ReceivedInvoice.objects.select_for_update().get(pk=line.invoice_id)
            refusal = _refusal(record)
            if refusal:
                raise ValidationError(refusal)
            _check_amount(record, line.amount, exclude_line=line.pk)  # a red flush may have shrunk it since
        before = locked.state
        locked.approve()
        locked.approved_by, locked.approved_at = actor_user(actor), timezone.now()
        locked.save()
        event_record(obj=locked, action="claim_approve", actor=actor, from_state=before, to_state=locked.state,
                     data={"total": str(sum((x.amount for x in lines), Decimal("0.00")))}, taxpayer=locked.taxpayer)
    return locked


def claim_reject(*, claim: ExpenseClaim, reason: str, actor: Actor) -> ExpenseClaim:
    """已提交 / 已审批 → 已驳回 with a reason; the invoices' amounts are free again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("驳回原因：必填")})
    with transaction.atomic():
        locked = _locked_claim(claim)
        authorize(actor, locked.taxpayer_id, P_APPROVE)
        _require_state(locked, ClaimState.SUBMITTED, ClaimState.APPROVED)
        if locked.booked_at is not None:
            raise ValidationError(gettext("报销单 %(no)s 已入账，不能驳回") % {"no": locked.claim_no})
        before = locked.state
        locked.reject(reason=reason[:500])
        locked.save()
        event_record(obj=locked, action="claim_reject", actor=actor, from_state=before, to_state=locked.state,
                     reason=reason[:500], taxpayer=locked.taxpayer)
    return locked


def claim_mark_paid(*, claim: ExpenseClaim, actor: Actor) -> ExpenseClaim:
    """已审批 → 已付款. An invoice that paid claims now hold in full (its whole remaining amount) becomes 已报销."""
    with transaction.atomic():
        locked = _locked_claim(claim)
        authorize(actor, locked.taxpayer_id, P_PAY)
        _require_state(locked, ClaimState.APPROVED)
        before = locked.state
        locked.mark_paid()
        locked.paid_at = timezone.now()
        locked.save()
        event_record(obj=locked, action="claim_paid", actor=actor, from_state=before, to_state=locked.state,
                     taxpayer=locked.taxpayer)
        for invoice_id in locked.lines.order_by("invoice_id").values_list("invoice_id", flat=True):
            record = ReceivedInvoice.objects.select_for_update().get(pk=invoice_id)
            paid = (ClaimLine.objects.filter(invoice=record, claim__state=ClaimState.PAID)
                    .aggregate(s=Sum("amount"))["s"] or Decimal("0.00"))
            remaining = record.remaining_total
            if record.use_state == UseState.IN_POOL and remaining is not None and paid >= remaining:
                use_before = record.use_state
                record.reimburse()
                record.save()
                event_record(obj=record, action="reimbursed", actor=actor, from_state=use_before,
                             to_state=record.use_state, data={"claim_no": locked.claim_no},
                             taxpayer=locked.taxpayer)
    return locked


@dataclass
class BookReport:
    booked: int = 0
    pending: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def claim_book(*, claim: ExpenseClaim, voucher_no: str, booked_on: date, actor: Actor, account_code: str = "",
               cost_centre: str = "", channel: TaxChannel | None = None) -> BookReport:
    """入账 of an approved claim in one step: each of its invoices still in the pool goes through
    ``received_invoice_book`` with the claim number on the voucher (one already booked is left as it is)."""
    voucher = bookkeeping.Voucher(voucher_no=voucher_no, booked_on=booked_on, account_code=account_code,
                                  cost_centre=cost_centre).clean()
    with transaction.atomic():
        locked = _locked_claim(claim)
        authorize(actor, locked.taxpayer_id, bookkeeping.P_BOOK)
        _require_state(locked, ClaimState.APPROVED)
        if locked.booked_at is not None:
            raise ValidationError(gettext("报销单 %(no)s 已入账") % {"no": locked.claim_no})
        locked.voucher_no, locked.booked_at = voucher.voucher_no, timezone.now()
        locked.save(update_fields=["voucher_no", "booked_at", "updated_at"])
        event_record(obj=locked, action="claim_book", actor=actor,
                     data={"voucher_no": voucher.voucher_no, "booked_on": voucher.booked_on.isoformat()},
                     taxpayer=locked.taxpayer)
    report = BookReport()
    with_claim = bookkeeping.Voucher(voucher_no=voucher.voucher_no, booked_on=voucher.booked_on,
                                     account_code=voucher.account_code, cost_centre=voucher.cost_centre,
                                     claim_no=locked.claim_no)
    for line in locked.lines.select_related("invoice").order_by("invoice_id"):
        record = line.invoice
        if record.use_state == UseState.BOOKED or bookkeeping.booking_refusal(record):
            report.skipped += 1
            refusal = bookkeeping.booking_refusal(record)
            if refusal and record.use_state != UseState.BOOKED:
                report.problems.append(refusal)
            continue
        try:  # each invoice is its own request to the platform; one refused does not undo the others
            after = bookkeeping.received_invoice_book(record=record, voucher=with_claim, actor=actor, channel=channel)
        except ValidationError as exc:
            report.skipped += 1
            report.problems.extend(exc.messages)
            continue
        if after.use_state == UseState.BOOKED:
            report.booked += 1
        else:
            report.pending += 1
    return report
