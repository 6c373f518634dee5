"""Received invoices through the API: collecting files, QR payloads or typed fields with an outcome per item, the
pool's list and detail with signed links to the files, limits, idempotency and entity scope."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from api import files as api_files
from api.models import ApiClient
from invoicing.events import ACTION_LABELS
from invoicing.ids import build_invoice_qr
from invoicing.models import Event
from receiving.models import Carrier, Collection, Method, ReceivedInvoice, ReviewState, Source, UseState
from tests.api.conftest import Api, assert_error
from tests.receiving.conftest import XIHU, as_ofd, as_xml, small_document

pytestmark = pytest.mark.django_db

YUNTU = ("广州云途出行科技有限公司", "91440101MA5CYUN00U")
MINGYUAN = ("深圳明远信息技术有限公司", "91440300MA5FM1NGYB")
A = small_document(number="25312000000000000201", buyer=YUNTU)
B = small_document(number="25312000000000000202", buyer=YUNTU, amount="2000.00")
C = small_document(number="25312000000000000203", buyer=YUNTU, amount="300.00")
M = small_document(number="25312000000000000209", buyer=MINGYUAN)


def upload(api, files: list[tuple[str, bytes]], *, taxpayer: str | None = None, key: str | None = None, **headers):
    """A multipart POST to the collect endpoint."""
    data: dict = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    if taxpayer:
        data["taxpayer"] = taxpayer
    extra = api.headers(headers)
    if key is not None:
        extra["Idempotency-Key"] = key
    return api.http.post("/api/v1/received-invoices/collect/", data, headers=extra)


def collect(api, body, **kwargs):
    return api.post("received-invoices/collect/", body, **kwargs)


def _zip(entries) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return out.getvalue()


def entered(number: str = "25312000000000000301", **overrides) -> dict:
    body = {"kind": "82", "number": number, "issue_date": (date.today() - timedelta(days=3)).isoformat(),
            "seller_name": XIHU[0], "seller_tax_id": XIHU[1], "buyer_name": YUNTU[0], "buyer_tax_id": YUNTU[1],
            "amount": "100.00", "tax": "6.00", "total": "106.00"}
    body.update(overrides)
    return body


def outcomes(body) -> list[tuple[int, str, str]]:
    return [(i["index"], i["name"], i["outcome"]) for i in body["items"]]


# --- files ------------------------------------------------------------------------------------------------------


def test_files_are_collected_now_with_an_outcome_for_each(shop, yuntu):
    response = upload(shop, [("a.xml", as_xml(A)), ("a.ofd", as_ofd(A)), ("again.xml", as_xml(A)),
                             ("corrupt.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40)])
    assert response.status_code == 201, response.content
    body = response.json()
    assert outcomes(body) == [(1, "a.xml", "created"), (2, "a.ofd", "attached"), (3, "again.xml", "duplicate"),
                              (4, "corrupt.pdf", "rejected")]
    assert body["counts"] == {"created": 1, "attached": 1, "duplicate": 1, "review": 0, "rejected": 1}
    assert (body["taxpayer"], body["method"], body["status"], body["total"]) == (yuntu.credit_code, "api", "done", 4)
    record = ReceivedInvoice.objects.get()
    created, attached, duplicate, rejected = body["items"]
    assert created["invoice"]["id"] == attached["invoice"]["id"] == duplicate["invoice"]["id"] == record.pk
    assert created["invoice"]["number"] == A.number and created["invoice"]["total"] == "1060.00"
    assert created["invoice"]["seller_tax_id"] == XIHU[1] and created["carrier"]
    assert duplicate["rule"] == "same_file" and "SHA-256" in duplicate["reason"]
    assert rejected["invoice"] is None and rejected["carrier"] is None
    assert rejected["rule"] == "malformed" and "corrupt.pdf" in rejected["reason"]
    batch = Collection.objects.get(pk=body["collection"])
    assert (batch.method, batch.actor_label, batch.created_by) == (Method.API, "api:shop", None)
    assert Event.objects.filter(object_id=str(record.pk), action="receive", actor_label="api:shop").exists()
    assert Event.objects.filter(object_id=str(batch.pk), action="api_create", actor_label="api:shop").exists()
    assert "api_create" in ACTION_LABELS


def test_a_zip_is_expanded_into_its_files(shop):
    archive = _zip([("三月/b.xml", as_xml(B)), ("三月/c.ofd", as_ofd(C)), ("三月/inner.zip", _zip([("x.xml", b"<a/>")]))])
    body = upload(shop, [("三月发票.zip", archive)]).json()
    assert outcomes(body) == [(1, "三月发票.zip/三月/b.xml", "created"), (2, "三月发票.zip/三月/c.ofd", "created"),
                              (3, "三月发票.zip/三月/inner.zip", "rejected")]
    assert body["items"][2]["rule"] == "zip_in_zip"
    assert set(ReceivedInvoice.objects.values_list("number", flat=True)) == {B.number, C.number}


def test_a_file_that_needs_entry_is_kept_for_review_without_a_record(shop):
    png = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(png, format="PNG")
    item = upload(shop, [("photo.png", png.getvalue())]).json()["items"][0]
    assert (item["outcome"], item["rule"], item["invoice"]) == ("review", "needs_entry", None)
    assert Carrier.objects.get(pk=item["carrier"]).invoice is None
    assert not ReceivedInvoice.objects.exists()


# --- QR payloads ----------------------------------------------------------------------------------------------------


def test_qr_payloads_make_records_for_review_or_say_they_are_in_the_pool(shop, yuntu):
    upload(shop, [("a.xml", as_xml(A))])
    new = build_invoice_qr(type="32", number="25312000000000000401", amount=Decimal("530.00"),
                           date=date.today() - timedelta(days=1))
    known = build_invoice_qr(type="31", number=A.number, amount=A.total_with_tax, date=A.issue_date)
    response = collect(shop, {"taxpayer": yuntu.credit_code, "qr": [new, known, "hello"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert [(i["outcome"], i["rule"]) for i in body["items"]] == [
        ("review", "needs_file"), ("duplicate", "in_pool"), ("rejected", "qr_invalid")]
    assert body["items"][0]["invoice"]["number"] == "25312000000000000401"
    assert body["items"][0]["invoice"]["review_state"] == "review"
    assert "不是发票二维码" in body["items"][2]["reason"]
    record = ReceivedInvoice.objects.get(number="25312000000000000401")
    assert (record.review_state, record.use_state, record.data_source) == (
        ReviewState.NEEDS_REVIEW, UseState.IN_REVIEW, "qr")


def test_a_file_arriving_after_its_qr_is_attached(shop):
    qr = build_invoice_qr(type="31", number=A.number, amount=A.total_with_tax, date=A.issue_date)
    assert collect(shop, {"qr": [qr]}).json()["items"][0]["outcome"] == "review"
    item = upload(shop, [("a.xml", as_xml(A))]).json()["items"][0]
    assert item["outcome"] == "attached"
    assert item["invoice"]["review_state"] == "clear" and item["invoice"]["use_state"] == "in_pool"


# --- typed fields ---------------------------------------------------------------------------------------------------


def test_typed_fields_create_a_record_and_again_are_a_duplicate(shop):
    first = collect(shop, {"invoices": [entered(lines=[{"item_name": "*信息技术服务*软件开发服务", "amount": "100.00",
                                                         "tax_rate": "0.06", "tax": "6.00"}])]})
    assert first.status_code == 201, first.content
    item = first.json()["items"][0]
    assert (item["outcome"], item["invoice"]["number"]) == ("created", "25312000000000000301")
    record = ReceivedInvoice.objects.get()
    assert (record.data_source, record.total, record.lines.count()) == ("manual", Decimal("106.00"), 1)
    again = collect(shop, {"invoices": [entered()]}).json()["items"][0]
    assert (again["outcome"], again["rule"], again["invoice"]["id"]) == ("duplicate", "in_pool", record.pk)
    assert ReceivedInvoice.objects.count() == 1
    assert Source.objects.filter(invoice=record).count() == 2


def test_typed_fields_are_checked_like_manual_entry_and_nothing_is_written(shop):
    future = (date.today() + timedelta(days=2)).isoformat()
    response = collect(shop, {"invoices": [entered(), entered("123", issue_date=future, total="999.00")]})
    error = assert_error(response, 400, "validation_error")
    assert "invoices[2].issue_date" in error["fields"] and "invoices[2].number" in error["fields"]
    assert "开票日期不能晚于今天" in error["fields"]["invoices[2].issue_date"]
    assert "invoices[1].number" not in error["fields"]
    assert not ReceivedInvoice.objects.exists() and not Collection.objects.exists()


def test_missing_fields_are_named(shop):
    error = assert_error(collect(shop, {"invoices": [{"kind": "82"}]}), 400, "validation_error")
    assert {"invoices[1].number", "invoices[1].issue_date"} <= set(error["fields"])


def test_buyer_and_seller_the_wrong_way_round_are_refused_with_the_field(shop, yuntu):
    body = entered(seller_name=YUNTU[0], seller_tax_id=YUNTU[1], buyer_name=XIHU[0], buyer_tax_id=XIHU[1])
    error = assert_error(collect(shop, {"invoices": [body]}), 400, "validation_error")
    assert "invoices[1].buyer_name" in error["fields"]
    assert not Collection.objects.exists()


# --- bad requests ---------------------------------------------------------------------------------------------------


def test_a_request_says_what_it_brings(shop):
    assert_error(collect(shop, {}), 400, "validation_error")
    error = assert_error(collect(shop, {"qr": ["x"], "invoices": [entered()]}), 400, "validation_error")
    assert "non_field_errors" in error["fields"]
    error = assert_error(collect(shop, {"qr": [1, {"a": 2}]}), 400, "validation_error")
    assert "qr[2]" in error["fields"]


def test_a_multipart_request_needs_files(shop, yuntu):
    response = shop.http.post("/api/v1/received-invoices/collect/", {"taxpayer": yuntu.credit_code},
                              headers=shop.headers())
    assert "files" in assert_error(response, 400, "validation_error")["fields"]


def test_more_parts_than_django_reads_are_a_400_in_the_error_shape(shop, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    error = assert_error(upload(shop, [("a.xml", b"1"), ("b.xml", b"2"), ("c.xml", b"3")]), 400, "validation_error")
    assert "最多 2" in error["fields"]["files"][0]
    assert not Collection.objects.exists()


def test_too_many_items_are_refused_before_anything_is_written(shop, settings):
    settings.RECEIVING_API_MAX_ITEMS = 2
    error = assert_error(upload(shop, [("a.xml", as_xml(A)), ("b.xml", as_xml(B)), ("c.xml", as_xml(C))]), 400,
                         "validation_error")
    assert "最多 2" in error["fields"]["files"][0]
    archive = _zip([("a.xml", as_xml(A)), ("b.xml", as_xml(B)), ("c.xml", as_xml(C))])
    assert "files" in assert_error(upload(shop, [("all.zip", archive)]), 400, "validation_error")["fields"]
    error = assert_error(collect(shop, {"qr": ["a", "b", "c"]}), 400, "validation_error")
    assert "qr" in error["fields"]
    error = assert_error(collect(shop, {"invoices": [entered(), entered(), entered()]}), 400, "validation_error")
    assert "invoices" in error["fields"]
    assert not Collection.objects.exists() and not Carrier.objects.exists()


def test_too_many_bytes_are_413(shop, settings):
    settings.RECEIVING_API_MAX_BYTES = 3000
    assert 1500 < len(as_xml(A)) < 3000
    error = assert_error(upload(shop, [("a.xml", as_xml(A)), ("b.xml", as_xml(B))]), 413, "payload_too_large")
    assert "MB" in error["message"] and error["fields"]["files"]
    big = b"%PDF-1.7\n" + b"0" * (400 * 1024)
    assert_error(upload(shop, [("big.pdf", big)]), 413, "payload_too_large")  # refused from Content-Length
    archive = _zip([("pad.xml", b" " * 50000)])
    assert len(archive) < 3000
    assert_error(upload(shop, [("small.zip", archive)]), 413, "payload_too_large")  # once expanded
    assert not Collection.objects.exists()


def test_an_empty_file_is_a_rejected_item(shop):
    body = upload(shop, [("empty.pdf", b""), ("a.xml", as_xml(A))]).json()
    assert [(i["outcome"], i["rule"]) for i in body["items"]] == [("rejected", "empty_file"), ("created", "")]


# --- entity scope ---------------------------------------------------------------------------------------------------


def test_another_clients_entity_is_invisible(shop, erp, mingyuan, yuntu):
    theirs = upload(erp, [("m.xml", as_xml(M))]).json()["items"][0]["invoice"]["id"]
    mine = upload(shop, [("a.xml", as_xml(A))]).json()["items"][0]["invoice"]["id"]
    assert [r["id"] for r in shop.get("received-invoices/").json()["results"]] == [mine]
    assert shop.get("received-invoices/", {"taxpayer": mingyuan.credit_code}).json()["count"] == 0
    assert_error(shop.get(f"received-invoices/{theirs}/"), 404, "not_found")
    error = assert_error(upload(shop, [("m.xml", as_xml(M))], taxpayer=mingyuan.credit_code), 400,
                         "validation_error")
    assert "taxpayer" in error["fields"]
    assert "taxpayer" in assert_error(collect(shop, {"taxpayer": mingyuan.credit_code, "invoices": [entered()]}), 400,
                                      "validation_error")["fields"]
    carrier = Carrier.objects.get(invoice_id=theirs)
    forged = api_files.carrier_link_token(client=ApiClient.objects.get(name="shop"), carrier=carrier)
    assert_error(Client().get(f"/api/v1/received-files/{forged}/"), 404, "not_found")
    assert ReceivedInvoice.objects.filter(taxpayer=yuntu).count() == 1


# --- idempotency ----------------------------------------------------------------------------------------------------


def test_a_replayed_upload_returns_the_first_answer(shop):
    first = upload(shop, [("a.xml", as_xml(A))], key="collect-1")
    assert first.status_code == 201
    again = upload(shop, [("a.xml", as_xml(A))], key="collect-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Collection.objects.count() == 1
    # The same name with other bytes is another request.
    assert_error(upload(shop, [("a.xml", as_xml(B))], key="collect-1"), 422, "idempotency_key_reused")


def test_a_replayed_qr_request_returns_the_first_answer(shop):
    qr = build_invoice_qr(type="31", number=A.number, amount=A.total_with_tax, date=A.issue_date)
    first = collect(shop, {"qr": [qr]}, key="qr-1").json()
    again = collect(shop, {"qr": [qr]}, key="qr-1")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first
    assert first["items"][0]["outcome"] == "review" and Collection.objects.count() == 1


# --- the pool: list and detail --------------------------------------------------------------------------------------


def test_the_list_filters(shop, yuntu):
    upload(shop, [("a.xml", as_xml(A)), ("b.xml", as_xml(B))])
    collect(shop, {"qr": [build_invoice_qr(type="32", number="25312000000000000401", amount=Decimal("5.00"),
                                           date=date.today())]})

    def numbers(**params):
        response = shop.get("received-invoices/", params)
        assert response.status_code == 200, response.content
        return sorted(r["number"] for r in response.json()["results"])

    assert numbers() == [A.number, B.number, "25312000000000000401"]
    assert numbers(review_state="review") == ["25312000000000000401"]
    assert numbers(use_state="in_pool") == [A.number, B.number]
    assert numbers(kind="81") == [A.number, B.number]
    assert numbers(number=A.number) == [A.number]
    assert numbers(seller_tax_id=XIHU[1].lower()) == [A.number, B.number]
    assert numbers(platform_status="unknown", taxpayer=yuntu.credit_code) == [A.number, B.number,
                                                                               "25312000000000000401"]
    assert numbers(platform_status="normal") == []
    assert numbers(issue_date_from=date.today().isoformat()) == ["25312000000000000401"]
    assert numbers(issue_date_to=(date.today() - timedelta(days=1)).isoformat()) == [A.number, B.number]
    assert_error(shop.get("received-invoices/", {"review_state": "nope"}), 400, "validation_error")
    assert_error(shop.get("received-invoices/", {"issue_date_from": "2026-13-01"}), 400, "validation_error")


def test_the_list_costs_the_same_queries_for_more_invoices(shop):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert shop.get("received-invoices/").status_code == 200
        return len(ctx.captured_queries)

    upload(shop, [("a.xml", as_xml(A))])
    few = count()
    upload(shop, [("b.xml", as_xml(B)), ("c.xml", as_xml(C)), ("c.ofd", as_ofd(C))])
    assert shop.get("received-invoices/").json()["count"] == 3
    assert count() == few


def test_the_detail_has_lines_sources_and_links_to_the_files(shop):
    upload(shop, [("a.xml", as_xml(A))])
    upload(shop, [("a.ofd", as_ofd(A))])
    record = ReceivedInvoice.objects.get()
    body = shop.get(f"received-invoices/{record.pk}/").json()
    assert (body["number"], body["total"], body["review_state"], body["use_state"]) == (
        A.number, "1060.00", "clear", "in_pool")
    assert [ln["line_no"] for ln in body["lines"]] == [1]
    assert [s["method"] for s in body["sources"]] == ["api", "api"]
    assert {s["actor"] for s in body["sources"]} == {"api:shop"}
    assert [c["format"] for c in body["carriers"]] == ["xml", "ofd"]
    xml = body["carriers"][0]
    assert xml["name"] == "a.xml" and xml["url"] and xml["expires_at"]
    download = Client().get(xml["url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/xml"
    assert b"".join(download.streaming_content) == as_xml(A)
    assert Event.objects.filter(action="carrier.downloaded", actor_label="api:shop").exists()
    # Without the file permission: no links, and the links already given stop working.
    ApiClient.objects.filter(name="shop").update(can_download_files=False)
    carriers = shop.get(f"received-invoices/{record.pk}/").json()["carriers"]
    assert [(c["url"], c["expires_at"]) for c in carriers] == [(None, None), (None, None)]
    assert_error(Client().get(xml["url"]), 404, "not_found")
    assert_error(shop.get("received-invoices/0.5/"), 404, "not_found")


def test_errors_and_reasons_speak_english_when_asked(shop_credentials):
    english = Api(shop_credentials.token, language="en")
    future = (date.today() + timedelta(days=2)).isoformat()
    error = assert_error(collect(english, {"invoices": [entered(issue_date=future)]}), 400, "validation_error")
    assert error["fields"]["invoices[1].issue_date"] == ["The issue date cannot be later than today"]
    settings_error = assert_error(collect(english, {"qr": ["x"], "invoices": [entered()]}), 400, "validation_error")
    assert settings_error["fields"]["non_field_errors"][0].startswith("Send exactly one of qr")
    item = collect(english, {"qr": ["hello"]}).json()["items"][0]
    assert item["outcome"] == "rejected" and item["reason"].isascii()


def test_the_schema_declares_both_bodies_the_answers_and_the_file_types(client):
    openapi = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    collect_op = openapi["paths"]["/api/v1/received-invoices/collect/"]["post"]
    assert set(collect_op["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"201", "400", "401", "413", "422", "429"} <= set(collect_op["responses"])
    files = openapi["paths"]["/api/v1/received-files/{token}/"]["get"]["responses"]["200"]["content"]
    assert set(files) == {"application/pdf", "application/ofd", "application/xml", "application/octet-stream"}
    schemas = openapi["components"]["schemas"]
    assert schemas["CollectOutcomeEnum"]["enum"] == ["created", "attached", "duplicate", "review", "rejected"]
    assert "rail_paper" in schemas["ReceivedKindEnum"]["enum"]


def test_typed_fields_that_cannot_be_an_invoice_are_refused_as_in_manual_entry(shop):
    negative = entered(amount="-100.00", tax="-6.00", total="-106.00")
    odd_rate = entered("25312000000000000302", amount="100.00", tax="77.00", total="177.00",
                       lines=[{"item_name": "*信息技术服务*咨询费", "amount": "100.00", "tax_rate": "0.77",
                               "tax": "77.00"}])
    huge = entered("25312000000000000303", amount="99999999999999.00", tax="5999999999999.94",
                   total="105999999999998.94")
    error = assert_error(collect(shop, {"invoices": [negative, odd_rate, huge]}), 400, "validation_error")
    assert "蓝字发票的价税合计必须大于 0" in error["fields"]["invoices[1].total"][0]
    assert "税率 77% 不存在" in error["fields"]["invoices[2].lines"][0]
    assert "超出可保存的范围" in error["fields"]["invoices[3].amount"][0]
    assert not ReceivedInvoice.objects.exists() and not Collection.objects.exists()


def test_a_typed_red_invoice_is_collected_with_its_negative_figures(shop):
    body = entered(amount="-100.00", tax="-6.00", total="-106.00", is_red=True)
    response = collect(shop, {"invoices": [body]})
    assert response.status_code == 201, response.content
    record = ReceivedInvoice.objects.get()
    assert (record.is_red, record.total) == (True, Decimal("-106.00"))
