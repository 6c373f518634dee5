"""The pool and the tax platform: the platform download and the receiving-side reconciliation.

**Download.** For one entity, ``list_received`` from the day after its watermark (``PlatformSync.synced_through``)
to today (China time), page by page (and, for their status only, the invoices of the last ``status_days()`` days
downloaded before, since 作废 and 红冲 come later); for each invoice not yet downloaded, ``download_files`` and the files into the
pool through ``collection_add_file`` (so a file the entity already holds is recognised by its hash, and an invoice
already in the pool by upload or by mail gets one more source and carrier, never a second record); without a usable
file, the platform's own values (``collection_add_values``). Every listed invoice's 发票状态 goes onto its record
(``received_invoice_platform_status_set``: an event when it changes, 作废 or 红冲 included). After each page the
watermark moves to the day before the page's last invoice (the listing is ordered by issue time, so every earlier
day is complete); at the end to yesterday (today is never complete). A platform that becomes unavailable half way
stops the run; the batch keeps what it collected and the next run resumes from the watermark.

**Reconciliation.** What the platform lists as issued to the entity over a range of days against the pool's 数电
invoices of those days, matched exactly on 发票号码 and the seller's tax id (never on amounts); each difference
says on which side the invoice is missing and why. The daily task keeps one report per entity.

Channel calls are never made inside a database transaction; every write is a service here or in ``services``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, SystemActor, actor_label, actor_user
from invoicing.channels import get_channel
from invoicing.channels.base import (
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    InboundInvoice,
    TaxChannel,
)
from invoicing.events import event_record
from invoicing.ids import compact_id
from invoicing.models import Taxpayer
from receiving import services
from receiving.models import (
    Collection,
    DataSource,
    Method,
    PlatformReconciliation,
    PlatformStatus,
    PlatformSync,
    ReceivedInvoice,
    Source,
)
from receiving.reading import InvoiceValues

logger = logging.getLogger(__name__)

CN = ZoneInfo("Asia/Shanghai")
PLATFORM = SystemActor("platform_download")
# The kinds the platform lists as received (数电 invoices, paper ones included); tickets and legacy invoices are
# not on its list, so the reconciliation leaves them out of the pool side.
PLATFORM_KINDS = ("81", "82", "85", "86")
STALE_RUN = timedelta(hours=2)  # a run marked running for longer than this died with its worker


def first_days() -> int:
    """How many days back the first download of an entity starts."""
    return int(getattr(settings, "RECEIVING_PLATFORM_FIRST_DAYS", 90))


def status_days() -> int:
    """Invoices downloaded in the last this many days are listed again on each run, for their status only (作废 and
    红冲 come after the invoice): nothing is downloaded twice."""
    return int(getattr(settings, "RECEIVING_PLATFORM_STATUS_DAYS", 31))


def page_size() -> int:
    return int(getattr(settings, "RECEIVING_PLATFORM_PAGE_SIZE", 100))


def download_formats() -> tuple[str, ...]:
    """The files asked for each invoice: the XML (the most trusted, domain.md §4) unless settings say otherwise."""
    return tuple(getattr(settings, "RECEIVING_PLATFORM_FORMATS", ("xml",)))


def china_today() -> date:
    return timezone.now().astimezone(CN).date()


# --- the watermark ---------------------------------------------------------------------------------------------------


def platform_sync_start(*, taxpayer: Taxpayer, actor: Actor) -> PlatformSync | None:
    """Mark the entity's download running; None when another run holds it (and has not gone stale)."""
    services.authorize(actor, taxpayer.pk, services.P_COLLECT)
    now = timezone.now()
    with transaction.atomic():
        sync, _created = PlatformSync.objects.select_for_update().get_or_create(taxpayer=taxpayer)
        if sync.running_since is not None and now - sync.running_since < STALE_RUN:
            return None
        sync.running_since = now
        sync.last_started_at = now
        sync.save(update_fields=["running_since", "last_started_at"])
    return sync


def platform_sync_advance(*, sync: PlatformSync, through: date, actor: Actor,
                          collection: Collection | None = None) -> PlatformSync:
    """Move the watermark forward to ``through`` (never back), with its event."""
    with transaction.atomic():
        locked = PlatformSync.objects.select_for_update().select_related("taxpayer").get(pk=sync.pk)
        if locked.synced_through is not None and through <= locked.synced_through:
            return locked
        before = locked.synced_through
        locked.synced_through = through
        locked.save(update_fields=["synced_through"])
        event_record(obj=locked, action="platform_download_progress", actor=actor,
                     from_state=before.isoformat() if before else "", to_state=through.isoformat(),
                     data={"collection": collection.pk if collection is not None else None},
                     taxpayer=locked.taxpayer)
    sync.synced_through = locked.synced_through
    return locked


def platform_sync_finish(*, sync: PlatformSync, ok: bool, message: str, listed: int,
                         collection: Collection | None, actor: Actor) -> PlatformSync:
    """The run is over (done, or stopped by the platform): the entity's row says how it went."""
    with transaction.atomic():
        locked = PlatformSync.objects.select_for_update().select_related("taxpayer").get(pk=sync.pk)
        locked.running_since = None
        locked.last_finished_at = timezone.now()
        locked.last_ok = ok
        locked.last_message = message[:2000]
        locked.listed_count += listed
        if collection is not None:
            locked.last_collection = collection
        locked.save(update_fields=["running_since", "last_finished_at", "last_ok", "last_message", "listed_count",
                                   "last_collection"])
        event_record(obj=locked, action="platform_download_finish", actor=actor, taxpayer=locked.taxpayer,
                     to_state="ok" if ok else "failed", reason=message[:500],
                     data={"listed": listed, "collection": collection.pk if collection is not None else None,
                           "synced_through": locked.synced_through.isoformat() if locked.synced_through else None})
    return locked


def platform_download_request(*, taxpayer: Taxpayer, actor: Actor) -> None:
    """The download button: queue a run for the entity (after the transaction commits), with its event."""
    services.authorize(actor, taxpayer.pk, services.P_COLLECT)
    with transaction.atomic():
        sync, _created = PlatformSync.objects.select_for_update().get_or_create(taxpayer=taxpayer)
        event_record(obj=sync, action="platform_download_request", actor=actor, taxpayer=taxpayer,
                     data={"synced_through": sync.synced_through.isoformat() if sync.synced_through else None})
        user = actor_user(actor)
        from receiving.tasks import platform_download_task  # cycle: the tasks call this module

        transaction.on_commit(lambda: platform_download_task.delay(taxpayer.pk, user.pk if user else None))


# --- the download ------------------------------------------------------------------------------------------------------


@dataclass
class DownloadResult:
    taxpayer: str
    ok: bool = True
    skipped: bool = False  # another run holds the entity
    date_from: date | None = None
    date_to: date | None = None
    listed: int = 0
    created: int = 0  # new pool records
    joined: int = 0  # records already in the pool (upload, mail) that got the platform as one more source
    status_changed: int = 0
    known: int = 0  # downloaded before: status compared only
    channel_calls: int = 0
    message: str = ""
    collection_id: int | None = None

    def summary(self) -> str:
        return gettext("平台列出 %(listed)d 张：新入池 %(created)d，补充来源 %(joined)d，状态更新 %(changed)d，"
                       "此前已下载 %(known)d") % {"listed": self.listed, "created": self.created,
                                               "joined": self.joined, "changed": self.status_changed,
                                               "known": self.known}


def _pages(channel: TaxChannel, date_from: date, date_to: date, result: DownloadResult
           ) -> Iterator[tuple[InboundInvoice, ...]]:
    page = 1
    size = page_size()
    while True:
        result.channel_calls += 1
        listed = channel.list_received(date_from=date_from, date_to=date_to, page=page, page_size=size)
        if listed.items:
            yield listed.items
        if not listed.items or page * listed.page_size >= listed.total:
            return
        page += 1


def inbound_values(invoice: InboundInvoice) -> InvoiceValues:
    """The pool values the platform's list gives (no lines: those come with the file)."""
    return InvoiceValues(
        kind=invoice.kind, number=invoice.number, issue_date=invoice.issue_date, seller_name=invoice.seller_name,
        seller_tax_id=compact_id(invoice.seller_tax_id), buyer_name=invoice.buyer_name,
        buyer_tax_id=compact_id(invoice.buyer_tax_id), amount=invoice.total_amount, tax=invoice.total_tax,
        total=invoice.total_with_tax, is_red=invoice.is_red, blue_number=invoice.blue_number,
        sure={"kind", "issue_date", "seller_tax_id", "seller_name", "buyer_tax_id", "buyer_name", "amount", "tax",
              "total"})


class Batch:
    """The run's batch, opened with the first invoice it collects: a run that finds nothing new leaves none."""

    def __init__(self, taxpayer: Taxpayer, actor: Actor, note: str) -> None:
        self.taxpayer, self.actor, self.note = taxpayer, actor, note
        self.collection: Collection | None = None

    def get(self) -> Collection:
        if self.collection is None:
            self.collection = services.collection_start(taxpayer=self.taxpayer, method=Method.PLATFORM,
                                                        actor=self.actor, note=self.note)
        return self.collection


def _one(channel: TaxChannel, batch: Batch, invoice: InboundInvoice, record: ReceivedInvoice | None,
         downloaded: bool, result: DownloadResult, actor: Actor) -> None:
    """One listed invoice into the pool (or only its status, when it was downloaded before)."""
    if record is not None and downloaded:
        result.known += 1
        if record.platform_status_code == invoice.status:
            return
        if invoice.status and services.received_invoice_platform_status_set(
                record=record, code=invoice.status, actor=actor, collection=batch.collection):
            result.status_changed += 1
        return
    files: dict[str, bytes] = {}
    try:
        result.channel_calls += 1
        files = dict(channel.download_files(invoice.number, download_formats()).files)
    except ChannelRejected as exc:  # the platform has no file for it: its list's values are enough to file it
        logger.info("platform download: no files for %s: %s", invoice.number, exc)
    collection = batch.get()
    got: ReceivedInvoice | None = None
    for fmt, data in files.items():
        item = services.collection_add_file(collection=collection, name=f"{invoice.number}.{fmt}", data=data,
                                            actor=actor)
        got = got or item.invoice
    if got is None:
        item = services.collection_add_values(collection=collection, name=invoice.number,
                                              values=inbound_values(invoice), source=DataSource.PLATFORM,
                                              actor=actor, platform_status_code=invoice.status)
        got = item.invoice
    if got is None:
        return
    if record is None and not Source.objects.filter(invoice=got).exclude(collection=collection).exists():
        result.created += 1
    else:
        result.joined += 1  # in the pool already (upload, mail, Excel): the platform is one more source
    changed = bool(invoice.status) and services.received_invoice_platform_status_set(
        record=got, code=invoice.status, actor=actor, collection=collection)
    if changed and record is not None and record.platform_status:
        result.status_changed += 1


def platform_download(*, taxpayer: Taxpayer, actor: Actor = PLATFORM, channel: TaxChannel | None = None,
                      today: date | None = None) -> DownloadResult:
    """Download what the platform lists as issued to ``taxpayer`` since its watermark (see the module's text)."""
    result = DownloadResult(taxpayer=taxpayer.credit_code)
    sync = platform_sync_start(taxpayer=taxpayer, actor=actor)
    if sync is None:
        result.skipped, result.message = True, gettext("该主体的平台下载正在进行")
        return result
    today = today or china_today()
    date_from = sync.synced_through + timedelta(days=1) if sync.synced_through else today - timedelta(
        days=first_days())
    list_from = min(date_from, today - timedelta(days=status_days())) if sync.synced_through else date_from
    result.date_from, result.date_to = date_from, today
    note = gettext("下载 %(start)s 至 %(end)s") % {"start": date_from.isoformat(), "end": today.isoformat()}
    if list_from < date_from:
        note += gettext("；核对 %(start)s 起已下载发票的状态") % {"start": list_from.isoformat()}
    batch = Batch(taxpayer, actor, note)
    try:
        channel = channel or get_channel(taxpayer)
        for items in _pages(channel, list_from, today, result):
            numbers = [i.number for i in items]
            records = {r.number: r for r in ReceivedInvoice.objects.filter(taxpayer=taxpayer, code="",
                                                                           number__in=numbers)}
            downloaded = set(Source.objects.filter(invoice__in=list(records.values()), method=Method.PLATFORM)
                             .values_list("invoice__number", flat=True))
            for invoice in items:
                result.listed += 1
                _one(channel, batch, invoice, records.get(invoice.number), invoice.number in downloaded,
                     result, actor)
            last_day = items[-1].issue_date
            if last_day - timedelta(days=1) >= date_from:
                platform_sync_advance(sync=sync, through=min(last_day, today) - timedelta(days=1), actor=actor,
                                      collection=batch.collection)
        if today - timedelta(days=1) >= date_from:
            platform_sync_advance(sync=sync, through=today - timedelta(days=1), actor=actor,
                                  collection=batch.collection)
    except ChannelUnavailable as exc:
        result.ok = False
        result.message = gettext("税务平台暂不可用（%(why)s）：已处理的发票保留，下次从水位线继续") % {"why": exc.message}
    except ChannelError as exc:
        result.ok = False
        result.message = gettext("税务平台拒绝了请求：%(why)s") % {"why": exc.message}
    except Exception:
        logger.exception("platform download for %s failed", taxpayer.credit_code)
        result.ok = False
        result.message = gettext("平台下载因内部错误中断（已记录）：已处理的发票保留，下次从水位线继续")
        raise
    finally:
        summary = result.summary() if result.ok else f"{result.message}；{result.summary()}"
        collection = batch.collection
        if collection is not None:
            result.collection_id = collection.pk
            if result.ok:
                services.collection_finish(collection=collection, actor=actor, message=summary)
            else:
                services.collection_fail(collection=collection, actor=actor, message=summary)
        platform_sync_finish(sync=sync, ok=result.ok, message=summary, listed=result.listed, collection=collection,
                             actor=actor)
    return result


def platform_entities() -> list[Taxpayer]:
    """The entities whose channel lists received invoices."""
    out = []
    for taxpayer in Taxpayer.objects.filter(is_active=True).exclude(channel_app_key="").order_by("pk"):
        try:
            if get_channel(taxpayer).supports("received"):
                out.append(taxpayer)
        except ChannelUnsupported:
            continue
    return out


# --- reconciliation ----------------------------------------------------------------------------------------------------


STATUS_OF_CODE = {code: status for code, status in services.PLATFORM_STATUSES.items()}


def _difference(side: str, rule: str, reason: str, *, number: str, seller_tax_id: str, seller_name: str,
                issue_date: date | None, total: Any, invoice: int | None = None) -> dict[str, Any]:
    return {"side": side, "rule": rule, "reason": reason, "number": number, "seller_tax_id": seller_tax_id,
            "seller_name": seller_name, "issue_date": issue_date.isoformat() if issue_date else "",
            "total": f"{total:f}" if total is not None else "", "invoice": invoice}


def platform_reconcile(*, taxpayer: Taxpayer, date_from: date, date_to: date, actor: Actor = PLATFORM,
                       channel: TaxChannel | None = None) -> PlatformReconciliation:
    """Compare the pool with the platform's list for ``date_from``–``date_to`` and keep the report (see the module's
    text). A platform unavailable half way gives an incomplete report that says so, with no differences."""
    services.authorize(actor, taxpayer.pk, services.P_COLLECT)
    listed: list[InboundInvoice] = []
    message = ""
    complete = True
    try:
        channel = channel or get_channel(taxpayer)
        page, size = 1, page_size()
        while True:
            got = channel.list_received(date_from=date_from, date_to=date_to, page=page, page_size=size)
            listed.extend(got.items)
            if not got.items or page * got.page_size >= got.total:
                break
            page += 1
    except ChannelError as exc:
        complete = False
        message = gettext("税务平台暂不可用，对账未完成：%(why)s") % {"why": exc.message}
    pool = list(ReceivedInvoice.objects.filter(taxpayer=taxpayer, kind__in=PLATFORM_KINDS,
                                               issue_date__gte=date_from, issue_date__lte=date_to)
                .only("id", "number", "seller_tax_id", "seller_name", "issue_date", "total", "platform_status",
                      "other_buyer"))
    differences: list[dict[str, Any]] = []
    matched = 0
    if complete:
        by_number = {r.number: r for r in pool}
        listed_numbers = {i.number for i in listed}
        outside = {r.number: r for r in ReceivedInvoice.objects.filter(
            taxpayer=taxpayer, code="", number__in=[n for n in listed_numbers if n not in by_number])
            .only("id", "number", "issue_date")}
        sync = PlatformSync.objects.filter(taxpayer=taxpayer).first()
        for inv in listed:
            record = by_number.get(inv.number)
            common = {"number": inv.number, "seller_tax_id": inv.seller_tax_id, "seller_name": inv.seller_name,
                      "issue_date": inv.issue_date, "total": inv.total_with_tax}
            if record is None:
                other = outside.get(inv.number)
                if other is not None:
                    differences.append(_difference(
                        "pool", "issue_date_differs", gettext("发票池中有此号码，但开票日期为 %(pool)s，平台为 %(platform)s") % {
                            "pool": other.issue_date.isoformat(), "platform": inv.issue_date.isoformat()},
                        invoice=other.pk, **common))
                elif sync is None or sync.synced_through is None or sync.synced_through < inv.issue_date:
                    differences.append(_difference(
                        "pool", "not_downloaded_yet", gettext("平台列为本主体取得，发票池中没有：平台下载尚未到该日，下载后即入池"),
                        **common))
                else:
                    differences.append(_difference(
                        "pool", "missing_in_pool", gettext("平台列为本主体取得，发票池中没有：请从平台下载或补采集"), **common))
                continue
            if not services.tax_ids_match(record.seller_tax_id, inv.seller_tax_id):
                differences.append(_difference(
                    "both", "seller_differs", gettext("号码相同，销售方税号不同：发票池为 %(pool)s，平台为 %(platform)s") % {
                        "pool": record.seller_tax_id or "-", "platform": inv.seller_tax_id}, invoice=record.pk,
                    **common))
                continue
            expected = STATUS_OF_CODE.get(inv.status)
            # a record the platform's status never reached (uploaded, not downloaded yet) is not a difference
            if expected is not None and record.platform_status and record.platform_status != expected:
                differences.append(_difference(
                    "both", "status_differs", gettext("发票状态不同：发票池为 %(pool)s，平台为 %(platform)s") % {
                        "pool": PlatformStatus(record.platform_status).label,
                        "platform": PlatformStatus(expected).label}, invoice=record.pk, **common))
                continue
            matched += 1
        for record in pool:
            if record.number in listed_numbers:
                continue
            common = {"number": record.number, "seller_tax_id": record.seller_tax_id,
                      "seller_name": record.seller_name, "issue_date": record.issue_date, "total": record.total}
            if record.other_buyer:
                reason = gettext("平台未列为本主体取得：票面购买方不是本主体")
                rule = "other_buyer"
            else:
                reason = gettext("平台未列为本主体取得：号码或开票日期可能有误，或并非开给本主体的真实发票，请查验")
                rule = "missing_on_platform"
            differences.append(_difference("platform", rule, reason, invoice=record.pk, **common))
    with transaction.atomic():
        report = PlatformReconciliation.objects.create(
            taxpayer=taxpayer, date_from=date_from, date_to=date_to, platform_count=len(listed),
            pool_count=len(pool), matched_count=matched, difference_count=len(differences), differences=differences,
            complete=complete, message=message, created_by=actor_user(actor), actor_label=actor_label(actor))
        event_record(obj=report, action="platform_reconcile", actor=actor, taxpayer=taxpayer,
                     data={"from": date_from.isoformat(), "to": date_to.isoformat(), "complete": complete,
                           "matched": matched, "differences": len(differences)})
    return report


def reconcile_range(today: date | None = None) -> tuple[date, date]:
    """The daily report's days: the first day of last month to yesterday (an invoice may reach the platform's list
    of the month it was issued until that month's deduction is confirmed)."""
    today = today or china_today()
    yesterday = today - timedelta(days=1)
    first_of_last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return first_of_last_month, yesterday
