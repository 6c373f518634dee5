"""Job files (uploads with customers' billing data, exports with invoices) are deleted after JOB_FILES_KEEP_DAYS."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from invoicing.celery import app as celery_app
from invoicing.intake import jobs as intake_jobs
from invoicing.models import Job
from tests.s3 import moto_s3, s3_storage  # noqa: F401


def _touched(job_id, when):
    Job.objects.filter(pk=job_id).update(updated_at=datetime.fromtimestamp(when, tz=UTC))


@pytest.mark.django_db
def test_old_jobs_go_with_their_files_and_recent_ones_stay(settings, tmp_path, fiona):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.JOB_FILES_KEEP_DAYS = 7
    old, recent = intake_jobs.create("import", user_id=fiona.pk), intake_jobs.create("export", user_id=fiona.pk)
    for job_id in (old, recent):
        intake_jobs.save_file(job_id, "upload.xlsx", b"PK")
        intake_jobs.save_file(job_id, "errors.xlsx", b"PK")
    folder = tmp_path / "jobs"  # the jobs storage in development: the media folder
    intake_jobs.update(old, status=intake_jobs.SUCCEEDED)
    eight_days_ago = time.time() - 8 * 86400
    _touched(old, eight_days_ago)
    orphan = folder / "0123456789abcdef0123456789abcdef-export.csv"  # its job file is gone
    orphan.write_text("a,b\n")
    os.utime(orphan, (eight_days_ago, eight_days_ago))
    leftover = folder / ".job-killed.tmp"
    leftover.write_text("{")
    os.utime(leftover, (time.time() - 2 * 86400,) * 2)

    old_record = folder / "fedcba9876543210fedcba9876543210.json"  # a job record from before jobs were rows
    old_record.write_text("{}")
    os.utime(old_record, (eight_days_ago, eight_days_ago))

    assert intake_jobs.purge() == 6  # the old job's row and two files, the orphan, the old record, the leftover

    remaining = sorted(p.name for p in folder.iterdir())
    assert remaining == sorted([f"{recent}-errors.xlsx", f"{recent}-upload.xlsx"])
    assert intake_jobs.read(old) is None and intake_jobs.read(recent)["kind"] == "export"


@pytest.mark.django_db
def test_in_the_bucket_old_jobs_go_with_their_files_too(s3_storage, settings, fiona):  # noqa: F811
    settings.JOB_FILES_KEEP_DAYS = 7
    old, recent = intake_jobs.create("import", user_id=fiona.pk), intake_jobs.create("export", user_id=fiona.pk)
    for job_id in (old, recent):
        intake_jobs.save_file(job_id, "upload.xlsx", b"PK")
    _touched(old, time.time() - 8 * 86400)

    assert intake_jobs.purge() == 2  # the old job's row and its upload
    assert intake_jobs.read(old) is None and intake_jobs.read(recent)["kind"] == "export"
    assert intake_jobs.file_exists(f"{recent}-upload.xlsx") and not intake_jobs.file_exists(f"{old}-upload.xlsx")


def test_the_purge_runs_daily():
    import issuing.tasks  # noqa: F401 - what the worker's and beat's autodiscovery import

    entry = celery_app.conf.beat_schedule["issuing-purge-job-files"]
    assert entry["task"] == "issuing.purge_job_files"
    assert "issuing.purge_job_files" in celery_app.tasks
