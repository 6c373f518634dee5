"""Progress of import and export jobs, kept as small JSON files under MEDIA_ROOT/jobs/ (no model, no migration).

A job file holds: id, kind, status, processed, total, message, the owner's user id, and the paths (relative to
MEDIA_ROOT/jobs/) of its error workbook or output file. Every write goes to a temporary file first and is then moved
into place with ``os.replace``, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from django.conf import settings
from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
# Marked for the catalogue; the job page and its status JSON translate them with gettext(label).
STATUS_LABELS = {QUEUED: gettext_noop("排队中"), RUNNING: gettext_noop("进行中"), SUCCEEDED: gettext_noop("已完成"),
                 FAILED: gettext_noop("失败")}
_JOB_ID = re.compile(r"[0-9a-f]{32}")

Job: TypeAlias = dict[str, Any]
"""A job file's JSON object: the keys above, and whatever else ``create`` and ``update`` were given (JSON values)."""


def jobs_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_path(job_id: str) -> Path:
    if not _JOB_ID.fullmatch(job_id or ""):
        raise ValueError(f"not a job id: {job_id!r}")
    return jobs_dir() / f"{job_id}.json"


def file_path(job_id: str, suffix: str) -> Path:
    """A file that belongs to a job, e.g. ``<id>-errors.xlsx``, ``<id>-upload.xlsx``, ``<id>-export.csv``."""
    job_path(job_id)
    if not re.fullmatch(r"[a-z]+\.[a-z]+", suffix):
        raise ValueError(f"bad suffix {suffix!r}")
    return jobs_dir() / f"{job_id}-{suffix}"


def _write(job_id: str, data: Job) -> None:
    target = job_path(job_id)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".job-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, default=str)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def create(kind: str, *, user_id: int | None, total: int = 0, **extra: Any) -> str:
    job_id = uuid.uuid4().hex
    now = time.time()
    _write(job_id, {"id": job_id, "kind": kind, "status": QUEUED, "processed": 0, "total": total, "message": "",
                    "user_id": user_id, "created_at": now, "updated_at": now, **extra})
    return job_id


def read(job_id: str) -> Job | None:
    try:
        with open(job_path(job_id), encoding="utf-8") as fh:
            data: Job = json.load(fh)  # only _write writes job files: always an object
            return data
    except (FileNotFoundError, ValueError):
        return None


def update(job_id: str, **changes: Any) -> Job:
    data = read(job_id) or {"id": job_id}
    data.update(changes)
    data["updated_at"] = time.time()
    _write(job_id, data)
    return data


class Progress:
    """A progress callback that writes at most every ``interval`` seconds (and always at the end)."""

    def __init__(self, job_id: str, interval: float = 0.5):
        self.job_id = job_id
        self.interval = interval
        self._last = 0.0

    def __call__(self, processed: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval or (total and processed >= total):
            self._last = now
            update(self.job_id, status=RUNNING, processed=processed, total=total)


def percent(job: Job) -> int:
    total = job.get("total") or 0
    if job.get("status") == SUCCEEDED:
        return 100
    return min(99, int(100 * (job.get("processed") or 0) / total)) if total else 0


def visible_to(job: Job | None, user: User | AnonymousUser) -> bool:
    if not job:
        return False
    return user.is_superuser or job.get("user_id") == user.pk


def purge(*, keep_days: int | None = None, now: float | None = None) -> int:
    """Delete jobs last touched more than ``keep_days`` (``JOB_FILES_KEEP_DAYS``, 7) ago with all their files
    (uploads hold customers' billing data, exports hold invoices: they are not kept for ever), files whose job is
    gone, and temporary files left by a killed writer. Returns the number of files deleted."""
    keep = keep_days if keep_days is not None else int(getattr(settings, "JOB_FILES_KEEP_DAYS", 7))
    now = now if now is not None else time.time()
    cutoff = now - max(1, keep) * 86400
    folder = jobs_dir()
    expired: set[str] = set()
    live: set[str] = set()
    for path in folder.glob("*.json"):
        job = read(path.stem) if _JOB_ID.fullmatch(path.stem) else None
        touched = (job or {}).get("updated_at") or path.stat().st_mtime
        (expired if touched < cutoff else live).add(path.stem)
    deleted = 0
    for path in folder.iterdir():
        if not path.is_file():
            continue
        job_id = path.name.split("-", 1)[0].split(".", 1)[0]
        if path.name.startswith(".job-"):
            stale = path.stat().st_mtime < now - 86400  # a writer's temporary file: seconds old unless killed
        elif job_id in expired:
            stale = True
        else:
            stale = job_id not in live and path.stat().st_mtime < cutoff  # a file whose job file is gone
        if stale:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
