"""Invoices, their files through signed links, red-flush requests, and entity isolation."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client

from api import files
from api.models import ApiClient
from invoicing.models import Event
from issuing.redletter.models import RedLetterForm
from tests.api.conftest import assert_error, document_body
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(yuntu):
    return make_invoice(yuntu)


@pytest.fixture
def mingyuan_invoice(mingyuan):
    return make_invoice(mingyuan)


def test_an_invoice_is_listed_and_read(shop, invoice, mingyuan_invoice):
    listed = shop.get("invoices/").json()
    assert [i["number"] for i in listed["results"]] == [invoice.number]
    body = shop.get(f"invoices/{invoice.pk}/").json()
    assert body["number"] == invoice.number
    assert body["total"] == str(invoice.total)
    assert body["application"]["number"] == invoice.application.number
    assert [ln["line_no"] for ln in body["lines"]] == [1, 2]
    assert body["lines"][0]["item_name"] == "*信息技术服务*软件开发服务"
    assert shop.get("invoices/", {"number": invoice.number}).json()["count"] == 1
    assert shop.get("invoices/", {"application": invoice.application_id}).json()["count"] == 1


def test_file_links_lead_to_the_file(shop, invoice):
    response = shop.get(f"invoices/{invoice.pk}/files/")
    assert response.status_code == 200, response.content
    links = {link["format"]: link["url"] for link in response.json()}
    assert set(links) == {"pdf", "ofd", "xml"}
    download = Client().get(links["xml"])  # no credentials: the signature is the credential
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert invoice.number.encode() in content
    assert download["Content-Disposition"].startswith("attachment")
    assert Event.objects.filter(object_id=str(invoice.pk), action="file.downloaded", actor_label="api:shop").exists()


def test_a_client_without_the_file_permission_gets_403(shop, invoice):
    ApiClient.objects.filter(name="shop").update(can_download_files=False)
    assert_error(shop.get(f"invoices/{invoice.pk}/files/"), 403, "permission_denied")


def test_a_link_stops_working_when_the_permission_is_withdrawn(shop, invoice):
    url = shop.get(f"invoices/{invoice.pk}/files/").json()[0]["url"]
    ApiClient.objects.filter(name="shop").update(can_download_files=False)
    assert_error(Client().get(url), 404, "not_found")


def test_an_expired_or_forged_link_is_refused(shop, invoice, monkeypatch):
    url = shop.get(f"invoices/{invoice.pk}/files/").json()[2]["url"]
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + files.FILE_LINK_SECONDS + 5)
    assert_error(Client().get(url), 410, "link_expired")
    monkeypatch.undo()
    assert_error(Client().get(url[:-3] + "xx/"), 404, "not_found")


# --- entity isolation -------------------------------------------------------------------------------------------


def test_a_client_of_yuntu_gets_404_for_mingyuans_objects(shop, erp, mingyuan_invoice, shop_credentials):
    doc = erp.post("billing-documents/", document_body("ERP-9")).json()
    app = erp.post("applications/", {"billing_documents": [{"id": doc["id"]}]}).json()
    assert_error(shop.get(f"billing-documents/{doc['id']}/"), 404, "not_found")
    assert_error(shop.post(f"billing-documents/{doc['id']}/refund/", {"amount": "1.00"}), 404, "not_found")
    assert_error(shop.get(f"applications/{app['id']}/"), 404, "not_found")
    assert_error(shop.post(f"applications/{app['id']}/withdraw/", {}), 404, "not_found")
    assert_error(shop.get(f"invoices/{mingyuan_invoice.pk}/"), 404, "not_found")
    assert_error(shop.get(f"invoices/{mingyuan_invoice.pk}/files/"), 404, "not_found")
    forged = files.file_link_token(client=shop_credentials.client, invoice=mingyuan_invoice, fmt="xml")
    assert_error(Client().get(f"/api/v1/files/{forged}/"), 404, "not_found")
    assert shop.get("billing-documents/").json()["count"] == 0
    assert shop.get("applications/").json()["count"] == 0
    assert shop.get("invoices/").json()["count"] == 0


def test_a_client_cannot_create_for_an_entity_it_does_not_serve(shop, mingyuan):
    error = assert_error(shop.post("billing-documents/", document_body(taxpayer=mingyuan.credit_code)), 400,
                         "validation_error")
    assert "taxpayer" in error["fields"]


# --- red-flush requests (红字确认单 drafts through issuing.redletter) ---------------------------------------------


def test_a_full_red_flush_request_becomes_a_draft_form_for_finance(shop, invoice):
    response = shop.post("red-flush-requests/", {"invoice": invoice.pk, "reason": "01"}, key="red-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["invoice_number"], body["is_full"]) == ("draft", invoice.number, True)
    assert body["total"] == str(-invoice.total)
    assert shop.post("red-flush-requests/", {"invoice": invoice.pk, "reason": "01"}, key="red-1").json() == body
    assert RedLetterForm.objects.count() == 1
    assert Event.objects.filter(object_id=str(body["id"]), action="api_create", actor_label="api:shop").exists()
    assert shop.get("red-flush-requests/").json()["count"] == 1
    assert shop.get(f"red-flush-requests/{body['id']}/").json()["request_no"] == body["request_no"]
    assert shop.get("red-flush-requests/", {"invoice": invoice.pk, "status": "draft"}).json()["count"] == 1


def test_a_partial_red_flush_for_a_sales_return(shop, invoice):
    response = shop.post("red-flush-requests/", {"invoice": invoice.pk, "reason": "02", "amount": "1060.00",
                                                 "note": "退货单 RT-1"})
    assert response.status_code == 201, response.content
    assert (response.json()["is_full"], response.json()["total"]) == (False, "-1060.00")


def test_red_flush_rules_come_back_as_errors(shop, invoice):
    assert_error(shop.post("red-flush-requests/", {"invoice": invoice.pk, "reason": "01", "amount": "10.00"}), 400,
                 "validation_error")  # 开票有误 is full red only
    error = assert_error(shop.post("red-flush-requests/", {"invoice": invoice.pk, "reason": "02",
                                                           "amount": "999999.00"}), 400, "validation_error")
    assert error["fields"]
    assert not RedLetterForm.objects.exists()


def test_red_flush_of_another_entitys_invoice_is_refused(shop, mingyuan_invoice):
    error = assert_error(shop.post("red-flush-requests/", {"invoice": mingyuan_invoice.pk, "reason": "01"}), 400,
                         "validation_error")
    assert "invoice" in error["fields"]
    assert not RedLetterForm.objects.exists()


def test_another_entitys_red_flush_requests_are_404(shop, erp, mingyuan_invoice):
    form = erp.post("red-flush-requests/", {"invoice": mingyuan_invoice.pk, "reason": "01"}).json()
    assert_error(shop.get(f"red-flush-requests/{form['id']}/"), 404, "not_found")
