"""The API refuses what cannot reach an invoice, answers every refusal in its JSON error shape, and stays fast at the
line limit (issue 12: control characters, deep JSON, large bodies, rates, dates, lines per document)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issuing.billing.models import BillingDocument
from tests.api.conftest import BUYER, assert_error, document_body, line
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_a_buyer_name_with_rlo_and_bel_is_a_field_error_and_nothing_is_stored(shop):
    body = document_body(buyer={**BUYER, "name": "上海白鹭\u202e\x07文化传媒有限公司"})
    error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert list(error["fields"]) == ["buyer.name"]
    assert "U+202E" in error["fields"]["buyer.name"][0]
    assert not BillingDocument.objects.exists()


@pytest.mark.parametrize("char", ["\u200b", "\u2066", "\ufeff", "\x1b"])
def test_every_text_field_is_checked_including_lines_remarks_and_applications(shop, char):
    body = document_body(remark=f"备注{char}", lines=[line(), line(item_name=f"服务{char}", spec=f"A{char}")])
    error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert set(error["fields"]) == {"remark", "lines[2].item_name", "lines[2].spec"}
    app = {"lines": [line(unit=f"项{char}")], "buyer": BUYER, "delivery_email": "a@example.com"}
    error = assert_error(shop.post("applications/", app), 400, "validation_error")
    assert set(error["fields"]) == {"lines[1].unit"}


def nested(depth: int) -> str:
    return '{"external_no": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [500, 100_000])
def test_deeply_nested_json_is_a_parse_error_not_a_server_error(shop, depth):
    response = shop.http.post("/api/v1/billing-documents/", nested(depth), content_type="application/json",
                              headers=shop.headers())
    error = assert_error(response, 400, "parse_error")
    assert "32" in error["message"]


def test_a_body_over_the_size_limit_is_413_in_the_json_shape(shop, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = document_body(lines=[line(item_name="服" * 200) for _ in range(20)])
    assert len(json.dumps(body)) > 10_000
    response = shop.post("billing-documents/", body, key="big-1")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 413, "payload_too_large")


def test_a_rate_the_entity_may_not_use_is_refused_like_the_import_refuses_it(shop):
    body = document_body(lines=[line(), line(tax_rate="0.07")])
    error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert list(error["fields"]) == ["lines[2].tax_rate"] and "7%" in error["fields"]["lines[2].tax_rate"][0]
    body = document_body(lines=[line(tax_rate="0.13")])  # a general rate outside the software category's 6%
    error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert list(error["fields"]) == ["lines[1].tax_rate"]
    assert not BillingDocument.objects.exists()


def test_a_business_date_in_the_future_is_refused(shop, settings):
    error = assert_error(shop.post("billing-documents/", document_body(business_date="2099-12-31")), 400,
                         "validation_error")
    assert list(error["fields"]) == ["business_date"]
    assert_error(shop.post("billing-documents/", document_body(business_date="1999-01-01")), 400, "validation_error")


def test_more_lines_than_the_limit_are_refused_before_any_line_is_read(shop, settings):
    settings.BILLING_DOCUMENT_MAX_LINES = 3
    body = document_body(amount="424.00", lines=[line() for _ in range(4)])
    with CaptureQueriesContext(connection) as queries:
        error = assert_error(shop.post("billing-documents/", body), 400, "validation_error")
    assert list(error["fields"]) == ["lines"] and "3" in error["fields"]["lines"][0]
    assert not any("issuing_taxcategory" in q["sql"] or "invoicing_taxcategory" in q["sql"]
                   for q in queries.captured_queries)
    body = document_body(amount="318.00", lines=[line() for _ in range(3)])
    assert shop.post("billing-documents/", body).status_code == 201


def test_a_document_at_the_line_limit_takes_a_constant_number_of_queries(shop, settings):
    settings.BILLING_DOCUMENT_MAX_LINES = 200
    small = shop.post("billing-documents/", document_body("SO-S", "10.60", lines=[line("10.60")] * 2))
    with CaptureQueriesContext(connection) as few:
        small = shop.post("billing-documents/", document_body("SO-S2", "21.20", lines=[line("10.60")] * 2))
    with CaptureQueriesContext(connection) as many:
        big = shop.post("billing-documents/", document_body("SO-B", "2120.00", lines=[line("10.60")] * 200))
    assert small.status_code == 201 and big.status_code == 201

    def lines_inserts(queries):
        return [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "issuing_billingdocumentline"')]

    # Lines go in by bulk insert: one statement on PostgreSQL, a few on SQLite (its bound-parameter limit splits the
    # batch); everything else must not depend on the number of lines.
    from issuing.billing.models import BillingDocumentLine

    fields = [f for f in BillingDocumentLine._meta.concrete_fields if not f.primary_key]
    batch = connection.ops.bulk_batch_size(fields, [None] * 200) or 200
    assert len(lines_inserts(many)) <= -(-200 // batch)
    assert len(many) - len(lines_inserts(many)) == len(few) - len(lines_inserts(few)), [
        q["sql"][:80] for q in many.captured_queries]


def test_the_file_link_answers_a_generic_error_when_a_file_cannot_be_made(shop, yuntu, caplog):
    invoice = make_invoice(yuntu)
    type(invoice).objects.filter(pk=invoice.pk).update(buyer_name="白鹭\u202e\x07传媒")  # data from before the rule
    url = shop.get(f"invoices/{invoice.pk}/files/").json()[2]["url"]  # xml
    response = shop.http.get(url)
    error = assert_error(response, 503, "file_unavailable")
    assert "XML" not in error["message"] and "compatible" not in response.content.decode()
    assert "compatible" in caplog.text  # the reason is in the log
