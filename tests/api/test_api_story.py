"""The issue's "done when": with only the API, an upstream system submits billing documents, gets an application
issued, fetches the files, refunds, asks for a red flush and receives signed webhooks along the way."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from delivery.webhooks import webhook_verify
from issuing.applications import services as application_services
from issuing.applications.models import InvoiceApplication
from issuing.platform import services as platform_services
from sandbox import services as sandbox
from tests.api.conftest import Receiver, document_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected_yuntu(yuntu, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    settings.ISSUING_RETRY_BASE_SECONDS = 0
    settings.ISSUING_QUEUE_FILES = 0
    yuntu.channel_app_key = f"{yuntu.credit_code}-api-key"
    yuntu.channel_secret = f"{yuntu.credit_code}-api-secret"
    yuntu.drawer = "赵敏"
    yuntu.save()
    sandbox.account_ensure(credit_code=yuntu.credit_code, name=yuntu.name, app_key=yuntu.channel_app_key,
                           secret=yuntu.channel_secret, region_code=yuntu.region_code)
    return yuntu


def test_an_upstream_system_gets_an_invoice_with_the_api_alone(
    shop, connected_yuntu, fiona, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        secret = shop.post("webhooks/", {"url": receiver.url, "events": ["*"]}, key="hook-1").json()["secret"]

        doc = shop.post("billing-documents/", document_body("SO-STORY", "212.00", lines=[
            {"item_name": "软件技术服务费", "amount": "212.00", "tax_rate": "0.06",
             "tax_category": "3040201000000000000"}]), key="doc-1").json()
        app = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}, key="app-1").json()
        assert app["status"] == "processing"

        # The back office reviews and issues (finance in the admin; here through the same services).
        with django_capture_on_commit_callbacks(execute=True):
            approved = application_services.application_approve(application=InvoiceApplication.objects.get(pk=app["id"]),
                                                     actor=fiona)
            platform_services.application_submit_issue(application=approved, actor=fiona)

        app = shop.get(f"applications/{app['id']}/").json()
        assert (app["status"], app["status_label"]) == ("issued", "已开票")
        invoice = shop.get("invoices/", {"application": app["id"]}).json()["results"][0]
        assert invoice["total"] == "212.00" and len(invoice["number"]) == 20

        links = {link["format"]: link["url"] for link in shop.get(f"invoices/{invoice['id']}/files/").json()}
        xml = b"".join(Client().get(links["xml"]).streaming_content)
        assert invoice["number"].encode() in xml

        refunded = shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "106.00"}, key="refund-1").json()
        assert refunded["balance"]["over_invoiced"] == "106.00"
        red = shop.post("red-flush-requests/", {"invoice": invoice["id"], "amount": "106.00", "reason": "02"},
                        key="red-1")
        assert red.status_code == 201 and red.json()["status"] == "draft"

    events = [(h["X-Fapiao-Event"], json.loads(body)) for h, body in receiver.received]
    assert all(webhook_verify(secret, h["X-Fapiao-Timestamp"], body, h["X-Fapiao-Signature"])
               for h, body in receiver.received)
    names = [name for name, _ in events]
    assert "invoice.issued" in names and "application.status_changed" in names
    issued = next(body for name, body in events if name == "invoice.issued")
    assert issued["data"]["invoice"]["number"] == invoice["number"]
    changed = next(body for name, body in events if name == "application.status_changed")
    assert changed["data"]["application"]["status"] == "issued"
