"""Celery tasks of receiving: the upload job, the platform download and the daily reconciliation."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.schedules import crontab
from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from invoicing.celery import app as celery_app
from invoicing.models import Taxpayer
from receiving import bundles, collecting, platform, services
from receiving.models import Collection, CollectionStatus

logger = logging.getLogger(__name__)


@shared_task(name="receiving.collect_upload")
def collect_upload_task(collection_id: int, user_id: int | None) -> dict:
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


# --- the platform ----------------------------------------------------------------------------------------------------

BEAT_SCHEDULE = {
    "receiving-platform-download": {
        "task": "receiving.platform_download_all",
        "schedule": crontab(hour=1, minute=40),  # CELERY_TIMEZONE (Asia/Shanghai): yesterday is complete by then
    },
    "receiving-platform-reconcile": {
        "task": "receiving.platform_reconcile_all",
        "schedule": crontab(hour=2, minute=50),  # after the download
    },
}


@shared_task(name="receiving.platform_download")
def platform_download_task(taxpayer_id: int, user_id: int | None = None) -> dict:
    """One entity's platform download (the button, or the daily run for each entity)."""
    taxpayer = Taxpayer.objects.get(pk=taxpayer_id)
    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else platform.PLATFORM
    result = platform.platform_download(taxpayer=taxpayer, actor=actor)
    return {"taxpayer": taxpayer.credit_code, "ok": result.ok, "skipped": result.skipped, "listed": result.listed,
            "created": result.created, "message": result.message}


@shared_task(name="receiving.platform_download_all", ignore_result=True)
def platform_download_all_task() -> None:
    """Daily: queue one download per entity whose channel lists received invoices."""
    for taxpayer in platform.platform_entities():
        platform_download_task.delay(taxpayer.pk, None)


@shared_task(name="receiving.platform_reconcile_all")
def platform_reconcile_all_task() -> list[dict]:
    """Daily: the report of differences between each entity's pool and the platform's list."""
    date_from, date_to = platform.reconcile_range()
    out = []
    for taxpayer in platform.platform_entities():
        report = platform.platform_reconcile(taxpayer=taxpayer, date_from=date_from, date_to=date_to)
        out.append({"taxpayer": taxpayer.credit_code, "report": report.pk, "differences": report.difference_count,
                    "complete": report.complete})
    return out


def _register_schedule(sender, **kwargs) -> None:  # noqa: ANN001
    for name, entry in BEAT_SCHEDULE.items():
        sender.conf.beat_schedule.setdefault(name, entry)


celery_app.on_after_finalize.connect(_register_schedule, weak=False)
_register_schedule(celery_app)
