from __future__ import annotations

import pytest

from invoicing.models import Event
from issuing.base import Source
from issuing.billing.models import BillingDocument, BillingDocumentStatus
from tests.api.conftest import assert_error, document_body, line

pytestmark = pytest.mark.django_db


def test_a_client_submits_a_billing_document_with_lines(shop, yuntu):
    response = shop.post("billing-documents/", document_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["taxpayer"] == yuntu.credit_code
    assert body["external_no"] == "SO-1001"
    assert body["source_system"] == "shop"
    assert body["status"] == "open"
    assert body["order_amount"] == "106.00"
    assert body["balance"]["balance"] == "106.00"
    assert body["buyer"]["name"] == "上海白鹭文化传媒有限公司"
    assert [ln["item_name"] for ln in body["lines"]] == ["软件技术服务费"]
    doc = BillingDocument.objects.get(pk=body["id"])
    assert doc.source == Source.API and doc.taxpayer == yuntu
    assert Event.objects.filter(object_id=str(doc.pk), action="api_create", actor_label="api:shop").exists()


def test_it_gets_and_lists_billing_documents_with_filters(shop):
    first = shop.post("billing-documents/", document_body("SO-1")).json()
    shop.post("billing-documents/", document_body("SO-2"))
    assert shop.get(f"billing-documents/{first['id']}/").json()["external_no"] == "SO-1"
    listed = shop.get("billing-documents/").json()
    assert listed["count"] == 2
    only = shop.get("billing-documents/", {"external_no": "SO-2"}).json()
    assert [d["external_no"] for d in only["results"]] == ["SO-2"]
    assert shop.get("billing-documents/", {"status": "fully"}).json()["count"] == 0


def test_the_same_external_number_twice_is_a_conflict(shop):
    shop.post("billing-documents/", document_body("SO-9"))
    error = assert_error(shop.post("billing-documents/", document_body("SO-9")), 409, "already_exists")
    assert "external_no" in error["fields"]


def test_a_refund_is_recorded_on_the_document(shop):
    doc = shop.post("billing-documents/", document_body("SO-R", "106.00")).json()
    response = shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "6.00", "reason": "少发一件"})
    assert response.status_code == 200, response.content
    assert response.json()["refunded_amount"] == "6.00"
    assert response.json()["balance"]["balance"] == "100.00"


def test_a_refund_beyond_what_was_paid_is_a_field_error(shop):
    doc = shop.post("billing-documents/", document_body("SO-R2", "106.00")).json()
    error = assert_error(shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "200.00"}), 400,
                         "validation_error")
    assert "amount" in error["fields"]
    assert BillingDocument.objects.get(pk=doc["id"]).refunded_amount == 0


def test_lines_that_do_not_add_up_to_the_order_amount_are_refused(shop):
    error = assert_error(shop.post("billing-documents/", document_body(order_amount="100.00")), 400,
                         "validation_error")
    assert "order_amount" in error["fields"]


def test_line_errors_name_the_line(shop):
    body = document_body(lines=[line(), line(tax_category="9999999999999999999", amount=None)])
    error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert "lines[2].tax_category" in error["fields"]
    assert "lines[2].amount" in error["fields"] or "lines[2]" in str(error["fields"])


def test_a_document_status_follows_its_applications(shop):
    doc = shop.post("billing-documents/", document_body("SO-S")).json()
    shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]})
    assert shop.get(f"billing-documents/{doc['id']}/").json()["status"] == BillingDocumentStatus.FULLY


def test_a_line_whose_amount_would_not_fit_the_money_columns_is_a_field_error(shop):
    huge = line(amount=None, quantity="999999999999", unit_price="999999999999")
    error = assert_error(shop.post("billing-documents/", document_body(lines=[huge])), 400, "validation_error")
    assert "lines[1].amount" in error["fields"]
