"""E-mail delivery against a real SMTP server (aiosmtpd on a free local port), not only the locmem backend."""

import email
import socket
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.urls import reverse

from delivery import tasks
from delivery.models import Delivery, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from delivery.services import delivery_resend, delivery_send, email_subject
from invoicing.events import events_for

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self, refuse: set[str] = frozenset()):
        self.messages = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    inbox = Inbox(refuse={"nobody@bailu.example.com"})
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                               EMAIL_PORT=port, EMAIL_USE_TLS=False, EMAIL_USE_SSL=False, EMAIL_TIMEOUT=5,
                               EMAIL_HOST_USER="", EMAIL_HOST_PASSWORD=""):
            yield inbox
    finally:
        controller.stop()


def test_the_invoice_email_arrives_with_pdf_ofd_and_xml(smtp, fiona, invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="email", actor=fiona)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    assert delivery.target == "finance@bailu.example.com" and delivery.attempts == 1 and delivery.sent_at
    assert len(smtp.messages) == 1
    _sender, recipients, raw = smtp.messages[0]
    assert recipients == ["finance@bailu.example.com"]
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert msg["Subject"].strip() == email_subject(invoice)  # a long encoded subject is folded after "Subject:"
    assert email_subject(invoice) == f"【电子发票】广州云途出行科技有限公司 开具的发票 {invoice.number}"
    attachments = {part.get_filename(): part for part in msg.iter_attachments()}
    assert sorted(attachments) == sorted(f"{invoice.number}.{ext}" for ext in ("pdf", "ofd", "xml"))
    assert attachments[f"{invoice.number}.pdf"].get_content().startswith(b"%PDF")
    assert attachments[f"{invoice.number}.xml"].get_content_type() == "application/xml"
    assert invoice.number in msg.get_body(("plain",)).get_content()
    actions = [e.action for e in events_for(delivery)]
    assert "delivery.created" in actions and "delivery.sent" in actions


def test_an_unreachable_server_is_retried_then_the_delivery_fails(fiona, invoice, yuntu, eager_retries,
                                                                  django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(taxpayer=yuntu, url="http://127.0.0.1:9/hook", events=["delivery.failed"],
                                   is_active=False)
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                           EMAIL_PORT=free_port(), EMAIL_TIMEOUT=2):
        with django_capture_on_commit_callbacks(execute=True):
            delivery = delivery_send(invoice=invoice, channel="email", actor=fiona)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == tasks.MAX_RETRIES + 1
    assert "ConnectionRefusedError" in delivery.last_error
    failed = [e for e in events_for(delivery) if e.action == "delivery.failed"]
    assert len(failed) == 1 and failed[0].reason == delivery.last_error
    assert not WebhookDelivery.objects.exists()  # the only endpoint is switched off


def test_a_refused_recipient_is_a_bounce_not_a_retry(smtp, fiona, invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="email", target="nobody@bailu.example.com", actor=fiona)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED and delivery.attempts == 1
    assert "nobody@bailu.example.com" in delivery.last_error


def test_customer_service_resends_and_the_resend_is_recorded(smtp, sam, invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = delivery_send(invoice=invoice, channel="email")
        again = delivery_resend(delivery=first, actor=sam)
    again.refresh_from_db()
    assert again.resend_of == first and again.created_by == sam
    assert again.status == DeliveryStatus.SENT and len(smtp.messages) == 2
    resent = [e for e in events_for(first) if e.action == "delivery.resent"]
    assert len(resent) == 1 and resent[0].actor == sam and resent[0].data == {"resend": again.pk}


def test_customer_service_resends_from_the_admin(client, smtp, sam, invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = delivery_send(invoice=invoice, channel="email")
    client.force_login(sam)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:delivery_delivery_changelist"),
                               {"action": "resend", "_selected_action": [first.pk]}, follow=True)
    assert "已重发 1 条交付" in response.content.decode()
    assert Delivery.objects.filter(resend_of=first, created_by=sam, status=DeliveryStatus.SENT).count() == 1


def test_resending_needs_the_permission(ada, invoice, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import User
    from django.core.exceptions import PermissionDenied

    from tests.factories import UserFactory

    nobody = UserFactory(username="nobody", entities=None)
    with django_capture_on_commit_callbacks(execute=False):
        first = delivery_send(invoice=invoice, channel="email")
        with pytest.raises(PermissionDenied):
            delivery_resend(delivery=first, actor=User.objects.get(pk=nobody.pk))


def test_lily_cannot_send_another_entitys_invoice(lily, invoice):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        delivery_send(invoice=invoice, channel="email", actor=lily)


def test_a_bad_address_is_refused_before_anything_is_recorded(fiona, invoice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        delivery_send(invoice=invoice, channel="email", target="not-an-address", actor=fiona)
    assert not Delivery.objects.exists()


def test_a_qr_delivery_is_not_resent(fiona, invoice):
    from django.core.exceptions import ValidationError

    qr = delivery_send(invoice=invoice, channel="qr", actor=fiona)
    with pytest.raises(ValidationError):
        delivery_resend(delivery=qr, actor=fiona)
