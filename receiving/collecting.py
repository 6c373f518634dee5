"""Running a batch over many files: the upload job's staging area and the loop shared by the job and the command
line. Each file is one ``collection_add_file`` call (its own short transaction); a refused entry is one rejected
item; the batch's counts are its progress."""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, SystemActor, actor_user
from invoicing.models import Taxpayer
from receiving import bundles, services
from receiving.models import Collection, CollectionItem, CollectionStatus, Method

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PURGE_ACTOR = SystemActor("receiving:purge")


def collect_entries(*, collection: Collection, entries: Iterable[bundles.Entry], actor: Actor,
                    skip: int = 0) -> Iterator[CollectionItem]:
    """Collect each entry into the batch, yielding its item. ``skip``: entries already done (a resumed job)."""
    for index, entry in enumerate(entries):
        if index < skip:
            continue
        if entry.refused:
            yield services.collection_item_reject(collection=collection, name=entry.name, rule=entry.rule,
                                                  reason=entry.reason, actor=actor)
        else:
            assert entry.data is not None
            yield services.collection_add_file(collection=collection, name=entry.name, data=entry.data, actor=actor)


# --- the upload job's staging area ----------------------------------------------------------------------------------
# Staged files are kept through the storage API (the S3 bucket in production), under STAGING/<batch id>/: the web
# process that takes the upload and the worker that reads it may be on different hosts. The manifest is written
# last: a folder without one is half written.


STAGING = "receiving/incoming"


def staging_dir(collection_id: int) -> str:
    """The storage folder of a batch's staged files."""
    return f"{STAGING}/{int(collection_id)}"


_UNSAFE = re.compile(r"[^\w.\-]+")


def _staged_names(folder: str) -> list[str]:
    try:
        _folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f"{folder}/{name}" for name in files]


def _delete_folder(folder: str) -> int:
    """Delete a staging folder's files; return their bytes."""
    size = 0
    for name in _staged_names(folder):
        try:
            size += default_storage.size(name)
        except FileNotFoundError:
            continue
        default_storage.delete(name)
    return size


def upload_stage(*, taxpayer: Taxpayer, files: Sequence[UploadedFile[bytes]], actor: Actor,
                 limits: bundles.Limits | None = None) -> Collection:
    """Keep an upload's files until the job reads them, and queue the job. Over the limits (files, or bytes once
    ZIPs are expanded), nothing is queued and a ValidationError says why."""
    services.authorize(actor, taxpayer.pk, services.P_COLLECT)
    limits = limits or bundles.Limits.from_settings()
    if not files:
        raise ValidationError(gettext("请选择要上传的文件"))
    sent = sum(f.size or 0 for f in files)
    if sent > limits.max_bytes:
        raise ValidationError(bundles.Measure(len(files), sent).problem(limits))
    saved: list[str] = []
    # Measured (ZIPs expanded) in a temporary local folder, removed at the end; kept in the storage.
    with tempfile.TemporaryDirectory(prefix="fapiao-upload-") as tmp_name:
        tmp = Path(tmp_name)
        manifest = []
        for i, upload in enumerate(files, start=1):
            name = Path(upload.name or f"file-{i}").name
            target = tmp / f"{i:04d}-{_UNSAFE.sub('_', name)[-100:]}"
            with target.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            manifest.append({"name": name, "path": target.name})
        measured = bundles.measure([tmp / m["path"] for m in manifest])
        problem = measured.problem(limits)
        if problem:
            raise ValidationError(problem)
        try:
            with transaction.atomic():
                note = "、".join(m["name"] for m in manifest)
                collection = services.collection_start(taxpayer=taxpayer, method=Method.UPLOAD, actor=actor,
                                                       note=note if len(note) <= 300 else note[:297] + "…",
                                                       total=measured.files, queued=True)
                folder = staging_dir(collection.pk)
                _delete_folder(folder)  # a leftover of a batch id used before (SQLite reuses a rolled-back id)
                for m in manifest:
                    with (tmp / m["path"]).open("rb") as fh:
                        stored = default_storage.save(f"{folder}/{m['path']}", File(fh))
                    saved.append(stored)
                    m["path"] = stored.rsplit("/", 1)[-1]
                manifest_data = json.dumps(manifest, ensure_ascii=False).encode("utf-8")
                saved.append(default_storage.save(f"{folder}/{MANIFEST}", ContentFile(manifest_data)))
                user = actor_user(actor)
                from receiving.tasks import collect_upload_task  # cycle: tasks import this module

                transaction.on_commit(lambda: collect_upload_task.delay(collection.pk, user.pk if user else None))
        except BaseException:
            for name in saved:
                default_storage.delete(name)
            raise
    return collection


def staged_entries(collection: Collection, limits: bundles.Limits) -> Iterator[bundles.Entry]:
    """The staged files of a batch, copied into a temporary local folder while they are read."""
    folder = staging_dir(collection.pk)
    with default_storage.open(f"{folder}/{MANIFEST}", "rb") as fh:
        manifest = json.loads(fh.read())
    return _local_entries(folder, manifest, limits)


def _local_entries(folder: str, manifest: list[dict[str, str]], limits: bundles.Limits) -> Iterator[bundles.Entry]:
    with tempfile.TemporaryDirectory(prefix="fapiao-staged-") as tmp:
        paths = []
        for m in manifest:
            local = Path(tmp) / Path(m["path"]).name
            with default_storage.open(f"{folder}/{Path(m['path']).name}", "rb") as src, local.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            paths.append(local)
        yield from bundles.entries(paths, limits=limits, names=[m["name"] for m in manifest])


def upload_discard(collection_id: int) -> None:
    _delete_folder(staging_dir(collection_id))


# --- collecting at once (the API): a small request, read while the caller waits --------------------------------------


class OverLimits(Exception):  # noqa: N818 - a refusal the caller turns into its own answer
    """A request over the limits, refused before anything was written. ``what``: "files" or "bytes"."""

    def __init__(self, what: str, message: str):
        self.what, self.message = what, message
        super().__init__(message)


def _measure_problem(measured: bundles.Measure, limits: bundles.Limits) -> None:
    if measured.files > limits.max_files:
        raise OverLimits("files", measured.problem(limits))
    if measured.bytes > limits.max_bytes:
        raise OverLimits("bytes", measured.problem(limits))


def collection_collect_files(*, taxpayer: Taxpayer, files: Sequence[UploadedFile[bytes]], actor: Actor,
                             limits: bundles.Limits, method: str = Method.API) -> Collection:
    """Collect uploaded files into a new batch now, one item per file (ZIPs expanded with ``bundles``), and finish
    the batch. Over ``limits`` (as sent, or once ZIPs are expanded) ``OverLimits`` is raised before the batch
    exists. The files are kept in a temporary folder only while they are read."""
    services.authorize(actor, taxpayer.pk, services.P_COLLECT)
    if not files:
        raise ValidationError({"files": [gettext("请选择要上传的文件")]})
    _measure_problem(bundles.Measure(len(files), sum(f.size or 0 for f in files)), limits)
    with tempfile.TemporaryDirectory(prefix="collect-") as tmp:
        paths: list[Path] = []
        names: list[str] = []
        for i, upload in enumerate(files, start=1):
            name = Path(upload.name or f"file-{i}").name or f"file-{i}"
            target = Path(tmp) / f"{i:04d}-{_UNSAFE.sub('_', name)[-100:]}"
            with target.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            paths.append(target)
            names.append(name)
        measured = bundles.measure(paths)
        _measure_problem(measured, limits)
        note = "、".join(names)
        collection = services.collection_start(taxpayer=taxpayer, method=method, actor=actor,
                                               note=note if len(note) <= 300 else note[:297] + "…",
                                               total=measured.files)
        for _item in collect_entries(collection=collection, entries=bundles.entries(paths, limits=limits, names=names),
                                     actor=actor):
            pass
    return services.collection_finish(collection=collection, actor=actor)


# --- purging the staging area -----------------------------------------------------------------------------------------


def staging_max_age() -> timedelta:
    return timedelta(hours=max(1, int(getattr(settings, "RECEIVING_STAGING_MAX_AGE_HOURS", 24))))


@dataclass
class StagingPurge:
    """What one purge removed: the batches' ids (no file names: they may name customers), folders and bytes."""

    collections: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    folders: int = 0
    bytes: int = 0


def staging_purge(*, now: datetime | None = None) -> StagingPurge:
    """Remove staged uploads nobody will read: the folders of finished or failed batches, and of any batch older than
    ``RECEIVING_STAGING_MAX_AGE_HOURS`` (24) whose job is not running (a queued batch whose job never ran is failed,
    saying so); half-written folders (``.new-…``) and folders of no batch, once that old. Logs what it removed by
    batch id and size only."""
    result = StagingPurge()
    try:
        names, _files = default_storage.listdir(STAGING)
    except FileNotFoundError:
        return result
    now = now or timezone.now()
    cutoff = now - staging_max_age()
    ids = [int(name) for name in names if name.isdigit()]
    batches = {c.pk: c for c in Collection.objects.filter(pk__in=ids).only("id", "status", "created_at", "taxpayer")}
    for name in names:
        folder = f"{STAGING}/{name}"
        batch = batches.get(int(name)) if name.isdigit() else None
        files = _staged_names(folder)
        if not files:
            continue  # nothing left in it (a file system keeps the empty folder; object storage has none)
        # A folder's age is its newest file's (object storage has no folders of its own).
        old = all(default_storage.get_modified_time(f) < cutoff for f in files)
        if batch is None:
            remove = old  # a folder being staged right now has no committed batch yet: only old ones go
        elif batch.status in (CollectionStatus.DONE, CollectionStatus.FAILED):
            remove = True
        else:
            remove = batch.created_at < cutoff and batch.status != CollectionStatus.RUNNING
        if not remove:
            continue
        size = _delete_folder(folder)
        if _staged_names(folder):
            continue
        result.folders += 1
        result.bytes += size
        if batch is not None:
            result.collections.append(batch.pk)
            if batch.status in (CollectionStatus.OPEN, CollectionStatus.QUEUED):
                services.collection_fail(collection=batch, actor=PURGE_ACTOR, message=gettext(
                    "上传的文件超过保留时间仍未处理，已清除，请重新上传"))
                result.failed.append(batch.pk)
    if result.folders:
        logger.info("receiving staging purge: removed %d folder(s), %d bytes; batches %s; failed as expired %s",
                    result.folders, result.bytes, result.collections, result.failed)
    return result
