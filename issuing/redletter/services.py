"""红字确认单, red invoices, paper voids and refund-driven red-flush (issue #5, domain.md §11, §8.3, §8.4, §12).

The rules, in the order a form lives them:

* ``redletter_request`` writes a form (a draft unless ``submit``) against a blue invoice, under a row lock on that
  invoice: the lines are checked against what is left of each blue line (``remaining_units``: what the blue line
  holds minus the lines of every form that still holds part of it), so the cumulative red never exceeds the blue,
  per line and in total, whatever runs at the same time. Reason 01 开票有误 is full red only; 02 销货退回 and
  04 销售折让 allow partial red; 03 服务中止 as the entity's ``RedFlushPolicy`` says. A blue invoice has at most one
  open form at a time (the platform's rule too).
* ``redletter_submit`` commits the intent (``submitting``, the stable ``request_no``, the application 红冲中) and then
  calls the platform *outside* the transaction. Unavailable → the form stays ``submitting`` and the poller sends it
  again with the same ``request_no`` (the platform answers a repeat with the same form). Refused → ``submit_failed``.
* The platform answers 01 (the buyer has neither used nor booked the invoice: no confirmation, red issued at once)
  or 02 (waiting for the buyer, 72 hours on the platform's clock). ``redletter_sync`` applies what the platform says
  (04, 05, 07, 08, 09, 10–13) and, at 01 / 04, records the red invoice: ``query_issue(red_invoice_serial)`` →
  an ``Invoice`` with ``is_red``, negative lines linked to the blue lines, the blue invoice 已红冲 / 部分红冲, the
  application 已红冲 / 部分红冲 (and what it took from its billing documents released), quota as
  ``IssuingPolicy.red_restores_quota`` says; one transaction, the blue invoice locked.
* Buyer-initiated forms (03) arrive through ``redletter_pull_inbound``; finance confirms (04) or rejects (06) them.
  Our own forms may be revoked (02 → 08, 01 → 08, 04 → 09 while no red invoice exists).
* 数电纸票 (85 / 86): the platform does not issue their red invoice; at 01 / 04 we issue it by hand with a stable
  serial. ``paper_invoice_void`` voids one issued this month; otherwise it opens a full red form.
* ``refund_red_flush`` turns a refund on a billing document into forms, once per refund key.

Business code never imports the sandbox: the platform's clock decides expiry, and we learn it by polling.

Errors for people go through ``gettext`` (the request's language); what is written into forms, invoices, the audit
trail and ``last_error`` stays in the default language, like the rest of the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_fsm import can_proceed

from invoicing.actors import Actor, actor_label, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    BuyerStatus,
    Capability,
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    IssueLine,
    IssueRequest,
    IssueResult,
    Party,
    RedForm,
    RedFormLine,
    RedFormRequest,
)
from invoicing.events import event_record
from invoicing.formatting import money
from invoicing.models import TaxCategory, Taxpayer
from invoicing.tax import LINE_TOLERANCE, allocate, normalise_qty_price, q2, to_decimal
from issuing import workflow
from issuing.applications import quota
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationSource, ApplicationStatus, InvoiceApplication
from issuing.base import PAPER_KINDS, LineProperty
from issuing.billing import selectors as billing_selectors
from issuing.billing import status as billing_status
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.platform.rollup import rollup_invoice
from issuing.redletter.models import (
    EFFECTIVE,
    RESERVING,
    VOID_CODES,
    WAITING,
    Initiator,
    RedFlushPolicy,
    RedFormState,
    RedLetterForm,
    RedLetterFormLine,
    RefundPolicy,
)

logger = logging.getLogger(__name__)

F = RedFormState
S = ApplicationStatus
ZERO = Decimal("0.00")
CN = ZoneInfo("Asia/Shanghai")

P_REQUEST_ANY = ("issuing.add_redletterform", "issuing.request_red_flush")
P_DECIDE = "issuing.confirm_redletterform"

PARTIAL_REASONS = frozenset({"02", "04"})
# The platform's answer "the buyer has neither used nor booked the blue invoice: only full red" (sandbox 3303).
FULL_ONLY_CODES = frozenset({"3303"})
# Written after such a refusal (in the default language, like every stored message): what to do instead.
FULL_ONLY_REMEDY = "处理办法：改为全额红冲（需要时就剩余金额重新申请开票），或请购方先在税务平台完成用途确认或入账确认后再部分红冲"
# The platform's answer "outside the month / not allowed to void" (sandbox 3401).
VOID_REFUSED_CODES = frozenset({"3401"})
NOT_FOUND_CODE = "4004"
RESEND_AFTER = timedelta(seconds=30)


class RedCapacityError(ValidationError):
    """A red line or total would exceed what is left of the blue invoice."""


# --- actors ----------------------------------------------------------------------------------------------------------


def _authorize(actor: Actor, taxpayer_id: int, *perms: str, any_of: bool = False) -> None:
    workflow.authorize(actor, taxpayer_id, *perms, any_of=any_of)


def policy_for(taxpayer: Taxpayer) -> RedFlushPolicy:
    try:
        return taxpayer.red_flush_policy
    except RedFlushPolicy.DoesNotExist:
        return RedFlushPolicy(taxpayer=taxpayer)


def red_flush_policy_save(*, policy: RedFlushPolicy, actor: Actor, changed: Iterable[str] = ()) -> RedFlushPolicy:
    """An entity's red-flush settings, new or changed (set on ``policy`` by the caller's form): checked, saved and
    recorded with the fields that changed."""
    _authorize(actor, policy.taxpayer_id, "issuing.change_redflushpolicy" if policy.pk else "issuing.add_redflushpolicy")
    with transaction.atomic():
        if policy.pk is not None:
            RedFlushPolicy.objects.select_for_update().only("pk").get(pk=policy.pk)  # two edits: one at a time
        policy.full_clean()
        policy.save()
        event_record(obj=policy, action="policy_change", actor=actor, taxpayer=policy.taxpayer,
                     data={name: str(getattr(policy, name)) for name in sorted(changed)})
    return policy


def reason_allows_partial(reason: str, policy: RedFlushPolicy | None = None) -> bool:
    """01 开票有误: full only (§11.1). 02 / 04: partial allowed. 03 服务中止: as the entity's setting says."""
    if reason in PARTIAL_REASONS:
        return True
    if reason == "03":
        return bool(policy and policy.service_stop_allows_partial)
    return False


# --- arithmetic: what is left of a blue invoice ----------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A blue line as red-flushing sees it: a 被折扣行 merged with its 折扣行 (§8.4), referenced by its number."""

    line_no: int
    line_id: int | None
    item_name: str
    rate: Decimal
    amount: Decimal  # positive, net of the discount
    tax: Decimal
    quantity: Decimal | None = None  # positive
    unit_price: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


@dataclass(frozen=True)
class RedLine:
    """One requested red line, negative figures."""

    blue_line_no: int
    amount: Decimal
    tax: Decimal
    quantity: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


def units_from_lines(lines: Sequence[Any]) -> list[Unit]:
    """Blue invoice lines (sorted by line number) → units; a discount line joins the discounted line before it."""
    out: list[Unit] = []
    ordered = sorted(lines, key=lambda ln: ln.line_no)
    i = 0
    while i < len(ordered):
        ln = ordered[i]
        amount, tax = ln.amount, ln.tax
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if int(ln.line_property) == LineProperty.DISCOUNTED and nxt is not None and int(nxt.line_property) == (
            LineProperty.DISCOUNT
        ):
            amount += nxt.amount
            tax += nxt.tax
            i += 1
        i += 1
        if amount <= 0:
            continue  # a lone negative line (§8.4) cannot be red-flushed on its own
        out.append(Unit(line_no=ln.line_no, line_id=getattr(ln, "pk", None), item_name=ln.item_name,
                        rate=ln.tax_rate, amount=amount, tax=tax, quantity=ln.quantity, unit_price=ln.unit_price))
    return out


def remaining_units(units: Sequence[Unit], used: Iterable[RedLine]) -> list[Unit]:
    """What is left of each unit after ``used`` red lines (negative). Units never go below zero here: callers check
    every request with ``check_red_lines`` before it is counted."""
    taken: dict[int, list[Decimal | None]] = {}
    for rl in used:
        t = taken.setdefault(rl.blue_line_no, [ZERO, ZERO, ZERO])
        t[0] += -rl.amount
        t[1] += -rl.tax
        t[2] = (t[2] or ZERO) + (-rl.quantity if rl.quantity is not None else ZERO)
    out = []
    for u in units:
        a, t, q = taken.get(u.line_no, [ZERO, ZERO, ZERO])
        qty = None if u.quantity is None else u.quantity - q
        out.append(Unit(u.line_no, u.line_id, u.item_name, u.rate, u.amount - a, u.tax - t, qty, u.unit_price))
    return out


def check_red_lines(remaining: Sequence[Unit], lines: Sequence[RedLine]) -> None:
    """Refuse (``RedCapacityError``, every problem at once) any line that exceeds what is left, and the total."""
    by_no = {u.line_no: u for u in remaining}
    problems: list[str] = []
    seen: set[int] = set()
    if not lines:
        problems.append(gettext("红冲明细不能为空"))
    for rl in lines:
        u = by_no.get(rl.blue_line_no)
        if u is None:
            problems.append(gettext("蓝字明细序号%(line)s不存在（折扣行不传，只传被折扣行序号）") % {"line": rl.blue_line_no})
            continue
        if rl.blue_line_no in seen:
            problems.append(gettext("蓝字明细序号%(line)s重复") % {"line": rl.blue_line_no})
        seen.add(rl.blue_line_no)
        if rl.amount >= 0 or rl.tax > 0:
            problems.append(gettext("蓝字明细序号%(line)s：红冲金额应为负数、税额不能为正数") % {"line": rl.blue_line_no})
            continue
        if -rl.amount > u.amount:
            problems.append(
                gettext("蓝字明细序号%(line)s：红冲金额 %(asked)s 超过可冲金额 %(left)s")
                % {"line": rl.blue_line_no, "asked": -rl.amount, "left": u.amount}
            )
        if -rl.tax > u.tax:
            problems.append(
                gettext("蓝字明细序号%(line)s：红冲税额 %(asked)s 超过可冲税额 %(left)s")
                % {"line": rl.blue_line_no, "asked": -rl.tax, "left": u.tax}
            )
        if rl.quantity is not None:
            if rl.quantity >= 0:
                problems.append(gettext("蓝字明细序号%(line)s：红冲数量应为负数") % {"line": rl.blue_line_no})
            elif u.quantity is not None and -rl.quantity > u.quantity:
                problems.append(
                    gettext("蓝字明细序号%(line)s：红冲数量 %(asked)s 超过可冲数量 %(left)s")
                    % {"line": rl.blue_line_no, "asked": -rl.quantity, "left": u.quantity}
                )
        if abs(rl.amount * u.rate - rl.tax) > LINE_TOLERANCE:
            problems.append(gettext("蓝字明细序号%(line)s：税额与金额×税率相差超过0.06") % {"line": rl.blue_line_no})
    left = sum((u.total for u in remaining), ZERO)
    asked = -sum((rl.total for rl in lines), ZERO)
    if asked > left:
        problems.append(gettext("红冲价税合计 %(asked)s 超过蓝字发票可冲价税合计 %(left)s") % {"asked": asked, "left": left})
    if problems:
        raise RedCapacityError(problems)


def _scaled_quantity(u: Unit, amount: Decimal) -> Decimal | None:
    """The negative quantity for ``amount`` (positive) of unit ``u``, at its unit price; None without a quantity."""
    if u.quantity is None or u.quantity <= 0 or u.amount <= 0:
        return None
    if amount == u.amount:
        return -u.quantity
    qty = normalise_qty_price(u.quantity * amount / u.amount)
    return -qty if qty > 0 else None


def red_line_for(u: Unit, *, amount: Decimal, tax: Decimal | None = None,
                 quantity: Decimal | None = None) -> RedLine:
    """A red line taking ``amount`` (positive, 不含税) of what is left of ``u``; the rest of the unit takes its tax
    exactly, otherwise tax = amount × rate, never more than the tax left."""
    amount = q2(abs(amount))
    if tax is None:
        tax = u.tax if amount == u.amount else min(q2(amount * u.rate), u.tax)
    tax = q2(abs(tax))
    qty = -abs(quantity) if quantity is not None else _scaled_quantity(u, amount)
    return RedLine(u.line_no, -amount, -tax, qty)


def rest_lines(remaining: Sequence[Unit]) -> list[RedLine]:
    """Everything still left: the 'full' red of a blue invoice that was already partly red-flushed."""
    return [red_line_for(u, amount=u.amount, tax=u.tax) for u in remaining if u.amount > 0 or u.tax > 0]


FEN = Decimal("0.01")


class IndivisibleRemainderError(RedCapacityError):
    """What is left cannot be split as asked without leaving tax with no amount: red the rest in one go."""


def _split_share(u: Unit, share: Decimal) -> tuple[Decimal, Decimal] | None:
    """(amount, tax) taking ``share`` (< u.total) of unit ``u`` so that what stays keeps an amount (a red line must
    carry a negative amount, so tax alone could never be red-flushed later). None when that is impossible."""
    if u.amount <= FEN:
        return None
    amount = min(q2(share / (1 + u.rate)), u.amount - FEN)
    if amount <= 0:
        amount = min(share, u.amount - FEN)
    tax = share - amount
    if tax > u.tax:
        tax = u.tax
        amount = share - tax
    if amount <= 0 or amount >= u.amount or tax < 0:
        return None
    return amount, tax


def lines_for_gross(remaining: Sequence[Unit], gross: Decimal) -> list[RedLine]:
    """Red lines worth ``gross`` (价税合计, positive), spread over what is left of each unit pro rata.

    A unit that cannot give a part of itself (1 fen of amount left) gives all of it, and the difference comes off
    the other units' shares; when that is impossible too, ``IndivisibleRemainderError`` asks for the rest in one go."""
    gross = q2(gross)
    live = [u for u in remaining if u.total > 0]
    left = sum((u.total for u in live), ZERO)
    if gross <= 0:
        raise ValidationError(gettext("红冲金额必须大于0"))
    if gross > left:
        raise RedCapacityError(
            gettext("红冲价税合计 %(asked)s 超过蓝字发票可冲价税合计 %(left)s") % {"asked": gross, "left": left}
        )
    if gross == left:
        return rest_lines(live)
    shares = allocate(gross, [u.total for u in live])
    whole: set[int] = set()
    for i, (u, share) in enumerate(zip(live, shares, strict=True)):
        if 0 < share < u.total and _split_share(u, share) is None:
            excess = u.total - share
            shares[i] = u.total
            whole.add(i)
            for j in sorted(range(len(live)), key=lambda k: -shares[k]):
                if j in whole or j == i or excess <= 0:
                    continue
                give = min(excess, shares[j] - FEN) if shares[j] > FEN else ZERO
                if give > 0 and (shares[j] - give == 0 or _split_share(live[j], shares[j] - give) is not None):
                    shares[j] -= give
                    excess -= give
            if excess > 0:
                raise IndivisibleRemainderError(
                    gettext("蓝字明细序号%(line)s只剩 %(amount)s 元金额，无法按 %(gross)s 拆分；请一次红冲剩余全部 %(left)s")
                    % {"line": u.line_no, "amount": money(u.amount), "gross": money(gross), "left": money(left)}
                )
    out = []
    for u, share in zip(live, shares, strict=True):
        if share <= 0:
            continue
        if share == u.total:
            out.append(red_line_for(u, amount=u.amount, tax=u.tax))
            continue
        split = _split_share(u, share)
        if split is None:
            raise IndivisibleRemainderError(
                gettext("蓝字明细序号%(line)s无法按比例拆分；请一次红冲剩余全部 %(left)s") % {"line": u.line_no, "left": left}
            )
        out.append(red_line_for(u, amount=split[0], tax=split[1]))
    return out


# --- reading the database ---------------------------------------------------------------------------------------------


def blue_units(blue: Invoice) -> list[Unit]:
    return units_from_lines(list(InvoiceLine.objects.filter(invoice=blue).order_by("line_no")))


def _reserving_lines(blue: Invoice, *, exclude_form: int | None = None) -> list[RedLine]:
    qs = RedLetterFormLine.objects.filter(form__blue_invoice=blue, form__status__in=RESERVING)
    if exclude_form is not None:
        qs = qs.exclude(form_id=exclude_form)
    return [RedLine(ln.blue_line_no, ln.amount, ln.tax, ln.quantity) for ln in qs]


def blue_remaining(blue: Invoice, *, exclude_form: int | None = None) -> list[Unit]:
    """What may still be red-flushed of ``blue``: its units minus every form that holds part of it."""
    return remaining_units(blue_units(blue), _reserving_lines(blue, exclude_form=exclude_form))


def blue_remaining_total(blue: Invoice) -> Decimal:
    return sum((u.total for u in blue_remaining(blue)), ZERO)


def _open_forms(blue: Invoice, *, exclude_form: int | None = None):  # noqa: ANN202
    qs = RedLetterForm.objects.filter(blue_invoice=blue).filter(
        Q(status__in=(F.SUBMITTING, *WAITING)) | Q(status__in=EFFECTIVE, red_invoice__isnull=True)
    )
    return qs.exclude(pk=exclude_form) if exclude_form else qs


def _lock_blue(blue: Invoice | int) -> Invoice:
    pk = blue if isinstance(blue, int) else blue.pk
    # The invoice's row only, never its entity's: see issuing/platform/rollup.py, "Lock order".
    return Invoice.objects.select_for_update(of=("self",)).select_related("taxpayer").get(pk=pk)


def _lock_form(form: RedLetterForm | int) -> RedLetterForm:
    pk = form if isinstance(form, int) else form.pk
    return RedLetterForm.objects.select_for_update().get(pk=pk)


def _next_request_no() -> str:
    return workflow._next_number("HZ")


def _check_blue(blue: Invoice, taxpayer_id: int | None = None) -> None:
    if blue.is_red:
        raise ValidationError(gettext("发票 %(number)s 是红字发票，不能再红冲") % {"number": blue.number})
    if blue.status not in (InvoiceStatus.NORMAL, InvoiceStatus.RED_PARTIAL):
        raise ValidationError(
            gettext("蓝字发票 %(number)s 状态为「%(status)s」，不能红冲")
            % {"number": blue.number, "status": blue.get_status_display()}
        )
    if taxpayer_id is not None and blue.taxpayer_id != taxpayer_id:
        raise PermissionDenied(gettext("无权操作该主体的数据"))


def _plan_lines(
    blue: Invoice, *, reason: str, is_full: bool, lines: Sequence[dict[str, Any]] | None,
    amount_with_tax: Decimal | None, exclude_form: int | None = None,
) -> tuple[bool, list[RedLine]]:
    """(is_full, red lines) for a request, checked against what is left. Raises ValidationError with every problem."""
    policy = policy_for(blue.taxpayer)
    units = blue_units(blue)
    remaining = remaining_units(units, _reserving_lines(blue, exclude_form=exclude_form))
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


# --- the application and the billing documents follow ---------------------------------------------------------------


def _lock_app(blue: Invoice) -> InvoiceApplication | None:
    if not blue.application_id:
        return None
    return InvoiceApplication.objects.select_for_update().get(pk=blue.application_id)


def _app_step(app: InvoiceApplication | None, name: str, *, actor: Actor, data: dict, args: dict | None = None) -> None:
    if app is None or not can_proceed(getattr(app, name)):
        return
    application_services._transition(app, name, actor=actor, actor_label=actor_label(actor), data=data, args=args or {})


def _app_start_red(blue: Invoice, form: RedLetterForm, actor: Actor) -> None:
    _app_step(_lock_app(blue), "start_red", actor=actor, data={"form": form.request_no, "blue": blue.number})


def _app_cancel_red(blue: Invoice, form: RedLetterForm, actor: Actor) -> None:
    app = _lock_app(blue)
    if app is None or app.status != S.RED_PENDING or _open_forms(blue, exclude_form=form.pk).exists():
        return
    _app_step(app, "cancel_red", actor=actor, data={"form": form.request_no, "status": form.status},
              args={"partly_red_before": blue.status == InvoiceStatus.RED_PARTIAL})


def _release_sources(app: InvoiceApplication, gross: Decimal) -> list[int]:
    """Give ``gross`` (positive) back to the application's billing documents, in document order."""
    left = gross
    doc_ids = []
    for src in ApplicationSource.objects.select_for_update().filter(application=app).order_by("billing_document_id"):
        if left <= 0:
            break
        take = min(left, src.amount - src.released_amount)
        if take <= 0:
            continue
        ApplicationSource.objects.filter(pk=src.pk).update(released_amount=src.released_amount + take)
        left -= take
        doc_ids.append(src.billing_document_id)
    return doc_ids


# --- request and submit -------------------------------------------------------------------------------------------


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
    _authorize(actor, blue_invoice.taxpayer_id, *P_REQUEST_ANY, any_of=True)
    if submit:
        _authorize(actor, blue_invoice.taxpayer_id, P_DECIDE)
    with transaction.atomic():
        blue = _lock_blue(blue_invoice)
        _check_blue(blue)
        if submit and _open_forms(blue).exists():
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
    ch = _channel(blue_invoice.taxpayer, channel)
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


def _write_totals_only(form: RedLetterForm, planned: Sequence[RedLine]) -> None:
    form.amount = sum((rl.amount for rl in planned), ZERO)
    form.tax = sum((rl.tax for rl in planned), ZERO)
    form.total = form.amount + form.tax


def _mark_submitting(form: RedLetterForm, blue: Invoice, *, actor: Actor) -> None:
    before = form.status
    form.submit()
    form.save()
    event_record(obj=form, action="submit", actor=actor, actor_label=actor_label(actor), from_state=before,
                 to_state=form.status, data={"request_no": form.request_no, "attempt": form.submit_attempts})
    _app_start_red(blue, form, actor)


def redletter_submit(*, form: RedLetterForm, actor: Actor, channel: Any = None) -> RedLetterForm:
    """草稿 / 提交失败 → 提交中 (finance): capacity checked again under the blue invoice's lock, the intent committed
    with the form's stable ``request_no``, then the platform is called outside the transaction."""
    _authorize(actor, form.taxpayer_id, P_DECIDE)
    with transaction.atomic():
        blue = _lock_blue(form.blue_invoice_id)
        locked = _lock_form(form)
        if locked.status == F.SUBMITTING:
            pass  # a double click: send again with the same request_no below
        elif not can_proceed(locked.submit):
            raise ValidationError(
                gettext("红字确认单 %(form)s 状态为「%(status)s」，不能提交")
                % {"form": locked, "status": locked.get_status_display()}
            )
        else:
            _check_blue(blue)
            if _open_forms(blue, exclude_form=locked.pk).exists():
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


def _request_for(form: RedLetterForm) -> RedFormRequest:
    lines: tuple[RedFormLine, ...] = ()
    if not form.is_full:
        lines = tuple(
            RedFormLine(blue_line_no=ln.blue_line_no, item_name=ln.item_name, quantity=ln.quantity,
                        unit_price=ln.unit_price, amount=ln.amount, tax_rate=ln.tax_rate, tax=ln.tax)
            for ln in form.lines.order_by("blue_line_no")
        )
    return RedFormRequest(request_no=form.request_no, blue_number=form.blue_invoice.number, reason=form.reason,
                          initiator="seller", lines=lines)


def _channel(form_or_taxpayer: Any, channel: Any) -> Any:
    if channel is not None:
        return channel
    taxpayer = form_or_taxpayer if isinstance(form_or_taxpayer, Taxpayer) else form_or_taxpayer.taxpayer
    return get_channel(taxpayer)


def redletter_send(*, form_id: int, channel: Any = None) -> RedLetterForm:
    """Ask the platform to register a form that is 提交中, with its request_no. Never inside a transaction."""
    form = RedLetterForm.objects.select_related("taxpayer", "blue_invoice").get(pk=form_id)
    if form.status != F.SUBMITTING:
        return form
    ch = _channel(form, channel)
    try:
        remote = ch.red_form_apply(_request_for(form))
    except ChannelUnsupported as exc:
        return _submit_failed(form.pk, code="unsupported", message=exc.message)
    except (ChannelUnavailable, ChannelDuplicate) as exc:
        message = getattr(exc, "message", "") or str(exc)
        RedLetterForm.objects.filter(pk=form.pk, status=F.SUBMITTING).update(
            last_error=f"暂不可用，将以同一流水号重试：{message}"[:2000], updated_at=timezone.now()
        )
        event_record(obj=form, action="submit_unavailable", actor_label="system", from_state=form.status,
                     to_state=form.status, reason=message[:500], data={"request_no": form.request_no})
        form.refresh_from_db()
        return form
    except ChannelRejected as exc:
        return _submit_failed(form.pk, code=exc.code, message=exc.message)
    return apply_remote(form_id=form.pk, remote=remote, channel=ch)


def _submit_failed(form_id: int, *, code: str, message: str) -> RedLetterForm:
    with transaction.atomic():
        form = _lock_form(form_id)
        blue = _lock_blue(form.blue_invoice_id)
        if form.status != F.SUBMITTING:
            return form
        reason = f"[{code}] {message}"
        if code in FULL_ONLY_CODES and not form.is_full:
            reason = f"{reason}。{FULL_ONLY_REMEDY}"
        form.mark_submit_failed(reason=reason)
        form.save()
        event_record(obj=form, action="submit_failed", actor_label="system", from_state=F.SUBMITTING,
                     to_state=form.status, reason=reason, data={"code": code})
        _app_cancel_red(blue, form, None)
    return form


# --- what the platform says ---------------------------------------------------------------------------------------


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if timezone.is_aware(dt) else timezone.make_aware(dt, CN)


def _transition_to(form: RedLetterForm, code: str, *, at: datetime) -> str | None:
    """Move the local form to the platform's status ``code``; the name of the transition used, or None."""
    current = form.status
    if current == code:
        return None
    if current == F.SUBMITTING:
        form.mark_registered(code=code)
        return "registered"
    if code == F.CONFIRMED and current in WAITING:
        form.confirm(at=at)
        return "confirm"
    if code in (F.VOID_BUYER_DENIED, F.VOID_SELLER_DENIED) and current in WAITING:
        form.reject(at=at)
        return "reject"
    if code == F.VOID_EXPIRED and current in WAITING:
        form.expire(at=at)
        return "expire"
    if code in (F.VOID_REVOKED, F.VOID_REVOKED_AFTER_CONFIRM) and current in (*WAITING, *EFFECTIVE):
        form.revoke(at=at)
        return "revoke"
    if code in ("10", "11", "12", "13") and current in (*WAITING, *EFFECTIVE):
        form.void_by_platform(code=code, at=at)
        return "void"
    logger.warning("red form %s: no local move from %s to %s", form.pk, current, code)
    return None


def _replace_lines_from_remote(form: RedLetterForm, blue: Invoice, remote: RedForm) -> None:
    if not remote.lines:
        return
    by_no = {ln.line_no: ln for ln in InvoiceLine.objects.filter(invoice=blue)}
    RedLetterFormLine.objects.filter(form=form).delete()
    RedLetterFormLine.objects.bulk_create(
        RedLetterFormLine(
            form=form, blue_line_no=x.blue_line_no,
            blue_line_id=by_no[x.blue_line_no].pk if x.blue_line_no in by_no else None,
            item_name=x.item_name or (by_no[x.blue_line_no].item_name if x.blue_line_no in by_no else ""),
            quantity=x.quantity if (x.quantity is not None and x.quantity < 0) else None,
            unit_price=x.unit_price, tax_rate=x.tax_rate, amount=x.amount, tax=x.tax,
        )
        for x in remote.lines
    )
    form.amount, form.tax = remote.total_amount, remote.total_tax
    form.total = form.amount + form.tax


def apply_remote(*, form_id: int, remote: RedForm, channel: Any = None, actor: Actor = None) -> RedLetterForm:
    """Apply the platform's view of a form (status, number, expiry, lines); at 01 / 04 record the red invoice."""
    now = timezone.now()
    with transaction.atomic():
        form = _lock_form(form_id)
        blue = _lock_blue(form.blue_invoice_id)
        before = form.status
        changed = []
        if remote.form_no and form.form_no != remote.form_no:
            form.form_no, form.form_uuid = remote.form_no, remote.uuid
            changed.append("form_no")
        if remote.expires_at and form.expires_at != _aware(remote.expires_at):
            form.expires_at = _aware(remote.expires_at)
        if remote.red_invoice_serial and form.red_invoice_serial != remote.red_invoice_serial:
            form.red_invoice_serial = remote.red_invoice_serial
        if before == F.SUBMITTING and remote.lines:
            _replace_lines_from_remote(form, blue, remote)
        moved = _transition_to(form, remote.status, at=now)
        form.save()
        if moved:
            event_record(obj=form, action=moved, actor=actor, actor_label=actor_label(actor), from_state=before,
                         to_state=form.status, data={"form_no": form.form_no or "", "platform_status": remote.status})
            if form.status in VOID_CODES:
                _app_cancel_red(blue, form, actor)
            elif before == F.SUBMITTING and form.status in (*WAITING, *EFFECTIVE):
                _app_start_red(blue, form, actor)  # no-op when already 红冲中
    if form.status in EFFECTIVE and form.red_invoice_id is None:
        return _fetch_and_record_red(form_id=form.pk, remote=remote, channel=channel, actor=actor)
    return form


def _fetch_and_record_red(*, form_id: int, remote: RedForm | None, channel: Any, actor: Actor) -> RedLetterForm:
    """The red invoice of an effective form: the platform's (电票) or ours to issue by hand (纸票)."""
    form = RedLetterForm.objects.select_related("taxpayer", "blue_invoice").get(pk=form_id)
    if form.red_invoice_id is not None:
        return form
    ch = _channel(form, channel)
    serial = form.red_invoice_serial
    try:
        if form.blue_invoice.kind in PAPER_KINDS and not (remote and remote.red_invoice_number):
            result = _issue_paper_red(form, ch)
        else:
            if not serial:
                return form  # the platform has not issued it yet: the poller comes back
            result = ch.query_issue(serial)
    except ChannelUnavailable as exc:
        RedLetterForm.objects.filter(pk=form.pk).update(last_error=f"红字发票查询暂不可用：{exc.message}"[:2000])
        return form
    except ChannelRejected as exc:
        RedLetterForm.objects.filter(pk=form.pk).update(last_error=str(exc)[:2000])
        return form
    if result is None or result.status != "issued" or not result.invoice_number:
        return form
    record_red_invoice(form_id=form.pk, result=result, actor=actor)
    form.refresh_from_db()
    return form


def _paper_serial(form: RedLetterForm) -> str:
    return f"{form.request_no}-H"


def _issue_paper_red(form: RedLetterForm, ch: Any) -> IssueResult | None:
    """数电纸票: issue the red invoice by hand with a stable serial; a duplicate answer means fetch it."""
    serial = _paper_serial(form)
    if form.red_invoice_serial != serial:
        RedLetterForm.objects.filter(pk=form.pk).update(red_invoice_serial=serial)
        form.red_invoice_serial = serial
    blue = form.blue_invoice
    blue_lines = {ln.line_no: ln for ln in InvoiceLine.objects.filter(invoice=blue).select_related("tax_category")}
    lines = []
    for i, ln in enumerate(form.lines.order_by("blue_line_no"), start=1):
        bl = blue_lines.get(ln.blue_line_no)
        lines.append(IssueLine(
            line_no=i, item_name=ln.item_name or (bl.item_name if bl else ""), amount=ln.amount,
            tax_rate=ln.tax_rate, tax=ln.tax, tax_code=bl.tax_category.code if bl else "",
            short_name=bl.short_name if bl else "", spec=bl.spec if bl else "", unit=bl.unit if bl else "",
            quantity=ln.quantity, unit_price=ln.unit_price,
        ))
    request = IssueRequest(
        serial=serial, seller_credit_code=form.taxpayer.credit_code, kind=blue.kind,
        buyer=Party(name=blue.buyer_name, tax_id=blue.buyer_tax_id, address=blue.buyer_address,
                    phone=blue.buyer_phone, bank_name=blue.buyer_bank_name, bank_account=blue.buyer_bank_account),
        lines=tuple(lines), total_amount=form.amount, total_tax=form.tax, total_with_tax=form.total,
        remark=f"被红冲蓝字发票号码：{blue.number} 红字发票信息确认单编号：{form.form_no}", drawer=form.taxpayer.drawer,
        is_red=True, blue_number=blue.number, red_form_no=form.form_no or "",
    )
    try:
        result = ch.issue_invoice(request)
    except ChannelDuplicate:
        result = ch.query_issue(serial)
    if result.status != "issued":
        result = ch.query_issue(serial)
    return result


def record_red_invoice(*, form_id: int, result: IssueResult, actor: Actor = None) -> Invoice:
    """The red Invoice (negative lines linked to the blue lines), the blue invoice's status and red total, the
    application, the billing documents and the quota, in one transaction with the blue invoice locked. Idempotent."""
    with transaction.atomic():
        form = _lock_form(form_id)
        blue = _lock_blue(form.blue_invoice_id)
        if form.red_invoice_id is not None:
            return Invoice.objects.get(pk=form.red_invoice_id)
        existing = Invoice.objects.filter(number=result.invoice_number).first()
        if existing is not None:
            if not existing.is_red or existing.blue_invoice_id != blue.pk:
                raise ValidationError(
                    gettext("发票号码 %(number)s 已存在且不是该蓝票的红字发票") % {"number": result.invoice_number}
                )
            form.red_invoice = existing
            form.save()
            return existing
        taxpayer = blue.taxpayer
        issued_at = _aware(result.issued_at) or timezone.now()
        local = issued_at.astimezone(CN)
        amount = result.total_amount if result.total_amount is not None else form.amount
        tax = result.total_tax if result.total_tax is not None else form.tax
        red = Invoice.objects.create(
            taxpayer=taxpayer, application=blue.application, number=result.invoice_number,
            kind=result.kind or blue.kind, is_red=True, blue_invoice=blue,
            issue_date=local.date(), issued_at=issued_at,
            seller_name=blue.seller_name, seller_tax_id=blue.seller_tax_id, seller_address=blue.seller_address,
            seller_phone=blue.seller_phone, seller_bank_name=blue.seller_bank_name,
            seller_bank_account=blue.seller_bank_account, **blue.buyer_snapshot(),
            amount=amount, tax=tax, total=amount + tax,
            remark=f"被红冲蓝字数电发票号码：{blue.number} 红字发票信息确认单编号：{form.form_no or ''}",
            drawer=blue.drawer, specific_business=blue.specific_business,
            specific_business_data=blue.specific_business_data, status=InvoiceStatus.NORMAL,
            quota_month=f"{local:%Y-%m}", channel_serial=result.serial,
        )
        _red_lines(red, blue, form, result)
        rollup_invoice(red)
        # The red invoice gets its own PDF/OFD/XML and delivery, like a blue one (jobs written in this transaction).
        from issuing.platform.services import invoice_files_queue

        invoice_files_queue(red)
        form.red_invoice = red
        form.red_invoice_serial = result.serial
        form.save()
        # the blue invoice (locked above)
        if not can_proceed(blue.red_flush):
            raise ValidationError(
                gettext("蓝字发票 %(number)s 状态为「%(status)s」，不能记录红字发票 %(red)s")
                % {"number": blue.number, "status": blue.get_status_display(), "red": red.number}
            )
        before = blue.status
        blue.red_flush(red_total=-red.total)
        blue.save(update_fields=["status", "red_amount_total"])
        full = blue.status == InvoiceStatus.RED_FULL
        event_record(obj=blue, action="red_flushed", actor=actor, actor_label=actor_label(actor), from_state=before,
                     to_state=blue.status, data={"red": red.number, "form": form.form_no or form.request_no,
                                                 "red_total": str(blue.red_amount_total)})
        event_record(obj=form, action="red_invoice_recorded", actor=actor, actor_label=actor_label(actor),
                     from_state=form.status, to_state=form.status, data={"red": red.number, "total": str(red.total)})
        # the application and its billing documents
        app = _lock_app(blue)
        doc_ids: list[int] = []
        if app is not None:
            if app.status in (S.ISSUED, S.PARTLY_RED):
                _app_step(app, "start_red", actor=actor, data={"form": form.request_no})
            _app_step(app, "finish_red", actor=actor, data={"red": red.number, "full": full}, args={"full": full})
            doc_ids = list(app.sources.values_list("billing_document_id", flat=True))
            if not full:
                _release_sources(app, -red.total)
        for doc in workflow.lock_rows(BillingDocument, doc_ids) if doc_ids else []:
            billing_status._refresh_document_status(doc)
        quota.quota_restore(taxpayer=taxpayer, amount=red.amount, month=red.quota_month, actor=actor,
                               reference=red.number)
        if form.reissue_amount and app is not None:
            _reissue(form, app, actor=actor)
    return red


def _red_lines(red: Invoice, blue: Invoice, form: RedLetterForm, result: IssueResult) -> None:
    blue_lines = {ln.line_no: ln for ln in InvoiceLine.objects.filter(invoice=blue).select_related("tax_category")}
    form_lines = list(form.lines.order_by("blue_line_no"))
    source = list(result.lines) or [
        IssueLine(line_no=i, item_name=fl.item_name, amount=fl.amount, tax_rate=fl.tax_rate, tax=fl.tax,
                  tax_code="", quantity=fl.quantity, unit_price=fl.unit_price)
        for i, fl in enumerate(form_lines, start=1)
    ]
    categories = {c.code: c for c in TaxCategory.objects.filter(code__in={x.tax_code for x in source if x.tax_code})}
    rows = []
    for i, x in enumerate(source, start=1):
        fl = form_lines[i - 1] if i - 1 < len(form_lines) else None
        bl = blue_lines.get(fl.blue_line_no) if fl is not None else None
        category = categories.get(x.tax_code) or (bl.tax_category if bl else None)
        if category is None:
            raise ValidationError(
                gettext("红字发票 %(number)s 第%(line)s行：无法确定税收分类编码") % {"number": red.number, "line": i}
            )
        rows.append(InvoiceLine(
            invoice=red, line_no=i, item_name=x.item_name or (bl.item_name if bl else ""),
            short_name=x.short_name or (bl.short_name if bl else ""), spec=x.spec or (bl.spec if bl else ""),
            unit=x.unit or (bl.unit if bl else ""), quantity=x.quantity, unit_price=x.unit_price, amount=x.amount,
            tax_rate=x.tax_rate, tax=x.tax, tax_category=category, line_property=LineProperty.NORMAL,
            blue_line=bl,
        ))
    InvoiceLine.objects.bulk_create(rows)


def _reissue(form: RedLetterForm, app: InvoiceApplication, *, actor: Actor) -> None:
    """After a full red for a partial refund: a new application for what the billing documents may still take."""
    if form.reissue_application_id:
        return
    wanted = []
    for src in app.sources.select_related("billing_document").order_by("billing_document_id"):
        doc = src.billing_document
        bal = billing_selectors.billing_document_balance(doc, applied=billing_selectors.applied_amount(doc))
        take = min(bal.balance, src.amount - src.released_amount)
        if take > 0:
            wanted.append((doc, take))
    if not wanted:
        return
    try:
        # A system step: its refusal is written into the audit trail, in the default language.
        with translation.override(settings.LANGUAGE_CODE), transaction.atomic():
            new = application_services.application_create(
                actor=None, taxpayer=app.taxpayer, kind=app.kind, sources=wanted, counterparty=app.counterparty,
                buyer=app.buyer_snapshot() if app.counterparty is None else None,
                delivery_email=app.delivery_email, delivery_mobile=app.delivery_mobile, remark=app.remark,
                specific_business=app.specific_business, specific_business_data=app.specific_business_data,
            )
    except ValidationError as exc:
        event_record(obj=form, action="reissue_failed", actor_label="system", reason="；".join(exc.messages)[:500])
        return
    RedLetterForm.objects.filter(pk=form.pk).update(reissue_application=new)
    event_record(obj=form, action="reissue", actor=actor, actor_label=actor_label(actor) or "退款红冲",
                 data={"application": new.number, "total": str(new.total)})


# --- decisions on a form ---------------------------------------------------------------------------------------------


def _decide(form: RedLetterForm, *, actor: Actor, operation: str, allowed: Sequence[str], initiator: str | None,
            channel: Any) -> RedLetterForm:
    _authorize(actor, form.taxpayer_id, P_DECIDE)
    fresh = RedLetterForm.objects.select_related("taxpayer").get(pk=form.pk)
    if fresh.status not in allowed or (initiator and fresh.initiator != initiator) or not fresh.form_no:
        raise ValidationError(
            gettext("红字确认单 %(form)s 状态为「%(status)s」，不能执行该操作")
            % {"form": fresh, "status": fresh.get_status_display()}
        )
    ch = _channel(fresh, channel)
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
    _authorize(actor, form.taxpayer_id, *P_REQUEST_ANY, any_of=True)
    with transaction.atomic():
        locked = _lock_form(form)
        if locked.status != F.DRAFT:
            raise ValidationError(gettext("红字确认单 %(form)s 已提交，不能删除") % {"form": locked})
        event_record(obj=locked, action="discard", actor=actor, from_state=locked.status)
        locked.delete()


# --- polling ---------------------------------------------------------------------------------------------------------


def redletter_sync(*, form: RedLetterForm, channel: Any = None) -> RedLetterForm:
    """Poll one form: send it again if still 提交中, else apply the platform's status (expiry included) and record
    the red invoice when it is effective."""
    fresh = RedLetterForm.objects.select_related("taxpayer").get(pk=form.pk)
    if fresh.status == F.SUBMITTING:
        return redletter_send(form_id=fresh.pk, channel=channel)
    if not fresh.form_no or fresh.status not in (*WAITING, *EFFECTIVE):
        return fresh
    if fresh.status in EFFECTIVE and fresh.red_invoice_id:
        return fresh
    ch = _channel(fresh, channel)
    try:
        remote = ch.red_form_query(fresh.form_no)
    except (ChannelUnavailable, ChannelRejected) as exc:
        RedLetterForm.objects.filter(pk=fresh.pk).update(last_error=str(exc)[:2000])
        return fresh
    return apply_remote(form_id=fresh.pk, remote=remote, channel=ch)


@dataclass
class PollReport:
    checked: int = 0
    changed: int = 0
    red_recorded: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": len(self.errors)}


def redletter_poll(*, limit: int = 500, taxpayer_id: int | None = None, channel: Any = None) -> PollReport:
    """Every form the platform may still change: 提交中 (quiet for a while: sent again, same request_no), waiting
    02 / 03 (confirmations, rejections, the 72-hour expiry on the platform's clock), effective without a red
    invoice (record it; issue it for 纸票)."""
    quiet = timezone.now() - RESEND_AFTER
    qs = RedLetterForm.objects.filter(
        Q(status=F.SUBMITTING, updated_at__lte=quiet) | Q(status__in=WAITING)
        | Q(status__in=EFFECTIVE, red_invoice__isnull=True)
    )
    if taxpayer_id is not None:
        qs = qs.filter(taxpayer_id=taxpayer_id)
    report = PollReport()
    for form in qs.order_by("updated_at", "id")[:limit]:
        report.checked += 1
        before = (form.status, form.red_invoice_id)
        try:
            after = redletter_sync(form=form, channel=channel)
        except Exception as exc:  # noqa: BLE001 - one bad form must not stop the poll
            logger.exception("red form %s: poll failed", form.pk)
            report.errors.append(f"{form}: {exc}")
            continue
        if (after.status, after.red_invoice_id) != before:
            report.changed += 1
        if after.red_invoice_id and not before[1]:
            report.red_recorded += 1
        if after.status == F.VOID_EXPIRED and before[0] != F.VOID_EXPIRED:
            report.expired += 1
    return report


def redletter_expire_due(*, channel: Any = None) -> PollReport:
    """Waiting forms past their 72 hours on our clock: ask the platform (its clock decides; it may be ahead)."""
    report = PollReport()
    for form in RedLetterForm.objects.filter(status__in=WAITING, expires_at__lte=timezone.now()).order_by("id")[:500]:
        report.checked += 1
        after = redletter_sync(form=form, channel=channel)
        if after.status == F.VOID_EXPIRED:
            report.expired += 1
    return report


@dataclass
class InboundReport:
    seen: int = 0
    created: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "created": self.created, "updated": self.updated, "skipped": len(self.skipped)}


def redletter_pull_inbound(*, taxpayer: Taxpayer, channel: Any = None) -> InboundReport:
    """Forms our buyers raised against our blue invoices (03, waiting for us). Forms where we are the buyer belong
    to the receiving side and are left alone here."""
    report = InboundReport()
    ch = _channel(taxpayer, channel)
    for remote in ch.red_form_list_inbound():
        report.seen += 1
        if remote.seller_credit_code != taxpayer.credit_code or remote.initiator != "buyer":
            continue
        known = RedLetterForm.objects.filter(form_no=remote.form_no).first()
        if known is not None:
            before = known.status
            after = apply_remote(form_id=known.pk, remote=remote, channel=ch)
            report.updated += int(after.status != before)
            continue
        blue = Invoice.objects.filter(taxpayer=taxpayer, number=remote.blue_number, is_red=False).first()
        if blue is None:
            report.skipped.append(f"{remote.form_no}: 蓝字发票 {remote.blue_number} 不在本系统")
            continue
        try:
            _create_inbound(taxpayer, blue, remote)
        except IntegrityError:
            continue  # another puller recorded it at the same time
        report.created += 1
    return report


def _create_inbound(taxpayer: Taxpayer, blue_in: Invoice, remote: RedForm) -> RedLetterForm:
    with transaction.atomic():
        blue = _lock_blue(blue_in)
        form = RedLetterForm(
            taxpayer=taxpayer, blue_invoice=blue, initiator=Initiator.BUYER, reason=remote.reason,
            is_full=remote.is_full, status=remote.status, form_no=remote.form_no, form_uuid=remote.uuid,
            request_no=f"IN-{remote.form_no}", expires_at=_aware(remote.expires_at),
            red_invoice_serial=remote.red_invoice_serial,
        )
        form.amount, form.tax = remote.total_amount, remote.total_tax
        form.total = form.amount + form.tax
        form.save()
        _replace_lines_from_remote(form, blue, remote)
        event_record(obj=form, action="inbound", actor_label="平台", to_state=form.status,
                     data={"form_no": form.form_no, "blue": blue.number, "total": str(form.total)})
        if form.status in (*WAITING, *EFFECTIVE):
            _app_start_red(blue, form, None)
    return form


# --- paper invoices (§11.2) ----------------------------------------------------------------------------------------


@dataclass
class VoidOutcome:
    voided: bool
    form: RedLetterForm | None = None
    message: str = ""


def paper_invoice_void(*, invoice: Invoice, actor: Actor, reason: str = "", red_reason: str = "01",
                       channel: Any = None) -> VoidOutcome:
    """Void a 数电纸票 issued this month (China time) with no red-letter form; otherwise — or when the platform
    refuses the void — open a full red form instead (reason ``red_reason``) and submit it."""
    _authorize(actor, invoice.taxpayer_id, P_DECIDE)
    blue = Invoice.objects.select_related("taxpayer").get(pk=invoice.pk)
    if blue.kind not in PAPER_KINDS:
        raise ValidationError(gettext("发票 %(number)s 是数电电子发票，不能作废，只能红冲") % {"number": blue.number})
    _check_blue(blue)
    same_month = f"{timezone.localdate():%Y-%m}" == f"{blue.issue_date:%Y-%m}"
    clean = blue.status == InvoiceStatus.NORMAL and not RedLetterForm.objects.filter(
        blue_invoice=blue, status__in=RESERVING).exists()
    if same_month and clean:
        ch = _channel(blue.taxpayer, channel)
        try:
            ch.void_paper(blue.number, reason=reason)
        except ChannelRejected as exc:
            if exc.code not in VOID_REFUSED_CODES:
                raise ValidationError(gettext("平台拒绝作废：%(error)s") % {"error": exc}) from exc
            same_month = False  # the platform's month (or its rules) says no: red instead
        except ChannelUnavailable as exc:
            raise ValidationError(gettext("平台暂不可用，请稍后再试：%(error)s") % {"error": exc.message}) from exc
        else:
            _record_void(blue, actor=actor, reason=reason)
            return VoidOutcome(voided=True, message=gettext("发票 %(number)s 已作废") % {"number": blue.number})
    form = redletter_request(actor=actor, blue_invoice=blue, reason=red_reason, is_full=True, submit=True,
                             note=f"不能作废（跨月或不满足作废条件），改为红冲。{reason}"[:300], channel=channel)
    return VoidOutcome(
        voided=False, form=form, message=gettext("发票 %(number)s 不能作废，已提交红字确认单") % {"number": blue.number}
    )


def _record_void(blue_in: Invoice, *, actor: Actor, reason: str) -> None:
    with transaction.atomic():
        blue = _lock_blue(blue_in)
        if blue.status == InvoiceStatus.VOIDED:
            return
        if not can_proceed(blue.void):
            raise ValidationError(
                gettext("发票 %(number)s 状态为「%(status)s」，不能作废")
                % {"number": blue.number, "status": blue.get_status_display()}
            )
        before = blue.status
        blue.void()
        blue.save(update_fields=["status"])
        rollup_invoice(blue, sign=-1)  # a voided invoice leaves the 发票汇总表
        event_record(obj=blue, action="void", actor=actor, actor_label=actor_label(actor), from_state=before,
                     to_state=blue.status, reason=reason)
        quota.quota_restore(taxpayer=blue.taxpayer, amount=blue.amount, month=blue.quota_month, actor=actor,
                               reference=blue.number)
        # Its application is 已作废 too (not 已开票 with a void invoice): what it took from its billing documents is
        # free again for a correct application.
        app = InvoiceApplication.objects.select_for_update().filter(pk=blue.application_id).first()
        if app is not None and app.status == S.ISSUED:
            app.void()
            app.save()
            event_record(obj=app, action="void", actor=actor, actor_label=actor_label(actor), from_state=S.ISSUED,
                         to_state=app.status, reason=reason, data={"invoice": blue.number})


# --- refunds -------------------------------------------------------------------------------------------------------


@dataclass
class RefundOutcome:
    forms: list[RedLetterForm] = field(default_factory=list)
    already: bool = False
    nothing_to_flush: bool = False
    messages: list[str] = field(default_factory=list)


def _refund_candidates(doc: BillingDocument) -> list[tuple[ApplicationSource, Invoice]]:
    """(source, blue invoice) pairs through which ``doc`` has been invoiced, newest invoice first."""
    out = []
    sources = ApplicationSource.objects.filter(
        billing_document=doc, application__status__in=(S.ISSUED, S.PARTLY_RED, S.RED_PENDING)
    ).select_related("application")
    for src in sources:
        blue = Invoice.objects.filter(application=src.application, is_red=False).order_by("-issued_at").first()
        if blue is not None and blue.status in (InvoiceStatus.NORMAL, InvoiceStatus.RED_PARTIAL):
            out.append((src, blue))
    out.sort(key=lambda p: (p[1].issued_at, p[1].pk), reverse=True)
    return out


def _pending_red_for(doc: BillingDocument) -> Decimal:
    """Red already asked for this document (drafts included) and not yet recorded: it still counts as invoiced."""
    total = RedLetterForm.objects.filter(
        billing_document=doc, status__in=(F.DRAFT, *RESERVING), red_invoice__isnull=True
    ).aggregate(s=Sum("total"))["s"] or ZERO
    return -total


@dataclass
class _Plan:
    blue: Invoice
    gross: Decimal
    full: bool
    reissue: Decimal | None = None


def refund_red_flush(*, document: BillingDocument, refund_key: str, amount: Decimal | str | None = None,
                     actor: Actor = None, channel: Any = None) -> RefundOutcome:
    """Red-flush what a refund leaves over-invoiced on ``document``. Once per ``refund_key``.

    The amount to red is the document's 超开 (invoiced beyond paid − refunded) not already covered by other forms,
    at most the refund. Per blue invoice, newest first: all that is left of it → full red (or the rest, when it was
    partly red before); less → partial red when the entity's refund reason allows it and its policy is
    ``partial_where_allowed``, otherwise full red and a new application for what remains. When the platform
    answers that the buyer has not used the invoice (partial red impossible), the same fallback applies.

    The forms are written under the billing document's lock (so two refunds never red the same amount twice) and
    sent to the platform after commit.
    """
    key = (refund_key or "").strip()
    if not key:
        raise ValidationError(gettext("退款键不能为空"))
    outcome = RefundOutcome()
    with transaction.atomic():
        doc = workflow.lock_rows(BillingDocument, [document.pk])[0]
        if actor is not None:
            _authorize(actor, doc.taxpayer_id, *P_REQUEST_ANY, any_of=True)
        done = list(RedLetterForm.objects.filter(refund_key__startswith=f"{key}:").order_by("id"))
        if done:
            outcome.forms, outcome.already = done, True
            return outcome
        policy = policy_for(doc.taxpayer)
        bal = billing_selectors.billing_document_balance(doc, applied=billing_selectors.applied_amount(doc))
        need = bal.over_invoiced - _pending_red_for(doc)
        if amount is not None:
            need = min(need, q2(to_decimal(amount, "amount")))
        if need <= 0:
            outcome.nothing_to_flush = True
            event_record(obj=doc, action="refund_red_none", actor=actor, actor_label=actor_label(actor) or "退款红冲",
                         data={"refund_key": key, "over_invoiced": str(bal.over_invoiced)})
            return outcome
        plans: list[_Plan] = []
        for src, blue in _refund_candidates(doc):
            if need <= 0:
                break
            left = blue_remaining_total(blue)
            share = min(need, src.amount - src.released_amount, left)
            if share <= 0:
                continue
            need -= share
            if share == left:
                plans.append(_Plan(blue, share, True))
            elif policy.refund_policy == RefundPolicy.PARTIAL_WHERE_ALLOWED and reason_allows_partial(
                policy.refund_reason, policy
            ):
                plans.append(_Plan(blue, share, False))
            else:
                plans.append(_Plan(blue, left, True, left - share))
        drafts = [(p, _refund_form(doc, p, key=f"{key}:{p.blue.pk}", reason=policy.refund_reason, outcome=outcome))
                  for p in plans]
    if not policy.auto_submit:
        return outcome
    for plan, form in drafts:
        if form is None:
            continue
        sent = _submit_quietly(form, channel, outcome)
        if sent is None or plan.full or sent.status != F.SUBMIT_FAILED:
            continue
        if not any(code in sent.last_error for code in FULL_ONLY_CODES):
            continue
        # The buyer has neither used nor booked the invoice: only full red is possible (§11.1). Red it all and
        # apply again for what the documents may still be invoiced for.
        with transaction.atomic():
            workflow.lock_rows(BillingDocument, [doc.pk])
            left = blue_remaining_total(plan.blue)
            full_plan = _Plan(plan.blue, left, True, left - plan.gross)
            form2 = _refund_form(doc, full_plan, key=f"{key}:{plan.blue.pk}:full", reason=policy.refund_reason,
                                 outcome=outcome)
        if form2 is not None:
            _submit_quietly(form2, channel, outcome)
            outcome.messages.append(f"蓝字发票 {plan.blue.number}：购方未用票，改为全额红冲并就剩余金额重新申请")
    return outcome


def _submit_quietly(form: RedLetterForm, channel: Any, outcome: RefundOutcome) -> RedLetterForm | None:
    try:
        sent = redletter_submit(form=form, actor=None, channel=channel)
    except ValidationError as exc:
        outcome.messages.append(f"{form}: {'；'.join(exc.messages)}")
        return None
    outcome.forms = [sent if f.pk == sent.pk else f for f in outcome.forms]
    return sent


def _refund_form(doc: BillingDocument, plan: _Plan, *, key: str, reason: str,
                 outcome: RefundOutcome) -> RedLetterForm | None:
    """A draft for one blue invoice of a refund (inside the caller's transaction, the document locked)."""
    existing = RedLetterForm.objects.filter(refund_key=key).first()
    if existing is not None:
        outcome.forms.append(existing)
        return existing
    blue = plan.blue
    use_reason = reason
    if plan.full and blue.red_amount_total > 0 and not reason_allows_partial(reason, policy_for(blue.taxpayer)):
        use_reason = "02"  # the rest of a partly red invoice goes as partial lines: 开票有误 cannot
    try:
        # A system step: its refusal is written into the audit trail, in the default language.
        with translation.override(settings.LANGUAGE_CODE):
            form = redletter_request(
                actor=None, blue_invoice=blue, reason=use_reason, is_full=plan.full,
                amount_with_tax=None if plan.full else plan.gross, refund_key=key, billing_document=doc,
                reissue_amount=plan.reissue if plan.reissue and plan.reissue > 0 else None,
                note=f"退款红冲：业务单据 {doc.external_no}",
            )
    except ValidationError as exc:
        outcome.messages.append(f"蓝字发票 {blue.number}：{'；'.join(exc.messages)}")
        event_record(obj=doc, action="refund_red_refused", actor_label="退款红冲", reason="；".join(exc.messages)[:500],
                     data={"refund_key": key.split(":", 1)[0], "blue": blue.number})
        return None
    outcome.forms.append(form)
    return form


REFUND_SCAN_DAYS = 7


def refunds_scan(*, channel: Any = None, days: int = REFUND_SCAN_DAYS, limit: int = 200) -> list[RefundOutcome]:
    """Refunds are recorded by ``billing_document_refund`` with an ``Event`` (action "refund"); each one not yet
    red-flushed is handled here with the event as its refund key, so a refund from any face (admin, API, import)
    red-flushes on its own within one poll. Idempotent: the key is the event's id. A refund whose invoice is still
    being issued opens nothing yet and is looked at again on the next run (for ``days``)."""
    from django.contrib.contenttypes.models import ContentType

    from invoicing.models import Event

    ct = ContentType.objects.get_for_model(BillingDocument)
    since = timezone.now() - timedelta(days=days)
    events = Event.objects.filter(content_type=ct, action="refund", created_at__gte=since).order_by("id")
    handled = set(
        RedLetterForm.objects.filter(refund_key__startswith="refund-event-", created_at__gte=since - timedelta(days=1))
        .values_list("refund_key", flat=True)
    )
    handled_events = {k.split(":", 1)[0] for k in handled}
    handled_events |= set(
        Event.objects.filter(content_type=ct, action__in=("refund_red_none", "refund_red_refused"),
                             created_at__gte=since).values_list("data__refund_key", flat=True)
    )
    out = []
    for event in events[: limit * 5]:
        key = f"refund-event-{event.pk}"
        if key in handled_events:
            continue
        doc = BillingDocument.objects.filter(pk=int(event.object_id)).first()
        if doc is None:
            continue
        out.append(refund_red_flush(document=doc, refund_key=key, amount=(event.data or {}).get("amount"),
                                    channel=channel))
        if len(out) >= limit:
            break
    return out
