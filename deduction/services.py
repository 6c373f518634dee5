"""抵扣's write paths: tax periods (所属期) and selections (勾选) through the platform (domain.md §14.4, §14.5).

Selections follow the channel rules:

1. the verdicts of the receiving rules are taken first (``received_invoice_check_before_use`` may re-verify a stale
   invoice with the platform, so it runs outside any transaction);
2. under row locks (the period, then the invoices in id order) every invoice is checked and the intent committed:
   one ``Selection`` per invoice, state 勾选待平台确认, one stable request number for the batch. An invoice has at most
   one active selection (a partial unique constraint): two people selecting it at once, the second is refused;
3. the platform is called outside any transaction; its per-invoice answer is applied under the lock again.
   Unavailable (a time-out): the selections stay pending and ``deduction_selection_resend`` asks again with the same
   items; the platform's "already selected in this period" then counts as accepted (recovery by asking again).

The period operations (申请统计, 撤销统计, 确认, 撤销确认) are not idempotent on the platform: a second call is refused.
Each records its request (an event) before the call; a time-out or a refusal is followed by the platform's
``deduction_statistics_query``, and when the platform already holds the outcome our side follows with its figures.
A request recorded and never completed (the process died) reads the platform first when tried again, so the
platform is asked for the change once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from deduction import input_tax, transfers
from deduction.models import (
    ACTIVE_SELECTION_STATES,
    REFUND_PURPOSES,
    NotDeductReason,
    PeriodState,
    Purpose,
    Selection,
    SelectionState,
    TaxPeriod,
    TransferLine,
    TransferOut,
)
from deduction.periods import issue_date_refusal, selection_window_refusal, valid_period
from invoicing.actors import Actor, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    DeductionItem,
    DeductionSelectRequest,
    DeductionSelectResult,
    TaxChannel,
)
from invoicing.events import event_record
from invoicing.models import Event, Taxpayer
from receiving.models import CustomsMatch, PlatformStatus, ReceivedInvoice, RiskLevel, UseState
from receiving.services import authorize
from receiving.usage import received_invoice_selection_record
from receiving.verification import received_invoice_check_before_use

logger = logging.getLogger(__name__)

P_SELECT = "deduction.add_selection"
P_PERIOD = "deduction.change_taxperiod"
PLATFORM = "platform"
ALREADY_SELECTED = "3504"  # the platform's "发票已于{period}勾选"
NOT_SELECTED = "3502"  # the platform's "发票未在本期勾选"


@dataclass(frozen=True)
class SelectionInput:
    """One invoice to select: its purpose, the 不抵扣 reason, the effective tax (None = the face tax)."""

    invoice_id: int
    purpose: str = Purpose.DEDUCT.value
    reason: str = ""
    reason_text: str = ""
    effective_tax: Decimal | None = None
    agricultural_extra: bool = False  # produce used for 13% goods: the 1% 加计扣除 (§14.7)


def _channel(taxpayer: Taxpayer, channel: TaxChannel | None) -> TaxChannel:
    return channel if channel is not None else get_channel(taxpayer)


def _new_request_no() -> str:
    return f"GX{uuid.uuid4().hex[:20].upper()}"


# --- periods -------------------------------------------------------------------------------------------------------


def tax_period_ensure(*, taxpayer: Taxpayer, period: str, actor: Actor) -> TaxPeriod:
    """The entity's row for ``period`` (created open)."""
    if not valid_period(period):
        raise ValidationError({"period": gettext("所属期格式应为 YYYYMM：%(value)s") % {"value": period}})
    authorize(actor, taxpayer.pk)
    row, created = TaxPeriod.objects.get_or_create(taxpayer=taxpayer, period=period)
    if created:
        event_record(obj=row, action="create", actor=actor, taxpayer=taxpayer, data={"period": period})
    return row


def _lock_period(row: TaxPeriod, actor: Actor, *perms: str) -> TaxPeriod:
    locked = TaxPeriod.objects.select_for_update().select_related("taxpayer").get(pk=row.pk)
    authorize(actor, locked.taxpayer_id, *perms)
    return locked


def _transition(locked: TaxPeriod, name: str, actor: Actor, *, data: dict[str, object] | None = None,
                reason: str = "") -> TaxPeriod:
    before = locked.state
    getattr(locked, name)()
    locked.save()
    event_record(obj=locked, action=name, actor=actor, from_state=before, to_state=locked.state, reason=reason,
                 data=data or {}, taxpayer=locked.taxpayer)
    return locked


def tax_period_file(*, tax_period: TaxPeriod, actor: Actor) -> TaxPeriod:
    """Record that the period's VAT return was filed: nothing of it changes any more."""
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        if locked.state != PeriodState.CONFIRMED:
            raise ValidationError(gettext("所属期 %(period)s 尚未确认，不能登记申报") % {"period": locked.period})
        locked.filed_at = timezone.now()
        return _transition(locked, "period_file", actor)


def period_window_refusal(tax_period: TaxPeriod) -> str:
    """Why nothing may be selected into ``tax_period`` today (China time): only the current 所属期 takes 勾选, and a
    period past its filing deadline is closed (domain.md §14.4, §14.5; ``periods.selection_window_refusal``)."""
    return selection_window_refusal(taxpayer_id=tax_period.taxpayer_id, period=tax_period.period,
                                    today=timezone.localdate())


def _state_refusal(locked: TaxPeriod, wanted: PeriodState, words: str) -> None:
    if locked.state != wanted:
        raise ValidationError(gettext("所属期 %(period)s 状态为「%(state)s」，不能%(action)s") % {
            "period": locked.period, "state": locked.get_state_display(), "action": words},
            code="transition_not_allowed")


# --- selection -----------------------------------------------------------------------------------------------------


def _clean_input(item: SelectionInput, record: ReceivedInvoice) -> list[str]:
    problems: list[str] = []
    if item.purpose not in Purpose.values:
        problems.append(gettext("用途不正确：%(value)s") % {"value": item.purpose})
    if item.purpose == Purpose.NOT_DEDUCT:
        if item.reason not in NotDeductReason.values:
            problems.append(gettext("不抵扣须选择原因（1–5）"))
        if len(item.reason_text or "") > 300:
            problems.append(gettext("不抵扣原因说明不能超过 300 个字符"))
    elif item.reason or item.reason_text:
        problems.append(gettext("只有不抵扣才填写原因"))
    if item.effective_tax is not None and item.effective_tax < 0:
        problems.append(gettext("有效抵扣税额不能为负数"))
    if item.agricultural_extra and record.kind not in input_tax.AGRI_KINDS:
        problems.append(gettext("加计扣除只适用于农产品发票"))
    return problems


def customs_refusal(record: ReceivedInvoice) -> str:
    """Why a 海关缴款书 may not be deducted: its 稽核比对 is not 相符 (empty when it is, or for other kinds)."""
    if record.kind not in input_tax.CUSTOMS_KINDS or record.customs_match == CustomsMatch.MATCHED:
        return ""
    status = CustomsMatch(record.customs_match or CustomsMatch.NOT_COMPARED)
    return gettext("海关缴款书稽核比对结果为「%(status)s」，相符后才能勾选") % {"status": status.label}


def selection_refusal(record: ReceivedInvoice) -> str:
    """Why ``record`` may not be selected now (the pool's side), in words; empty when it may."""
    if record.kind not in input_tax.DEDUCTIBLE_KINDS:
        return gettext("票种「%(kind)s」不能勾选抵扣") % {"kind": record.get_kind_display()}
    if record.is_red:
        return gettext("红字发票不能勾选")
    if record.kind in input_tax.CUSTOMS_KINDS:
        # a 海关缴款书 is not verified like an invoice: its 稽核比对 with the customs data decides (§14.8)
        refusal = customs_refusal(record)
        if refusal:
            return refusal
    else:
        allowed = [PlatformStatus.NORMAL.value]
        if getattr(settings, "DEDUCTION_ALLOW_PARTIAL_RED", True):
            allowed.append(PlatformStatus.RED_PARTIAL.value)  # the unflushed part stays valid (§14.3, UNVERIFIED)
        if record.platform_status not in allowed:
            return gettext("发票状态为「%(status)s」，不能勾选") % {
                "status": record.get_platform_status_display() or gettext("未查验")}
    if record.risk_level in (RiskLevel.ABNORMAL, RiskLevel.SUSPECT):
        return gettext("风险等级为「%(level)s」，不能勾选") % {"level": record.get_risk_level_display()}
    if record.use_state == UseState.IN_REVIEW:
        return gettext("发票待复核，复核完成后才能勾选")
    active = (Selection.objects.filter(invoice=record, state__in=ACTIVE_SELECTION_STATES)
              .select_related("tax_period").first())
    if active is not None:
        return gettext("发票已于所属期 %(period)s 勾选") % {"period": active.tax_period.period}
    return ""


def deduction_select(*, tax_period: TaxPeriod, items: Sequence[SelectionInput], actor: Actor,
                     channel: TaxChannel | None = None, request_no: str = "") -> list[Selection]:
    """勾选 ``items`` into ``tax_period`` (see the module's docstring). Every problem of every invoice is reported at
    once and nothing is written; the platform's refusals come back per invoice on the returned selections.

    ``request_no``: the caller's stable number for this request (an API call's Idempotency-Key claim). Called again
    with it after the intent was committed (a process that died before answering), the selections committed under it
    are asked for again, or returned as they are, instead of being selected a second time."""
    if not items:
        raise ValidationError(gettext("请选择要勾选的发票"))
    authorize(actor, tax_period.taxpayer_id, P_SELECT)
    ids = [x.invoice_id for x in items]
    if len(set(ids)) != len(ids):
        raise ValidationError(gettext("同一张发票不能重复勾选"))
    if request_no:
        resumed = _resume(tax_period, request_no, ids, channel, action="deduction_select_request")
        if resumed is not None:
            return resumed
    # the period's window first (§14.4, §14.5): no platform verification for a selection that cannot happen
    window = period_window_refusal(tax_period)
    if window:
        raise ValidationError(window, code="period_closed")
    records = {r.pk: r for r in ReceivedInvoice.objects.filter(pk__in=ids, taxpayer_id=tax_period.taxpayer_id)}
    missing = [i for i in ids if i not in records]
    if missing:
        raise ValidationError(gettext("发票不存在或不属于本主体：%(ids)s") % {"ids": ", ".join(map(str, missing))})
    # 1. the receiving rules (may re-verify with the platform: outside any transaction)
    verdicts = {pk: received_invoice_check_before_use(record=r, actor=actor, purpose="deduct")
                for pk, r in records.items()}
    request_no = request_no or _new_request_no()
    # 2. check and commit the intent
    try:
        with transaction.atomic():
            period = _lock_period(tax_period, actor, P_SELECT)
            _state_refusal(period, PeriodState.OPEN, gettext("勾选（请先撤销统计）"))
            window = period_window_refusal(period)
            if window:
                raise ValidationError(window, code="period_closed")
            locked = {r.pk: r for r in ReceivedInvoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
            errors: list[str] = []
            rows: list[Selection] = []
            for n, item in enumerate(items, start=1):
                record = locked[item.invoice_id]
                problems = _clean_input(item, record)
                refusal = selection_refusal(record)
                if refusal:
                    problems.append(refusal)
                dated = issue_date_refusal(issue_date=record.issue_date, period=period.period)
                if dated:
                    problems.append(dated)
                verdict = verdicts[item.invoice_id]
                if not verdict.usable:
                    problems.append(gettext("未通过收票规则：%(rules)s") % {
                        "rules": "；".join(str(f.get("message") or f.get("code")) for f in verdict.blocking)})
                face = input_tax.face_tax(kind=record.kind, amount=record.amount, tax=record.tax, total=record.total,
                                          red_tax=record.red_tax, deductible_tax=record.deductible_tax)
                effective = face if item.effective_tax is None else input_tax.fen(item.effective_tax)
                if effective > face:
                    problems.append(gettext("有效抵扣税额 %(effective)s 不能大于可抵扣税额 %(face)s") % {
                        "effective": effective, "face": face})
                if problems:
                    errors.extend(gettext("第 %(n)s 行（发票 %(number)s）：%(problem)s") % {
                        "n": n, "number": record, "problem": p} for p in problems)
                    continue
                extra = (input_tax.agricultural_extra(record.amount or Decimal("0.00"))
                         if item.agricultural_extra else Decimal("0.00"))
                rows.append(Selection(
                    tax_period=period, invoice=record, purpose=item.purpose, reason=item.reason,
                    reason_text=(item.reason_text or "").strip(), kind=record.kind,
                    amount=(record.remaining_amount if record.remaining_amount is not None else Decimal("0.00")),
                    face_tax=face, effective_tax=effective, extra_tax=extra, request_no=request_no,
                    selected_by=actor_user(actor)))
            if errors:
                raise ValidationError(errors)
            for row in rows:
                row.save()
                event_record(obj=row.invoice, action="deduction_select_request", actor=actor,
                             taxpayer=period.taxpayer,
                             data={"period": period.period, "purpose": row.purpose, "request_no": request_no,
                                   "effective_tax": str(row.effective_tax)})
    except IntegrityError as exc:  # the same invoice selected elsewhere at the same moment
        raise ValidationError(gettext("发票已被其他人同时勾选，请刷新后重试")) from exc
    # 3. the platform
    return deduction_selection_send(tax_period=tax_period, request_no=request_no, channel=channel)


def _resume(tax_period: TaxPeriod, request_no: str, invoice_ids: Sequence[int], channel: TaxChannel | None, *,
            action: str) -> list[Selection] | None:
    """The request ``request_no`` again: None when nothing of it was committed (run it afresh); otherwise its
    selections, sent again to the platform when still pending. Refused when the number was used for other invoices,
    or when its selections have moved on since (undone under another request)."""
    rows = list(Selection.objects.filter(tax_period=tax_period, request_no=request_no))
    if not rows:
        committed = Event.objects.filter(action=action, object_id__in=[str(i) for i in invoice_ids],
                                         data__request_no=request_no).exists()
        if not committed:
            return None
        raise ValidationError(gettext("请求 %(request_no)s 已处理，其勾选此后已有变化，请查询所属期的勾选") % {
            "request_no": request_no})
    if {r.invoice_id for r in rows} != set(invoice_ids):
        raise ValidationError(gettext("请求 %(request_no)s 已用于另一批发票") % {"request_no": request_no})
    return deduction_selection_send(tax_period=tax_period, request_no=request_no, channel=channel)


def deduction_selection_send(*, tax_period: TaxPeriod, request_no: str,
                             channel: TaxChannel | None = None) -> list[Selection]:
    """Ask the platform for the pending selections (or undos) of ``request_no`` and apply its answers. Never inside a
    transaction. Unavailable: they stay pending (resend later with the same items)."""
    pending = list(Selection.objects.filter(request_no=request_no, state__in=[
        SelectionState.PENDING, SelectionState.UNDO_PENDING]).select_related("invoice", "tax_period__taxpayer"))
    if not pending:
        return list(Selection.objects.filter(request_no=request_no).select_related("invoice"))
    period = pending[0].tax_period
    request = DeductionSelectRequest(period=period.period, items=tuple(
        DeductionItem(number=s.invoice.number, select=s.state == SelectionState.PENDING, purpose=s.purpose,
                      effective_tax=s.effective_tax, reason=s.reason) for s in pending))
    try:
        result = _channel(period.taxpayer, channel).deduction_select(request)
    except ChannelUnavailable as exc:
        Selection.objects.filter(pk__in=[s.pk for s in pending]).update(
            platform_message=(gettext("平台暂不可用，请稍后重试：%(error)s") % {"error": exc.message})[:500],
            updated_at=timezone.now())
        logger.info("selection %s pending: %s", request_no, exc.message)
        return list(Selection.objects.filter(request_no=request_no).select_related("invoice"))
    except (ChannelRejected, ChannelUnsupported) as exc:
        message = str(exc) if isinstance(exc, ChannelRejected) else gettext("该税务平台通道不支持勾选")
        code = exc.code if isinstance(exc, ChannelRejected) else ""
        result = DeductionSelectResult(period=period.period, results=())
        return _apply(pending, result, period=period.period, fallback=(code, message))
    return _apply(pending, result, period=period.period)


def _apply(pending: list[Selection], result: DeductionSelectResult, *, period: str,
           fallback: tuple[str, str] | None = None) -> list[Selection]:
    answers = {r.number: r for r in result.results}
    out: list[Selection] = []
    with transaction.atomic():
        for row in Selection.objects.select_for_update().filter(pk__in=[s.pk for s in pending]).select_related(
                "invoice", "tax_period__taxpayer").order_by("pk"):
            answer = answers.get(row.invoice.number)
            if answer is None and fallback is None:
                out.append(row)  # no word on it: stays pending
                continue
            # A request asked again after a time-out may already have been done: selected in this very period, or
            # no longer selected (an undo) counts as done.
            ok = answer is not None and (answer.ok or (
                row.state == SelectionState.PENDING and answer.code == ALREADY_SELECTED and period in answer.message)
                or (row.state == SelectionState.UNDO_PENDING and answer.code == NOT_SELECTED))
            code, message = ((answer.code, answer.message) if answer is not None else fallback or ("", ""))
            before = row.state
            undo = row.state == SelectionState.UNDO_PENDING
            if undo:
                (row.unselect_accept if ok else row.unselect_refuse)()
            else:
                (row.select_accept if ok else row.select_refuse)()
            row.platform_code, row.platform_message = code[:10], message[:500]
            row.attempts += 1
            row.save()
            if ok:  # the pool shows the use (已勾选抵扣), or what it was before, in the same transaction
                received_invoice_selection_record(record=row.invoice, selected=not undo, actor=None,
                                                  period=row.tax_period.period)
            action = ("deduction_unselect" if ok else "deduction_unselect_refused") if undo else (
                "deduction_select" if ok else "deduction_select_refused")
            event_record(obj=row.invoice, action=action, actor_label=PLATFORM, from_state=before, to_state=row.state,
                         reason="" if ok else message[:500], taxpayer=row.tax_period.taxpayer,
                         data={"period": row.tax_period.period, "request_no": row.request_no, "code": code})
            out.append(row)
    return out


def deduction_selection_resend(*, tax_period: TaxPeriod, actor: Actor,
                               channel: TaxChannel | None = None) -> list[Selection]:
    """Ask the platform again for every pending selection and undo of the period (after a time-out)."""
    authorize(actor, tax_period.taxpayer_id, P_SELECT)
    out: list[Selection] = []
    numbers = (Selection.objects.filter(tax_period=tax_period, state__in=[SelectionState.PENDING,
                                                                          SelectionState.UNDO_PENDING])
               .values_list("request_no", flat=True).distinct())
    for request_no in sorted(set(numbers)):
        out.extend(deduction_selection_send(tax_period=tax_period, request_no=request_no, channel=channel))
    return out


def deduction_unselect(*, tax_period: TaxPeriod, selection_ids: Sequence[int], actor: Actor,
                       channel: TaxChannel | None = None, request_no: str = "") -> list[Selection]:
    """撤销勾选: only while the period is open (before 申请统计). ``request_no`` as for ``deduction_select``: called
    again with it, the undos committed under it are asked for again or returned, never requested twice."""
    if not selection_ids:
        raise ValidationError(gettext("请选择要撤销的勾选"))
    if request_no:
        authorize(actor, tax_period.taxpayer_id, P_SELECT)
        invoice_ids = list(Selection.objects.filter(pk__in=selection_ids, tax_period=tax_period)
                           .values_list("invoice_id", flat=True))
        resumed = _resume(tax_period, request_no, invoice_ids, channel, action="deduction_unselect_request")
        if resumed is not None:
            return resumed
    request_no = request_no or _new_request_no()
    with transaction.atomic():
        period = _lock_period(tax_period, actor, P_SELECT)
        _state_refusal(period, PeriodState.OPEN, gettext("撤销勾选（请先撤销统计）"))
        rows = list(Selection.objects.select_for_update().filter(pk__in=selection_ids, tax_period=period)
                    .select_related("invoice").order_by("pk"))
        if len(rows) != len(set(selection_ids)):
            raise ValidationError(gettext("勾选记录不存在或不属于本所属期"))
        bad = [gettext("发票 %(number)s：状态为「%(state)s」，不能撤销") % {
            "number": r.invoice, "state": r.get_state_display()} for r in rows if r.state != SelectionState.ACCEPTED]
        if bad:
            raise ValidationError(bad)
        for row in rows:
            row.unselect_request()
            row.request_no = request_no
            row.save()
            event_record(obj=row.invoice, action="deduction_unselect_request", actor=actor, taxpayer=period.taxpayer,
                         data={"period": period.period, "request_no": request_no})
    return deduction_selection_send(tax_period=tax_period, request_no=request_no, channel=channel)


def _refund_confirmed(period: TaxPeriod) -> bool:
    return Selection.objects.filter(tax_period=period, state=SelectionState.ACCEPTED,
                                    purpose__in=sorted(REFUND_PURPOSES)).exists()


# --- statistics and confirmation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindTotal:
    purpose: str
    kind: str
    count: int
    amount: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    """Our side of the 抵扣统计表: what the platform reports (purpose 抵扣), and the detail by purpose and kind."""

    count: int
    amount: Decimal
    tax: Decimal
    not_deducted_count: int
    by_purpose_kind: tuple[KindTotal, ...]
    invoice_ids: tuple[int, ...]


def our_totals(period: TaxPeriod) -> Totals:
    rows = list(Selection.objects.filter(tax_period=period, state=SelectionState.ACCEPTED).order_by("pk"))
    groups: dict[tuple[str, str], list[Selection]] = {}
    for r in rows:
        groups.setdefault((r.purpose, r.kind), []).append(r)
    by = tuple(KindTotal(purpose=p, kind=k, count=len(g), amount=sum((r.amount for r in g), Decimal("0.00")),
                         tax=sum((r.effective_tax for r in g), Decimal("0.00"))) for (p, k), g in sorted(groups.items()))
    deducted = [r for r in rows if r.purpose == Purpose.DEDUCT]
    return Totals(count=len(deducted), amount=sum((r.amount for r in deducted), Decimal("0.00")),
                  tax=sum((r.effective_tax for r in deducted), Decimal("0.00")),
                  not_deducted_count=len(rows) - len(deducted), by_purpose_kind=by,
                  invoice_ids=tuple(r.invoice_id for r in rows))


def statistics_differences(period: TaxPeriod, platform: dict[str, str]) -> list[dict[str, str]]:
    ours = our_totals(period)
    out = []
    for field, words in (("count", gettext("抵扣份数")), ("amount", gettext("抵扣金额")), ("tax", gettext("抵扣税额")),
                         ("not_deducted_count", gettext("其他用途份数"))):
        mine, theirs = str(getattr(ours, field)), str(platform.get(field, ""))
        if (Decimal(mine) if mine else None) != (Decimal(theirs) if theirs else None):
            out.append({"field": field, "label": str(words), "ours": mine, "platform": theirs})
    return out


def _stats_dict(stats: object) -> dict[str, str]:
    return {k: str(getattr(stats, k)) for k in ("status", "count", "amount", "tax", "not_deducted_count")}


# What the platform holds for the period once each operation is done (``DeductionStatistics.status``), and the
# transition that completes it on our side.
_DONE = {"deduction_statistics_apply": "generated", "deduction_statistics_undo": "none",
         "deduction_confirm": "confirmed", "deduction_confirm_undo": "generated"}
_TRANSITIONS = {"deduction_statistics_apply": "statistics_apply", "deduction_statistics_undo": "statistics_undo",
                "deduction_confirm": "period_confirm", "deduction_confirm_undo": "period_confirm_undo"}


@dataclass(frozen=True)
class PlatformAnswer:
    """The platform's figures after a period operation; ``recovered``: read with ``deduction_statistics_query``
    because the operation's own answer was lost (a time-out, or an earlier attempt that never completed here)."""

    stats: dict[str, str]
    recovered: bool = False


def _request_intent(locked: TaxPeriod, operation: str, actor: Actor) -> bool:
    """Commit the intent to call ``operation`` (inside the caller's transaction, before the call). True when an
    earlier request of the same operation was never completed here: its call may have reached the platform."""
    name = _TRANSITIONS[operation]
    actions = [*(f"{t}_request" for t in _TRANSITIONS.values()), *_TRANSITIONS.values()]
    last = (Event.objects.filter(content_type__app_label="deduction", content_type__model="taxperiod",
                                 object_id=str(locked.pk), action__in=actions)
            .order_by("-created_at", "-id").values_list("action", flat=True).first())
    event_record(obj=locked, action=f"{name}_request", actor=actor, taxpayer=locked.taxpayer,
                 data={"period": locked.period})
    return last == f"{name}_request"


def _platform_done(ch: TaxChannel, period: str, operation: str) -> dict[str, str] | None:
    """The platform's figures when it already holds what ``operation`` leads to; None when it does not, or cannot
    tell (the query unsupported or unavailable)."""
    try:
        stats = ch.deduction_statistics_query(period)
    except ChannelError as exc:
        logger.info("period %s: %s not recoverable by query: %s", period, operation, exc)
        return None
    return _stats_dict(stats) if stats.status == _DONE[operation] else None


def _platform_period_call(tax_period: TaxPeriod, operation: str, channel: TaxChannel | None, *,
                          resumed: bool = False) -> PlatformAnswer:
    """Call ``operation`` for the period, never twice for one change: ``resumed`` (an earlier request was never
    completed here) asks the platform first, and a time-out or a refusal asks it afterwards; when it already holds
    the operation's outcome, its figures are the answer."""
    ch = _channel(tax_period.taxpayer, channel)
    if resumed:
        done = _platform_done(ch, tax_period.period, operation)
        if done is not None:
            return PlatformAnswer(done, recovered=True)
    failure: ValidationError
    cause: ChannelError
    try:
        return PlatformAnswer(_stats_dict(getattr(ch, operation)(tax_period.period)))
    except ChannelUnavailable as exc:
        failure, cause = ValidationError(gettext("平台暂不可用，请稍后重试：%(error)s") % {"error": exc.message}), exc
    except ChannelRejected as exc:
        failure, cause = ValidationError(gettext("平台拒绝：%(message)s") % {"message": str(exc)}), exc
    except ChannelUnsupported as exc:
        raise ValidationError(gettext("该税务平台通道不支持此操作")) from exc
    # the call may have been processed (a time-out after the platform applied it), or was refused because an
    # earlier one was: the platform's own state decides
    done = _platform_done(ch, tax_period.period, operation)
    if done is None:
        raise failure from cause
    logger.info("period %s: %s recovered by query after %s", tax_period.period, operation, cause)
    return PlatformAnswer(done, recovered=True)


def _answer_data(answer: PlatformAnswer, **data: object) -> dict[str, object]:
    return {"platform": answer.stats, **data, **({"recovered_by_query": True} if answer.recovered else {})}


def tax_period_statistics_apply(*, tax_period: TaxPeriod, actor: Actor,
                                channel: TaxChannel | None = None) -> TaxPeriod:
    """申请统计: the period must be open with nothing pending; the platform's figures are kept and compared."""
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        _state_refusal(locked, PeriodState.OPEN, gettext("申请统计"))
        if Selection.objects.filter(tax_period=locked, state__in=[SelectionState.PENDING,
                                                                  SelectionState.UNDO_PENDING]).exists():
            raise ValidationError(gettext("有勾选或撤销勾选正等待平台确认，请先重新提交"))
        unmatched = [gettext("%(number)s（%(status)s）") % {
            "number": s.invoice, "status": CustomsMatch(s.invoice.customs_match or CustomsMatch.NOT_COMPARED).label}
            for s in Selection.objects.filter(tax_period=locked, state=SelectionState.ACCEPTED,
                                              purpose=Purpose.DEDUCT, kind__in=sorted(input_tax.CUSTOMS_KINDS))
            .exclude(invoice__customs_match=CustomsMatch.MATCHED).select_related("invoice").order_by("pk")]
        if unmatched:  # line 5 counts only 相符 forms (§14.8)
            raise ValidationError(gettext("海关缴款书稽核比对结果不是相符，请先撤销勾选：%(forms)s") % {
                "forms": "、".join(unmatched)})
        resumed = _request_intent(locked, "deduction_statistics_apply", actor)
    answer = _platform_period_call(locked, "deduction_statistics_apply", channel, resumed=resumed)
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        if locked.state != PeriodState.OPEN:
            return locked
        stats = answer.stats
        locked.platform_statistics = stats
        locked.differences = statistics_differences(locked, stats)
        locked.statistics_at = timezone.now()
        return _transition(locked, "statistics_apply", actor,
                           data=_answer_data(answer, differences=locked.differences))


def tax_period_statistics_undo(*, tax_period: TaxPeriod, actor: Actor,
                               channel: TaxChannel | None = None) -> TaxPeriod:
    """撤销统计: back to editable 勾选."""
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        _state_refusal(locked, PeriodState.STATISTICS, gettext("撤销统计"))
        resumed = _request_intent(locked, "deduction_statistics_undo", actor)
    answer = _platform_period_call(tax_period, "deduction_statistics_undo", channel, resumed=resumed)
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        if locked.state != PeriodState.STATISTICS:
            return locked
        locked.platform_statistics, locked.differences, locked.statistics_at = {}, [], None
        return _transition(locked, "statistics_undo", actor, data=_answer_data(answer) if answer.recovered else None)


def _differences_words(locked: TaxPeriod, differences: list[dict[str, str]]) -> dict[str, str]:
    ours = our_totals(locked)
    return {"diff": "；".join(f"{d['label']} {d['ours']} ≠ {d['platform']}" for d in differences),
            "ids": ", ".join(str(i) for i in ours.invoice_ids) or "-"}


def tax_period_confirm(*, tax_period: TaxPeriod, actor: Actor, channel: TaxChannel | None = None) -> TaxPeriod:
    """确认: refused while the platform's statistics differ from ours (the differences and the invoices are
    named); a snapshot of the accepted selections is kept so that the period's report is reproduced exactly. The
    figures the platform confirmed are compared too: when they differ from ours (the platform's side changed since
    the statistics), the differences are kept and the period stays unconfirmed here."""
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        _state_refusal(locked, PeriodState.STATISTICS, gettext("确认"))
        if locked.differences:
            raise ValidationError(gettext("平台统计与本系统不一致，不能确认：%(diff)s；涉及发票 ID：%(ids)s")
                                  % _differences_words(locked, locked.differences))
        resumed = _request_intent(locked, "deduction_confirm", actor)
    answer = _platform_period_call(locked, "deduction_confirm", channel, resumed=resumed)
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        if locked.state != PeriodState.STATISTICS:
            return locked
        locked.platform_statistics = answer.stats
        differences = statistics_differences(locked, answer.stats)
        if not differences:
            locked.snapshot = snapshot_of(locked)
            locked.snapshot_totals = snapshot_totals_of(locked.snapshot)
            locked.confirmed_at = timezone.now()
            return _transition(locked, "period_confirm", actor, data=_answer_data(answer))
        locked.differences = differences
        locked.save(update_fields=["platform_statistics", "differences", "updated_at"])
        event_record(obj=locked, action="period_confirm_differs", actor=actor, taxpayer=locked.taxpayer,
                     data=_answer_data(answer, differences=differences))
    raise ValidationError(gettext("平台确认的统计与本系统不一致，本系统未确认：%(diff)s；涉及发票 ID：%(ids)s")
                          % _differences_words(locked, differences))


def tax_period_confirm_undo(*, tax_period: TaxPeriod, actor: Actor, reason: str = "",
                            channel: TaxChannel | None = None) -> TaxPeriod:
    """撤销确认 before filing, when ``DEDUCTION_ALLOW_CONFIRM_UNDO`` (UNVERIFIED, §14.5); never with refund-purpose
    selections."""
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        _state_refusal(locked, PeriodState.CONFIRMED, gettext("撤销确认"))
        if not getattr(settings, "DEDUCTION_ALLOW_CONFIRM_UNDO", True):
            raise ValidationError(gettext("本系统设置为确认后不能撤销"))
        if _refund_confirmed(locked):
            raise ValidationError(gettext("所属期 %(period)s 有出口退税或代办退税用途的勾选，确认后不能撤销") % {
                "period": locked.period})
        resumed = _request_intent(locked, "deduction_confirm_undo", actor)
    answer = _platform_period_call(locked, "deduction_confirm_undo", channel, resumed=resumed)
    with transaction.atomic():
        locked = _lock_period(tax_period, actor, P_PERIOD)
        if locked.state != PeriodState.CONFIRMED:
            return locked
        locked.snapshot, locked.snapshot_totals, locked.confirmed_at = {}, {}, None
        return _transition(locked, "period_confirm_undo", actor, reason=reason[:500],
                           data=_answer_data(answer) if answer.recovered else None)


def snapshot_of(period: TaxPeriod) -> dict[str, object]:
    """The accepted selections of ``period`` as they were at confirmation (what the report is built from)."""
    rows = (Selection.objects.filter(tax_period=period, state=SelectionState.ACCEPTED)
            .select_related("invoice").order_by("pk"))
    return {"period": period.period, "taken_at": timezone.now().isoformat(), "selections": [
        {"invoice_id": r.invoice_id, "number": str(r.invoice), "kind": r.kind, "purpose": r.purpose,
         "amount": str(r.amount), "tax": str(r.effective_tax), "extra_tax": str(r.extra_tax)} for r in rows]}


def snapshot_totals_of(snapshot: dict[str, object]) -> dict[str, object]:
    """The snapshot summed by kind and purpose (what 附列资料二's figures are built from), kept beside it so that the
    report of a period of 100,000 selections reads a few rows instead of summing them on every request."""
    groups: dict[tuple[str, str], list[Decimal]] = {}
    rows = snapshot.get("selections") or []
    assert isinstance(rows, list)
    for r in rows:
        g = groups.setdefault((str(r["kind"]), str(r["purpose"])), [Decimal("0"), Decimal("0.00"), Decimal("0.00"),
                                                                     Decimal("0.00")])
        g[0] += 1
        g[1] += Decimal(str(r["amount"]))
        g[2] += Decimal(str(r["tax"]))
        g[3] += Decimal(str(r.get("extra_tax") or "0"))
    return {"groups": [{"kind": k, "purpose": p, "count": int(g[0]), "amount": str(g[1]), "tax": str(g[2]),
                        "extra_tax": str(g[3])} for (k, p), g in sorted(groups.items())]}


# --- transfers-out (进项税额转出) ------------------------------------------------------------------------------------


def _open_for_transfers(tax_period: TaxPeriod, actor: Actor) -> TaxPeriod:
    locked = _lock_period(tax_period, actor, P_PERIOD)
    if locked.state == PeriodState.FILED:
        raise ValidationError(gettext("所属期 %(period)s 已申报，不能再登记转出") % {"period": locked.period})
    return locked


def transfer_out_record(*, tax_period: TaxPeriod, line: str, tax: Decimal, reason: str, actor: Actor,
                        invoice: ReceivedInvoice | None = None) -> TransferOut:
    """A manual 进项税额转出 on line 14–23b, with its reason (and the invoice when there is one)."""
    errors: dict[str, list[str]] = {}
    if line not in TransferLine.values:
        errors["line"] = [gettext("栏次不正确：%(value)s（应为 14–23b）") % {"value": line}]
    if not isinstance(tax, Decimal) or tax == 0 or (tax < 0 and line != TransferLine.ABNORMAL):
        errors["tax"] = [gettext("转出税额：须为非零金额（只有第 23a 栏可为负数）")]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [gettext("原因：必填")]
    elif len(reason) > 300:
        errors["reason"] = [gettext("原因：不能超过 300 个字符")]
    if invoice is not None and invoice.taxpayer_id != tax_period.taxpayer_id:
        errors["invoice"] = [gettext("发票不属于本主体")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _open_for_transfers(tax_period, actor)
        row = TransferOut.objects.create(tax_period=locked, line=line, tax=input_tax.fen(tax), reason=reason,
                                         invoice=invoice, created_by=actor_user(actor))
        event_record(obj=locked, action="transfer_out", actor=actor, reason=reason, taxpayer=locked.taxpayer,
                     data={"line": line, "tax": str(row.tax), "invoice_id": invoice.pk if invoice else None})
    return row


def transfers_out_detect(*, tax_period: TaxPeriod, actor: Actor) -> list[TransferOut]:
    """The workbench's button: the automatic transfers-out (``deduction/transfers.py``) a signal or the periodic
    catch-up has not made yet, into ``tax_period``, each cause once:

    * a red-letter form against an invoice deducted in an earlier, confirmed period → line 20 (§15: 红字发票信息
      确认单注明的进项税额); red tax no form explains is taken too, keyed by the red tax it reached;
    * an invoice deducted in an earlier period that became 异常凭证 → line 23a, its deducted tax; cleared → the
      negative."""
    with transaction.atomic():
        _open_for_transfers(tax_period, actor)
    return transfers.transfers_out_catch_up(tax_period=tax_period, actor=actor)
