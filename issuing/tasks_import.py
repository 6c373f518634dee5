"""Celery tasks for imports and exports: thin wrappers that report progress to a job file (issuing.importing.jobs)."""

from __future__ import annotations

import base64
import logging
import os
import pickle

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core import signing

from invoicing.models import Taxpayer
from issuing.importing import jobs

logger = logging.getLogger(__name__)
QUERY_SALT = "issuing.export.query"


@shared_task(name="issuing.import_billing_file")
def import_billing_file_task(job_id: str, path: str, taxpayer_id: int | None, user_id: int) -> dict:
    from issuing.importing.errors import write_error_workbook
    from issuing.importing.run import import_billing_file

    user = get_user_model().objects.get(pk=user_id)
    taxpayer = Taxpayer.objects.get(pk=taxpayer_id) if taxpayer_id else None
    job = jobs.read(job_id) or {}
    jobs.update(job_id, status=jobs.RUNNING)
    try:
        out = import_billing_file(path, user=user, taxpayer=taxpayer, filename=job.get("filename", ""),
                                  progress=jobs.Progress(job_id))
    except Exception:
        # The exception (type, text, traceback) is for the log; the user reads that nothing was written.
        logger.exception("import job %s failed", job_id)
        jobs.update(job_id, status=jobs.FAILED, message=_internal_error_message(job_id))
        raise
    finally:
        if os.path.exists(path):
            os.unlink(path)
    result = out.as_dict()
    if out.ok:
        jobs.update(job_id, status=jobs.SUCCEEDED, processed=out.rows, total=out.rows, result=result,
                    message=f"已导入 {out.documents} 张单据、{out.lines} 行明细")
    else:
        errors = jobs.file_path(job_id, "errors.xlsx")
        write_error_workbook(out.issues, errors, total=out.issue_count)
        jobs.update(job_id, status=jobs.FAILED, result=result, errors_file=errors.name,
                    issues=[i.as_dict() for i in out.issues[:500]],
                    message=f"发现 {out.issue_count} 个错误，未写入任何数据")
    return result


def _internal_error_message(job_id: str) -> str:
    from django.conf import settings
    from django.utils import translation
    from django.utils.translation import gettext

    from issuing.importing.rules import RULES

    with translation.override(settings.LANGUAGE_CODE):  # job messages are written in the default language
        return gettext("%(message)s（任务编号 %(job)s）") % {"message": gettext(RULES["file.internal"]), "job": job_id}


def sign_query(queryset) -> str:
    """A queryset's query, pickled and signed, so that a worker can rebuild exactly the filtered changelist."""
    raw = base64.b64encode(pickle.dumps(queryset.query)).decode("ascii")
    return signing.dumps(raw, salt=QUERY_SALT, compress=True)


def unsign_query(model, token: str):
    raw = signing.loads(token, salt=QUERY_SALT)
    qs = model._default_manager.all()
    qs.query = pickle.loads(base64.b64decode(raw))  # noqa: S301 - signed by us, see sign_query
    return qs


@shared_task(name="issuing.export")
def export_task(job_id: str, spec_name: str, query_token: str, fmt: str, user_id: int) -> dict:
    from issuing.exporting.specs import get_spec
    from issuing.exporting.stream import write_file

    user = get_user_model().objects.get(pk=user_id)
    spec = get_spec(spec_name)
    qs = spec.scoped(unsign_query(spec.model, query_token), user)
    target = jobs.file_path(job_id, f"export.{fmt}")
    jobs.update(job_id, status=jobs.RUNNING)
    try:
        rows = write_file(spec, qs, target, fmt, progress=jobs.Progress(job_id))
    except Exception as exc:
        logger.exception("export job %s failed", job_id)
        jobs.update(job_id, status=jobs.FAILED, message=f"导出出错：{type(exc).__name__}")
        raise
    jobs.update(job_id, status=jobs.SUCCEEDED, processed=rows, total=rows, output_file=target.name,
                message=f"已导出 {rows} 行")
    return {"rows": rows}


@shared_task(name="issuing.purge_job_files", ignore_result=True)
def purge_job_files_task() -> int:
    """Daily: import/export job files older than ``JOB_FILES_KEEP_DAYS``."""
    return jobs.purge()
