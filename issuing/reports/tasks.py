"""The Celery task of background exports, and the signed query it carries."""

from __future__ import annotations

import base64
import logging
import pickle

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core import signing

from invoicing.intake import jobs as intake_jobs
from issuing.reports.specs import get_spec
from issuing.reports.stream import write_file

logger = logging.getLogger(__name__)


QUERY_SALT = "issuing.export.query"


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
    user = get_user_model().objects.get(pk=user_id)
    spec = get_spec(spec_name)
    qs = spec.scoped(unsign_query(spec.model, query_token), user)
    job = intake_jobs.read(job_id) or {}
    if job.get("status") in (intake_jobs.SUCCEEDED, intake_jobs.FAILED):
        return {"rows": job.get("processed") or 0}  # delivered again after a worker died: done already
    intake_jobs.update(job_id, status=intake_jobs.RUNNING)
    try:
        # Written locally, then stored: the web process that hands it out may be on another host.
        output, rows = intake_jobs.write_file(
            job_id, f"export.{fmt}",
            lambda target: write_file(spec, qs, target, fmt, progress=intake_jobs.Progress(job_id)))
    except Exception as exc:
        logger.exception("export job %s failed", job_id)
        intake_jobs.update(job_id, status=intake_jobs.FAILED, message=f"导出出错：{type(exc).__name__}")
        raise
    intake_jobs.update(job_id, status=intake_jobs.SUCCEEDED, processed=rows, total=rows, output_file=output,
                message=f"已导出 {rows} 行")
    return {"rows": rows}
