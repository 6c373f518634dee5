import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from delivery import rendering, tasks
from delivery.models import InvoiceFile, RenderStatus
from delivery.rendering import invoice_files_queue, invoice_to_document
from invoicing.documents.xml import read_xml
from issuing.platform.models import Invoice
from issuing.platform.signals import invoice_recorded
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_the_document_carries_the_snapshots_face_names_totals_and_words(invoice):
    doc = invoice_to_document(invoice)
    assert doc.number == invoice.number
    assert doc.seller.tax_id == invoice.seller_tax_id
    assert doc.buyer.name == "上海白鹭文化传媒有限公司"
    assert [ln.item_name for ln in doc.lines] == ["*信息技术服务*软件开发服务"] * 2
    assert doc.lines[0].tax_code == "3040201000000000000"
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (Decimal("3000.00"), Decimal("180.00"),
                                                                     Decimal("3180.00"))
    assert doc.total_in_words == "叁仟壹佰捌拾圆整"
    assert not doc.is_red and doc.blue_number == ""


def test_a_red_invoice_document_names_its_blue_invoice(yuntu, invoice):
    red = make_invoice(yuntu, blue=invoice)
    doc = invoice_to_document(red)
    assert doc.is_red and doc.blue_number == invoice.number
    assert doc.total_with_tax == Decimal("-3180.00")
    assert read_xml(rendering.render_invoice_bytes(red, "xml")).blue_number == invoice.number


def test_queued_jobs_render_after_commit_and_store_hash_and_size(invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        files = invoice_files_queue(invoice)
        assert {f.status for f in files} == {RenderStatus.PENDING}
    assert len(callbacks) == 3
    for file in InvoiceFile.objects.filter(invoice=invoice):
        assert file.status == RenderStatus.DONE, file.message
        assert file.attempts == 1
        d = invoice.issue_date
        assert file.file.name == f"invoices/{invoice.seller_tax_id}/{d:%Y}/{d:%m}/{invoice.number}.{file.format}"
        with default_storage.open(file.file.name, "rb") as fh:
            data = fh.read()
        assert file.size == len(data) > 0
        assert file.sha256 == hashlib.sha256(data).hexdigest()
    xml = InvoiceFile.objects.get(invoice=invoice, format="xml")
    with default_storage.open(xml.file.name, "rb") as fh:
        assert read_xml(fh.read()).total_with_tax == Decimal("3180.00")


def test_a_duplicate_task_does_nothing(invoice, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks(execute=True):
        invoice_files_queue(invoice, formats=("xml",))
    file = InvoiceFile.objects.get(invoice=invoice, format="xml")
    calls = []
    monkeypatch.setattr(rendering, "render_invoice_bytes", lambda *a: calls.append(a) or b"x")
    tasks.invoice_file_render(file.pk)
    tasks.invoice_file_render(file.pk)
    file.refresh_from_db()
    assert calls == [] and file.attempts == 1 and file.status == RenderStatus.DONE
    # Two workers racing on a pending job: only the first claim wins.
    InvoiceFile.objects.filter(pk=file.pk).update(status=RenderStatus.PENDING)
    assert rendering.invoice_file_claim(file.pk) is True
    assert rendering.invoice_file_claim(file.pk) is False


def test_a_message_delivered_again_takes_over_the_row_its_dead_worker_left_rendering(invoice):
    """A worker killed while rendering leaves the row "rendering" and its message unacknowledged; the broker hands
    the message to another worker (redelivered), which renders at once instead of after RENDER_STALE_AFTER."""
    [file] = invoice_files_queue(invoice, formats=("xml",))
    assert rendering.invoice_file_claim(file.pk) is True  # the worker that is then killed
    tasks.invoice_file_render(file.pk)  # a duplicate message while that worker may still be alive: left alone
    file.refresh_from_db()
    assert file.status == RenderStatus.RENDERING and file.attempts == 1
    tasks.invoice_file_render.push_request(delivery_info={"redelivered": True})
    try:
        tasks.invoice_file_render.run(file.pk)
    finally:
        tasks.invoice_file_render.pop_request()
    file.refresh_from_db()
    assert file.status == RenderStatus.DONE and file.attempts == 2 and file.size


def test_queueing_again_does_not_duplicate_rows(invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_files_queue(invoice, formats=("xml",))
        invoice_files_queue(invoice, formats=("xml",))
    assert InvoiceFile.objects.filter(invoice=invoice).count() == 1
    for callback in callbacks:
        callback()
    assert InvoiceFile.objects.get(invoice=invoice).attempts == 1


def test_a_failure_marks_the_job_failed_with_the_reason_and_rerender_recovers(
    invoice, django_capture_on_commit_callbacks, monkeypatch
):
    real = rendering.render_invoice_bytes

    def broken(inv, fmt):
        raise RuntimeError("no CJK font")

    monkeypatch.setattr(rendering, "render_invoice_bytes", broken)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_files_queue(invoice, formats=("ofd",))
    file = InvoiceFile.objects.get(invoice=invoice, format="ofd")
    assert file.status == RenderStatus.FAILED
    assert file.message == "RuntimeError: no CJK font"
    assert not file.file

    monkeypatch.setattr(rendering, "render_invoice_bytes", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.invoice_file_rerender(file=file, actor=None) is True
    file.refresh_from_db()
    assert file.status == RenderStatus.DONE and file.attempts == 2 and file.message == ""


def test_the_invoice_recorded_signal_queues_files_and_delivers_to_the_application_once(invoice, django_capture_on_commit_callbacks):
    from delivery.models import Delivery

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_recorded.send(sender=Invoice, invoice=invoice)
        invoice_recorded.send(sender=Invoice, invoice=invoice)
    assert InvoiceFile.objects.filter(invoice=invoice).count() == 3
    assert sorted(Delivery.objects.filter(invoice=invoice).values_list("channel", "target")) == [
        ("email", "finance@bailu.example.com"), ("sms", "13800138000")]
    assert len(callbacks) == 3 + 3 + 2  # render ×3 twice (pending both times: claims dedupe), send ×2 once


def test_automatic_delivery_can_be_switched_off(invoice, settings):
    from delivery.models import Delivery


    settings.DELIVERY_AUTO_SEND = False
    invoice_recorded.send(sender=Invoice, invoice=invoice)
    assert not Delivery.objects.exists()


def test_stale_jobs_are_queued_again(invoice, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        invoice_files_queue(invoice, formats=("xml", "ofd"))
    InvoiceFile.objects.filter(format="xml").update(updated_at=timezone.now() - timedelta(minutes=6))
    InvoiceFile.objects.filter(format="ofd").update(status=RenderStatus.RENDERING,
                                                    updated_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 2
    assert set(InvoiceFile.objects.values_list("status", flat=True)) == {RenderStatus.DONE}


def _sent_renders(monkeypatch) -> list[int]:
    """The file ids whose render message is sent (the messages themselves go nowhere)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.invoice_file_render, "delay", sent.append)
    return sent


def _age(file: InvoiceFile, seconds: float, **fields) -> None:
    InvoiceFile.objects.filter(pk=file.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds), **fields)


def test_a_pending_file_whose_message_was_never_sent_is_queued_again_after_the_configured_age_once(
    invoice, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The process that recorded the invoice died between its commit and the on-commit send: the row is pending and
    no message exists. The sweep sends it once it has been pending DELIVERY_RENDER_PENDING_AFTER_SECONDS, and not
    again on the next sweep: the same UPDATE moved its updated_at."""
    settings.DELIVERY_RENDER_PENDING_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):  # the messages are lost
        [file] = invoice_files_queue(invoice, formats=("xml",))
    sent = _sent_renders(monkeypatch)

    _age(file, 50)  # younger than the configured age: its message may still be on its way
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 0
    assert sent == []

    _age(file, 70)  # older than 60 s, though younger than the 300 s default
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 1
    assert sent == [file.pk]
    file.refresh_from_db()
    assert file.status == RenderStatus.PENDING and (timezone.now() - file.updated_at).total_seconds() < 5

    with django_capture_on_commit_callbacks(execute=True):  # the next sweep, right after: not sent again
        assert tasks.invoice_files_requeue_stale() == 0
    assert sent == [file.pk]

    _age(file, 70)  # still pending a configured age later (that message was lost too): sent again
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 1
    assert sent == [file.pk, file.pk]

    monkeypatch.undo()  # a real message now: it renders the file
    with django_capture_on_commit_callbacks(execute=True):
        _age(file, 70)
        assert tasks.invoice_files_requeue_stale() == 1
    file.refresh_from_db()
    assert file.status == RenderStatus.DONE and file.attempts == 1


def test_a_file_stuck_rendering_is_queued_on_every_sweep_and_keeps_its_time(
    invoice, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """A row left rendering by a killed worker is sent again as before; its updated_at is left alone, since that is
    what lets the message's claim take it over (RENDER_STALE_AFTER, 10 minutes)."""
    settings.DELIVERY_RENDER_PENDING_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):
        stuck, busy = invoice_files_queue(invoice, formats=("xml", "ofd"))
    _age(stuck, 11 * 60, status=RenderStatus.RENDERING)
    _age(busy, 9 * 60, status=RenderStatus.RENDERING)  # rendering, not for long enough to be taken over
    before = InvoiceFile.objects.get(pk=stuck.pk).updated_at
    sent = _sent_renders(monkeypatch)
    for sweep in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.invoice_files_requeue_stale() == 1
        assert sent == [stuck.pk] * sweep
    assert InvoiceFile.objects.get(pk=stuck.pk).updated_at == before

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 1
    assert InvoiceFile.objects.get(pk=stuck.pk).status == RenderStatus.DONE
    assert InvoiceFile.objects.get(pk=busy.pk).status == RenderStatus.RENDERING


def test_the_sweep_takes_a_limited_number_of_files_oldest_first_and_the_next_sweep_the_rest(
    invoice, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DELIVERY_RENDER_PENDING_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):
        pdf, ofd, xml = invoice_files_queue(invoice, formats=("pdf", "ofd", "xml"))
    for file, seconds in ((pdf, 100), (ofd, 300), (xml, 200)):
        _age(file, seconds)
    sent = _sent_renders(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.invoice_files_requeue_stale(limit=2) == 2
    assert sent == [ofd.pk, xml.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.invoice_files_requeue_stale(limit=2) == 1
    assert sent == [ofd.pk, xml.pk, pdf.pk]
    assert rendering.REQUEUE_LIMIT == 1000


def test_a_lost_print_job_is_queued_again(fiona, invoice, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from delivery import printing
    from delivery.models import PrintJob

    with django_capture_on_commit_callbacks(execute=False):
        job = printing.print_job_create(user=fiona, invoice_ids=[invoice.pk], paper="A4")
    PrintJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.invoice_files_requeue_stale() == 1
    job.refresh_from_db()
    assert job.status == "done"
