"""Import and export jobs: a small JSON record per job and the job's files, all in the ``jobs`` file storage.

The record holds: id, kind, status, processed, total, message, the owner's user id, and the names of its error
workbook or output file. Records and files live under ``jobs/`` of the storage ``STORAGES["jobs"]`` (the media
folder in development, the S3 bucket when ``FAPIAO_S3_BUCKET`` is set), never at a local path: the web process that
takes an upload, the worker that reads it and the web process that hands out the result may be on different hosts.
Saving a record replaces it whole (a rename on a file system, one PUT on S3), so a reader never sees half of one.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias, TypeVar

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_noop

from invoicing.notifications import job_notice_record
from invoicing.stored_files import stored_file_response

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
# Marked for the catalogue; the job page and its status JSON translate them with gettext(label).
STATUS_LABELS = {QUEUED: gettext_noop("排队中"), RUNNING: gettext_noop("进行中"), SUCCEEDED: gettext_noop("已完成"),
                 FAILED: gettext_noop("失败")}
_JOB_ID = re.compile(r"[0-9a-f]{32}")
FOLDER = "jobs"

Job: TypeAlias = dict[str, Any]
"""A job record's JSON object: the keys above, and whatever else ``create`` and ``update`` were given (JSON values)."""
T = TypeVar("T")


def job_storage() -> Storage:
    return storages["jobs"]


def _check_id(job_id: str) -> None:
    if not _JOB_ID.fullmatch(job_id or ""):
        raise ValueError(f"not a job id: {job_id!r}")


def record_name(job_id: str) -> str:
    _check_id(job_id)
    return f"{FOLDER}/{job_id}.json"


def file_name(job_id: str, suffix: str) -> str:
    """The name (within the job folder) of a file that belongs to a job: ``<id>-errors.xlsx``, ``<id>-upload.xlsx``,
    ``<id>-export.csv``. Records keep this name; the storage keeps the file under ``jobs/``."""
    _check_id(job_id)
    if not re.fullmatch(r"[a-z]+\.[a-z]+", suffix):
        raise ValueError(f"bad suffix {suffix!r}")
    return f"{job_id}-{suffix}"


def _stored(name: str) -> str:
    base = Path(name).name  # a record's file name, never a path
    if not re.fullmatch(r"[0-9a-f]{32}-[a-z]+\.[a-z]+", base):
        raise ValueError(f"not a job file: {name!r}")
    return f"{FOLDER}/{base}"


def save_file(job_id: str, suffix: str, content: File[Any] | bytes) -> str:
    """Store a job's file (an upload, bytes) and return its name for the record."""
    name = file_name(job_id, suffix)
    job_storage().save(_stored(name), ContentFile(content) if isinstance(content, bytes) else content)
    return name


def write_file(job_id: str, suffix: str, writer: Callable[[Path], T]) -> tuple[str, T]:
    """Let ``writer`` write a job's file at a temporary local path, then store it; return its name and what
    ``writer`` returned. The temporary file is removed either way."""
    with tempfile.TemporaryDirectory(prefix="fapiao-job-") as folder:
        path = Path(folder) / file_name(job_id, suffix)
        result = writer(path)
        with path.open("rb") as fh:
            job_storage().save(_stored(path.name), File(fh))
    return path.name, result


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A job's stored file as a temporary local file, for readers that need a path; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="fapiao-job-") as folder:
        path = Path(folder) / Path(name).name
        with job_storage().open(_stored(name), "rb") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        yield path


def open_file(name: str) -> IO[bytes]:
    opened: IO[bytes] = job_storage().open(_stored(name), "rb")
    return opened


def delete_file(name: str) -> None:
    job_storage().delete(_stored(name))


def file_exists(name: str | None) -> bool:
    try:
        return bool(name) and job_storage().exists(_stored(str(name)))
    except ValueError:
        return False


def file_response(name: str, *, filename: str, content_type: str = "application/octet-stream") -> HttpResponseBase:
    """A job's file as a download (a signed URL on S3); the caller has checked that the job is the user's."""
    return stored_file_response(_stored(name), filename=filename, content_type=content_type, storage=job_storage())


def _write(job_id: str, data: Job) -> None:
    payload = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    job_storage().save(record_name(job_id), ContentFile(payload))


def create(kind: str, *, user_id: int | None, total: int = 0, **extra: Any) -> str:
    job_id = uuid.uuid4().hex
    now = time.time()
    _write(job_id, {"id": job_id, "kind": kind, "status": QUEUED, "processed": 0, "total": total, "message": "",
                    "user_id": user_id, "created_at": now, "updated_at": now, **extra})
    return job_id


def read(job_id: str) -> Job | None:
    name = record_name(job_id)
    storage = job_storage()
    try:
        if not storage.exists(name):
            return None
        with storage.open(name, "rb") as fh:
            data: Job = json.loads(fh.read())  # only _write writes job records: always an object
            return data
    except (FileNotFoundError, ValueError):
        return None


def update(job_id: str, **changes: Any) -> Job:
    """Change a job's record. A job created with ``notify=True`` (one that runs in the background after its page
    was left) leaves its owner a notice when it reaches its outcome: shown once on their next admin page."""
    data = read(job_id) or {"id": job_id}
    before = data.get("status")
    data.update(changes)
    data["updated_at"] = time.time()
    _write(job_id, data)
    status = data.get("status")
    if status in (SUCCEEDED, FAILED) and before != status and data.get("notify") and data.get("user_id"):
        job_notice_record(user_id=data["user_id"], job_id=job_id, kind=str(data.get("kind", "")),
                          succeeded=status == SUCCEEDED, filename=str(data.get("filename") or ""))
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
    storage = job_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        return 0

    def modified(name: str) -> float:
        return storage.get_modified_time(f"{FOLDER}/{name}").timestamp()

    expired: set[str] = set()
    live: set[str] = set()
    for name in names:
        stem, _, ext = name.partition(".")
        if ext != "json" or not _JOB_ID.fullmatch(stem):
            continue
        job = read(stem)
        touched = (job or {}).get("updated_at") or modified(name)
        (expired if touched < cutoff else live).add(stem)
    deleted = 0
    for name in names:
        job_id = name.split("-", 1)[0].split(".", 1)[0]
        if name.startswith(".job-"):
            stale = modified(name) < now - 86400  # a writer's temporary file: seconds old unless killed
        elif job_id in expired:
            stale = True
        else:
            stale = job_id not in live and modified(name) < cutoff  # a file whose job record is gone
        if stale:
            storage.delete(f"{FOLDER}/{name}")
            deleted += 1
    return deleted
