"""The platform's side of our forms: sending them, applying what the platform says, polling, and pulling the forms
our buyers raise.

* ``redletter_send`` asks the platform to register a form that is 提交中, with its stable ``request_no``, outside any
  transaction. Unavailable → the form stays 提交中 and the poller sends it again with the same ``request_no`` (the
  platform answers a repeat with the same form). Refused → 提交失败.
* The platform answers 01 (the buyer has neither used nor booked the invoice: no confirmation, red issued at once)
  or 02 (waiting for the buyer, 72 hours on the platform's clock). ``apply_remote`` applies what it says (04, 05,
  07, 08, 09, 10–13) and, at 01 / 04, fetches and records the red invoice (``red_invoices``); for 数电纸票 (85 / 86)
  the platform does not issue it: we issue it by hand with a stable serial.
* ``redletter_poll`` / ``redletter_sync`` look again at every form the platform may still change; buyer-initiated
  forms (03) arrive through ``redletter_pull_inbound``.

Business code never imports the sandbox: the platform's clock decides expiry, and we learn it by polling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from invoicing.actors import Actor, actor_label
from invoicing.channels import get_channel
from invoicing.channels.base import (
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
from invoicing.models import Taxpayer
from issuing.base import PAPER_KINDS
from issuing.platform.models import Invoice, InvoiceLine
from issuing.redletter.application_moves import application_cancel_red, application_start_red
from issuing.redletter.blue import blue_lock, form_lock
from issuing.redletter.models import (
    EFFECTIVE,
    VOID_CODES,
    WAITING,
    Initiator,
    RedFormState,
    RedLetterForm,
    RedLetterFormLine,
)
from issuing.redletter.red_invoices import platform_time, red_invoice_record

F = RedFormState


logger = logging.getLogger(__name__)

# The platform's answer "the buyer has neither used nor booked the blue invoice: only full red" (sandbox 3303).
FULL_ONLY_CODES = frozenset({"3303"})

# Written after such a refusal (in the default language, like every stored message): what to do instead.
FULL_ONLY_REMEDY = "处理办法：改为全额红冲（需要时就剩余金额重新申请开票），或请购方先在税务平台完成用途确认或入账确认后再部分红冲"

RESEND_AFTER = timedelta(seconds=30)


def channel_for(form_or_taxpayer: Any, channel: Any) -> Any:
    """``channel`` when the caller gives one, else the entity's own (of the form, or the taxpayer given)."""
    if channel is not None:
        return channel
    taxpayer = form_or_taxpayer if isinstance(form_or_taxpayer, Taxpayer) else form_or_taxpayer.taxpayer
    return get_channel(taxpayer)


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


def redletter_send(*, form_id: int, channel: Any = None) -> RedLetterForm:
    """Ask the platform to register a form that is 提交中, with its request_no. Never inside a transaction."""
    form = RedLetterForm.objects.select_related("taxpayer", "blue_invoice").get(pk=form_id)
    if form.status != F.SUBMITTING:
        return form
    ch = channel_for(form, channel)
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
        form = form_lock(form_id)
        blue = blue_lock(form.blue_invoice_id)
        if form.status != F.SUBMITTING:
            return form
        reason = f"[{code}] {message}"
        if code in FULL_ONLY_CODES and not form.is_full:
            reason = f"{reason}。{FULL_ONLY_REMEDY}"
        form.mark_submit_failed(reason=reason)
        form.save()
        event_record(obj=form, action="submit_failed", actor_label="system", from_state=F.SUBMITTING,
                     to_state=form.status, reason=reason, data={"code": code})
        application_cancel_red(blue, form, None)
    return form


def form_transition_to(form: RedLetterForm, code: str, *, at: datetime) -> str | None:
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
        form = form_lock(form_id)
        blue = blue_lock(form.blue_invoice_id)
        before = form.status
        changed = []
        if remote.form_no and form.form_no != remote.form_no:
            form.form_no, form.form_uuid = remote.form_no, remote.uuid
            changed.append("form_no")
        if remote.expires_at and form.expires_at != platform_time(remote.expires_at):
            form.expires_at = platform_time(remote.expires_at)
        if remote.red_invoice_serial and form.red_invoice_serial != remote.red_invoice_serial:
            form.red_invoice_serial = remote.red_invoice_serial
        if before == F.SUBMITTING and remote.lines:
            _replace_lines_from_remote(form, blue, remote)
        moved = form_transition_to(form, remote.status, at=now)
        form.save()
        if moved:
            event_record(obj=form, action=moved, actor=actor, actor_label=actor_label(actor), from_state=before,
                         to_state=form.status, data={"form_no": form.form_no or "", "platform_status": remote.status})
            if form.status in VOID_CODES:
                application_cancel_red(blue, form, actor)
            elif before == F.SUBMITTING and form.status in (*WAITING, *EFFECTIVE):
                application_start_red(blue, form, actor)  # no-op when already 红冲中
    if form.status in EFFECTIVE and form.red_invoice_id is None:
        return _fetch_and_record_red(form_id=form.pk, remote=remote, channel=channel, actor=actor)
    return form


def _fetch_and_record_red(*, form_id: int, remote: RedForm | None, channel: Any, actor: Actor) -> RedLetterForm:
    """The red invoice of an effective form: the platform's (电票) or ours to issue by hand (纸票)."""
    form = RedLetterForm.objects.select_related("taxpayer", "blue_invoice").get(pk=form_id)
    if form.red_invoice_id is not None:
        return form
    ch = channel_for(form, channel)
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
    red_invoice_record(form_id=form.pk, result=result, actor=actor)
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
    ch = channel_for(fresh, channel)
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
    ch = channel_for(taxpayer, channel)
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
        blue = blue_lock(blue_in)
        form = RedLetterForm(
            taxpayer=taxpayer, blue_invoice=blue, initiator=Initiator.BUYER, reason=remote.reason,
            is_full=remote.is_full, status=remote.status, form_no=remote.form_no, form_uuid=remote.uuid,
            request_no=f"IN-{remote.form_no}", expires_at=platform_time(remote.expires_at),
            red_invoice_serial=remote.red_invoice_serial,
        )
        form.amount, form.tax = remote.total_amount, remote.total_tax
        form.total = form.amount + form.tax
        form.save()
        _replace_lines_from_remote(form, blue, remote)
        event_record(obj=form, action="inbound", actor_label="平台", to_state=form.status,
                     data={"form_no": form.form_no, "blue": blue.number, "total": str(form.total)})
        if form.status in (*WAITING, *EFFECTIVE):
            application_start_red(blue, form, None)
    return form
