"""Celery tasks of receiving: the upload job."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from receiving import bundles, collecting, services
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


# verification's tasks live in their own module; imported so that Celery's autodiscovery registers them
from receiving.tasks_verification import verification_job_task, verification_retry_due_task  # noqa: E402,F401
