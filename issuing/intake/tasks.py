"""Celery tasks of the billing import and the purge of job files."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext

from invoicing.intake import jobs as intake_jobs
from invoicing.intake.error_workbook import write_error_workbook
from invoicing.intake.issues import RULES
from invoicing.models import Taxpayer
from issuing.intake.run import import_billing_file

logger = logging.getLogger(__name__)


@shared_task(name="issuing.import_billing_file")
def import_billing_file_task(job_id: str, path: str, taxpayer_id: int | None, user_id: int) -> dict:
    """Import the upload stored as ``path`` (a job file's name in the jobs storage, not a local path)."""
    user = get_user_model().objects.get(pk=user_id)
    taxpayer = Taxpayer.objects.get(pk=taxpayer_id) if taxpayer_id else None
    job = intake_jobs.read(job_id) or {}
    if job.get("status") in (intake_jobs.SUCCEEDED, intake_jobs.FAILED):
        # Delivered again (a worker died before acknowledging it): the job has its outcome, the upload is gone.
        return dict(job.get("result") or {})
    intake_jobs.update(job_id, status=intake_jobs.RUNNING)
    try:
        with intake_jobs.local_copy(path) as local:
            # The outcome is recorded in the import's own transaction: a worker killed after the rows committed
            # leaves a succeeded job, so the redelivered task does not import the file a second time.
            out = import_billing_file(local, user=user, taxpayer=taxpayer, filename=job.get("filename", ""),
                                      progress=intake_jobs.Progress(job_id),
                                      on_written=lambda report: intake_jobs.record_outcome_in_transaction(
                                          job_id, status=intake_jobs.SUCCEEDED, processed=report.rows,
                                          message=_imported_message(report.documents, report.lines)))
    except Exception:
        # The exception (type, text, traceback) is for the log; the user reads that nothing was written.
        logger.exception("import job %s failed", job_id)
        intake_jobs.update(job_id, status=intake_jobs.FAILED, message=_internal_error_message(job_id))
        raise
    finally:
        intake_jobs.delete_file(path)
        intake_jobs.update(job_id, source_file="")
    result = out.as_dict()
    if out.ok:
        intake_jobs.update(job_id, status=intake_jobs.SUCCEEDED, processed=out.rows, total=out.rows, result=result,
                    message=_imported_message(out.documents, out.lines))
    else:
        errors, _ = intake_jobs.write_file(
            job_id, "errors.xlsx", lambda target: write_error_workbook(out.issues, target, total=out.issue_count))
        intake_jobs.update(job_id, status=intake_jobs.FAILED, result=result, errors_file=errors,
                           rows_in_error=out.issue_count,
                    issues=[i.as_dict() for i in out.issues[:500]],
                    message=f"发现 {out.issue_count} 个错误，未写入任何数据")
    return result


def _imported_message(documents: int, lines: int) -> str:
    return f"已导入 {documents} 张单据、{lines} 行明细"


def _internal_error_message(job_id: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):  # job messages are written in the default language
        return gettext("%(message)s（任务编号 %(job)s）") % {"message": gettext(RULES["file.internal"]), "job": job_id}


@shared_task(name="issuing.purge_job_files", ignore_result=True)
def purge_job_files_task() -> int:
    """Daily: import/export job files older than ``JOB_FILES_KEEP_DAYS``."""
    return intake_jobs.purge()
