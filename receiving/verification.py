"""查验: verifying pool records with the tax platform through the channel contract (``TaxChannel.verify_invoice``).

The key fields per kind (domain.md §14.2): 数电 (and 客票, 机动车) number + date + 价税合计; 数电纸质专票 and legacy 专票
code + number + date + 不含税金额; legacy 普票 (paper, electronic, roll, toll) code + number + date + the last six of
the 校验码; 二手车 the 车价合计.

**Budget.** Verification is rate-limited in the real world, so every platform call is counted in the database under
a row lock (the invoice's row, then the entity's rate row, always in that order), never in process memory, so the
limits hold across workers:

* at most ``RECEIVING_VERIFY_PER_INVOICE_DAILY`` calls per invoice per China day (default 5);
* at most ``RECEIVING_VERIFY_PER_ENTITY_SECOND`` calls per entity per second (default 1).

Results are cached on the pool record (``InvoiceCheck``) and reused. A call is made only when asked (``force``),
when there is no result for the record's current key fields (a corrected record is verified afresh: the cache never
blocks it), when the platform has since reported another status for the invoice, or before a use when the result is
older than ``RECEIVING_VERIFY_MAX_AGE_HOURS`` (default 24).

**Failures of the platform are not failures of the invoice.** Unavailable, slow, rate-limited: the request stays
pending and is retried (``verification_retry_due``, every minute by beat); an exhausted budget leaves it pending
until the next day. Only an answer 01–04 is a result, and an answer 00 whose data disagree with the record is kept
as 03 with the fields that differ.

Never call the channel inside a transaction: reservations and results are written in short transactions of their
own around the call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.actors import Actor, actor_label, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    ChannelError,
    ChannelUnavailable,
    ChannelUnsupported,
    InboundInvoice,
    TaxChannel,
    VerifyCode,
    VerifyRequest,
    VerifyResult,
)
from invoicing.events import event_record
from invoicing.models import Taxpayer
from receiving import rules
from receiving.control_models import (
    InvoiceCheck,
    JobStatus,
    Verification,
    VerificationJob,
    VerificationRate,
    VerificationUsage,
    VerifyState,
)
from receiving.models import PlatformStatus, ReceivedInvoice
from receiving.services import FIELD_WORDS, authorize, tax_ids_match
from receiving.signals import risk_level_changed_on_commit

logger = logging.getLogger(__name__)

P_VERIFY = "receiving.verify_invoice"

# §14.2: which amount the platform compares, per fplx
AMOUNT_EXCL_TAX_KINDS = frozenset({"01", "08", "85", "03"})  # 不含税金额 (专票), 不含税价 (机动车, legacy)
TOTAL_KINDS = frozenset({"81", "82", "86", "51", "61", "83", "84", "15"})  # 价税合计, 车价合计
CHECK_CODE_KINDS = frozenset({"04", "10", "11", "14"})  # 普票: the last six of the 校验码
CODE_KINDS = frozenset({"01", "03", "04", "08", "10", "11", "14", "15"})  # legacy: 发票代码 + 8-digit number
VERIFIABLE_KINDS = AMOUNT_EXCL_TAX_KINDS | TOTAL_KINDS | CHECK_CODE_KINDS

# fpzt (domain.md §14.3) → the pool's status
STATUS_BY_CODE = {"01": PlatformStatus.NORMAL, "02": PlatformStatus.VOIDED, "03": PlatformStatus.RED_FULL,
                  "04": PlatformStatus.RED_PARTIAL}

# why a request still waits, in words
WAIT_WORDS = {
    "budget": _("今日查验次数已用完，次日重试"), "rate": _("查验频率已达上限，稍后重试"),
    "calling": _("查验中"), "network": _("平台网络不通，稍后重试"), "timeout": _("平台超时，稍后重试"),
    "server": _("平台服务异常，稍后重试"), "session": _("平台会话失效，稍后重试"),
    "rate_limited": _("平台限流，稍后重试"), "rejected": _("平台拒绝请求，稍后重试"),
    "unsupported": _("当前通道不支持查验"),
}

USE_PURPOSES = frozenset({"reimburse", "deduct", "book"})
CHINA = ZoneInfo("Asia/Shanghai")  # the platform's day (the daily budget)
LEASE = timedelta(minutes=2)  # how long a worker holds a pending request while it calls the platform


def per_invoice_daily() -> int:
    return int(getattr(settings, "RECEIVING_VERIFY_PER_INVOICE_DAILY", 5))


def per_entity_second() -> int:
    return int(getattr(settings, "RECEIVING_VERIFY_PER_ENTITY_SECOND", 1))


def max_age() -> timedelta:
    return timedelta(hours=float(getattr(settings, "RECEIVING_VERIFY_MAX_AGE_HOURS", 24)))


def retry_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "RECEIVING_VERIFY_RETRY_SECONDS", 300)))


# The clock and the pause between rate windows, replaceable in tests.
def now() -> datetime:
    return timezone.now()


sleep: Callable[[float], None] = time.sleep


def china_day(at: datetime) -> date:
    return timezone.localdate(at, timezone=_china())


def _china() -> ZoneInfo:
    return CHINA


def channel_for(taxpayer: Taxpayer) -> TaxChannel:
    """The channel that verifies for ``taxpayer`` (tests replace it with a fake)."""
    return get_channel(taxpayer)


# --- the request ---------------------------------------------------------------------------------------------------


class NotVerifiable(ValidationError):  # noqa: N818 - reads as a verdict
    """The record cannot be verified (its kind has no 查验, or a key field is missing)."""


def verify_request(record: ReceivedInvoice) -> VerifyRequest:
    """The key fields §14.2 gives for the record's kind; NotVerifiable names what is missing."""
    kind = record.kind
    if kind not in VERIFIABLE_KINDS:
        raise NotVerifiable(gettext("%(kind)s 不支持查验") % {"kind": record.get_kind_display()})
    missing = []
    if not record.number:
        missing.append("number")
    if record.issue_date is None:
        missing.append("issue_date")
    code = ""
    if kind in CODE_KINDS:
        code = record.code
        if not code:
            missing.append("code")
    check_code = ""
    amount: Decimal | None
    if kind in CHECK_CODE_KINDS:
        digits = "".join(ch for ch in record.check_code if ch.isalnum())
        check_code = digits[-6:]
        if len(check_code) < 6:
            missing.append("check_code")
        amount = record.total if record.total is not None else record.amount
    elif kind in AMOUNT_EXCL_TAX_KINDS:
        amount = record.amount
        if amount is None:
            missing.append("amount")
    else:
        amount = record.total
        if amount is None:
            missing.append("total")
    if missing:
        raise NotVerifiable(gettext("缺少查验要素：%(fields)s") % {
            "fields": "、".join(str(FIELD_WORDS.get(f, f)) for f in missing)})
    return VerifyRequest(kind=kind, number=record.number, issue_date=record.issue_date, code=code,
                         amount=amount if amount is not None else Decimal("0.00"), check_code=check_code)


def request_json(request: VerifyRequest) -> dict[str, str]:
    return {"kind": request.kind, "number": request.number, "issue_date": request.issue_date.isoformat(),
            "amount": str(request.amount), "code": request.code, "check_code": request.check_code}


def fingerprint(request: VerifyRequest) -> str:
    return hashlib.sha256(json.dumps(request_json(request), sort_keys=True).encode()).hexdigest()


# --- cache ---------------------------------------------------------------------------------------------------------


def _check_of(record: ReceivedInvoice) -> InvoiceCheck | None:
    return InvoiceCheck.objects.filter(invoice_id=record.pk).first()


def needs_call(record: ReceivedInvoice, check: InvoiceCheck | None, *, fp: str, purpose: str, force: bool) -> str:
    """Why the platform must be asked ("" when the cached result stands)."""
    if force:
        return "asked"
    if check is None or not check.verify_code or check.verified_at is None:
        return "no_result"
    if check.verify_fingerprint != fp:
        return "corrected"
    if (record.platform_status_code or "") != (check.verify_status_code or "") and record.platform_status_code:
        return "status_changed"
    if purpose in USE_PURPOSES and now() - check.verified_at > max_age():
        return "stale"
    return ""


# --- services ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    verification: Verification
    called: bool  # a platform call was made

    @property
    def pending(self) -> bool:
        return self.verification.state == VerifyState.PENDING


def received_invoice_verify(*, record: ReceivedInvoice, actor: Actor, purpose: str = "asked", force: bool = False,
                            channel: TaxChannel | None = None) -> Outcome:
    """Verify one pool record: the cached result when it stands, otherwise one platform call within the budget.
    A platform that cannot answer now leaves the request pending (retried later); NotVerifiable when the record
    lacks a key field. ``force``: asked by a person (the daily budget still applies)."""
    authorize(actor, record.taxpayer_id, P_VERIFY)
    request = verify_request(record)
    fp = fingerprint(request)
    check = _check_of(record)
    why = needs_call(record, check, fp=fp, purpose=purpose, force=force)
    if not why:
        assert check is not None
        verification = Verification.objects.create(
            invoice=record, taxpayer_id=record.taxpayer_id, state=VerifyState.REUSED, purpose=purpose,
            fingerprint=fp, request=request_json(request), code=check.verify_code, message=check.verify_message,
            status_code=check.verify_status_code, risk_level=record.risk_level,
            differences=check.verify_differences, requested_by=actor_user(actor), actor_label=actor_label(actor),
            verified_at=check.verified_at)
        return Outcome(verification, False)
    verification = Verification.objects.create(
        invoice=record, taxpayer_id=record.taxpayer_id, purpose=purpose, force=force, fingerprint=fp,
        request=request_json(request), requested_by=actor_user(actor), actor_label=actor_label(actor))
    _mark_pending(record)
    return attempt(verification=verification, actor=actor, channel=channel, wait_for_rate=True)


def _mark_pending(record: ReceivedInvoice) -> None:
    updated = InvoiceCheck.objects.filter(invoice_id=record.pk).update(verify_pending=True)
    if not updated:
        try:
            with transaction.atomic():
                InvoiceCheck.objects.create(invoice_id=record.pk, taxpayer_id=record.taxpayer_id, verify_pending=True)
        except IntegrityError:
            InvoiceCheck.objects.filter(invoice_id=record.pk).update(verify_pending=True)


@dataclass(frozen=True)
class Reservation:
    granted: bool
    wait: str = ""  # "budget", "rate", "claimed", "done"


def _reserve(verification: Verification) -> Reservation:
    """Claim the pending request and count one platform call against the invoice's day and the entity's second,
    under row locks (invoice, then the entity's rate row), or say why not now."""
    at = now()
    with transaction.atomic():
        ReceivedInvoice.objects.select_for_update().only("pk").get(pk=verification.invoice_id)
        v = Verification.objects.select_for_update().get(pk=verification.pk)
        if v.state != VerifyState.PENDING:
            return Reservation(False, "done")
        if v.next_try_at is not None and v.next_try_at > at and v.wait_reason == "calling":
            return Reservation(False, "claimed")
        day = china_day(at)
        usage = VerificationUsage.objects.filter(invoice_id=v.invoice_id, day=day).first()
        if usage is not None and usage.calls >= per_invoice_daily():
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=_china())
            v.wait_reason, v.next_try_at = "budget", midnight
            v.save(update_fields=["wait_reason", "next_try_at"])
            return Reservation(False, "budget")
        rate = VerificationRate.objects.select_for_update().filter(taxpayer_id=v.taxpayer_id).first()
        if rate is None:
            VerificationRate.objects.bulk_create([VerificationRate(taxpayer_id=v.taxpayer_id)],
                                                 ignore_conflicts=True)
            rate = VerificationRate.objects.select_for_update().get(taxpayer_id=v.taxpayer_id)
        second = int(at.timestamp())
        if rate.window != second:
            rate.window, rate.calls = second, 0
        if rate.calls >= per_entity_second():
            v.wait_reason = "rate"
            v.save(update_fields=["wait_reason"])
            return Reservation(False, "rate")
        rate.calls += 1
        rate.save(update_fields=["window", "calls"])
        if usage is None:
            VerificationUsage.objects.create(invoice_id=v.invoice_id, day=day, calls=1)
        else:
            usage.calls += 1
            usage.save(update_fields=["calls"])
        v.attempts += 1
        v.wait_reason, v.next_try_at = "calling", at + LEASE
        v.save(update_fields=["attempts", "wait_reason", "next_try_at"])
    verification.attempts, verification.wait_reason, verification.next_try_at = v.attempts, v.wait_reason, v.next_try_at
    return Reservation(True)


def attempt(*, verification: Verification, actor: Actor, channel: TaxChannel | None = None,
            wait_for_rate: bool = False, rules_now: bool = True) -> Outcome:
    """One try at a pending request: reserve within the budget, call, record. ``wait_for_rate``: when the entity's
    second is used up, pause until the next one (a few times) instead of leaving the request pending.
    ``rules_now``: re-run the record's rules once the result commits (a bulk run re-runs them once for its batch)."""
    for _try in range(5 if wait_for_rate else 1):
        reservation = _reserve(verification)
        if reservation.wait != "rate" or not wait_for_rate:
            break
        sleep(max(0.0, 1.0 - (now().timestamp() % 1.0)) + 0.001)
    if not reservation.granted:
        verification.refresh_from_db()
        if reservation.wait == "rate" and verification.state == VerifyState.PENDING:
            Verification.objects.filter(pk=verification.pk).update(next_try_at=now() + timedelta(seconds=1))
            verification.refresh_from_db()
        return Outcome(verification, False)
    record = ReceivedInvoice.objects.select_related("taxpayer").get(pk=verification.invoice_id)
    client = channel or channel_for(record.taxpayer)
    request = VerifyRequest(
        kind=verification.request["kind"], number=verification.request["number"],
        issue_date=date.fromisoformat(verification.request["issue_date"]),
        amount=Decimal(verification.request["amount"]), code=verification.request.get("code", ""),
        check_code=verification.request.get("check_code", ""))
    try:
        result = client.verify_invoice(request)
    except ChannelUnsupported as exc:
        return Outcome(_keep_pending(verification, "unsupported", exc, retry=False), True)
    except ChannelUnavailable as exc:
        return Outcome(_keep_pending(verification, exc.kind, exc, retry=True), True)
    except ChannelError as exc:
        return Outcome(_keep_pending(verification, "rejected", exc, retry=True), True)
    return Outcome(_record_result(verification, record, result, actor, rules_now=rules_now), True)


def _keep_pending(verification: Verification, reason: str, exc: Exception, *, retry: bool) -> Verification:
    Verification.objects.filter(pk=verification.pk, state=VerifyState.PENDING).update(
        wait_reason=reason[:20], last_error=str(exc)[:300], next_try_at=now() + retry_after() if retry else None)
    verification.refresh_from_db()
    logger.info("verification %s pending (%s): %s", verification.pk, reason, exc)
    return verification


# record field → the platform's value, compared on a 00 answer (§14.2: the platform answers with the invoice)
def _platform_values(inv: InboundInvoice) -> dict[str, Any]:
    return {"issue_date": inv.issue_date, "seller_tax_id": inv.seller_tax_id, "buyer_tax_id": inv.buyer_tax_id,
            "amount": inv.total_amount, "tax": inv.total_tax, "total": inv.total_with_tax}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def _differences(record: ReceivedInvoice, result: VerifyResult) -> list[dict[str, str]]:
    """Fields of the record that disagree with the platform: on 03 those the platform names (mapped to the record's
    fields), on 00 every compared field whose value differs."""
    out: list[dict[str, str]] = []
    if result.code == VerifyCode.MISMATCH:
        amount_field = "amount" if record.kind in AMOUNT_EXCL_TAX_KINDS else "total"
        names = {"amount": amount_field, "issue_date": "issue_date", "kind": "kind", "code": "code",
                 "check_code": "check_code", "number": "number"}
        for name in result.differences or ("issue_date", amount_field):
            field_name = names.get(name, name)
            out.append({"field": field_name, "label": str(FIELD_WORDS.get(field_name, field_name)),
                        "record": _shown(getattr(record, field_name, "")), "platform": ""})
        return out
    if result.code == VerifyCode.OK and result.invoice is not None:
        for field_name, theirs in _platform_values(result.invoice).items():
            ours = getattr(record, field_name)
            if ours in (None, "") or theirs in (None, ""):
                continue
            same = tax_ids_match(ours, theirs) if field_name.endswith("tax_id") else ours == theirs
            if not same:
                out.append({"field": field_name, "label": str(FIELD_WORDS.get(field_name, field_name)),
                            "record": _shown(ours), "platform": _shown(theirs)})
    return out


def _record_result(verification: Verification, record: ReceivedInvoice, result: VerifyResult,
                   actor: Actor, *, rules_now: bool = True) -> Verification:
    at = now()
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        v = Verification.objects.select_for_update().get(pk=verification.pk)
        if v.state != VerifyState.PENDING:
            return v
        differences = _differences(locked, result)
        code = str(result.code)
        message = result.message
        if code == VerifyCode.OK and differences:
            code, message = VerifyCode.MISMATCH.value, gettext("查验成功，但平台数据与发票池记录不一致")
        status_code = result.invoice.status if result.invoice is not None else ""
        risk = result.invoice.risk_level if result.invoice is not None else ""
        v.state, v.code, v.message, v.differences = VerifyState.DONE, code, (message or "")[:300], differences
        v.status_code, v.risk_level, v.verified_at = status_code, risk, at
        v.wait_reason, v.next_try_at, v.last_error = "", None, ""
        v.save()
        before_status = locked.platform_status
        changed: list[str] = []
        if status_code and status_code != locked.platform_status_code:
            locked.platform_status_code = status_code
            locked.platform_status = STATUS_BY_CODE.get(status_code, locked.platform_status)
            changed += ["platform_status", "platform_status_code"]
        if risk and risk != locked.risk_level:
            risk_level_changed_on_commit(invoice_id=locked.pk, before=locked.risk_level, after=risk)
            locked.risk_level = risk
            changed.append("risk_level")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        check_values = {
            "verify_code": code, "verify_pending": False, "verify_message": v.message,
            "verify_differences": differences, "verify_fingerprint": v.fingerprint,
            "verify_status_code": locked.platform_status_code, "verified_at": at,
            "verified_by": actor_user(actor), "verified_by_label": actor_label(actor),
        }
        check, _created = InvoiceCheck.objects.select_for_update().get_or_create(
            invoice_id=locked.pk, defaults={"taxpayer_id": locked.taxpayer_id, **check_values})
        before_code = "" if _created else check.verify_code
        if not _created:
            for name, value in check_values.items():
                setattr(check, name, value)
            check.save(update_fields=list(check_values))
        event_record(obj=locked, action="verify", actor=actor, from_state=before_code, to_state=code,
                     reason=v.message,
                     data={"verification": v.pk, "code": code, "status": status_code, "risk": risk,
                           "differences": [d["field"] for d in differences], "purpose": v.purpose,
                           "status_before": before_status if changed else None},
                     taxpayer=locked.taxpayer)
        if rules_now:
            transaction.on_commit(lambda: rules.run_after_change(locked.pk))
    return v


# --- bulk ----------------------------------------------------------------------------------------------------------


def verification_job_start(*, taxpayer: Taxpayer, invoice_ids: Iterable[int], actor: Actor,
                           force: bool = False) -> VerificationJob:
    """A bulk verification of these pool records (of ``taxpayer``): one pending request each, run by
    ``verification_job_run`` (a Celery job). Records that cannot be verified are counted and named in the job's
    message, never sent."""
    authorize(actor, taxpayer.pk, P_VERIFY)
    records = list(ReceivedInvoice.objects.filter(taxpayer=taxpayer, pk__in=list(invoice_ids)).order_by("pk"))
    rows: list[Verification] = []
    skipped: list[str] = []
    for record in records:
        try:
            request = verify_request(record)
        except NotVerifiable as exc:
            skipped.append(f"{record}：{'；'.join(exc.messages)}")
            continue
        rows.append(Verification(invoice=record, taxpayer=taxpayer, purpose="bulk", force=force,
                                 fingerprint=fingerprint(request), request=request_json(request),
                                 requested_by=actor_user(actor), actor_label=actor_label(actor)))
    with transaction.atomic():
        job = VerificationJob.objects.create(
            taxpayer=taxpayer, force=force, total=len(rows), created_by=actor_user(actor),
            actor_label=actor_label(actor), message="\n".join(skipped[:50]))
        for row in rows:
            row.job = job
        Verification.objects.bulk_create(rows, batch_size=1000)
        event_record(obj=job, action="verify_bulk_start", actor=actor, to_state=job.status,
                     data={"total": len(rows), "skipped": len(skipped), "force": force}, taxpayer=taxpayer)
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int, countdown: float = 0) -> None:
    from receiving.tasks_verification import verification_job_task  # cycle: the task module calls this one

    if countdown:
        verification_job_task.apply_async(args=[job_id], countdown=countdown)
    else:
        verification_job_task.delay(job_id)


def verification_job_run(*, job: VerificationJob, actor: Actor, channel: TaxChannel | None = None,
                         limit: int | None = None) -> VerificationJob:
    """Work through the job's pending requests that are due: reuse a standing result, otherwise one call within the
    budget (pausing between the entity's seconds). An unavailable platform stops the run (the rest wait and are
    retried); an exhausted invoice budget leaves that request pending until the next day. Nothing fails."""
    client = channel
    processed = 0
    pending = (Verification.objects.filter(job=job, state=VerifyState.PENDING)
               .select_related("invoice").order_by("pk"))
    stop_reason = ""
    answered: list[int] = []
    for v in pending.iterator(chunk_size=200):
        if limit is not None and processed >= limit:
            break
        if v.next_try_at is not None and v.next_try_at > now():
            continue
        processed += 1
        record = v.invoice
        if not job.force:
            check = _check_of(record)
            if not needs_call(record, check, fp=v.fingerprint, purpose="bulk", force=False):
                assert check is not None
                Verification.objects.filter(pk=v.pk, state=VerifyState.PENDING).update(
                    state=VerifyState.REUSED, code=check.verify_code, message=check.verify_message,
                    status_code=check.verify_status_code, differences=check.verify_differences,
                    verified_at=check.verified_at, wait_reason="", next_try_at=None)
                continue
        if client is None:
            client = channel_for(job.taxpayer)
        _mark_pending(record)
        outcome = attempt(verification=v, actor=actor, channel=client, wait_for_rate=True, rules_now=False)
        if outcome.verification.state == VerifyState.DONE:
            answered.append(v.invoice_id)
        if outcome.pending and outcome.verification.wait_reason not in ("budget", "unsupported", "rate"):
            stop_reason = outcome.verification.wait_reason  # the platform cannot answer now: the rest wait
            break
    if answered:  # the rules of every answered record, in one run
        rules.rules_run(taxpayer=job.taxpayer, actor=actor, invoice_ids=answered, purpose="verification")
    return _job_progress(job, actor=actor, stop_reason=stop_reason)


def _job_progress(job: VerificationJob, *, actor: Actor, stop_reason: str = "") -> VerificationJob:
    items = Verification.objects.filter(job=job)
    done = items.exclude(state=VerifyState.PENDING).count()
    waiting = items.filter(state=VerifyState.PENDING).count()
    with transaction.atomic():
        locked = VerificationJob.objects.select_for_update().get(pk=job.pk)
        before = locked.status
        locked.done, locked.waiting = done, waiting
        locked.calls = sum(items.values_list("attempts", flat=True))
        if waiting == 0:
            locked.status = JobStatus.DONE
            locked.finished_at = now()
        else:
            locked.status = JobStatus.WAITING
        locked.save(update_fields=["done", "waiting", "calls", "status", "finished_at"])
        if before != locked.status:
            event_record(obj=locked, action="verify_bulk_progress", actor=actor, from_state=before,
                         to_state=locked.status, reason=stop_reason,
                         data={"done": done, "waiting": waiting, "calls": locked.calls}, taxpayer=locked.taxpayer)
    job.refresh_from_db()
    return job


def verification_retry_due(*, actor: Actor, channel_factory: Callable[[Taxpayer], TaxChannel] | None = None) -> int:
    """The periodic retry: every waiting job runs again, and every single pending request that is due gets one
    more try. Returns the number of requests tried."""
    tried = 0
    for job in VerificationJob.objects.filter(status=JobStatus.WAITING).select_related("taxpayer"):
        channel = channel_factory(job.taxpayer) if channel_factory else None
        before = job.done
        verification_job_run(job=job, actor=actor, channel=channel)
        tried += job.done - before
    due = (Verification.objects.filter(state=VerifyState.PENDING, job__isnull=True)
           .exclude(next_try_at__gt=now()).exclude(wait_reason="unsupported").select_related("taxpayer"))
    for v in due.iterator(chunk_size=200):
        channel = channel_factory(v.taxpayer) if channel_factory else None
        attempt(verification=v, actor=actor, channel=channel)
        tried += 1
    return tried


# --- status reports and uses ---------------------------------------------------------------------------------------


def received_invoice_platform_status_record(*, record: ReceivedInvoice, status_code: str, actor: Actor,
                                            risk_level: str = "") -> ReceivedInvoice:
    """The platform reported the invoice's status (fpzt) and risk level outside a verification (the received list,
    a download): kept on the record; a cached verification no longer stands (``needs_call``: status_changed) and the
    rules run again."""
    if status_code not in STATUS_BY_CODE:
        raise ValidationError({"status_code": gettext("发票状态代码不正确：%(code)s") % {"code": status_code}})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_VERIFY)
        changed = []
        before = locked.platform_status_code
        if status_code != locked.platform_status_code:
            locked.platform_status_code, locked.platform_status = status_code, STATUS_BY_CODE[status_code]
            changed += ["platform_status", "platform_status_code"]
        if risk_level and risk_level != locked.risk_level:
            risk_level_changed_on_commit(invoice_id=locked.pk, before=locked.risk_level, after=risk_level)
            locked.risk_level = risk_level
            changed.append("risk_level")
        if not changed:
            return locked
        locked.save(update_fields=[*changed, "updated_at"])
        event_record(obj=locked, action="platform_status", actor=actor, from_state=before, to_state=status_code,
                     data={"risk": locked.risk_level}, taxpayer=locked.taxpayer)
        transaction.on_commit(lambda: rules.run_after_change(locked.pk))
    return locked


def received_invoice_check_before_use(*, record: ReceivedInvoice, actor: Actor, purpose: str) -> rules.Verdict:
    """What a use (``purpose``: reimburse, deduct, book) asks first: the verification again when its cached result
    is stale or the platform has reported another status (within the budget; a platform that cannot answer leaves it
    pending and the last result stands), then the rules, run now. The verdict says whether the invoice may be used."""
    if purpose not in USE_PURPOSES:
        raise ValidationError({"purpose": gettext("用途不正确：%(purpose)s") % {"purpose": purpose}})
    authorize(actor, record.taxpayer_id)
    try:
        received_invoice_verify(record=record, actor=actor, purpose=purpose)
    except NotVerifiable:
        pass  # nothing to ask the platform: the rules decide (the verification rule may require a result)
    except PermissionDenied:
        pass  # the user may use the invoice but not verify it: the cached result stands
    return rules.received_invoice_rules_check(record=ReceivedInvoice.objects.get(pk=record.pk), actor=actor,
                                              purpose=purpose)
