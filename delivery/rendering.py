"""Invoice files (PDF, OFD, XML and the A4/A5 print PDFs) rendered from the issued data, as jobs with a status.

We render our own files from the ``Invoice`` row through ``invoicing.documents`` (``write_xml``, ``write_ofd``,
``render_pdf``). In production the tax platform's files are authoritative: its XML and OFD carry the bureau's
signature, which ours do not. When the channel returns the platform's files, store those bytes here instead of the
rendered ones (``invoice_file_store``); the rest of the flow (downloads, e-mail, links) does not change.

Flow: ``invoice_files_queue(invoice)`` (called by issuing after the invoice commits) creates one pending
``InvoiceFile`` per format and queues ``invoice_file_render`` after commit. The task claims its row with a
conditional UPDATE (pending → rendering), so a duplicated or redelivered task does nothing; it renders outside any
transaction, stores the bytes through Django's storage API and marks the row done, or failed with the reason.
A failed render never blocks issuing. A message that was never sent (the process died between its commit and the
send) or never finished is sent again by beat's sweep (``invoice_files_requeue_stale``).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from delivery.models import DELIVERED_FORMATS, FILE_EXTENSIONS, FileFormat, InvoiceFile, RenderStatus
from invoicing.actors import Actor
from invoicing.documents.model import InvoiceDocument, InvoiceParty
from invoicing.documents.model import InvoiceLine as DocumentLine
from invoicing.documents.ofd import write_ofd
from invoicing.documents.pdf import render_batch_pdf, render_pdf
from invoicing.documents.xml import write_xml
from invoicing.events import event_record
from invoicing.scoping import user_may_act_on
from invoicing.words import amount_in_words
from issuing.platform.models import Invoice

logger = logging.getLogger(__name__)

# A row left in "rendering" this long (a worker killed mid-render) may be claimed again.
RENDER_STALE_AFTER = timedelta(minutes=10)
# The sweep queues at most this many files at a time (oldest first); the next sweep takes the rest.
REQUEUE_LIMIT = 1000
MAX_MESSAGE = 2000


class InvoiceFileUnavailable(Exception):  # noqa: N818 - reads as a state, like Django's Http404
    """The file could not be rendered; ``str(exc)`` says why."""


# --- mapping -----------------------------------------------------------------------------------------------------


def _lines(invoice: Invoice) -> list:
    """The invoice's lines in order, from a ``prefetch_related("lines")`` cache when the caller made one."""
    if "lines" in getattr(invoice, "_prefetched_objects_cache", {}):
        return sorted(invoice.lines.all(), key=lambda ln: ln.line_no)
    return list(invoice.lines.select_related("tax_category").order_by("line_no"))


def invoice_to_document(invoice: Invoice) -> InvoiceDocument:
    """The issued invoice as the documents package's normalized structure (seller and buyer are the row's snapshots)."""
    lines = tuple(
        DocumentLine(
            line_no=ln.line_no,
            item_name=ln.face_name,
            short_name=ln.short_name,
            spec=ln.spec,
            unit=ln.unit,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            amount=ln.amount,
            tax_rate=ln.tax_rate,
            tax=ln.tax,
            tax_code=ln.tax_category.code if ln.tax_category_id else "",
            line_property=int(ln.line_property),
        )
        for ln in _lines(invoice)
    )
    issued_at = timezone.localtime(invoice.issued_at) if invoice.issued_at else None
    blue = invoice.blue_invoice if invoice.is_red and invoice.blue_invoice_id else None
    return InvoiceDocument(
        number=invoice.number,
        kind=invoice.kind,
        issue_date=invoice.issue_date,
        issue_time=issued_at.time().replace(microsecond=0) if issued_at else None,
        seller=InvoiceParty(
            name=invoice.seller_name,
            tax_id=invoice.seller_tax_id,
            address=invoice.seller_address,
            phone=invoice.seller_phone,
            bank_name=invoice.seller_bank_name,
            bank_account=invoice.seller_bank_account,
        ),
        buyer=InvoiceParty(
            name=invoice.buyer_name,
            tax_id=invoice.buyer_tax_id,
            address=invoice.buyer_address,
            phone=invoice.buyer_phone,
            bank_name=invoice.buyer_bank_name,
            bank_account=invoice.buyer_bank_account,
        ),
        lines=lines,
        total_amount=invoice.amount,
        total_tax=invoice.tax,
        total_with_tax=invoice.total,
        total_in_words=amount_in_words(invoice.total),
        legacy_code=invoice.paper_code,
        legacy_number=invoice.paper_number,
        remark=invoice.remark,
        drawer=invoice.drawer,
        is_red=invoice.is_red,
        blue_number=blue.number if blue is not None else "",
        specific_business_code=invoice.specific_business or "",
        specific_business={str(k): str(v) for k, v in (invoice.specific_business_data or {}).items()},
        taxpayer_type="2" if invoice.taxpayer.is_small_scale else "1",
    )


def render_invoice_bytes(invoice: Invoice, fmt: str) -> bytes:
    """Render one format. Pure: no database writes."""
    doc = invoice_to_document(invoice)
    if fmt == FileFormat.XML:
        return write_xml(doc)
    if fmt == FileFormat.OFD:
        return write_ofd(doc, created=invoice.issue_date)
    if fmt in (FileFormat.PDF, FileFormat.PDF_A4, FileFormat.PDF_A5):
        return render_pdf(doc, paper="A5" if fmt == FileFormat.PDF_A5 else "A4")
    raise ValueError(f"unknown file format {fmt!r}")


def storage_name(invoice: Invoice, fmt: str) -> str:
    """invoices/<seller's taxpayer id (纳税人识别号)>/<yyyy>/<mm>/<number>.<ext>: stable and readable in the bucket."""
    d = invoice.issue_date
    return f"invoices/{invoice.seller_tax_id}/{d:%Y}/{d:%m}/{invoice.number}.{FILE_EXTENSIONS[fmt]}"


# --- jobs --------------------------------------------------------------------------------------------------------


def _queue_render(file_id: int) -> None:
    from delivery.tasks import invoice_file_render as invoice_file_render_task  # cycle: tasks import rendering

    transaction.on_commit(lambda: invoice_file_render_task.delay(file_id))


def invoice_files_queue(invoice: Invoice, formats: tuple[str, ...] = DELIVERED_FORMATS) -> list[InvoiceFile]:
    """Create the pending file jobs of a newly issued invoice and queue their rendering after commit. Idempotent."""
    files = []
    for fmt in formats:
        file, _created = InvoiceFile.objects.get_or_create(invoice=invoice, format=fmt)
        if file.status == RenderStatus.PENDING:
            _queue_render(file.pk)
        files.append(file)
    return files


def invoice_file_claim(file_id: int, *, take_over: bool = False) -> bool:
    """pending → rendering, or take over a row stuck in rendering (``RENDER_STALE_AFTER``, or at once with
    ``take_over``: the render task's message came back from a worker that died). True only for the one caller that
    moved it."""
    now = timezone.now()
    stuck = now if take_over else now - RENDER_STALE_AFTER
    claimable = Q(status=RenderStatus.PENDING) | Q(status=RenderStatus.RENDERING, updated_at__lt=stuck)
    updated = (
        InvoiceFile.objects.filter(pk=file_id)
        .filter(claimable)
        .update(status=RenderStatus.RENDERING, attempts=F("attempts") + 1, message="", updated_at=now)
    )
    return updated == 1


def invoice_file_store(file: InvoiceFile, data: bytes) -> None:
    """Write ``data`` under the file's storage name (replacing an older version) and record its hash and size."""
    name = storage_name(file.invoice, file.format)
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    file.file.name = saved
    file.sha256 = hashlib.sha256(data).hexdigest()
    file.size = len(data)


def invoice_file_render(file_id: int, *, take_over: bool = False) -> InvoiceFile | None:
    """Render and store one file job. Returns None when another worker has it (or it is already done); with
    ``take_over`` a row left rendering by a dead worker is rendered again at once (see ``invoice_file_claim``)."""
    if not invoice_file_claim(file_id, take_over=take_over):
        logger.info("invoice file %s: not claimable, nothing to do", file_id)
        return None
    file = InvoiceFile.objects.select_related("invoice__taxpayer", "invoice__blue_invoice").get(pk=file_id)
    try:
        data = render_invoice_bytes(file.invoice, file.format)
        invoice_file_store(file, data)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the job; issuing is never blocked
        logger.exception("invoice file %s (%s %s) failed", file_id, file.invoice.number, file.format)
        message = f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE]
        InvoiceFile.objects.filter(pk=file_id, status=RenderStatus.RENDERING).update(
            status=RenderStatus.FAILED, message=message, updated_at=timezone.now()
        )
        file.refresh_from_db()
        return file
    now = timezone.now()
    InvoiceFile.objects.filter(pk=file_id, status=RenderStatus.RENDERING).update(
        status=RenderStatus.DONE,
        file=file.file.name,
        sha256=file.sha256,
        size=file.size,
        rendered_at=now,
        message="",
        updated_at=now,
    )
    file.refresh_from_db()
    return file


def invoice_file_rerender(*, file: InvoiceFile, actor: Actor) -> bool:
    """Put a done or failed file back to pending and queue it (the admin's "re-render"). False if it is busy."""
    with transaction.atomic():
        locked = InvoiceFile.objects.select_for_update(of=("self",)).select_related("invoice__taxpayer").get(pk=file.pk)
        invoice = locked.invoice
        if actor is not None and not user_may_act_on(actor, invoice.taxpayer_id):
            raise PermissionDenied(gettext("无权操作该主体的发票"))
        if locked.status not in (RenderStatus.DONE, RenderStatus.FAILED):
            return False
        before = locked.status
        InvoiceFile.objects.filter(pk=locked.pk).update(status=RenderStatus.PENDING, updated_at=timezone.now())
        event_record(obj=invoice, action="file.rerender", actor=actor, from_state=before, to_state=RenderStatus.PENDING,
                     data={"format": locked.format}, taxpayer=invoice.taxpayer)
        _queue_render(locked.pk)
    return True


def pending_after() -> timedelta:
    """How long a file may stay pending before the sweep sends its render message again
    (``DELIVERY_RENDER_PENDING_AFTER_SECONDS``, 300)."""
    return timedelta(seconds=int(getattr(settings, "DELIVERY_RENDER_PENDING_AFTER_SECONDS", 300)))


def invoice_files_requeue_stale(*, older_than: timedelta | None = None, limit: int = REQUEUE_LIMIT) -> int:
    """Queue again the jobs left pending (a lost message) or stuck rendering (a killed worker). For a periodic task.

    A render message is sent on commit by the process that recorded the invoice; one that dies between its commit and
    the send leaves the row pending with no message. Rows pending longer than ``older_than`` (default
    ``pending_after()``) are queued again, and their ``updated_at`` set to now in the same UPDATE, so a backlog still
    waiting in the queue is sent again at most once per ``older_than``, not on every sweep. A message for a row
    another worker has taken in the meantime does nothing (``invoice_file_claim``). Rows stuck rendering keep their
    ``updated_at``: that is what lets the message claim them (``RENDER_STALE_AFTER``).
    """
    now = timezone.now()
    age = pending_after() if older_than is None else older_than
    with transaction.atomic():
        stale = InvoiceFile.objects.filter(
            Q(status=RenderStatus.PENDING, updated_at__lt=now - age)
            | Q(status=RenderStatus.RENDERING, updated_at__lt=now - RENDER_STALE_AFTER)
        )
        if connection.features.has_select_for_update_skip_locked:
            stale = stale.select_for_update(skip_locked=True)  # a row a worker is claiming right now is not stale
        ids = list(stale.order_by("updated_at", "pk").values_list("pk", flat=True)[:limit])
        InvoiceFile.objects.filter(pk__in=ids, status=RenderStatus.PENDING).update(updated_at=now)
        for file_id in ids:
            _queue_render(file_id)
    if ids:
        logger.warning("invoice files queued again (left pending or rendering): %s", len(ids))
    return len(ids)


def _read(file: InvoiceFile) -> bytes | None:
    if not file.file.name:
        return None
    try:
        with default_storage.open(file.file.name, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        logger.warning("invoice file %s: %s is missing from storage; rendering again", file.pk, file.file.name)
        return None


def invoice_file_bytes(invoice: Invoice, fmt: str) -> bytes:
    """The bytes of one file, rendering (and storing) it now when it is not done yet.

    Used for downloads, e-mail attachments and the print variants, which are rendered on demand.
    Raises ``InvoiceFileUnavailable`` when rendering fails.
    """
    if fmt not in FILE_EXTENSIONS:
        raise ValueError(f"unknown file format {fmt!r}")
    file, _created = InvoiceFile.objects.get_or_create(invoice=invoice, format=fmt)
    if file.status == RenderStatus.DONE:
        data = _read(file)
        if data is not None:
            return data
    if file.status in (RenderStatus.DONE, RenderStatus.FAILED):
        InvoiceFile.objects.filter(pk=file.pk, status=file.status).update(
            status=RenderStatus.PENDING, updated_at=timezone.now()
        )
    result = invoice_file_render(file.pk)
    if result is None:
        # Another worker is rendering it right now: render our own copy rather than wait.
        try:
            return render_invoice_bytes(invoice, fmt)
        except Exception as exc:  # noqa: BLE001
            raise InvoiceFileUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if result.status != RenderStatus.DONE:
        raise InvoiceFileUnavailable(result.message)
    data = _read(result)
    if data is None:
        raise InvoiceFileUnavailable(f"{result.file.name} is missing from storage")
    return data


def batch_print_pdf(invoices: list[Invoice], paper: str = "A4") -> bytes:
    """Many invoices in one PDF (one per page at least), for printing."""
    return render_batch_pdf([invoice_to_document(inv) for inv in invoices], paper=paper)


__all__ = [
    "InvoiceFileUnavailable",
    "batch_print_pdf",
    "invoice_file_bytes",
    "invoice_file_claim",
    "invoice_file_render",
    "invoice_file_rerender",
    "invoice_file_store",
    "invoice_files_queue",
    "invoice_files_requeue_stale",
    "invoice_to_document",
    "render_invoice_bytes",
    "storage_name",
]
