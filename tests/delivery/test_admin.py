import io

import pytest
from django.contrib import admin as django_admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from pypdf import PdfReader

from delivery.admin import invoice_deliveries_html, invoices_print_a5, invoices_send_email
from delivery.models import Delivery, DeliveryStatus, InvoiceFile, RenderStatus, WebhookEndpoint
from delivery.rendering import invoice_files_queue
from delivery.services import delivery_send
from invoicing.events import events_for
from issuing.platform.models import Invoice

pytestmark = pytest.mark.django_db


def test_finance_sends_an_invoice_from_the_delivery_admin(client, fiona, invoice, django_capture_on_commit_callbacks):
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:delivery_delivery_add"),
                               {"invoice": invoice.pk, "channel": "email", "target": "ap@bailu.example.com"})
    assert response.status_code == 302, response.content.decode()[:2000]
    delivery = Delivery.objects.get()
    assert (delivery.target, delivery.status, delivery.created_by) == ("ap@bailu.example.com", DeliveryStatus.SENT,
                                                                       fiona)


def test_a_bad_target_is_shown_on_the_form(client, fiona, invoice):
    client.force_login(fiona)
    response = client.post(reverse("admin:delivery_delivery_add"),
                           {"invoice": invoice.pk, "channel": "sms", "target": "12345"})
    assert response.status_code == 200 and "手机号不正确" in response.content.decode()
    assert not Delivery.objects.exists()


def test_customer_service_cannot_add_deliveries_or_see_file_links(client, sam, invoice):
    client.force_login(sam)
    assert client.get(reverse("admin:delivery_delivery_add")).status_code == 403
    request = RequestFactory().get("/")
    request.user = sam
    delivery_send(invoice=invoice, channel="qr")
    assert "（客户链接）" in invoice_deliveries_html(request, invoice)


def test_rerender_action_queues_failed_files_with_a_counted_message(client, fiona, invoice, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    from delivery import rendering

    real = rendering.render_invoice_bytes
    monkeypatch.setattr(rendering, "render_invoice_bytes", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with django_capture_on_commit_callbacks(execute=True):
        invoice_files_queue(invoice, formats=("xml",))
    monkeypatch.setattr(rendering, "render_invoice_bytes", real)
    file = InvoiceFile.objects.get()
    assert file.status == RenderStatus.FAILED
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:delivery_invoicefile_changelist"),
                               {"action": "rerender", "_selected_action": [file.pk]}, follow=True)
    assert "已排队重新生成 1 个文件" in response.content.decode()
    file.refresh_from_db()
    assert file.status == RenderStatus.DONE
    [event] = events_for(invoice).filter(action="file.rerender")
    assert (event.actor, event.from_state, event.to_state, event.data) == (
        fiona, RenderStatus.FAILED, RenderStatus.PENDING, {"format": "xml"})


def test_the_invoice_print_action_returns_one_pdf(fiona, sam, yuntu, invoice):
    from tests.delivery.factories import make_invoice

    make_invoice(yuntu)
    modeladmin = django_admin.ModelAdmin(Invoice, django_admin.site)
    request = RequestFactory().post("/")
    request.user = fiona
    response = invoices_print_a5(modeladmin, request, Invoice.objects.all())
    assert len(PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages) == 2
    request.user = sam
    request.session = {}
    request._messages = FallbackStorage(request)
    assert invoices_print_a5(modeladmin, request, Invoice.objects.all()) is None
    assert "无权打印发票文件" in [str(m) for m in get_messages(request)]


def test_the_invoice_send_action_uses_the_application_email(fiona, yuntu, invoice, django_capture_on_commit_callbacks):
    from tests.delivery.factories import make_invoice

    no_email = make_invoice(yuntu, email="")
    modeladmin = django_admin.ModelAdmin(Invoice, django_admin.site)
    request = RequestFactory().post("/")
    request.user = fiona
    request.session = {}
    request._messages = FallbackStorage(request)
    with django_capture_on_commit_callbacks(execute=False):
        invoices_send_email(modeladmin, request, Invoice.objects.filter(pk__in=[invoice.pk, no_email.pk]))
    assert list(Delivery.objects.values_list("invoice", "target")) == [(invoice.pk, "finance@bailu.example.com")]
    texts = [str(m) for m in get_messages(request)]
    assert "已排队发送 1 张发票" in texts and any(no_email.number in t for t in texts)


def test_webhook_endpoints_only_take_known_events(yuntu):
    endpoint = WebhookEndpoint(taxpayer=yuntu, url="https://erp.example.com/hooks", events=["invoice.issud"])
    with pytest.raises(ValidationError):
        endpoint.full_clean()
    endpoint.events = ["invoice.issued", "delivery.failed"]
    endpoint.full_clean()
    assert len(endpoint.secret) >= 32


def test_the_delivery_changelist_query_count_does_not_grow_with_rows(client, fiona, yuntu,
                                                                      django_assert_max_num_queries):
    from tests.delivery.factories import make_invoice

    for _ in range(5):
        delivery_send(invoice=make_invoice(yuntu), channel="qr")
    client.force_login(fiona)
    with django_assert_max_num_queries(15):
        assert client.get(reverse("admin:delivery_delivery_changelist")).status_code == 200


def test_finance_creates_a_customer_link_in_the_admin(client, fiona, invoice):
    from delivery.models import InvoiceLink

    client.force_login(fiona)
    page = client.get(reverse("admin:delivery_invoicelink_add"))
    assert page.status_code == 200
    expires = page.context["adminform"].form.initial["expires_at"]
    response = client.post(reverse("admin:delivery_invoicelink_add"), {
        "invoice": invoice.pk, "expires_at_0": expires.strftime("%Y-%m-%d"), "expires_at_1": "12:00:00",
        "max_views": "5",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    link = InvoiceLink.objects.get()
    assert link.created_by == fiona and link.max_views == 5 and len(link.token) >= 32
    [event] = events_for(invoice).filter(action="link.created")
    assert (event.actor, event.data["link_id"]) == (fiona, link.pk)


def test_lily_cannot_link_or_send_another_entitys_invoice_from_the_admin(client, lily, invoice):
    client.force_login(lily)
    response = client.post(reverse("admin:delivery_invoicelink_add"), {
        "invoice": invoice.pk, "expires_at_0": "2030-01-01", "expires_at_1": "12:00:00"})
    assert response.status_code == 200  # the form refuses an invoice outside her entities
    response = client.post(reverse("admin:delivery_delivery_add"),
                           {"invoice": invoice.pk, "channel": "email", "target": "a@b.example.com"})
    assert response.status_code == 200
    assert not Delivery.objects.exists()


def test_saving_a_webhook_endpoint_in_the_admin_records_what_changed_but_never_the_secret(client, fiona, yuntu):
    client.force_login(fiona)
    response = client.post(reverse("admin:delivery_webhookendpoint_add"),
                           {"taxpayer": yuntu.pk, "name": "shop", "url": "https://shop.example.com/hook",
                            "secret": "a-secret-of-the-receiver-0123456789", "events": '["*"]', "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    response = client.post(reverse("admin:delivery_webhookendpoint_change", args=[endpoint.pk]),
                           {"taxpayer": yuntu.pk, "name": "mall", "url": "https://shop.example.com/hook",
                            "secret": "", "events": '["*"]', "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret) == ("mall", "a-secret-of-the-receiver-0123456789")
    created, changed = events_for(endpoint).filter(action="webhook_endpoint.saved").order_by("id")
    assert created.data["created"] and created.data["secret_changed"] and created.actor == fiona
    assert not changed.data["created"] and "name" in changed.data["changed"] and not changed.data["secret_changed"]
    assert "a-secret-of-the-receiver" not in str(created.data) + str(changed.data)
