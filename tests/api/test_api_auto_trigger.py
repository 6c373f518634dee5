"""The API's entrances to the entity's 申请时机: a paid document, a payment, a delivery (issue 14, defect 6)."""

from __future__ import annotations

import pytest

from issuing.applications.models import InvoiceApplication
from issuing.base import Source
from issuing.billing.models import ApplicationTrigger
from tests.api.conftest import assert_error, document_body
from tests.issuing.factories import policy

pytestmark = pytest.mark.django_db


def test_a_payment_through_the_api_creates_the_application(shop, yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    doc = shop.post("billing-documents/", document_body("SO-P", "106.00", paid_amount="0")).json()
    assert not InvoiceApplication.objects.exists()
    response = shop.post(f"billing-documents/{doc['id']}/payment/", {"amount": "106.00"}, key="pay-1")
    assert response.status_code == 200, response.content
    assert response.json()["paid_amount"] == "106.00" and response.json()["balance"]["balance"] == "0.00"
    again = shop.post(f"billing-documents/{doc['id']}/payment/", {"amount": "106.00"}, key="pay-1")  # a retry
    assert again.status_code == 200 and again.json()["paid_amount"] == "106.00"
    app = InvoiceApplication.objects.get()
    assert (app.source, app.buyer_name, app.delivery_email) == (Source.AUTO, "上海白鹭文化传媒有限公司",
                                                                "finance@bailu.example.com")


def test_a_document_submitted_paid_applies_at_once(shop, yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    shop.post("billing-documents/", document_body("SO-PAID", "106.00"))
    assert InvoiceApplication.objects.get().total == 106


def test_a_payment_must_be_positive(shop):
    doc = shop.post("billing-documents/", document_body("SO-Z", "106.00", paid_amount="0")).json()
    error = assert_error(shop.post(f"billing-documents/{doc['id']}/payment/", {"amount": "0"}), 400,
                         "validation_error")
    assert "amount" in error["fields"]


def test_delivery_through_the_api_and_at_creation(shop, yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_DELIVERY)
    doc = shop.post("billing-documents/", document_body("SO-D", "106.00")).json()
    assert doc["delivered_on"] is None and not InvoiceApplication.objects.exists()
    response = shop.post(f"billing-documents/{doc['id']}/delivered/", {"delivered_on": "2026-12-02"})
    assert response.status_code == 200, response.content
    assert response.json()["delivered_on"] == "2026-12-02"
    shop.post("billing-documents/", document_body("SO-D2", "106.00", delivered_on="2026-12-03"))
    assert sorted(a.trigger_key.split(":")[0] for a in InvoiceApplication.objects.all()) == ["delivered", "delivered"]


def test_another_entitys_document_is_a_404(erp, shop):
    doc = shop.post("billing-documents/", document_body("SO-X", "106.00", paid_amount="0")).json()
    assert erp.post(f"billing-documents/{doc['id']}/payment/", {"amount": "1.00"}).status_code == 404
