"""Webhook subscriptions, and the signed events an upstream system receives."""

from __future__ import annotations

import json

import pytest

from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.webhooks import webhook_verify
from invoicing.models import Event
from issuing.applications import services as application_services
from issuing.applications.models import InvoiceApplication
from tests.api.conftest import BUYER, Receiver, assert_error, line

pytestmark = pytest.mark.django_db


def test_a_subscription_is_created_listed_and_removed(shop, erp, yuntu):
    response = shop.post("webhooks/", {"url": "https://shop.example.com/hooks", "events": ["invoice.issued"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"] and body["taxpayer"] == yuntu.credit_code and body["events"] == ["invoice.issued"]
    listed = shop.get("webhooks/").json()
    assert [w["url"] for w in listed["results"]] == ["https://shop.example.com/hooks"]
    assert "secret" not in listed["results"][0]
    assert_error(erp.get(f"webhooks/{body['id']}/"), 404, "not_found")  # another client's subscription
    assert shop.delete(f"webhooks/{body['id']}/").status_code == 204
    assert shop.get("webhooks/").json()["count"] == 0
    assert not WebhookEndpoint.objects.get(url="https://shop.example.com/hooks").is_active


def test_subscribing_and_cancelling_are_in_the_audit_trail_under_the_client(shop, yuntu):
    body = shop.post("webhooks/", {"url": "https://shop.example.com/hooks", "events": ["invoice.issued"]}).json()
    endpoint = WebhookEndpoint.objects.get(url="https://shop.example.com/hooks")
    subscribed = Event.objects.get(object_id=str(endpoint.pk), action="webhook_subscribed")
    assert (subscribed.actor_id, subscribed.actor_label, subscribed.taxpayer_id) == (None, "api:shop", yuntu.pk)
    assert subscribed.data == {"url": "https://shop.example.com/hooks", "events": ["invoice.issued"]}
    assert shop.delete(f"webhooks/{body['id']}/").status_code == 204
    assert_error(shop.delete(f"webhooks/{body['id']}/"), 404, "not_found")  # gone from the client's list
    cancelled = Event.objects.filter(object_id=str(endpoint.pk), action="webhook_unsubscribed")
    assert [(e.actor_label, e.taxpayer_id) for e in cancelled] == [("api:shop", yuntu.pk)]


def test_an_unknown_event_name_is_a_field_error(shop):
    error = assert_error(shop.post("webhooks/", {"url": "https://x.example.com/", "events": ["invoice.eaten"]}),
                         400, "validation_error")
    assert any(key.startswith("events") for key in error["fields"])


def test_an_internal_address_is_a_field_error(shop, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False  # as in production
    error = assert_error(shop.post("webhooks/", {"url": "http://169.254.169.254/latest/", "events": ["*"]}),
                         400, "validation_error")
    assert "内网" in " ".join(str(m) for m in error["fields"]["url"])
    assert not WebhookEndpoint.objects.exists()


def test_a_status_change_reaches_the_subscriber_signed(shop, fiona, django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        secret = shop.post("webhooks/", {"url": receiver.url, "events": ["*"]}).json()["secret"]
        app = shop.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
        with django_capture_on_commit_callbacks(execute=True):
            application_services.application_reject(application=InvoiceApplication.objects.get(pk=app["id"]), actor=fiona,
                                        reason="抬头有误")
    assert WebhookDelivery.objects.filter(event="application.status_changed").count() == 1
    assert len(receiver.received) == 1
    headers, raw = receiver.received[0]
    assert headers["X-Fapiao-Event"] == "application.status_changed"
    assert webhook_verify(secret, headers["X-Fapiao-Timestamp"], raw, headers["X-Fapiao-Signature"])
    data = json.loads(raw)["data"]["application"]
    assert (data["id"], data["status"], data["previous_status"], data["reject_reason"]) == (
        app["id"], "rejected", "processing", "抬头有误")


def test_internal_review_steps_send_nothing(shop, fiona):
    shop.post("webhooks/", {"url": "https://shop.example.com/hooks", "events": ["*"]})
    app = shop.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
    application_services.application_claim(application=InvoiceApplication.objects.get(pk=app["id"]), actor=fiona)
    assert not WebhookDelivery.objects.exists()  # 待审核 → 审核中 reads 开票中 to a customer either way


def test_withdrawing_through_the_api_is_announced(shop):
    shop.post("webhooks/", {"url": "https://shop.example.com/hooks", "events": ["application.status_changed"]})
    app = shop.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
    shop.post(f"applications/{app['id']}/withdraw/", {})
    row = WebhookDelivery.objects.get()
    assert row.payload["application"]["status"] == "withdrawn"
