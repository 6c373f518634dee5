import io

import pytest
from django.test import RequestFactory
from django.urls import reverse
from pypdf import PdfReader

from delivery.admin import invoice_file_links_html
from delivery.models import InvoiceFile, RenderStatus
from delivery.views import invoices_batch_print_response
from invoicing.events import events_for
from issuing.platform.models import Invoice
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def url(invoice, fmt):
    return reverse("delivery:invoice_file", args=[invoice.pk, fmt])


def test_finance_downloads_the_file_with_its_number_as_the_name(client, fiona, invoice):
    client.force_login(fiona)
    response = client.get(url(invoice, "pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    data = b"".join(response.streaming_content)
    assert data.startswith(b"%PDF")
    stored = InvoiceFile.objects.get(invoice=invoice, format="pdf")
    assert stored.status == RenderStatus.DONE and stored.size == len(data)
    assert any(e.action == "file.downloaded" and e.actor == fiona for e in events_for(invoice))


def test_xml_and_ofd_come_with_their_content_types(client, fiona, invoice):
    client.force_login(fiona)
    xml = client.get(url(invoice, "xml"))
    assert xml["Content-Type"] == "application/xml"
    assert b"<EInvoice>" in b"".join(xml.streaming_content)
    ofd = client.get(url(invoice, "ofd"))
    assert ofd["Content-Type"] == "application/ofd"
    assert b"".join(ofd.streaming_content)[:2] == b"PK"


def test_customer_service_gets_403_even_with_the_url(client, sam, invoice):
    client.force_login(sam)
    for fmt in ("pdf", "ofd", "xml", "pdf_a5"):
        assert client.get(url(invoice, fmt)).status_code == 403
    assert not InvoiceFile.objects.exists()


def test_another_entitys_invoice_is_not_found(client, lily, invoice, mingyuan_invoice):
    client.force_login(lily)
    assert client.get(url(invoice, "xml")).status_code == 404
    assert client.get(url(mingyuan_invoice, "xml")).status_code == 200


def test_anonymous_users_are_sent_to_log_in(client, invoice):
    response = client.get(url(invoice, "xml"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_unknown_format_is_not_found(client, fiona, invoice):
    client.force_login(fiona)
    assert client.get(url(invoice, "docx")).status_code == 404


def test_file_links_on_the_invoice_page_only_for_downloaders(fiona, sam, lily, invoice):
    request = RequestFactory().get("/")
    request.user = fiona
    html = invoice_file_links_html(request, invoice)
    assert url(invoice, "pdf") in html and url(invoice, "pdf_a5") in html
    request.user = sam
    assert invoice_file_links_html(request, invoice) == ""
    request.user = lily
    assert invoice_file_links_html(request, invoice) == ""


def test_batch_print_has_one_page_per_invoice(fiona, yuntu, invoice):
    others = [make_invoice(yuntu) for _ in range(2)]
    request = RequestFactory().get("/")
    request.user = fiona
    response = invoices_batch_print_response(request, Invoice.objects.filter(pk__in=[invoice.pk, *[o.pk for o in others]]),
                                             "A5")
    assert response["Content-Type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(b"".join(response.streaming_content)))
    assert len(pdf.pages) == 3


def test_batch_print_is_scoped_and_refused_to_customer_service(sam, lily, invoice, mingyuan_invoice):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    request = RequestFactory().get("/")
    request.user = sam
    with pytest.raises(PermissionDenied):
        invoices_batch_print_response(request, Invoice.objects.all(), "A4")
    request.user = lily
    with pytest.raises(Http404):
        invoices_batch_print_response(request, Invoice.objects.filter(pk=invoice.pk), "A4")
    response = invoices_batch_print_response(request, Invoice.objects.all(), "A4")
    assert len(PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages) == 1


def test_customer_service_sees_no_file_rows_in_the_admin(client, sam, fiona, invoice):
    client.force_login(sam)
    assert client.get(reverse("admin:delivery_invoicefile_changelist")).status_code == 403
    assert client.get(reverse("admin:delivery_invoicelink_changelist")).status_code == 403
    assert client.get(reverse("admin:delivery_delivery_changelist")).status_code == 200
    client.force_login(fiona)
    assert client.get(reverse("admin:delivery_invoicefile_changelist")).status_code == 200


def test_batch_print_queries_do_not_grow_with_the_batch(fiona, yuntu, django_assert_max_num_queries):
    for _ in range(6):
        make_invoice(yuntu, lines=3)
    request = RequestFactory().get("/")
    request.user = fiona
    with django_assert_max_num_queries(8):
        response = invoices_batch_print_response(request, Invoice.objects.all(), "A4")
    assert len(PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages) == 6
    assert sum(1 for inv in Invoice.objects.all() for e in events_for(inv) if e.action == "file.printed") == 6


def test_a_large_batch_becomes_a_print_job_with_progress(client, fiona, lily, yuntu, settings, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    from delivery import printing
    from delivery.models import PrintJob

    settings.DELIVERY_BATCH_PRINT_INLINE_MAX = 2
    monkeypatch.setattr(printing, "CHUNK", 2)
    invoices = [make_invoice(yuntu, lines=1) for _ in range(5)]
    request = RequestFactory().get("/")
    request.user = fiona
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = invoices_batch_print_response(request, Invoice.objects.all(), "A5")
    job = PrintJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("delivery:print_job", args=[job.pk])
    assert (job.status, job.total, sorted(job.invoice_ids)) == ("pending", 5, sorted(i.pk for i in invoices))
    client.force_login(fiona)
    assert "0 / 5" in client.get(response["Location"]).content.decode()
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert job.status == "done" and job.done_count == 5 and job.percent == 100
    page = client.get(reverse("delivery:print_job", args=[job.pk])).content.decode()
    assert reverse("delivery:print_job_file", args=[job.pk]) in page
    pdf = client.get(reverse("delivery:print_job_file", args=[job.pk]))
    assert len(PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages) == 5
    # someone else's job is not found, even for finance
    client.force_login(lily)
    assert client.get(reverse("delivery:print_job", args=[job.pk])).status_code == 404
    assert client.get(reverse("delivery:print_job_file", args=[job.pk])).status_code == 404


def test_a_duplicate_print_task_does_nothing(fiona, invoice):
    from delivery import printing

    job = printing.print_job_create(user=fiona, invoice_ids=[invoice.pk], paper="A4")
    assert printing.print_job_render(job.pk).status == "done"
    assert printing.print_job_render(job.pk) is None
