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


def test_payments_with_auto_issue_go_to_the_platform_together(shop, yuntu, monkeypatch, settings,
                                                              django_capture_on_commit_callbacks):
    """One application per paid order (自动审核 + 自动开票): each payment only requests issuing; the first arms one
    drain for ``ISSUING_GROUP_MAX_WAIT``, which starts all three in one batch."""
    from decimal import Decimal

    from django.core.cache import cache

    from issuing.applications.models import ApplicationStatus
    from issuing.platform import services as platform_services
    from issuing.platform import tasks as platform_tasks

    drains = []
    settings.ISSUING_GROUP_MAX_WAIT = 60  # longer than the three calls take, however slow the machine
    monkeypatch.setattr(platform_services, "tasks_run_eagerly", lambda: False)  # a real broker
    monkeypatch.setattr(platform_tasks.issue_drain_task, "apply_async",
                        lambda *args, countdown=None, **kwargs: drains.append(countdown))
    cache.delete(platform_services.DRAIN_ARMED_KEY)
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT, auto_approve=True,
           auto_approve_company_limit=Decimal("5000.00"), auto_issue=True)
    for n in range(3):
        doc = shop.post("billing-documents/", document_body(f"SO-G{n}", "106.00", paid_amount="0")).json()
        with django_capture_on_commit_callbacks(execute=True):
            response = shop.post(f"billing-documents/{doc['id']}/payment/", {"amount": "106.00"}, key=f"pay-g{n}")
        assert response.status_code == 200, response.content

    apps = list(InvoiceApplication.objects.order_by("id"))
    assert [a.status for a in apps] == [ApplicationStatus.APPROVED] * 3
    assert all(a.issue_requested_at for a in apps) and drains == [60.0]
    assert platform_services.issue_drain_claim().marked == [a.pk for a in apps]
    assert set(InvoiceApplication.objects.values_list("status", flat=True)) == {ApplicationStatus.ISSUING}
