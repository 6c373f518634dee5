from __future__ import annotations

import pytest

from invoicing.models import Event
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.base import Source
from tests.api.conftest import BUYER, assert_error, document_body, line

pytestmark = pytest.mark.django_db


def test_an_application_from_a_billing_document_reads_as_processing(shop):
    doc = shop.post("billing-documents/", document_body("SO-A1")).json()
    response = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}],
                                           "delivery_email": "a@example.com"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("SQ")
    assert (body["status"], body["status_label"]) == ("processing", "开票中")
    assert body["total"] == "106.00" and body["amount"] == "100.00" and body["tax"] == "6.00"
    assert body["billing_documents"] == [{"id": doc["id"], "external_no": "SO-A1", "amount": "106.00"}]
    assert body["buyer"]["name"] == BUYER["name"]
    app = InvoiceApplication.objects.get(pk=body["id"])
    assert app.source == Source.API and app.status == ApplicationStatus.PENDING_REVIEW
    assert Event.objects.filter(object_id=str(app.pk), action="api_create", actor_label="api:shop").exists()


def test_part_of_a_document_can_be_applied_for(shop):
    doc = shop.post("billing-documents/", document_body("SO-A2", "212.00", lines=[line("106.00"), line("106.00")]))
    doc = doc.json()
    body = shop.post("applications/", {"billing_documents": [{"id": doc["id"], "amount": "53.00"}]}).json()
    assert body["total"] == "53.00"
    assert shop.get(f"billing-documents/{doc['id']}/").json()["balance"]["balance"] == "159.00"


def test_an_application_with_inline_lines_and_a_buyer(shop):
    response = shop.post("applications/", {"buyer": BUYER, "lines": [line("212.00", quantity="2", unit_price="106")]})
    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["quantity"].startswith("2")


def test_more_than_the_balance_is_a_field_error(shop):
    doc = shop.post("billing-documents/", document_body("SO-A3")).json()
    error = assert_error(shop.post("applications/", {"billing_documents": [{"id": doc["id"], "amount": "500.00"}]}),
                         400, "validation_error")
    assert "sources" in error["fields"]
    assert InvoiceApplication.objects.count() == 0


def test_compliance_failures_come_back_as_field_errors(shop):
    """A 专票 needs the buyer's address, phone and bank: the same rules the reviewer's approval runs."""
    response = shop.post("applications/", {"kind": "81", "buyer": BUYER, "lines": [line()]})
    error = assert_error(response, 400, "validation_error")
    assert {"buyer_address", "buyer_bank_name"} <= set(error["fields"])
    assert "专票必须填写购买方地址和电话" in error["fields"]["buyer_address"]
    assert InvoiceApplication.objects.count() == 0


def test_a_rate_the_category_does_not_allow_names_the_line(shop):
    response = shop.post("applications/", {"buyer": BUYER, "lines": [line(), line(tax_rate="0.13")]})
    error = assert_error(response, 400, "validation_error")
    assert any(key.startswith("lines[") for key in error["fields"]), error


def test_a_bad_buyer_tax_id_is_refused_by_the_compliance_rule(shop):
    buyer = {**BUYER, "tax_id": "91310000MA1K0BA10X"}
    error = assert_error(shop.post("applications/", {"buyer": buyer, "lines": [line()]}), 400, "validation_error")
    assert "buyer_tax_id" in error["fields"]


def test_neither_documents_nor_lines_is_a_field_error(shop):
    error = assert_error(shop.post("applications/", {"buyer": BUYER}), 400, "validation_error")
    assert "lines" in error["fields"]


def test_another_entitys_billing_document_cannot_be_used(shop, erp):
    theirs = erp.post("billing-documents/", document_body("ERP-1")).json()
    error = assert_error(shop.post("applications/", {"billing_documents": [{"id": theirs["id"]}]}), 400,
                         "validation_error")
    assert "billing_documents[1].id" in error["fields"]


def test_list_and_filter_applications_by_customer_status(shop):
    doc = shop.post("billing-documents/", document_body("SO-A4")).json()
    app = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).json()
    shop.post("applications/", {"buyer": BUYER, "lines": [line()]})
    assert shop.get("applications/").json()["count"] == 2
    assert shop.get("applications/", {"external_no": "SO-A4"}).json()["results"][0]["id"] == app["id"]
    assert shop.get("applications/", {"status": "processing"}).json()["count"] == 2
    assert shop.get("applications/", {"status": "issued"}).json()["count"] == 0
    assert shop.get(f"applications/{app['id']}/").json()["number"] == app["number"]


def test_withdrawing_gives_the_balance_back_and_cannot_happen_twice(shop):
    doc = shop.post("billing-documents/", document_body("SO-A5")).json()
    app = shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).json()
    response = shop.post(f"applications/{app['id']}/withdraw/", {"reason": "客户取消"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_label"]) == ("withdrawn", "已撤销")
    assert shop.get(f"billing-documents/{doc['id']}/").json()["balance"]["balance"] == "106.00"
    error = assert_error(shop.post(f"applications/{app['id']}/withdraw/", {}), 409, "invalid_state")
    assert "撤销" in error["message"]


def test_a_rejection_reason_reaches_the_customer(shop, fiona):
    app = shop.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
    application_services.application_reject(application=InvoiceApplication.objects.get(pk=app["id"]), actor=fiona,
                                reason="抬头与营业执照不符")
    body = shop.get(f"applications/{app['id']}/").json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "抬头与营业执照不符")
