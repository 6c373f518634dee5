"""Import, collection and export jobs: a row of ``invoicing.models.Job`` per job, and the job's files in the ``jobs``
file storage.

The row holds the kind, the entity and the user who started it, the status, the progress counters, the rows in
error, a message, and the storage names of its upload, error workbook and result file; whatever else ``create`` and
``update`` are given (the import's result, its first issues, an export's format) goes to its ``details``. Functions
here read and return a job as a plain dict (``Job``), as callers used it when records were JSON files.

Files live under ``jobs/`` of the storage ``STORAGES["jobs"]`` (the media folder in development, the S3 bucket when
``FAPIAO_S3_BUCKET`` is set), never at a local path: the web process that takes an upload, the worker that reads it
and the web process that hands out the result may be on different hosts.

Every write goes through the database alias ``settings.JOBS_DATABASE`` (``jobs``: a second connection to the same
PostgreSQL database, in autocommit) in a short transaction of its own. The import writes all its rows in one
transaction on the default connection (all or nothing); a progress update written on that same connection would be
part of it, invisible to the web processes until the end and rolled back with it on failure. Committing progress
outside the import's atomic block is not possible without breaking that all-or-nothing rule, hence the second
connection. The job row never takes part in the import's transaction, so the two never wait on each other.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias, TypeVar

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext_noop

from invoicing.models import Job as JobRecord
from invoicing.notifications import job_notice_record
from invoicing.scoping import allowed_taxpayer_ids
from invoicing.stored_files import stored_file_response

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

QUEUED, RUNNING, SUCCEEDED, FAILED = (JobRecord.Status.QUEUED.value, JobRecord.Status.RUNNING.value,
                                      JobRecord.Status.SUCCEEDED.value, JobRecord.Status.FAILED.value)
# Marked for the catalogue; the job page and its status JSON translate them with gettext(label).
STATUS_LABELS = {QUEUED: gettext_noop("排队中"), RUNNING: gettext_noop("进行中"), SUCCEEDED: gettext_noop("已完成"),
                 FAILED: gettext_noop("失败")}
_JOB_ID = re.compile(r"[0-9a-f]{32}")
FOLDER = "jobs"

Job: TypeAlias = dict[str, Any]
"""A job as a dict: the row's fields (``user_id``, ``taxpayer_id``; times as POSIX timestamps) and its details."""
EXPORT = "export"
_FIELDS = frozenset({"kind", "status", "processed", "total", "rows_in_error", "message", "filename", "source_file",
                     "errors_file", "output_file", "taxpayer_id", "user_id"})
_TIMES = ("created_at", "updated_at", "finished_at")
T = TypeVar("T")


def job_storage() -> Storage:
    return storages["jobs"]


def _check_id(job_id: str) -> None:
    if not _JOB_ID.fullmatch(job_id or ""):
        raise ValueError(f"not a job id: {job_id!r}")


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


def jobs_database() -> str:
    """The alias job rows are written through (see the module's docstring)."""
    return str(getattr(settings, "JOBS_DATABASE", "default"))


def _as_dict(row: JobRecord) -> Job:
    data: Job = dict(row.details or {})
    data.update({"id": row.pk, **{name: getattr(row, name) for name in _FIELDS}})
    for name in _TIMES:
        value = getattr(row, name)
        data[name] = value.timestamp() if value else None
    return data


def _apply(row: JobRecord, changes: dict[str, Any]) -> None:
    details = dict(row.details or {})
    for key, value in changes.items():
        if key in _FIELDS:
            setattr(row, key, "" if value is None and key in ("message", "filename") else value)
        elif key not in ("id", *_TIMES):
            details[key] = value
    row.details = json.loads(json.dumps(details, ensure_ascii=False, default=str))  # JSON values only
    if row.status in (SUCCEEDED, FAILED) and row.finished_at is None:
        row.finished_at = timezone.now()


def create(kind: str, *, user_id: int | None, total: int = 0, job_id: str | None = None, **extra: Any) -> str:
    """Record a new job (queued unless ``status`` says otherwise) and return its id; ``job_id`` for a job whose
    files were stored before its record (see ``issuing.intake.resources``)."""
    if job_id is not None:
        _check_id(job_id)
    row = JobRecord(pk=job_id or uuid.uuid4().hex, kind=kind, user_id=user_id, total=total)
    _apply(row, extra)
    with transaction.atomic(using=jobs_database()):
        row.save(using=jobs_database(), force_insert=True)
    return str(row.pk)


def read(job_id: str) -> Job | None:
    _check_id(job_id)
    row = JobRecord.objects.using(jobs_database()).filter(pk=job_id).first()
    return _as_dict(row) if row else None


def update(job_id: str, **changes: Any) -> Job:
    """Change a job's fields and details in a short transaction of its own, committed on return. A job created
    with ``notify=True`` (one that runs in the background after its page was left) leaves its owner a notice when it
    reaches its outcome: shown once on their next admin page."""
    _check_id(job_id)
    db = jobs_database()
    with transaction.atomic(using=db):
        row = JobRecord.objects.using(db).select_for_update().filter(pk=job_id).first()
        if row is None:
            raise JobRecord.DoesNotExist(f"no job {job_id}")
        _apply(row, changes)
        row.save(using=db)
    data = _as_dict(row)
    status = data.get("status")
    # At most one notice per job (job_notice_record), also when the outcome was first written in the work's own
    # transaction (record_outcome_in_transaction) and this update only completes it.
    if status in (SUCCEEDED, FAILED) and data.get("notify") and data.get("user_id"):
        job_notice_record(user_id=data["user_id"], job_id=job_id, kind=str(data.get("kind", "")),
                          succeeded=status == SUCCEEDED, filename=str(data.get("filename") or ""))
    return data


def record_outcome_in_transaction(job_id: str, *, status: str, processed: int, message: str) -> None:
    """A job's outcome written on the default connection, inside the caller's transaction: it commits with the work
    it describes, or not at all. (Everything else about a job is written on the jobs connection, at once.)"""
    _check_id(job_id)
    now = timezone.now()
    JobRecord.objects.filter(pk=job_id).update(status=status, processed=processed, total=processed, message=message,
                                               finished_at=now, updated_at=now)


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
            # Only the counters, as one UPDATE committed at once on the jobs connection (visible to every host).
            JobRecord.objects.using(jobs_database()).filter(pk=self.job_id).update(
                status=RUNNING, processed=processed, total=total, updated_at=timezone.now())


def percent(job: Job) -> int:
    total = job.get("total") or 0
    if job.get("status") == SUCCEEDED:
        return 100
    return min(99, int(100 * (job.get("processed") or 0) / total)) if total else 0


def visible_to(job: Job | None, user: User | AnonymousUser) -> bool:
    """A job is its owner's (and a superuser's), and only while the owner may still see the job's entity."""
    if not job:
        return False
    if user.is_superuser:
        return True
    if job.get("user_id") != user.pk:
        return False
    allowed = allowed_taxpayer_ids(user)
    return allowed is None or job.get("taxpayer_id") is None or job["taxpayer_id"] in allowed


def scoped_jobs(user: User | AnonymousUser) -> QuerySet[JobRecord]:
    """The job rows ``user`` may see in lists and counts: a superuser's all; otherwise the jobs of the user's
    entities, and the user's own jobs without an entity (an import whose file names the entities row by row)."""
    qs = JobRecord.objects.all()
    if user.is_superuser:
        return qs
    allowed = allowed_taxpayer_ids(user)
    own = Q(user_id=user.pk, taxpayer__isnull=True)
    if allowed is None:
        return qs.filter(Q(taxpayer__isnull=False) | own)
    return qs.filter(Q(taxpayer_id__in=allowed) | own)


def problem_jobs() -> Q:
    """Import and collection jobs (not exports) that failed or found rows in error."""
    return (Q(status=FAILED) | Q(rows_in_error__gt=0)) & ~Q(kind=EXPORT)


def purge(*, keep_days: int | None = None, now: float | None = None) -> int:
    """Delete jobs last touched more than ``keep_days`` (``JOB_FILES_KEEP_DAYS``, 7) ago with all their files
    (uploads hold customers' billing data, exports hold invoices: they are not kept for ever), files whose job is
    gone, and temporary files left by a killed writer. Returns the number of job rows and files deleted."""
    keep = keep_days if keep_days is not None else int(getattr(settings, "JOB_FILES_KEEP_DAYS", 7))
    now = now if now is not None else time.time()
    cutoff = now - max(1, keep) * 86400
    rows = JobRecord.objects.using(jobs_database())
    expired_rows = rows.filter(updated_at__lt=datetime.fromtimestamp(cutoff, tz=UTC))
    expired = set(expired_rows.values_list("pk", flat=True))
    deleted = 0
    storage = job_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        names = []

    def modified(name: str) -> float:
        return storage.get_modified_time(f"{FOLDER}/{name}").timestamp()

    stems = {name.split("-", 1)[0] for name in names if _JOB_ID.fullmatch(name.split("-", 1)[0])}
    live = set(rows.filter(pk__in=stems).exclude(pk__in=expired).values_list("pk", flat=True))
    for name in names:
        job_id = name.split("-", 1)[0].split(".", 1)[0]
        if name.startswith(".job-"):
            stale = modified(name) < now - 86400  # a writer's temporary file: seconds old unless killed
        elif job_id in expired:
            stale = True
        else:
            stale = job_id not in live and modified(name) < cutoff  # a file whose job is gone (or a JSON record)
        if stale:
            storage.delete(f"{FOLDER}/{name}")
            deleted += 1
    if expired:
        deleted += rows.filter(pk__in=expired).delete()[0]
    return deleted
