"""The hourly purge of the upload staging area: finished or failed batches' files go at once, a batch whose job is
not running goes once it is older than RECEIVING_STAGING_MAX_AGE_HOURS, a running job's files stay."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from invoicing.celery import app as celery_app
from receiving import collecting, services
from receiving.celery_schedule import BEAT_SCHEDULE
from receiving.models import Collection, CollectionStatus, Method
from receiving.tasks import purge_staging_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RECEIVING_STAGING_MAX_AGE_HOURS = 24


def batch(pujiang, fiona, status: str, *, age_hours: float = 0) -> Collection:
    collection = services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=fiona, queued=True)
    Collection.objects.filter(pk=collection.pk).update(
        status=status, created_at=timezone.now() - timedelta(hours=age_hours))
    return Collection.objects.get(pk=collection.pk)


class Staged:
    """A staging folder in the storage (the media folder in these tests), as ``upload_stage`` leaves it."""

    def __init__(self, name: str):
        self.name = name
        self.folder = f"{collecting.STAGING}/{name}"

    def exists(self) -> bool:
        return bool(default_storage.listdir(self.folder)[1]) if default_storage.exists(self.folder) else False


def staged(name: str, *, age_hours: float = 0) -> Staged:
    folder = Staged(name)
    names = [default_storage.save(f"{folder.folder}/0001-客户名称发票.pdf", ContentFile(b"%PDF-1.7\n" + b"x" * 100)),
             default_storage.save(f"{folder.folder}/{collecting.MANIFEST}", ContentFile(b"[]"))]
    if age_hours:
        then = (timezone.now() - timedelta(hours=age_hours)).timestamp()
        for stored in names:
            os.utime(default_storage.path(stored), (then, then))
    return folder


def test_the_purge_removes_what_no_job_will_read(pujiang, fiona, caplog):
    done = staged(str(batch(pujiang, fiona, CollectionStatus.DONE).pk))
    failed = staged(str(batch(pujiang, fiona, CollectionStatus.FAILED).pk))
    stale = batch(pujiang, fiona, CollectionStatus.QUEUED, age_hours=30)
    stale_queued = staged(str(stale.pk))
    fresh_queued = staged(str(batch(pujiang, fiona, CollectionStatus.QUEUED, age_hours=1).pk))
    running_old = staged(str(batch(pujiang, fiona, CollectionStatus.RUNNING, age_hours=30).pk))
    orphan_old = staged("999999", age_hours=30)
    orphan_new = staged("999998")
    half_written_old = staged(".new-abc", age_hours=30)
    half_written_new = staged(".new-def")

    with caplog.at_level(logging.INFO, logger="receiving.collecting"):
        result = collecting.staging_purge()

    gone = [done, failed, stale_queued, orphan_old, half_written_old]
    kept = [fresh_queued, running_old, orphan_new, half_written_new]
    assert [f.name for f in gone if f.exists()] == []
    assert [f.name for f in kept if not f.exists()] == []
    assert result.folders == 5 and result.bytes > 500
    assert sorted(result.collections) == sorted(int(f.name) for f in (done, failed, stale_queued))
    assert result.failed == [stale.pk]
    stale = Collection.objects.get(pk=stale.pk)
    assert stale.status == CollectionStatus.FAILED and "重新上传" in stale.message
    # The log names batches by id and counts bytes; never a file name.
    assert "removed 5 folder(s)" in caplog.text
    assert "客户名称" not in caplog.text and ".pdf" not in caplog.text


def test_the_age_is_a_setting(pujiang, fiona, settings):
    folder = staged(str(batch(pujiang, fiona, CollectionStatus.QUEUED, age_hours=3).pk))
    assert collecting.staging_purge().folders == 0
    settings.RECEIVING_STAGING_MAX_AGE_HOURS = 2
    assert collecting.staging_purge().folders == 1 and not folder.exists()


def test_the_purge_is_an_hourly_beat_task(pujiang, fiona):
    folder = staged(str(batch(pujiang, fiona, CollectionStatus.DONE).pk))
    assert purge_staging_task()["folders"] == 1 and not folder.exists()
    assert purge_staging_task()["folders"] == 0
    assert celery_app.conf.beat_schedule["receiving-purge-staging"] == BEAT_SCHEDULE["receiving-purge-staging"]
    assert BEAT_SCHEDULE["receiving-purge-staging"]["task"] == purge_staging_task.name


def test_nothing_to_purge_without_a_staging_area():
    assert not default_storage.exists(collecting.STAGING)
    assert collecting.staging_purge().folders == 0
