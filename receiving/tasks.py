"""Celery tasks of receiving: the upload job, the hourly purge of its staging area, the platform download and the daily
reconciliation (their beat entries in ``receiving/celery_schedule.py``)."""

from __future__ import annotations

import logging
from typing import NotRequired, TypedDict

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from invoicing.celery import beat_schedule_add
from invoicing.channels import ChannelError
from invoicing.models import Taxpayer
from receiving import bookkeeping, bundles, collecting, platform, redforms, services
from receiving.celery_schedule import BEAT_SCHEDULE

# The mailboxes' tasks live in their sub-package; Celery autodiscovers this module, which re-exports them.
from receiving.mailbox.tasks import mailbox_fetch_task, mailboxes_due_task  # noqa: F401
from receiving.models import Collection, CollectionStatus, ReceivedInvoice

# verification's tasks live in their own module; imported so that Celery's autodiscovery registers them
from receiving.tasks_verification import verification_job_task, verification_retry_due_task  # noqa: F401

logger = logging.getLogger(__name__)


class UploadJobResult(TypedDict):
    """What the upload job returns (kept by the Celery result backend)."""

    collection: int
    status: str
    processed: NotRequired[int]


@shared_task(name="receiving.collect_upload")  # type: ignore[untyped-decorator]  # Celery ships no type information
def collect_upload_task(collection_id: int, user_id: int | None) -> UploadJobResult:
    """Read an upload's staged files into its batch. A job that a killed worker left half done is resumed where it
    stopped (its items are counted); a batch already finished is left alone."""
    collection = Collection.objects.select_related("taxpayer").get(pk=collection_id)
    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    collection = services.collection_begin_processing(collection=collection, actor=actor)
    if collection.status != CollectionStatus.RUNNING:
        return {"collection": collection_id, "status": collection.status}
    try:
        entries = collecting.staged_entries(collection, bundles.Limits.from_settings())
        for _item in collecting.collect_entries(collection=collection, entries=entries, actor=actor,
                                                skip=collection.processed):
            pass
        collection = services.collection_finish(collection=collection, actor=actor)
    except Exception:
        logger.exception("upload batch %s failed", collection_id)
        collection = services.collection_fail(
            collection=collection, actor=actor,
            message=gettext("处理中断（内部错误，已记录）：已处理的文件保留，其余未处理，请重新上传未处理的文件"))
    finally:
        collecting.upload_discard(collection_id)
    return {"collection": collection_id, "status": collection.status, "processed": collection.processed}


@shared_task(name="receiving.purge_staging", ignore_result=True)  # type: ignore[untyped-decorator]  # as above
def purge_staging_task() -> dict[str, int | list[int]]:
    """Remove staged uploads no job will read (``collecting.staging_purge``)."""
    result = collecting.staging_purge()
    return {"folders": result.folders, "bytes": result.bytes, "collections": result.collections,
            "failed": result.failed}


@shared_task(name="receiving.booking_retry", ignore_result=True)  # type: ignore[untyped-decorator]
def booking_retry_task() -> dict[str, int]:
    """入账 / 取消入账 the platform has not answered yet: sent again with their request numbers."""
    return bookkeeping.booking_retry_pending()


@shared_task(name="receiving.red_forms_pull", ignore_result=True)  # type: ignore[untyped-decorator]
def red_forms_pull_task(taxpayer_id: int | None = None) -> dict[str, int]:
    """Red-letter forms against invoices in each entity's pool (``redforms.received_red_forms_pull``)."""
    totals = {"seen": 0, "created": 0, "updated": 0, "sent": 0}
    entities = Taxpayer.objects.filter(pk=taxpayer_id) if taxpayer_id else Taxpayer.objects.filter(
        pk__in=ReceivedInvoice.objects.values("taxpayer_id").distinct())
    for taxpayer in entities:
        try:
            report = redforms.received_red_forms_pull(taxpayer=taxpayer)
        except ChannelError as exc:  # one entity's channel failing must not stop the others
            logger.info("red forms of %s: %s", taxpayer.pk, exc.__class__.__name__)
            continue
        for key in totals:
            totals[key] += getattr(report, key)
    return totals


# --- the platform ----------------------------------------------------------------------------------------------------

@shared_task(name="receiving.platform_download")  # type: ignore[untyped-decorator]  # as above
def platform_download_task(taxpayer_id: int, user_id: int | None = None) -> dict[str, object]:
    """One entity's platform download (the button, or the daily run for each entity)."""
    taxpayer = Taxpayer.objects.get(pk=taxpayer_id)
    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else platform.PLATFORM
    result = platform.platform_download(taxpayer=taxpayer, actor=actor)
    return {"taxpayer": taxpayer.credit_code, "ok": result.ok, "skipped": result.skipped, "listed": result.listed,
            "created": result.created, "message": result.message}


@shared_task(name="receiving.platform_download_all", ignore_result=True)  # type: ignore[untyped-decorator]
def platform_download_all_task() -> None:
    """Daily: queue one download per entity whose channel lists received invoices."""
    for taxpayer in platform.platform_entities():
        platform_download_task.delay(taxpayer.pk, None)


@shared_task(name="receiving.platform_reconcile_all")  # type: ignore[untyped-decorator]
def platform_reconcile_all_task() -> list[dict[str, object]]:
    """Daily: the report of differences between each entity's pool and the platform's list."""
    date_from, date_to = platform.reconcile_range()
    out: list[dict[str, object]] = []
    for taxpayer in platform.platform_entities():
        report = platform.platform_reconcile(taxpayer=taxpayer, date_from=date_from, date_to=date_to)
        out.append({"taxpayer": taxpayer.credit_code, "report": report.pk, "differences": report.difference_count,
                    "complete": report.complete})
    return out


beat_schedule_add(BEAT_SCHEDULE)
