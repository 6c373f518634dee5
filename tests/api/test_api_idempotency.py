"""Idempotency-Key: a replay returns the first response and creates nothing; another body with the key is 422."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from api.models import IdempotencyRecord
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import BillingDocument
from tests.api.conftest import Api, assert_error, document_body

pytestmark = pytest.mark.django_db


def test_a_replay_returns_the_first_response_and_creates_nothing(shop):
    first = shop.post("billing-documents/", document_body("SO-I1"), key="k-1")
    assert first.status_code == 201
    again = shop.post("billing-documents/", document_body("SO-I1"), key="k-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert BillingDocument.objects.filter(external_no="SO-I1").count() == 1


def test_the_same_key_with_another_body_is_422(shop):
    shop.post("billing-documents/", document_body("SO-I2"), key="k-2")
    assert_error(shop.post("billing-documents/", document_body("SO-I3"), key="k-2"), 422, "idempotency_key_reused")
    assert not BillingDocument.objects.filter(external_no="SO-I3").exists()


def test_the_same_key_on_another_endpoint_is_422(shop):
    doc = shop.post("billing-documents/", document_body("SO-I4"), key="k-3").json()
    response = shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "1.00"}, key="k-3")
    assert_error(response, 422, "idempotency_key_reused")


def test_keys_belong_to_one_client(shop, erp):
    assert shop.post("billing-documents/", document_body("SO-I5"), key="shared").status_code == 201
    # the ERP may use the same key for its own request: keys are unique per client
    response = erp.post("billing-documents/", document_body("SO-I5", taxpayer=None), key="shared")
    assert response.status_code == 201, response.content
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_a_failed_request_does_not_keep_the_key(shop):
    bad = document_body("SO-I6", order_amount="1.00")
    assert_error(shop.post("billing-documents/", bad, key="k-6"), 400, "validation_error")
    assert not IdempotencyRecord.objects.filter(key="k-6").exists()
    assert shop.post("billing-documents/", document_body("SO-I6"), key="k-6").status_code == 201


def test_a_refund_replay_refunds_once(shop):
    doc = shop.post("billing-documents/", document_body("SO-I7", "106.00")).json()
    for _ in range(3):
        response = shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "10.00"}, key="refund-1")
        assert response.status_code == 200
        assert response.json()["refunded_amount"] == "10.00"
    assert BillingDocument.objects.get(pk=doc["id"]).refunded_amount == 10


def test_an_invalid_key_is_refused(shop):
    assert_error(shop.post("billing-documents/", document_body(), key="x" * 256), 400, "idempotency_key_invalid")
    assert_error(shop.post("billing-documents/", document_body(), key="has space"), 400, "idempotency_key_invalid")


def test_an_application_replay_returns_the_first_application(shop):
    doc = shop.post("billing-documents/", document_body("SO-I8")).json()
    body = {"billing_documents": [{"id": doc["id"]}]}
    first = shop.post("applications/", body, key="app-1")
    again = shop.post("applications/", body, key="app-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert InvoiceApplication.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_create_exactly_one_object(shop_credentials):
    """Eight threads send the same create with the same key at once: one object, eight identical answers."""
    token = shop_credentials.token
    barrier = threading.Barrier(8)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send():
        try:
            api = Api(token)
            barrier.wait()
            response = api.post("billing-documents/", document_body("SO-RACE"), key="race-key")
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert BillingDocument.objects.filter(external_no="SO-RACE").count() == 1
    assert IdempotencyRecord.objects.filter(key="race-key").count() == 1
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1


def test_old_keys_are_purged_and_a_purged_key_starts_afresh(shop, settings):
    from datetime import timedelta

    from django.utils import timezone

    from api.idempotency import purge_expired
    from api.tasks import BEAT_SCHEDULE
    from invoicing.celery import app as celery_app

    settings.API_IDEMPOTENCY_KEEP_HOURS = 24
    shop.post("billing-documents/", document_body("SO-P1"), key="old")
    shop.post("billing-documents/", document_body("SO-P2"), key="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert purge_expired() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    # After its purge the key is free: the same key with another body is a new request, not a 422.
    assert shop.post("billing-documents/", document_body("SO-P3"), key="old").status_code == 201
    assert celery_app.conf.beat_schedule["api-purge-idempotency-records"] == BEAT_SCHEDULE[
        "api-purge-idempotency-records"]
