"""Signed webhooks against a real local HTTP server, with retries on 5xx."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from delivery.models import Delivery, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from delivery.services import delivery_send, webhook_emit
from delivery.webhooks import webhook_signature, webhook_verify

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/fapiao"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_the_signature_verifies_and_retries_on_500_then_succeed(yuntu, eager_retries,
                                                                 django_capture_on_commit_callbacks):
    with Receiver([500, 500, 200]) as receiver:
        endpoint = WebhookEndpoint.objects.create(taxpayer=yuntu, url=receiver.url, events=["invoice.issued"])
        with django_capture_on_commit_callbacks(execute=True):
            rows = webhook_emit(taxpayer=yuntu, event="invoice.issued", payload={"number": "26440100000000000001"})
    row = WebhookDelivery.objects.get(pk=rows[0].pk)
    assert row.status == DeliveryStatus.SENT and row.attempts == 3 and row.response_status == 200
    assert len(receiver.requests) == 3
    ids = {headers["X-Fapiao-Delivery"] for headers, _ in receiver.requests}
    assert ids == {str(row.pk)}  # the same id on every retry: receivers drop duplicates by it
    headers, body = receiver.requests[-1]
    assert headers["X-Fapiao-Event"] == "invoice.issued"
    assert webhook_verify(endpoint.secret, headers["X-Fapiao-Timestamp"], body, headers["X-Fapiao-Signature"])
    assert not webhook_verify("wrong-secret", headers["X-Fapiao-Timestamp"], body, headers["X-Fapiao-Signature"])
    assert not webhook_verify(endpoint.secret, headers["X-Fapiao-Timestamp"], body + b" ", headers["X-Fapiao-Signature"])
    assert json.loads(body) == {"id": str(row.pk), "event": "invoice.issued", "data": {"number": "26440100000000000001"}}


def test_a_receiver_can_recompute_the_signature_by_hand():
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(b"s3cret", b"1700000000." + b'{"a":1}', hashlib.sha256).hexdigest()
    assert webhook_signature("s3cret", "1700000000", b'{"a":1}') == expected
    assert not webhook_verify("s3cret", "1700000000", b'{"a":1}', expected, now=1700000000 + 3600)


def test_only_active_subscribed_endpoints_of_the_entity_get_the_event(yuntu, mingyuan):
    WebhookEndpoint.objects.create(taxpayer=yuntu, url="http://127.0.0.1:9/a", events=["invoice.red_flushed"])
    wanted = WebhookEndpoint.objects.create(taxpayer=yuntu, url="http://127.0.0.1:9/b", events=["*"])
    WebhookEndpoint.objects.create(taxpayer=yuntu, url="http://127.0.0.1:9/c", events=["*"], is_active=False)
    WebhookEndpoint.objects.create(taxpayer=mingyuan, url="http://127.0.0.1:9/d", events=["*"])
    rows = webhook_emit(taxpayer=yuntu, event="application.status_changed", payload={})
    assert [r.endpoint for r in rows] == [wanted]


def test_an_endpoint_that_keeps_failing_ends_failed(yuntu, eager_retries, django_capture_on_commit_callbacks):
    with Receiver([503] * 20) as receiver:
        WebhookEndpoint.objects.create(taxpayer=yuntu, url=receiver.url, events=["*"])
        with django_capture_on_commit_callbacks(execute=True):
            (row,) = webhook_emit(taxpayer=yuntu, event="invoice.issued", payload={})
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED and row.response_status == 503 and "HTTP 503" in row.last_error
    assert row.attempts == len(receiver.requests) > 1


def test_finance_retries_a_failed_push_from_the_admin_and_it_goes_out_again(client, fiona, yuntu, eager_retries,
                                                                           django_capture_on_commit_callbacks):
    from invoicing.events import events_for

    with Receiver([503] * 20) as receiver:
        WebhookEndpoint.objects.create(taxpayer=yuntu, url=receiver.url, events=["*"])
        with django_capture_on_commit_callbacks(execute=True):
            (row,) = webhook_emit(taxpayer=yuntu, event="invoice.issued", payload={})
        row.refresh_from_db()
        assert row.status == DeliveryStatus.FAILED
        sent = WebhookDelivery.objects.create(endpoint=row.endpoint, event="invoice.issued", status=DeliveryStatus.SENT)
        receiver.statuses = [200]
        client.force_login(fiona)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("admin:delivery_webhookdelivery_changelist"),
                                   {"action": "retry", "_selected_action": [row.pk, sent.pk]}, follow=True)
    page = response.content.decode()
    assert "已重新排队 1 条推送" in page and "1 条不是失败状态，未重新推送" in page
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT
    [event] = events_for(row).filter(action="webhook.retried")
    assert (event.actor, event.from_state, event.to_state) == (fiona, DeliveryStatus.FAILED, DeliveryStatus.PENDING)


def test_the_webhook_channel_posts_the_invoice_and_its_customer_link(fiona, yuntu, invoice,
                                                                     django_capture_on_commit_callbacks):
    with Receiver([200]) as receiver:
        WebhookEndpoint.objects.create(taxpayer=yuntu, url=receiver.url, events=["invoice.delivered"])
        with django_capture_on_commit_callbacks(execute=True):
            delivery = delivery_send(invoice=invoice, channel="webhook", actor=fiona)
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert delivery.status == DeliveryStatus.SENT and delivery.target == receiver.url
    data = json.loads(receiver.requests[0][1])["data"]
    assert data["invoice"]["number"] == invoice.number and "/i/" in data["link"]


def test_the_webhook_channel_only_posts_to_registered_endpoints(fiona, invoice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        delivery_send(invoice=invoice, channel="webhook", target="http://attacker.example/", actor=fiona)
