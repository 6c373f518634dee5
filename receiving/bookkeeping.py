"""入账 (bookkeeping) of received invoices, and 取消入账, through the platform (domain.md §11.1, §14.5).

Each follows the channel rules:

1. under a row lock the request is checked (the invoice is usable: not awaiting review, not 作废 / 全额红冲, in the
   pool) and the intent committed with a stable request number (``booking_request_no``) and the accounting
   dimensions (voucher, date, account, cost centre, claim), state 入账待平台确认 / 取消入账待平台确认;
2. the platform is called outside any transaction with that request number (``received_book``);
3. its answer is applied under the lock again: booked → ``use_state`` 已入账 (or 在池 when unbooked), the platform's
   flag kept; rejected → 平台拒绝 with the platform's message, ``use_state`` unchanged; unavailable → still pending,
   retried by ``booking_retry_pending`` (the periodic task) with the same request number, never marked failed.

Why the platform must know: once the buyer has booked an invoice, the seller's red-letter form needs the buyer's
confirmation and a partial red becomes possible; before, only a full red issued at once (§11.1).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    BookingRequest,
    BookingResult,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    TaxChannel,
)
from invoicing.events import event_record
from receiving.models import BookingSync, PlatformStatus, ReceivedInvoice, ReviewState, UseState
from receiving.services import authorize

logger = logging.getLogger(__name__)

P_BOOK = "receiving.book_receivedinvoice"
UNUSABLE_STATUSES = (PlatformStatus.VOIDED, PlatformStatus.RED_FULL)
PENDING = (BookingSync.BOOK_PENDING, BookingSync.UNBOOK_PENDING)
PLATFORM = "platform"  # the actor of what the platform decided (invoicing.actors.ACTOR_LABELS names it)


@dataclass(frozen=True)
class Voucher:
    """The accounting dimensions of one 入账."""

    voucher_no: str
    booked_on: date
    account_code: str = ""
    cost_centre: str = ""
    claim_no: str = ""

    def clean(self) -> Voucher:
        errors: dict[str, list[str]] = {}
        voucher_no = (self.voucher_no or "").strip()
        if not voucher_no:
            errors["voucher_no"] = [gettext("凭证号：必填")]
        elif len(voucher_no) > 40:
            errors["voucher_no"] = [gettext("凭证号：不能超过 40 个字符")]
        if not isinstance(self.booked_on, date):
            errors["booked_on"] = [gettext("入账日期：必填")]
        for name, words, value, limit in (("account_code", gettext("会计科目"), self.account_code, 60),
                                          ("cost_centre", gettext("成本中心"), self.cost_centre, 60),
                                          ("claim_no", gettext("报销单号"), self.claim_no, 40)):
            if len((value or "").strip()) > limit:
                errors[name] = [gettext("%(field)s：不能超过 %(n)s 个字符") % {"field": words, "n": limit}]
        if errors:
            raise ValidationError(errors)
        return Voucher(voucher_no=voucher_no, booked_on=self.booked_on, account_code=(self.account_code or "").strip(),
                       cost_centre=(self.cost_centre or "").strip(), claim_no=(self.claim_no or "").strip())


def _channel(record: ReceivedInvoice, channel: TaxChannel | None) -> TaxChannel:
    return channel if channel is not None else get_channel(record.taxpayer)


def _new_request_no() -> str:
    return f"RZ{uuid.uuid4().hex[:20].upper()}"


def booking_refusal(record: ReceivedInvoice) -> str:
    """Why ``record`` may not be booked now, in words; empty when it may."""
    if record.review_state == ReviewState.NEEDS_REVIEW or record.use_state == UseState.IN_REVIEW:
        return gettext("发票 %(number)s 待复核，复核完成后才能入账") % {"number": record}
    if record.platform_status in UNUSABLE_STATUSES:
        return gettext("发票 %(number)s 状态为「%(status)s」，不能入账") % {
            "number": record, "status": record.get_platform_status_display()}
    if record.booking_sync in PENDING:
        return gettext("发票 %(number)s 的入账或取消入账正等待平台确认") % {"number": record}
    if record.use_state != UseState.IN_POOL:
        return gettext("发票 %(number)s 使用状态为「%(state)s」，不能入账") % {
            "number": record, "state": record.get_use_state_display()}
    return ""


def received_invoice_book(*, record: ReceivedInvoice, voucher: Voucher, actor: Actor,
                          channel: TaxChannel | None = None) -> ReceivedInvoice:
    """入账: commit the intent with the voucher, then tell the platform (see the module's docstring)."""
    voucher = voucher.clean()
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_BOOK)
        refusal = booking_refusal(locked)
        if refusal:
            raise ValidationError(refusal)
        before = locked.booking_sync
        locked.voucher_no, locked.booked_on = voucher.voucher_no, voucher.booked_on
        locked.account_code, locked.cost_centre, locked.claim_no = (voucher.account_code, voucher.cost_centre,
                                                                    voucher.claim_no)
        locked.booked_by, locked.booked_at = actor_user(actor), timezone.now()
        locked.booking_sync, locked.booking_request_no = BookingSync.BOOK_PENDING, _new_request_no()
        locked.booking_attempts, locked.booking_error = 0, ""
        locked.save()
        event_record(obj=locked, action="book_request", actor=actor,
                     data={"sync_before": before, "request_no": locked.booking_request_no, "voucher_no": voucher.voucher_no,
                           "booked_on": voucher.booked_on.isoformat(), "account_code": voucher.account_code,
                           "cost_centre": voucher.cost_centre, "claim_no": voucher.claim_no},
                     taxpayer=locked.taxpayer)
    return booking_send(record=locked, channel=channel)


def received_invoice_unbook(*, record: ReceivedInvoice, actor: Actor, reason: str = "",
                            channel: TaxChannel | None = None) -> ReceivedInvoice:
    """取消入账: commit the intent, then tell the platform. The voucher is cleared once the platform agrees."""
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_BOOK)
        if locked.booking_sync in PENDING:
            raise ValidationError(gettext("发票 %(number)s 的入账或取消入账正等待平台确认") % {"number": locked})
        if locked.use_state != UseState.BOOKED:
            raise ValidationError(gettext("发票 %(number)s 未入账，不能取消入账") % {"number": locked})
        before = locked.booking_sync
        locked.booking_sync, locked.booking_request_no = BookingSync.UNBOOK_PENDING, _new_request_no()
        locked.booking_attempts, locked.booking_error = 0, ""
        locked.save()
        event_record(obj=locked, action="unbook_request", actor=actor, reason=(reason or "")[:500],
                     data={"sync_before": before, "request_no": locked.booking_request_no, "voucher_no": locked.voucher_no},
                     taxpayer=locked.taxpayer)
    return booking_send(record=locked, channel=channel)


def booking_send(*, record: ReceivedInvoice, channel: TaxChannel | None = None) -> ReceivedInvoice:
    """Ask the platform for a pending 入账 / 取消入账 with its request number and apply the answer. Never inside a
    transaction. Unavailable: the record stays pending (the task retries)."""
    fresh = ReceivedInvoice.objects.select_related("taxpayer").get(pk=record.pk)
    if fresh.booking_sync not in PENDING:
        return fresh
    booked = fresh.booking_sync == BookingSync.BOOK_PENDING
    request = BookingRequest(request_no=fresh.booking_request_no, number=fresh.number, booked=booked,
                             voucher_no=fresh.voucher_no, booked_on=fresh.booked_on)
    try:
        result = _channel(fresh, channel).received_book(request)
    except ChannelUnavailable as exc:
        return _still_pending(fresh, exc.message)
    except (ChannelRejected, ChannelUnsupported) as exc:
        return _rejected(fresh, request, str(exc) if isinstance(exc, ChannelRejected) else gettext(
            "该税务平台通道不支持入账确认"))
    return _accepted(fresh, request, result)


def _still_pending(record: ReceivedInvoice, message: str) -> ReceivedInvoice:
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        locked.booking_attempts += 1
        locked.booking_error = gettext("平台暂不可用，将自动重试：%(error)s") % {"error": message}
        locked.save(update_fields=["booking_attempts", "booking_error", "updated_at"])
    logger.info("booking of %s pending: %s", record.pk, message)
    return locked


def _rejected(record: ReceivedInvoice, request: BookingRequest, message: str) -> ReceivedInvoice:
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        if locked.booking_request_no != request.request_no or locked.booking_sync not in PENDING:
            return locked  # another answer was applied meanwhile
        before = locked.booking_sync
        locked.booking_sync, locked.booking_error = BookingSync.REJECTED, message[:1000]
        locked.booking_attempts += 1
        locked.save()
        event_record(obj=locked, action="book_rejected" if request.booked else "unbook_rejected",
                     actor_label=PLATFORM, reason=message[:500],
                     data={"request_no": request.request_no, "sync_before": before}, taxpayer=locked.taxpayer)
    return locked


def _accepted(record: ReceivedInvoice, request: BookingRequest, result: BookingResult) -> ReceivedInvoice:
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        if locked.booking_request_no != request.request_no or locked.booking_sync not in PENDING:
            return locked
        before = locked.use_state
        locked.platform_booked = result.booked
        locked.booking_sync, locked.booking_error = BookingSync.NONE, ""
        locked.booking_attempts += 1
        if request.booked:
            locked.book()
            action = "book"
        else:
            locked.unbook()
            action = "unbook"
            voucher = {"voucher_no": locked.voucher_no, "booked_on": str(locked.booked_on or ""),
                       "account_code": locked.account_code, "cost_centre": locked.cost_centre}
            locked.voucher_no, locked.booked_on, locked.account_code, locked.cost_centre = "", None, "", ""
            locked.booked_by, locked.booked_at = None, None
        locked.save()
        data = {"request_no": request.request_no, "platform_booked": result.booked}
        if not request.booked:
            data["voucher"] = voucher
        event_record(obj=locked, action=action, actor_label=PLATFORM, from_state=before,
                     to_state=locked.use_state, data=data, taxpayer=locked.taxpayer)
    return locked


@dataclass
class BulkReport:
    done: int = 0
    pending: int = 0
    refused: list[str] = field(default_factory=list)


def received_invoices_book(*, records: Iterable[ReceivedInvoice], voucher: Voucher, actor: Actor,
                           channel: TaxChannel | None = None) -> BulkReport:
    """入账 many (the admin's bulk action): each on its own, refusals collected with their reasons."""
    voucher = voucher.clean()
    report = BulkReport()
    for record in records:
        try:
            after = received_invoice_book(record=record, voucher=voucher, actor=actor, channel=channel)
        except ValidationError as exc:
            report.refused.append("；".join(exc.messages))
            continue
        _count(report, after)
    return report


def received_invoices_unbook(*, records: Iterable[ReceivedInvoice], actor: Actor, reason: str = "",
                             channel: TaxChannel | None = None) -> BulkReport:
    report = BulkReport()
    for record in records:
        try:
            after = received_invoice_unbook(record=record, actor=actor, reason=reason, channel=channel)
        except ValidationError as exc:
            report.refused.append("；".join(exc.messages))
            continue
        _count(report, after)
    return report


def _count(report: BulkReport, after: ReceivedInvoice) -> None:
    if after.booking_sync in PENDING:
        report.pending += 1
    elif after.booking_sync == BookingSync.REJECTED:
        report.refused.append(f"{after}：{after.booking_error}")
    else:
        report.done += 1


def booking_retry_pending(*, taxpayer_id: int | None = None, limit: int = 500,
                          channel: TaxChannel | None = None) -> dict[str, int]:
    """The periodic task's work: send every pending 入账 / 取消入账 again with its request number."""
    qs = ReceivedInvoice.objects.filter(booking_sync__in=PENDING).order_by("updated_at", "id")
    if taxpayer_id is not None:
        qs = qs.filter(taxpayer_id=taxpayer_id)
    counts = {"sent": 0, "done": 0, "pending": 0, "rejected": 0}
    for record in qs[:limit]:
        counts["sent"] += 1
        after = booking_send(record=record, channel=channel)
        if after.booking_sync in PENDING:
            counts["pending"] += 1
        elif after.booking_sync == BookingSync.REJECTED:
            counts["rejected"] += 1
        else:
            counts["done"] += 1
    return counts


__all__ = ["P_BOOK", "BulkReport", "Voucher", "booking_refusal", "booking_retry_pending", "booking_send",
           "received_invoice_book", "received_invoice_unbook", "received_invoices_book", "received_invoices_unbook"]
