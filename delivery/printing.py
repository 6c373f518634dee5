"""Batch printing: small batches are rendered in the request; large ones become a ``PrintJob`` that a worker renders
in chunks, updating its progress, so a 500-invoice print never times out in the browser (product.md, item 7).
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Prefetch
from django.utils import timezone
from django.utils.translation import gettext
from pypdf import PdfReader, PdfWriter

from delivery.models import PrintJob, RenderStatus
from delivery.rendering import batch_print_pdf
from invoicing.models import Event
from issuing.platform.models import Invoice, InvoiceLine

logger = logging.getLogger(__name__)

CHUNK = 25  # invoices rendered per WeasyPrint call; progress moves after each chunk


def inline_max() -> int:
    return int(getattr(settings, "DELIVERY_BATCH_PRINT_INLINE_MAX", 20))


def job_max() -> int:
    return int(getattr(settings, "DELIVERY_BATCH_PRINT_MAX", 2000))


def invoices_for_print(queryset) -> list[Invoice]:
    """The invoices with everything the mapping needs, in two queries (invoices, lines), in print order."""
    return list(
        queryset.select_related("taxpayer", "blue_invoice")
        .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.select_related("tax_category")))
        .order_by("issue_date", "number")
    )


def record_printed(invoices: list[Invoice], user: Any, paper: str) -> None:
    """One "file.printed" event per invoice, written in one INSERT (a batch may hold hundreds)."""
    content_type = ContentType.objects.get_for_model(Invoice)
    Event.objects.bulk_create(
        Event(actor=user, taxpayer_id=inv.taxpayer_id, content_type=content_type, object_id=str(inv.pk),
              action="file.printed", data={"paper": paper, "batch": len(invoices)})
        for inv in invoices
    )


def print_job_create(*, user: Any, invoice_ids: list[int], paper: str) -> PrintJob:
    """Record a batch print (ids already scoped to ``user``) and queue its rendering after commit."""
    from delivery.tasks import print_job_render as print_job_render_task  # cycle: tasks import printing

    if paper not in ("A4", "A5"):
        raise ValidationError({"paper": gettext("纸张只能是 A4 或 A5")})
    if not invoice_ids:
        raise ValidationError(gettext("没有选择发票"))
    if len(invoice_ids) > job_max():
        raise ValidationError(gettext("一次最多打印 %(limit)s 张发票") % {"limit": job_max()})
    job = PrintJob.objects.create(created_by=user, paper=paper, invoice_ids=list(invoice_ids), total=len(invoice_ids))
    transaction.on_commit(lambda: print_job_render_task.delay(job.pk))
    return job


def print_job_render(job_id: int) -> PrintJob | None:
    """Render a print job in chunks (claimed pending → rendering, so a duplicate task does nothing)."""
    now = timezone.now()
    if not PrintJob.objects.filter(pk=job_id, status=RenderStatus.PENDING).update(
        status=RenderStatus.RENDERING, done_count=0, updated_at=now
    ):
        return None
    job = PrintJob.objects.select_related("created_by").get(pk=job_id)
    try:
        invoices = invoices_for_print(Invoice.objects.filter(pk__in=job.invoice_ids))
        writer = PdfWriter()
        for start in range(0, len(invoices), CHUNK):
            chunk = invoices[start:start + CHUNK]
            writer.append(PdfReader(io.BytesIO(batch_print_pdf(chunk, paper=job.paper))))
            PrintJob.objects.filter(pk=job_id).update(done_count=F("done_count") + len(chunk),
                                                      updated_at=timezone.now())
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
        name = default_storage.save(f"prints/{job.created_by_id}/{job.pk}-{job.paper}.pdf", ContentFile(data))
    except Exception as exc:  # noqa: BLE001 - recorded on the job, shown on its page
        logger.exception("print job %s failed", job_id)
        PrintJob.objects.filter(pk=job_id).update(status=RenderStatus.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000],
                                                  updated_at=timezone.now())
    else:
        PrintJob.objects.filter(pk=job_id).update(status=RenderStatus.DONE, file=name, size=len(data),
                                                  total=len(invoices), done_count=len(invoices),
                                                  updated_at=timezone.now())
        record_printed(invoices, job.created_by, job.paper)
    job.refresh_from_db()
    return job


def print_jobs_requeue_stale(*, older_than_minutes: int = 5) -> int:
    """Queue again print jobs left pending (a lost message) or rendering far too long (a killed worker)."""
    from delivery.tasks import print_job_render as print_job_render_task  # cycle: tasks import printing

    now = timezone.now()
    PrintJob.objects.filter(status=RenderStatus.RENDERING, updated_at__lt=now - timedelta(minutes=30)).update(
        status=RenderStatus.PENDING, updated_at=now - timedelta(minutes=older_than_minutes + 1)
    )
    ids = list(PrintJob.objects.filter(status=RenderStatus.PENDING,
                                       updated_at__lt=now - timedelta(minutes=older_than_minutes))
               .values_list("pk", flat=True)[:100])
    for job_id in ids:
        transaction.on_commit(lambda job_id=job_id: print_job_render_task.delay(job_id))
    return len(ids)
