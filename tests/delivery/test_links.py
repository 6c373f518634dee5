"""The customer's link (QR / short link) and the SMS and print channels."""

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from delivery.models import Delivery, DeliveryStatus, InvoiceFile, InvoiceLink
from delivery.services import delivery_send, invoice_link_change, invoice_link_create, invoice_link_revoke
from invoicing.events import events_for
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_a_qr_delivery_makes_a_link_whose_page_shows_the_invoice(client, fiona, invoice):
    delivery = delivery_send(invoice=invoice, channel="qr", actor=fiona)
    assert delivery.status == DeliveryStatus.SENT
    link = InvoiceLink.objects.get(invoice=invoice)
    assert delivery.target.endswith(f"/i/{link.token}/")
    assert len(link.token) >= 32  # 24 random bytes
    response = client.get(reverse("delivery:link", args=[link.token]))
    assert response.status_code == 200
    page = response.content.decode()
    assert invoice.number in page and "3,180.00" in page and "*信息技术服务*软件开发服务" in page
    assert reverse("delivery:link_file", args=[link.token, "pdf"]) in page
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    link.refresh_from_db()
    assert link.views == 1


def test_the_link_serves_that_invoices_files_only(client, yuntu, invoice):
    link = invoice_link_create(invoice=invoice)
    other = make_invoice(yuntu)
    response = client.get(reverse("delivery:link_file", args=[link.token, "xml"]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert invoice.number.encode() in body and other.number.encode() not in body
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.xml"'
    assert client.get(reverse("delivery:link_file", args=[link.token, "pdf_a5"])).status_code == 404


def test_an_expired_link_is_gone(client, invoice):
    link = invoice_link_create(invoice=invoice, days=1)
    InvoiceLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(reverse("delivery:link", args=[link.token])).status_code == 410
    assert client.get(reverse("delivery:link_file", args=[link.token, "xml"])).status_code == 410


def test_a_link_is_gone_after_its_views_or_when_revoked(client, fiona, invoice):
    link = invoice_link_create(invoice=invoice, max_views=1)
    assert client.get(reverse("delivery:link", args=[link.token])).status_code == 200
    assert client.get(reverse("delivery:link", args=[link.token])).status_code == 410
    revoked = invoice_link_create(invoice=invoice)
    assert invoice_link_revoke(link=revoked, actor=fiona) is True
    assert invoice_link_revoke(link=revoked, actor=fiona) is False  # once
    assert client.get(reverse("delivery:link", args=[revoked.token])).status_code == 410


def test_finance_revokes_links_in_the_admin_with_a_counted_message_and_an_event_each(client, fiona, invoice):
    live, gone = invoice_link_create(invoice=invoice), invoice_link_create(invoice=invoice)
    invoice_link_revoke(link=gone, actor=fiona)
    client.force_login(fiona)
    response = client.post(reverse("admin:delivery_invoicelink_changelist"),
                           {"action": "revoke", "_selected_action": [live.pk, gone.pk]}, follow=True)
    page = response.content.decode()
    assert "已撤销 1 个链接" in page and "1 个此前已撤销" in page
    live.refresh_from_db()
    assert live.revoked_at is not None
    assert client.get(reverse("delivery:link", args=[live.token])).status_code == 410
    events = list(events_for(invoice).filter(action="link.revoked"))
    assert sorted(e.data["link_id"] for e in events) == sorted([live.pk, gone.pk])
    assert {e.actor for e in events} == {fiona}


def test_finance_changes_a_links_terms_in_the_admin_but_never_its_invoice_nor_a_revoked_one(client, fiona, yuntu,
                                                                                          invoice):
    link = invoice_link_create(invoice=invoice)
    other = make_invoice(yuntu)
    client.force_login(fiona)
    response = client.post(reverse("admin:delivery_invoicelink_change", args=[link.pk]), {
        "invoice": other.pk, "expires_at_0": "2030-01-01", "expires_at_1": "12:00:00", "max_views": "3"})
    assert response.status_code == 302, response.content.decode()[:3000]
    link.refresh_from_db()
    assert (link.max_views, link.invoice_id, link.expires_at.year) == (3, invoice.pk, 2030)
    [event] = events_for(invoice).filter(action="link.changed")
    assert (event.actor, event.data["after"]["max_views"], event.data["before"]["max_views"]) == (fiona, 3, None)
    invoice_link_revoke(link=link, actor=fiona)
    with pytest.raises(ValidationError):
        invoice_link_change(link=link, actor=fiona, expires_at=timezone.now() + timedelta(days=9), max_views=None)


def test_lily_cannot_revoke_or_change_another_entitys_link(lily, invoice):
    link = invoice_link_create(invoice=invoice)
    with pytest.raises(PermissionDenied):
        invoice_link_revoke(link=link, actor=lily)
    with pytest.raises(PermissionDenied):
        invoice_link_change(link=link, actor=lily, expires_at=timezone.now() + timedelta(days=1), max_views=1)
    with pytest.raises(PermissionDenied):
        invoice_link_create(invoice=invoice, actor=lily)
    link.refresh_from_db()
    assert (link.revoked_at, link.max_views) == (None, None)
    assert not events_for(invoice).filter(action__in=("link.revoked", "link.changed")).exists()


def test_an_unknown_token_is_not_found(client, invoice):
    assert client.get(reverse("delivery:link", args=["x" * 32])).status_code == 404


@override_settings(DELIVERY_LINK_RATE_LIMIT=3)
def test_too_many_requests_for_one_link_are_refused(client, invoice):
    link = invoice_link_create(invoice=invoice)
    codes = [client.get(reverse("delivery:link", args=[link.token])).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get(reverse("delivery:link", args=[link.token]))["Retry-After"] == "60"
    # another client address has its own budget
    assert client.get(reverse("delivery:link", args=[link.token]), REMOTE_ADDR="10.0.0.2").status_code == 200


@override_settings(DELIVERY_LINK_RATE_LIMIT=3)
def test_a_client_guessing_tokens_is_refused_even_for_a_right_guess(client, invoice):
    link = invoice_link_create(invoice=invoice)
    codes = [client.get(reverse("delivery:link", args=[f"guess{i}" * 6])).status_code for i in range(3)]
    assert codes == [404, 404, 404]
    assert client.get(reverse("delivery:link", args=[link.token])).status_code == 429
    assert client.get(reverse("delivery:link_file", args=[link.token, "xml"])).status_code == 429


def test_finance_sees_the_link_and_its_qr_in_the_admin(client, fiona, sam, invoice):
    link = invoice_link_create(invoice=invoice)
    client.force_login(fiona)
    page = client.get(reverse("admin:delivery_invoicelink_change", args=[link.pk])).content.decode()
    assert f"/i/{link.token}/" in page and "<svg" in page
    client.force_login(sam)
    assert client.get(reverse("admin:delivery_invoicelink_change", args=[link.pk])).status_code == 403


def test_customer_service_does_not_see_qr_link_targets_in_the_delivery_list(client, fiona, sam, invoice):
    delivery = delivery_send(invoice=invoice, channel="qr", actor=fiona)
    client.force_login(sam)
    page = client.get(reverse("admin:delivery_delivery_changelist")).content.decode()
    assert "（客户链接）" in page and delivery.target not in page
    client.force_login(fiona)
    assert delivery.target in client.get(reverse("admin:delivery_delivery_changelist")).content.decode()


def test_an_sms_goes_through_the_log_provider_with_a_link(fiona, invoice, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="delivery.sms")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="sms", actor=fiona)
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert delivery.status == DeliveryStatus.SENT and delivery.target == "13800138000"
    assert delivery.provider_message_id.startswith("log-")
    assert "138****8000" in caplog.text and "13800138000" not in caplog.text
    token = InvoiceLink.objects.get(invoice=invoice).token
    # The message is logged with its link masked: the link opens the invoice (the text sent carries it, see
    # test_an_sms_retry_sends_the_same_link).
    assert "/i/***/" in caplog.text and token not in caplog.text


def test_a_print_delivery_renders_the_a5_variant(fiona, invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="print", target="a5", actor=fiona)
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT
    file = InvoiceFile.objects.get(invoice=invoice, format="pdf_a5")
    assert file.status == "done" and file.file.name.endswith(f"{invoice.number}.A5.pdf")


class FlakySms:
    """Fails the first send of each process run, then works (a provider time-out)."""

    sent: list = []
    failures = 1

    def send(self, mobile, text):
        from delivery.sms import SmsError

        if FlakySms.failures:
            FlakySms.failures -= 1
            raise SmsError("provider timed out")
        FlakySms.sent.append((mobile, text))
        return "flaky-1"


@override_settings(DELIVERY_SMS_PROVIDER="tests.delivery.test_links.FlakySms")
def test_an_sms_retry_sends_the_same_link(fiona, invoice, eager_retries, django_capture_on_commit_callbacks):
    FlakySms.sent, FlakySms.failures = [], 1
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="sms", target="+86 138-0013-8000", actor=fiona)
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.provider_message_id) == (DeliveryStatus.SENT, 2, "flaky-1")
    assert InvoiceLink.objects.filter(invoice=invoice).count() == 1
    assert FlakySms.sent == [("13800138000", FlakySms.sent[0][1])]
    assert f"/i/{delivery.link.token}/" in FlakySms.sent[0][1]


def test_the_customer_page_says_when_the_invoice_was_red_flushed(client, invoice):
    from issuing.platform.models import Invoice, InvoiceStatus

    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.RED_FULL)
    link = invoice_link_create(invoice=invoice)
    assert "发票状态：已全额红冲" in client.get(reverse("delivery:link", args=[link.token])).content.decode()
