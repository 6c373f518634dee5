"""What the schema says against what the server does (issue: the API as generated clients read it), and the two
operations the customer app needed: sending an invoice to an e-mail address, and applying again after a rejection."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api.models import ApiClient, ClientDelivery
from delivery.models import Delivery
from invoicing.models import Event
from issuing.applications import services as application_services
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceStatus
from tests.api.conftest import BUYER, assert_error, document_body, line
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def openapi(client):
    return json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)


def operations(openapi):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


# --- 1, 2: blank basis and missing e-mails -------------------------------------------------------------------------


def test_a_blank_basis_and_a_missing_email_are_what_the_schema_allows(shop, openapi):
    body = document_body("SO-C1")
    del body["buyer_email"]
    doc = shop.post("billing-documents/", body).json()
    assert (doc["invoicing_basis"], doc["buyer_email"]) == ("", None)
    props = openapi["components"]["schemas"]["BillingDocument"]["properties"]
    refs = [item["$ref"].rsplit("/", 1)[-1] for item in props["invoicing_basis"]["oneOf"]]
    assert "" in openapi["components"]["schemas"][refs[1]]["enum"]
    assert props["buyer_email"] == {**props["buyer_email"], "type": "string", "format": "email", "nullable": True}
    app = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).json()
    assert app["delivery_email"] is None
    assert openapi["components"]["schemas"]["Application"]["properties"]["delivery_email"]["nullable"] is True


def test_an_empty_or_null_email_in_a_request_means_none(shop):
    for no, value in (("SO-C2", ""), ("SO-C3", None)):
        response = shop.post("billing-documents/", document_body(no, buyer_email=value))
        assert response.status_code == 201, response.content
        assert response.json()["buyer_email"] is None
        assert BillingDocument.objects.get(external_no=no).buyer_email == ""
    assert shop.post("billing-documents/", document_body("SO-C4")).json()["buyer_email"] == "finance@bailu.example.com"


# --- 3, 4: authentication and headers --------------------------------------------------------------------------------


def test_the_hmac_scheme_is_four_headers_required_together(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert {schemes[n]["name"] for n in ("hmacAuth", "hmacTimestamp", "hmacNonce", "hmacSignature")} == {
        "X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"}
    assert "签名串" in schemes["hmacNonce"]["description"] and "300" in schemes["hmacTimestamp"]["description"]
    security = openapi["paths"]["/api/v1/invoices/"]["get"]["security"]
    assert {"hmacAuth": [], "hmacTimestamp": [], "hmacNonce": [], "hmacSignature": []} in security


def test_headers_sent_and_read_are_declared(openapi):
    idempotent = 0
    for path, method, operation in operations(openapi):
        names = [p["name"] for p in operation["parameters"]]
        assert "Accept-Language" in names, (method, path)
        responses = operation["responses"]
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"], (method, path)
        if "Idempotency-Key" in names:
            idempotent += 1
            ok = next(code for code in responses if code.startswith("2"))
            assert "Idempotent-Replayed" in responses[ok]["headers"], (method, path)
    assert idempotent == 21  # 8 creates and actions, payment and delivery on a billing document, collect, a
    # claim's create and submit, and the deduction writes: open a period, select, unselect, resend, statistics and
    # its undo, confirm and its undo


def test_the_declared_headers_are_the_ones_sent(shop):
    assert Client().get("/api/v1/invoices/")["WWW-Authenticate"] == 'Bearer realm="api"'
    body = document_body("SO-C5")
    shop.post("billing-documents/", body, key="k-c5")
    assert shop.post("billing-documents/", body, key="k-c5")["Idempotent-Replayed"] == "true"
    ApiClient.objects.filter(name="shop").update(throttle_rate="1/min")
    cache.clear()
    shop.get("invoices/")
    assert int(shop.get("invoices/")["Retry-After"]) > 0


# --- 5, 6: file types, names ----------------------------------------------------------------------------------------


def test_file_downloads_declare_the_types_they_serve(openapi):
    content = openapi["paths"]["/api/v1/files/{token}/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/pdf", "application/ofd", "application/xml"}


def test_names_are_english_and_request_components_are_separate(openapi):
    def titles(node):
        if isinstance(node, dict):
            if isinstance(node.get("title"), str):
                yield node["title"]
            for value in node.values():
                yield from titles(value)
        elif isinstance(node, list):
            for value in node:
                yield from titles(value)

    assert all(t.isascii() for t in titles(openapi))
    schemas = openapi["components"]["schemas"]
    assert all(name.isascii() for name in schemas)
    assert {"BillingDocumentCreateRequest", "BuyerRequest", "Buyer", "InvoiceKindEnum", "WebhookEventEnum",
            "RedReasonCodeEnum", "ApplicationStatusEnum", "InvoiceStatusEnum"} <= set(schemas)
    assert not {"EventsEnum", "ReasonEnum", "ApplicationCreateKindEnum"} & set(schemas)
    status = {path: next(p for p in op["parameters"] if p["name"] == "status")["schema"]
              for path, method, op in operations(openapi)
              if method == "get" and any(p["name"] == "status" for p in op["parameters"])}
    assert status == {
        "/api/v1/applications/": {"$ref": "#/components/schemas/ApplicationStatusEnum"},
        "/api/v1/billing-documents/": {"$ref": "#/components/schemas/BillingDocumentStatusEnum"},
        "/api/v1/invoices/": {"$ref": "#/components/schemas/InvoiceStatusEnum"},
        "/api/v1/red-flush-requests/": {"$ref": "#/components/schemas/RedFlushRequestStatusEnum"},
    }


# --- 7a: deliveries ----------------------------------------------------------------------------------------------------


@pytest.fixture
def invoice(yuntu):
    return make_invoice(yuntu)


def test_an_invoice_is_sent_to_the_address_the_customer_gives(shop, invoice, django_capture_on_commit_callbacks):
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"})
    assert response.status_code == 201, response.content
    body = response.json()
    delivery = Delivery.objects.get(pk=body["id"])
    assert (delivery.channel, delivery.target, delivery.invoice_id) == ("email", "me@example.com", invoice.pk)
    assert ClientDelivery.objects.get(delivery=delivery).client.name == "shop"
    assert [m.to for m in mail.outbox] == [["me@example.com"]]
    assert Delivery.objects.get(pk=body["id"]).status == "sent"
    assert Event.objects.filter(action="api_delivery_requested", actor_label="api:shop").exists()


def test_deliveries_are_limited_per_invoice_and_per_client(shop, invoice, yuntu, settings):
    settings.API_DELIVERIES_PER_INVOICE_PER_DAY = 2
    settings.API_DELIVERIES_PER_CLIENT_PER_DAY = 3
    for _ in range(2):
        assert shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"}).status_code == 201
    over = shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"})
    error = assert_error(over, 429, "delivery_limit_reached")
    assert "2" in error["message"] and 86000 < int(over["Retry-After"]) <= 86400
    other = make_invoice(yuntu)
    assert shop.post(f"invoices/{other.pk}/deliveries/", {"email": "me@example.com"}).status_code == 201
    assert_error(shop.post(f"invoices/{other.pk}/deliveries/", {"email": "me@example.com"}), 429,
                 "delivery_limit_reached")
    # A day later the window has moved on.
    ClientDelivery.objects.update(created_at=timezone.now() - timedelta(days=1, seconds=1))
    assert shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"}).status_code == 201


def test_deliveries_follow_the_file_rules(shop, erp, invoice):
    assert_error(erp.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"}), 404, "not_found")
    assert_error(shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "not-an-address"}), 400,
                 "validation_error")
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOIDED)
    assert_error(shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"}), 409, "invalid_state")
    ApiClient.objects.filter(name="shop").update(can_download_files=False)
    assert_error(shop.post(f"invoices/{invoice.pk}/deliveries/", {"email": "me@example.com"}), 403,
                 "permission_denied")
    assert not Delivery.objects.exists()


# --- 7b: applying again after a rejection --------------------------------------------------------------------------


def test_a_rejected_application_is_applied_for_again_with_the_corrected_title(shop, fiona):
    doc = shop.post("billing-documents/", document_body("SO-C6", "212.00")).json()
    first = shop.post("applications/", {"billing_documents": [{"id": doc["id"], "amount": "106.00"}]}).json()
    assert_error(shop.post(f"applications/{first['id']}/reapply/", {}), 409, "invalid_state")
    application_services.application_reject(application=InvoiceApplication.objects.get(pk=first["id"]), actor=fiona,
                                reason="抬头有误")
    corrected = {**BUYER, "name": "上海白鹭文化传媒股份有限公司"}
    response = shop.post(f"applications/{first['id']}/reapply/", {"buyer": corrected}, key="re-1")
    assert response.status_code == 201, response.content
    new = response.json()
    assert (new["reapplication_of"], new["status"], new["buyer"]["name"]) == (
        first["id"], "processing", "上海白鹭文化传媒股份有限公司")
    assert (new["total"], new["lines"][0]["item_name"]) == (first["total"], first["lines"][0]["item_name"])
    assert [(s["id"], s["amount"]) for s in new["billing_documents"]] == [(doc["id"], "106.00")]
    assert shop.get(f"applications/{first['id']}/").json()["reapplied_as"] == new["id"]
    assert shop.post(f"applications/{first['id']}/reapply/", {"buyer": corrected}, key="re-1").json()["id"] == new["id"]
    assert_error(shop.post(f"applications/{first['id']}/reapply/", {}), 409, "invalid_state")


def test_a_reapplication_needs_the_balance_it_takes(shop, fiona):
    doc = shop.post("billing-documents/", document_body("SO-C7")).json()
    first = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).json()
    application_services.application_reject(application=InvoiceApplication.objects.get(pk=first["id"]), actor=fiona,
                                reason="抬头有误")
    assert shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).status_code == 201
    error = assert_error(shop.post(f"applications/{first['id']}/reapply/", {}), 400, "validation_error")
    assert "sources" in error["fields"]
    assert InvoiceApplication.objects.count() == 2


def test_applications_of_another_entity_cannot_be_reapplied(shop, erp, fiona):
    first = shop.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
    application_services.application_reject(application=InvoiceApplication.objects.get(pk=first["id"]), actor=fiona,
                                reason="抬头有误")
    assert_error(erp.post(f"applications/{first['id']}/reapply/", {}), 404, "not_found")
