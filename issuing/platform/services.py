"""Exactly-once issuing: one invoice per application, whatever the network, the platform or the workers do.

The rules (issue #4, domain.md §16.3):

* ``application_submit_issue`` gives the application a stable serial, moves it 待开票 → 开票中 and commits *before*
  any call; the Celery task is queued with ``on_commit``.
* ``issue_attempt`` (run by the task) calls the platform *outside* any transaction with that serial. The serial never
  changes on retry. A duplicate answer, or a time-out that may have been processed, is resolved by querying the
  serial. An issued result is recorded by ``invoice_record_issued`` in one transaction that locks the application,
  so two workers, a redelivered message and the poller all end with one ``Invoice``.
* ``ChannelUnavailable`` → the task retries with backoff (same serial). After ``ISSUING_MAX_ATTEMPTS`` the
  application stays 开票中 with ``needs_attention``: never failed silently, never re-sent under a new serial unless
  a person decides (``application_reissue_with_new_serial``, only after the platform says it never saw the serial).
* ``ChannelRejected`` (or a query answering "failed") → 开票失败 with the platform's code and message.
* In bulk (``applications_submit_issue`` → ``issue_batch_task`` → ``issue_batch``): the same rules, with the local
  bookkeeping done per batch: many serials committed in one transaction, one call per application, the issued
  results recorded a chunk at a time (``invoices_record_issued``). Unavailable ones go on alone with backoff.
* Singly (``application_request_issue``: the auto-trigger on payment, the API) the same batch path: the request is
  committed, a drain (``issue_drain_task`` → ``issue_drain_claim`` + ``issue_batch``) takes up to a batch of waiting
  applications within ``ISSUING_GROUP_MAX_WAIT``, starts them in one transaction (serials committed before any
  call) and issues them. Claims are row locks (SKIP LOCKED): two drains never start the same application.
* ``issue_poll_pending`` (periodic) queries every 开票中 application that has been quiet for a while: pending ones
  stay, issued ones are recorded, ones the platform never saw are queued again with the same serial; and it arms a
  drain for requests left waiting.

Settings (read from ``django.conf.settings`` or the environment, in that order): ``ISSUING_MAX_ATTEMPTS`` (8),
``ISSUING_RETRY_BASE_SECONDS`` (2), ``ISSUING_RETRY_MAX_SECONDS`` (300), ``ISSUING_POLL_AGE_SECONDS`` (30),
``ISSUING_BATCH_SIZE`` (100), ``ISSUING_GROUP_MAX_WAIT`` (1 second, a float), ``ISSUING_QUEUE_FILES`` (1: queue the new invoice's files with
the listeners of ``issuing.platform.signals.invoice_recorded``: the delivery app).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_label
from invoicing.celery import app as celery_app
from invoicing.channels import get_channel
from invoicing.channels.base import (
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    IssueLine,
    IssueRequest,
    IssueResult,
    Party,
)
from invoicing.events import event_record, events_record_many
from issuing.applications.models import ApplicationLine, ApplicationStatus, InvoiceApplication
from issuing.applications.quota import quota_consume, quota_consume_many
from issuing.applications.selectors import lines_by_application
from issuing.applications.services import (
    application_approve,
    application_mark_issuing,
    application_request_issuing,
    applications_mark_issuing,
)
from issuing.platform.invoices import invoice_create_from_application, invoices_create_from_applications
from issuing.platform.models import Invoice
from issuing.platform.signals import invoice_recorded

logger = logging.getLogger(__name__)

S = ApplicationStatus
CN = ZoneInfo("Asia/Shanghai")
NOT_FOUND_CODE = "4004"  # query_issue: the platform never saw this serial (contract, base.py)
# Kinds of unavailability after which the platform may have processed the request: ask before sending again.
MAYBE_PROCESSED_KINDS = frozenset({"timeout", "network"})


def _setting(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    return int(value)


def _setting_seconds(name: str, default: float) -> float:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    return float(value)


def group_max_wait() -> float:
    """``ISSUING_GROUP_MAX_WAIT``: the longest a single submission waits for others to share its batch (s)."""
    return max(0.0, _setting_seconds("ISSUING_GROUP_MAX_WAIT", 1.0))


def max_attempts() -> int:
    return max(1, _setting("ISSUING_MAX_ATTEMPTS", 8))


def retry_countdown(attempt: int) -> float:
    """Exponential backoff before attempt ``attempt + 1``: base · 2^(attempt-1), capped."""
    base = _setting("ISSUING_RETRY_BASE_SECONDS", 2)
    cap = _setting("ISSUING_RETRY_MAX_SECONDS", 300)
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def poll_age_seconds() -> int:
    return _setting("ISSUING_POLL_AGE_SECONDS", 30)


# --- outcomes --------------------------------------------------------------------------------------------------------


class Outcome:
    ISSUED = "issued"
    PENDING = "pending"
    FAILED = "failed"
    RETRY = "retry"
    NEEDS_ATTENTION = "needs_attention"
    SKIPPED = "skipped"  # not 开票中 any more (issued by another worker, withdrawn, …) or missing


# --- submit ----------------------------------------------------------------------------------------------------------


def serial_for(application: InvoiceApplication, *, generation: int = 0) -> str:
    """The serial of an application: its number (unique), ``<number>-R<n>`` after a person's reissue."""
    base = application.number
    return base if generation == 0 else f"{base}-R{generation}"


def application_issue_queue(application_id: int) -> None:
    """The issuing task for one application, queued when the transaction commits."""
    from issuing.platform.tasks import issue_application_task  # cycle: tasks import services

    transaction.on_commit(lambda: issue_application_task.delay(application_id))


def application_submit_issue(*, application: InvoiceApplication, actor: Actor = None) -> InvoiceApplication:
    """待开票 → 开票中 with a stable serial, committed before any call; the issuing task is queued after commit.

    Idempotent: an application already 开票中 or 已开票 is returned unchanged and nothing is queued again (a double
    click, two admins, an API retry). The transition itself (permission, compliance re-check, serial, Event) is
    ``issuing.services.application_mark_issuing``.
    """
    with transaction.atomic():
        app = (
            InvoiceApplication.objects.select_for_update(of=("self",)).select_related("taxpayer")
            .get(pk=application.pk)
        )
        if app.status in (S.ISSUING, S.ISSUED):
            return app
        # A person starting it again clears what the last round left (saved with the transition below).
        app.needs_attention, app.last_error = False, ""
        app = application_mark_issuing(application=app, actor=actor, locked=True)
        application_issue_queue(app.pk)
    return app


def application_approve_and_submit_issue(*, application: InvoiceApplication, actor: Actor,
                                         note: str = "") -> InvoiceApplication:
    """批准, then 发起开票 in the same transaction (finance approving what it may issue): the issuing task is queued
    once both are committed. An application the rules leave short of 待开票 is returned as approval left it."""
    with transaction.atomic():
        app = application_approve(application=application, actor=actor, note=note)
        if app.status == S.APPROVED:
            app = application_submit_issue(application=app, actor=actor)
    return app


def applications_issue_queue(application_ids: list[int]) -> None:
    """One batch issuing task for these applications, queued when the transaction commits."""
    from issuing.platform.tasks import issue_batch_task  # cycle: tasks import services

    transaction.on_commit(lambda: issue_batch_task.delay(application_ids))


def issue_batch_size() -> int:
    return max(1, _setting("ISSUING_BATCH_SIZE", 100))


def applications_submit_issue(*, applications: Iterable[InvoiceApplication | int], actor: Actor = None) -> Any:
    """``application_submit_issue`` for many (a finance user's bulk 发起开票, a batch approval): one transaction
    with a few statements whatever the number, serials committed before any call, then one batch task per
    ``ISSUING_BATCH_SIZE`` applications queued on commit (``issue_batch``).

    Idempotent like the one-by-one function: applications already 开票中 or 已开票 are left as they are (and counted
    in ``already``). Returns ``services.BatchMarked`` (``marked``, ``refused`` with the reasons, ``already``).
    """
    ids = sorted({a if isinstance(a, int) else a.pk for a in applications})
    with transaction.atomic():
        rows = list(
            InvoiceApplication.objects.select_for_update(of=("self",)).select_related("taxpayer")
            .filter(pk__in=ids).order_by("pk")
        )
        already = [app for app in rows if app.status in (S.ISSUING, S.ISSUED)]
        todo = [app for app in rows if app.status not in (S.ISSUING, S.ISSUED)]
        for app in todo:
            app.needs_attention, app.last_error = False, ""
        result = applications_mark_issuing(applications=todo, actor=actor)
        marked = [app.pk for app in result.marked]
        size = issue_batch_size()
        for k in range(0, len(marked), size):
            applications_issue_queue(marked[k:k + size])
    result.already = already
    return result


# --- single submissions, issued in groups ----------------------------------------------------------------------
#
# A stream of single submissions (the auto-trigger on payment, the API) takes the batch path: each one only marks its
# application as waiting (``application_request_issue``) and arms a drain; the drain (``issuing.issue_drain``) claims
# up to ``ISSUING_BATCH_SIZE`` waiting applications, starts them together (serials and events committed in one
# transaction before any call) and runs ``issue_batch`` on them. The claim is a row lock (FOR UPDATE SKIP LOCKED on
# PostgreSQL): two drains never start the same application, whatever the timing; and were one to issue the same
# application twice, the exactly-once rules of ``issue_batch`` (serial, duplicate → query, idempotent recording)
# would still hold. Timing only decides how many share a batch: the first request arms a drain to run after
# ``ISSUING_GROUP_MAX_WAIT`` (a cache key keeps the others from arming more), a drain that took a full batch arms
# the next one at once, and the poller arms one for any request left waiting (a lost message, a killed worker).

DRAIN_ARMED_KEY = "issuing:drain-armed"
REFUSED_ACTION = "issue_request_refused"


def application_request_issue(*, application: InvoiceApplication, actor: Actor = None) -> bool:
    """发起开票 for one application through the grouped path (``issuing.applications.services
    .application_request_issuing``): it waits at most ``ISSUING_GROUP_MAX_WAIT`` for the drain that starts it with
    the others waiting. Returns True when this call made the request (a drain is armed on commit), False when it
    was made already or the application is 开票中 / 已开票 (idempotent).

    In the caller's transaction when there is one (the payment's: the drain is armed when it commits); alone, the
    request is one autocommitted statement and the drain is armed right after it."""
    made = application_request_issuing(application=application, actor=actor)
    if made:
        transaction.on_commit(issue_drain_arm)
    return made


def issue_drain_arm(*, now: bool = False) -> None:
    """Make sure a drain runs soon: after ``ISSUING_GROUP_MAX_WAIT`` unless one is armed already (the cache key
    lives as long as the wait), or at once (``now``: more is waiting than a batch holds; eager tasks; no wait).
    A broker that does not answer is logged, not raised: the request is committed and the poller arms a drain."""
    from issuing.platform.tasks import issue_drain_task  # cycle: tasks import services

    wait = group_max_wait()
    try:
        if now or wait <= 0 or tasks_run_eagerly():
            issue_drain_task.apply_async()
        elif cache.add(DRAIN_ARMED_KEY, 1, timeout=wait):
            issue_drain_task.apply_async(countdown=wait)
    except Exception:  # noqa: BLE001 - the requests are committed; issue_poll_pending arms a drain for them
        logger.warning("could not arm the issuing drain; the poller will", exc_info=True)


def tasks_run_eagerly() -> bool:
    """Celery runs tasks in the caller (``CELERY_TASK_ALWAYS_EAGER``: tests, a machine without a broker): a countdown
    would not wait, so a drain is not worth delaying."""
    return bool(celery_app.conf.get("task_always_eager"))


def issue_drain_disarm() -> None:
    """A drain is starting: the next request arms another one (after the claim it might miss)."""
    cache.delete(DRAIN_ARMED_KEY)


@dataclass
class DrainClaim:
    """What ``issue_drain_claim`` took: ``marked`` are 开票中 now (issue them), ``refused`` stay 待开票 with the reason
    in their audit trail; ``full``: the batch was full, so more may be waiting."""

    marked: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    full: bool = False
    # the marked applications as the claim left them (committed 开票中, serial fixed, ``taxpayer`` selected) and
    # their lines: ``issue_drain`` hands them to ``issue_batch`` instead of reading them all again
    applications: list[InvoiceApplication] = field(default_factory=list, repr=False, compare=False)
    lines: dict[int, list[ApplicationLine]] = field(default_factory=dict, repr=False, compare=False)


def issue_drain_claim(*, limit: int | None = None) -> DrainClaim:
    """Take up to ``limit`` (``ISSUING_BATCH_SIZE``) waiting applications, oldest request first, and start them in
    one transaction (``applications_mark_issuing`` on the requesters' behalf: state and compliance checked again,
    serials and events committed before any call). Rows another drain holds are skipped (PostgreSQL: FOR UPDATE
    SKIP LOCKED); on SQLite, which has one writer at a time, the transaction itself is the claim. An application
    the checks refuse leaves the queue and stays 待开票 with an ``issue_request_refused`` event saying why."""
    size = limit or issue_batch_size()
    claim = DrainClaim()
    with transaction.atomic():
        waiting = InvoiceApplication.objects.filter(status=S.APPROVED, issue_requested_at__isnull=False)
        if connection.features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True, of=("self",))
        # Oldest request first, not primary-key order: a claim that skips locked rows never waits, so it cannot
        # take part in a deadlock whatever order it locks in.
        rows = list(waiting.select_related("taxpayer", "issue_requested_by")
                    .order_by("issue_requested_at", "id")[:size])
        claim.full = len(rows) >= size
        if not rows:
            return claim
        requested_by = {app.pk: app.issue_requested_by for app in rows}
        result = applications_mark_issuing(applications=rows, actor=None, on_behalf=True)
        claim.marked = sorted(app.pk for app in result.marked)
        claim.applications = sorted(result.marked, key=lambda app: app.pk)
        claim.lines = {app.pk: result.lines[app.pk] for app in claim.applications}
        refused = [app for app in rows if app.number in result.refused]
        if refused:
            claim.refused = sorted(app.pk for app in refused)
            InvoiceApplication.objects.filter(pk__in=claim.refused).update(
                issue_requested_at=None, issue_requested_by=None, updated_at=timezone.now())
            events_record_many([
                {"obj": app, "action": REFUSED_ACTION, "actor": requested_by[app.pk], "from_state": app.status,
                 "to_state": app.status, "reason": "；".join(f.message for f in result.refused[app.number])[:2000],
                 "data": {"rules": [f.code for f in result.refused[app.number]]}}
                for app in refused
            ])
    return claim


def issue_drain(*, limit: int | None = None, channel: Any = None) -> tuple[DrainClaim, BatchReport]:
    """One drain as the task runs it, in this process: the claim (committed), then ``issue_batch`` on what it
    started. Never inside a transaction."""
    claim = issue_drain_claim(limit=limit)
    return claim, issue_claimed(claim, channel=channel)


def issue_claimed(claim: DrainClaim, *, channel: Any = None) -> BatchReport:
    """``issue_batch`` on what ``claim`` started, from the rows and lines the claim read (committed before: the
    claim's transaction is over), so the drain reads each application once. Never inside a transaction."""
    if not claim.marked:
        return BatchReport()
    return issue_batch(application_ids=claim.marked, channel=channel,
                       loaded=(claim.applications, claim.lines) if claim.applications else None)


def issue_requests_waiting(*, older_than_seconds: float = 0.0) -> int:
    """How many single submissions have waited longer than ``older_than_seconds`` for a drain."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return InvoiceApplication.objects.filter(
        status=S.APPROVED, issue_requested_at__isnull=False, issue_requested_at__lte=cutoff).count()


# --- the request ---------------------------------------------------------------------------------------------------


def build_issue_request(application: InvoiceApplication, lines: list[ApplicationLine] | None = None) -> IssueRequest:
    """The IssueRequest from the application's frozen snapshot (buyer title, lines, totals). ``lines``: the
    application's lines in order with their ``tax_category``, when the caller has them already."""
    taxpayer = application.taxpayer
    if lines is None:
        lines = lines_by_application([application.pk])[application.pk]
    issue_lines = tuple(
        IssueLine(
            line_no=ln.line_no,
            item_name=ln.item_name,
            amount=ln.amount,
            tax_rate=ln.tax_rate,
            tax=ln.tax,
            tax_code=ln.tax_category.code,
            short_name=ln.short_name,
            spec=ln.spec,
            unit=ln.unit,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            line_property=int(ln.line_property),
        )
        for ln in lines
    )
    return IssueRequest(
        serial=application.issue_serial or "",
        seller_credit_code=taxpayer.credit_code,
        kind=application.kind,
        buyer=Party(
            name=application.buyer_name,
            tax_id=application.buyer_tax_id,
            address=application.buyer_address,
            phone=application.buyer_phone,
            bank_name=application.buyer_bank_name,
            bank_account=application.buyer_bank_account,
        ),
        lines=issue_lines,
        total_amount=application.amount,
        total_tax=application.tax,
        total_with_tax=application.total,
        remark=application.remark,
        drawer=taxpayer.drawer,
        specific_business_code=application.specific_business or "",
        specific_business={str(k): str(v) for k, v in (application.specific_business_data or {}).items()},
    )


# --- one attempt ---------------------------------------------------------------------------------------------------


def _fresh(application_id: int) -> InvoiceApplication:
    """A new instance from the database. (``refresh_from_db`` on an instance whose protected FSM status changed
    meanwhile, e.g. issued by a worker, raises AttributeError: so never refresh, re-read.)"""
    return InvoiceApplication.objects.select_related("taxpayer").get(pk=application_id)


def _load(application_id: int) -> InvoiceApplication | None:
    return InvoiceApplication.objects.select_related("taxpayer").filter(pk=application_id).first()


def issue_attempt(*, application_id: int, channel: Any = None) -> str:
    """One try at issuing an application that is 开票中. Called by the task, never inside a transaction.

    Returns an ``Outcome``. Raises ``ChannelUnavailable`` (with ``.attempt``) when the task should retry later with
    the same serial.
    """
    app = _load(application_id)
    if app is None or app.status != S.ISSUING or not app.issue_serial:
        return Outcome.SKIPPED
    if app.needs_attention:
        return Outcome.NEEDS_ATTENTION  # waits for a person or for the poller to find it issued
    channel = channel or get_channel(app.taxpayer)
    got = _ask_platform(app, channel, build_issue_request(app))
    if isinstance(got, str):
        return got
    return apply_result(application_id=app.pk, result=got)


def _ask_platform(app: InvoiceApplication, channel: Any, request: IssueRequest) -> IssueResult | str:
    """Send the request under the application's serial and find out what became of it: the platform's result, or
    an ``Outcome`` already recorded (rejected → 开票失败, needs a person). Raises ``ChannelUnavailable`` (attempt
    counted, ``.attempt`` set) when it is to be tried again later with the same serial."""
    serial = app.issue_serial
    try:
        result = channel.issue_invoice(request)
    except ChannelDuplicate:
        result = None  # already known to the platform (an earlier attempt, another worker): ask for its result
    except ChannelRejected as exc:
        return _record_rejected(app.pk, serial=serial, code=exc.code, message=exc.message)
    except ChannelUnavailable as exc:
        if exc.kind not in MAYBE_PROCESSED_KINDS:
            return _after_unavailable(app.pk, serial=serial, exc=exc)
        result = None  # it may have been processed before the answer was lost: ask before sending again
    if result is None:
        try:
            result = channel.query_issue(serial)
        except ChannelUnavailable as exc:
            return _after_unavailable(app.pk, serial=serial, exc=exc)
        except ChannelRejected as exc:
            if exc.code == NOT_FOUND_CODE:  # the lost call was never processed: send again later, same serial
                return _after_unavailable(app.pk, serial=serial, exc=ChannelUnavailable(exc.message, kind="timeout"))
            return _after_unavailable(app.pk, serial=serial, exc=ChannelUnavailable(str(exc), kind="server"))
    return result


@dataclass
class BatchReport:
    """What ``issue_batch`` did, application ids by outcome (``retry``: with the attempt number to wait for)."""

    issued: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    needs_attention: list[int] = field(default_factory=list)
    retry: list[tuple[int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}


def issue_batch(*, application_ids: Iterable[int], channel: Any = None, record_every: int = 50,
                loaded: tuple[list[InvoiceApplication], dict[int, list[ApplicationLine]]] | None = None
                ) -> BatchReport:
    """Issue many 开票中 applications: one call each under its own serial (as ``issue_attempt``), the issued ones
    recorded ``record_every`` at a time (``invoices_record_issued``). Never inside a transaction.

    Exactly-once holds as for one: a result not yet recorded when the worker dies is found again by its serial
    (a re-run of the batch gets "duplicate" and queries; the poller does the same). Unavailable → the attempt is
    counted and the application listed in ``retry`` for the caller to try again later, alone.

    ``loaded``: (applications with ``taxpayer``, their lines) as a committed claim just left them, read in this
    process (``issue_claimed``): used instead of reading them again, for the ids they cover.
    """
    report = BatchReport()
    ids = sorted(set(application_ids))
    have = {app.pk: app for app in loaded[0]} if loaded else {}
    if loaded and set(ids) <= set(have) and all(pk in loaded[1] for pk in ids):
        apps = [have[pk] for pk in ids]
        lines = loaded[1]
    else:
        apps = list(InvoiceApplication.objects.select_related("taxpayer").filter(pk__in=ids).order_by("pk"))
        lines = lines_by_application([a.pk for a in apps])
    report.skipped += sorted(set(ids) - {a.pk for a in apps})
    channels: dict[int, Any] = {}
    issued: list[tuple[int, IssueResult]] = []

    def record() -> None:
        if not issued:
            return
        try:
            invoices_record_issued(issued, lines=lines)  # those recorded before (a re-run) count as issued too
            report.issued += [pk for pk, _ in issued]
        except Exception:  # noqa: BLE001 - one bad row must not hold up the others: record them one by one
            logger.exception("batch record failed; recording one by one")
            for pk, result in issued:
                try:
                    invoice_record_issued(application_id=pk, result=result)
                    report.issued.append(pk)
                except Exception as exc:  # noqa: BLE001 - the poller and reconciliation find it again
                    logger.exception("could not record %s", result.serial)
                    report.errors.append(f"{result.serial}: {exc}")
        issued.clear()

    for app in apps:
        if app.status != S.ISSUING or not app.issue_serial:
            report.skipped.append(app.pk)
            continue
        if app.needs_attention:
            report.needs_attention.append(app.pk)
            continue
        if channel is not None:
            chosen = channel
        else:
            chosen = channels.get(app.taxpayer_id) or channels.setdefault(app.taxpayer_id, get_channel(app.taxpayer))
        try:
            got = _ask_platform(app, chosen, build_issue_request(app, lines[app.pk]))
        except ChannelUnavailable as exc:
            report.retry.append((app.pk, getattr(exc, "attempt", app.issue_attempts + 1)))
            continue
        if isinstance(got, str):
            {Outcome.FAILED: report.failed, Outcome.NEEDS_ATTENTION: report.needs_attention}.get(
                got, report.skipped).append(app.pk)
            continue
        if got.status == "issued" and got.invoice_number:
            issued.append((app.pk, got))
            if len(issued) >= record_every:
                record()
            continue
        outcome = apply_result(application_id=app.pk, result=got)
        (report.failed if outcome == Outcome.FAILED else report.pending).append(app.pk)
    record()
    return report


def apply_result(*, application_id: int, result: IssueResult) -> str:
    """What the platform says about our serial: issued → record; failed → 开票失败; pending → wait for the poller."""
    if result.status == "issued":
        invoice_record_issued(application_id=application_id, result=result)
        return Outcome.ISSUED
    if result.status == "failed":
        return _record_rejected(application_id, serial=result.serial, code=result.code or "failed",
                                message=result.message or "开票失败")
    InvoiceApplication.objects.filter(pk=application_id, status=S.ISSUING).update(updated_at=timezone.now())
    return Outcome.PENDING


def _after_unavailable(application_id: int, *, serial: str, exc: ChannelUnavailable) -> str:
    """Count the attempt; raise for a retry with backoff, or mark the application as needing a person."""
    with transaction.atomic():
        app = InvoiceApplication.objects.select_for_update().filter(pk=application_id).first()
        if app is None or app.status != S.ISSUING or app.issue_serial != serial:
            return Outcome.SKIPPED
        message = f"{exc.kind}: {exc.message}"[:2000]
        if app.issue_attempts >= max_attempts():
            if not app.needs_attention:
                InvoiceApplication.objects.filter(pk=app.pk).update(
                    needs_attention=True, last_error=message, updated_at=timezone.now()
                )
                event_record(
                    obj=app, action="issue_needs_attention", actor_label="system", from_state=app.status,
                    to_state=app.status, reason=message,
                    data={"serial": serial, "attempts": app.issue_attempts, "kind": exc.kind},
                )
            return Outcome.NEEDS_ATTENTION
        InvoiceApplication.objects.filter(pk=app.pk).update(
            issue_attempts=F("issue_attempts") + 1, last_error=message, updated_at=timezone.now()
        )
        attempt = app.issue_attempts + 1
    exc.attempt = attempt  # type: ignore[attr-defined]
    exc.application_id = application_id  # type: ignore[attr-defined]
    raise exc


def _record_rejected(application_id: int, *, serial: str, code: str, message: str) -> str:
    with transaction.atomic():
        app = InvoiceApplication.objects.select_for_update().filter(pk=application_id).first()
        if app is None or app.status != S.ISSUING or app.issue_serial != serial:
            return Outcome.SKIPPED
        if Invoice.objects.filter(application=app, is_red=False).exists():
            return Outcome.SKIPPED
        reason = f"[{code}] {message}"
        from_state = app.status
        app.mark_failed(reason=reason)
        app.needs_attention = False
        app.save()
        event_record(
            obj=app, action="issue_failed", actor_label="system", from_state=from_state, to_state=app.status,
            reason=reason, data={"serial": serial, "code": code, "message": message},
        )
    return Outcome.FAILED


# --- recording an issued invoice -----------------------------------------------------------------------------------


def _issued_at(result: IssueResult) -> datetime:
    at = result.issued_at or timezone.now()
    return at if timezone.is_aware(at) else timezone.make_aware(at, CN)


def _consume_quota(invoice: Invoice) -> None:
    """Count the invoice against the entity's monthly quota."""
    quota_consume(taxpayer=invoice.taxpayer, month=invoice.quota_month, amount=invoice.amount, reference=invoice.number)


def invoice_files_queue(invoice: Invoice) -> None:
    """'Files queued': tell the listeners of ``invoice_recorded`` (the delivery app: file jobs and automatic delivery)
    inside the issuing transaction; their rendering and sending are queued on commit. In a savepoint: a failure
    there is logged and never undoes the invoice. ``ISSUING_QUEUE_FILES=0`` turns it off."""
    if not _setting("ISSUING_QUEUE_FILES", 1):
        return
    try:
        with transaction.atomic():
            invoice_recorded.send(sender=Invoice, invoice=invoice)
    except Exception:  # noqa: BLE001 - files can be queued again from the admin; the invoice must stand
        logger.exception("could not queue files for invoice %s", invoice.number)


def invoice_record_issued(*, application_id: int, result: IssueResult, actor: Actor = None,
                          action: str = "issued") -> Invoice:
    """The Invoice row, its lines, the quota and 开票中 → 已开票 with its Event, in one transaction.

    Idempotent: if the application already has its (blue) invoice, that invoice is returned and nothing changes.
    An application that is 已开票 without an invoice row (a lost local write found by reconciliation) gets its
    invoice back without a second transition.
    """
    if result.status != "issued" or not result.invoice_number:
        raise ValueError(f"serial {result.serial}: not an issued result ({result.status})")
    with transaction.atomic():
        # Only the application's row (of=self): locking the entity row FOR UPDATE here, before the rollup row,
        # deadlocks with a batch recording that holds the rollup row and whose deferred foreign-key checks take
        # KEY SHARE on the entity at COMMIT (issuing/platform/rollup.py, "Lock order").
        app = (InvoiceApplication.objects.select_for_update(of=("self",)).select_related("taxpayer")
               .get(pk=application_id))
        existing = Invoice.objects.filter(application=app, is_red=False)
        if existing.exists():  # the usual answer is "no": ask cheaply, fetch only when there is one
            return existing.first()
        if app.status not in (S.ISSUING, S.ISSUED):
            raise ValidationError(
                gettext("申请单 %(number)s 状态为%(status)s，平台却已开具发票 %(invoice)s")
                % {"number": app.number, "status": app.get_status_display(), "invoice": result.invoice_number}
            )
        issued_at = _issued_at(result)
        invoice = invoice_create_from_application(
            app,
            number=result.invoice_number,
            issued_at=issued_at,
            kind=result.kind,
            amount=result.total_amount,
            tax=result.total_tax,
            total=result.total_with_tax,
            serial=result.serial,
        )
        _consume_quota(invoice)
        from_state = app.status
        if app.status == S.ISSUING:
            app.mark_issued(at=issued_at)
            app.save()
        event_record(
            obj=app, action=action, actor=actor, actor_label=actor_label(actor), from_state=from_state,
            to_state=app.status,
            data={"serial": result.serial, "number": invoice.number, "total": str(invoice.total),
                  "attempts": app.issue_attempts},
        )
        invoice_files_queue(invoice)
    return invoice


def invoices_record_issued(results: list[tuple[int, IssueResult]], *,
                           lines: dict[int, list[ApplicationLine]] | None = None) -> list[Invoice]:
    """``invoice_record_issued`` for many (application id, issued result) pairs, in one transaction: the rows
    locked in primary-key order, invoices and lines in two inserts, quota once per month, 开票中 → 已开票 in one
    update, one event each. Idempotent the same way: an application that has its invoice already is left alone.
    Returns the invoices written. ``lines``: the applications' lines in order, when the caller has them."""
    for _pk, result in results:
        if result.status != "issued" or not result.invoice_number:
            raise ValueError(f"serial {result.serial}: not an issued result ({result.status})")
    ids = sorted({pk for pk, _ in results})
    with transaction.atomic():
        apps = {
            app.pk: app for app in InvoiceApplication.objects.select_for_update(of=("self",))
            .select_related("taxpayer").filter(pk__in=ids).order_by("pk")
        }
        have = set(Invoice.objects.filter(application_id__in=ids, is_red=False).values_list("application_id",
                                                                                             flat=True))
        todo = [(pk, result) for pk, result in results if pk in apps and pk not in have]
        for pk, result in todo:
            if apps[pk].status not in (S.ISSUING, S.ISSUED):
                raise ValidationError(
                    gettext("申请单 %(number)s 状态为%(status)s，平台却已开具发票 %(invoice)s")
                    % {"number": apps[pk].number, "status": apps[pk].get_status_display(),
                       "invoice": result.invoice_number}
                )
        if lines is None or any(pk not in lines for pk, _ in todo):
            lines = lines_by_application([pk for pk, _ in todo])
        items = [
            (apps[pk], lines[pk], {
                "number": result.invoice_number, "issued_at": _issued_at(result), "kind": result.kind,
                "amount": result.total_amount, "tax": result.total_tax, "total": result.total_with_tax,
                "serial": result.serial,
            })
            for pk, result in todo
        ]
        invoices = invoices_create_from_applications(items)
        quota_consume_many(invoices)
        now = timezone.now()
        moved, events = [], []
        for invoice, (pk, result) in zip(invoices, todo, strict=True):
            app = apps[pk]
            from_state = app.status
            if app.status == S.ISSUING:
                app.mark_issued(at=invoice.issued_at)
                app.updated_at = now
                moved.append(app)
            events.append({
                "obj": app, "action": "issued", "actor_label": "system", "from_state": from_state,
                "to_state": app.status,
                "data": {"serial": result.serial, "number": invoice.number, "total": str(invoice.total),
                         "attempts": app.issue_attempts, "batch": True},
            })
        if moved:
            _save_issued(moved)
        events_record_many(events)
        for invoice in invoices:
            invoice_files_queue(invoice)
    return invoices


def _save_issued(applications: list[InvoiceApplication]) -> None:
    """Write what ``mark_issued`` changed on applications just moved 开票中 → 已开票 (rows locked by the caller):
    one UPDATE, the values all share as constants and ``issued_at`` as one CASE branch per distinct time, not
    Django's ``bulk_update`` (a CASE per field and row, whose building costs more than the statement)."""
    groups: dict[tuple[Any, ...], dict[datetime, list[int]]] = {}
    for app in applications:
        key = (app.status, app.needs_attention, app.last_error, app.updated_at)
        groups.setdefault(key, {}).setdefault(app.issued_at, []).append(app.pk)
    for (status, needs_attention, last_error, updated_at), by_time in groups.items():
        ids = [pk for pks in by_time.values() for pk in pks]
        if len(by_time) == 1:
            issued_at: Any = next(iter(by_time))
        else:
            issued_at = Case(*(When(pk__in=pks, then=Value(at)) for at, pks in by_time.items()),
                             output_field=InvoiceApplication._meta.get_field("issued_at"))
        InvoiceApplication.objects.filter(pk__in=ids).update(
            status=status, issued_at=issued_at, needs_attention=needs_attention, last_error=last_error,
            updated_at=updated_at)


# --- the poller ----------------------------------------------------------------------------------------------------


@dataclass
class PollReport:
    checked: int = 0
    issued: int = 0
    pending: int = 0
    failed: int = 0
    requeued: int = 0
    unavailable: int = 0
    left_for_person: int = 0
    drains_armed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": len(self.errors)}


# A single submission still waiting this long after its maximum wait has lost its drain: the poller arms one.
STRANDED_SECONDS = 5.0


def _touch(app: InvoiceApplication) -> None:
    InvoiceApplication.objects.filter(pk=app.pk, status=S.ISSUING).update(updated_at=timezone.now())


def issue_poll_pending(*, older_than_seconds: int | None = None, limit: int = 1000,
                       taxpayer_id: int | None = None, application_id: int | None = None) -> PollReport:
    """Query the platform for every 开票中 application quiet for ``older_than_seconds``; act on what it says.

    issued → recorded; failed → 开票失败; pending → left; never seen by the platform → the issuing task is queued
    again with the same serial (unless a person has to decide: ``needs_attention``).
    """
    age = poll_age_seconds() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=age)
    qs = InvoiceApplication.objects.filter(status=S.ISSUING, updated_at__lte=cutoff).exclude(issue_serial=None)
    if taxpayer_id is not None:
        qs = qs.filter(taxpayer_id=taxpayer_id)
    if application_id is not None:
        qs = qs.filter(pk=application_id)
    report = PollReport()
    if application_id is None and issue_requests_waiting(older_than_seconds=group_max_wait() + STRANDED_SECONDS):
        report.drains_armed += 1  # requests left waiting (a lost message, a killed worker): drain them now
        issue_drain_arm(now=True)
    channels: dict[int, Any] = {}
    for app in qs.select_related("taxpayer").order_by("updated_at", "id")[:limit]:
        report.checked += 1
        channel = channels.get(app.taxpayer_id) or channels.setdefault(app.taxpayer_id, get_channel(app.taxpayer))
        try:
            result = channel.query_issue(app.issue_serial)
        except ChannelUnavailable:
            report.unavailable += 1
            _touch(app)
            continue
        except ChannelRejected as exc:
            if exc.code != NOT_FOUND_CODE:
                report.errors.append(f"{app.number}: {exc}")
                _touch(app)
                continue
            if app.needs_attention:
                report.left_for_person += 1
                _touch(app)  # to the back of the queue: the others get their turn in the next rounds
                continue
            touched = InvoiceApplication.objects.filter(
                pk=app.pk, status=S.ISSUING, issue_serial=app.issue_serial, updated_at=app.updated_at
            ).update(updated_at=timezone.now())
            if touched:  # claimed: one poller re-queues it, another one running at the same time does not
                report.requeued += 1
                from issuing.platform.tasks import issue_application_task  # cycle: tasks import services

                issue_application_task.delay(app.pk)
            continue
        try:
            outcome = apply_result(application_id=app.pk, result=result)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the poll
            logger.exception("poll: could not record %s", app.number)
            report.errors.append(f"{app.number}: {exc}")
            continue
        if outcome == Outcome.ISSUED:
            report.issued += 1
        elif outcome == Outcome.FAILED:
            report.failed += 1
        elif outcome == Outcome.PENDING:
            report.pending += 1
    return report


# --- a person's decisions ------------------------------------------------------------------------------------------


def _require_person(actor: Actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(gettext("只有经办人员可以做出这个决定"))
    if not actor.has_perm("issuing.issue_invoiceapplication"):
        raise PermissionDenied(gettext("没有发起开票的权限"))


def application_retry_issue(*, application: InvoiceApplication, actor: Actor) -> InvoiceApplication:
    """A person asks to try again with the *same* serial (e.g. after the bureau session was restored)."""
    _require_person(actor)
    with transaction.atomic():
        app = InvoiceApplication.objects.select_for_update().get(pk=application.pk)
        if app.status != S.ISSUING or not app.needs_attention:
            raise ValidationError(gettext("申请单 %(number)s 不是“开票中·需人工处理”") % {"number": app.number})
        InvoiceApplication.objects.filter(pk=app.pk).update(
            needs_attention=False, issue_attempts=1, updated_at=timezone.now()
        )
        event_record(obj=app, action="issue_retried", actor=actor, from_state=app.status, to_state=app.status,
                     data={"serial": app.issue_serial})
        application_issue_queue(app.pk)
    return _fresh(app.pk)


def application_reissue_with_new_serial(
    *, application: InvoiceApplication, actor: Actor, reason: str, channel: Any = None
) -> InvoiceApplication:
    """A person's explicit decision to send the application again under a new serial.

    Allowed only when the application is 开票中 with ``needs_attention`` and a query made now shows that the platform
    does not know the current serial (so no invoice can exist under it). If the query finds it issued, the invoice is
    recorded instead and no new serial is made.
    """
    _require_person(actor)
    if not (reason or "").strip():
        raise ValidationError(gettext("请填写重新开票的原因"))
    app = _load(application.pk)
    if app is None or app.status != S.ISSUING or not app.needs_attention:
        raise ValidationError(
            gettext("申请单 %(number)s 不是“开票中·需人工处理”，不能换流水号重开") % {"number": application.number}
        )
    old_serial = app.issue_serial or ""
    channel = channel or get_channel(app.taxpayer)
    try:
        result = channel.query_issue(old_serial)
    except ChannelUnavailable as exc:
        raise ValidationError(
            gettext("平台暂不可用，无法确认流水号 %(serial)s 的状态：%(error)s") % {"serial": old_serial, "error": exc.message}
        ) from exc
    except ChannelRejected as exc:
        if exc.code != NOT_FOUND_CODE:
            raise ValidationError(
                gettext("无法确认流水号 %(serial)s 的状态：%(error)s") % {"serial": old_serial, "error": exc}
            ) from exc
        result = None
    if result is not None:
        if result.status == "issued":
            invoice_record_issued(application_id=app.pk, result=result, actor=actor)
            return _fresh(app.pk)
        raise ValidationError(
            gettext("平台已受理流水号 %(serial)s（%(status)s），不能换流水号重开")
            % {"serial": old_serial, "status": result.status}
        )
    with transaction.atomic():
        locked = InvoiceApplication.objects.select_for_update().get(pk=app.pk)
        if locked.status != S.ISSUING or not locked.needs_attention or locked.issue_serial != old_serial:
            raise ValidationError(gettext("申请单 %(number)s 已被他人处理") % {"number": locked.number})
        generation = 1
        if old_serial.rsplit("-R", 1)[-1].isdigit() and "-R" in old_serial:
            generation = int(old_serial.rsplit("-R", 1)[-1]) + 1
        new_serial = serial_for(locked, generation=generation)
        InvoiceApplication.objects.filter(pk=locked.pk).update(
            issue_serial=new_serial, issue_attempts=1, needs_attention=False, last_error="",
            updated_at=timezone.now(),
        )
        event_record(
            obj=locked, action="issue_reissued_new_serial", actor=actor, from_state=locked.status,
            to_state=locked.status, reason=reason.strip(),
            data={"old_serial": old_serial, "new_serial": new_serial},
        )
        application_issue_queue(locked.pk)
    return _fresh(app.pk)

