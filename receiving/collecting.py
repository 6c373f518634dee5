"""Running a batch over many files: the upload job's staging area and the loop shared by the job and the command
line. Each file is one ``collection_add_file`` call (its own short transaction); a refused entry is one rejected
item; the batch's counts are its progress."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_user
from invoicing.models import Taxpayer
from receiving import bundles, services
from receiving.models import Collection, CollectionItem, Method

MANIFEST = "manifest.json"


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


def staging_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "receiving" / "incoming"


def staging_dir(collection_id: int) -> Path:
    return staging_root() / str(int(collection_id))


_UNSAFE = re.compile(r"[^\w.\-]+")


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
    staging_root().mkdir(parents=True, exist_ok=True)
    tmp = staging_root() / f".new-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    target_dir: Path | None = None
    try:
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
        with transaction.atomic():
            note = "、".join(m["name"] for m in manifest)
            collection = services.collection_start(taxpayer=taxpayer, method=Method.UPLOAD, actor=actor,
                                                   note=note if len(note) <= 300 else note[:297] + "…",
                                                   total=measured.files, queued=True)
            (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
            target_dir = staging_dir(collection.pk)
            shutil.rmtree(target_dir, ignore_errors=True)
            tmp.rename(target_dir)
            user = actor_user(actor)
            from receiving.tasks import collect_upload_task  # cycle: tasks import this module

            transaction.on_commit(lambda: collect_upload_task.delay(collection.pk, user.pk if user else None))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if target_dir is not None:
            shutil.rmtree(target_dir, ignore_errors=True)
        raise
    return collection


def staged_entries(collection: Collection, limits: bundles.Limits) -> Iterator[bundles.Entry]:
    folder = staging_dir(collection.pk)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return bundles.entries([folder / m["path"] for m in manifest], limits=limits, names=[m["name"] for m in manifest])


def upload_discard(collection_id: int) -> None:
    shutil.rmtree(staging_dir(collection_id), ignore_errors=True)
