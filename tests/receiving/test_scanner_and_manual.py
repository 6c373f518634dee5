"""The ways in a person drives without a file: a scanner gun typing a QR payload, and entry by hand."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from invoicing.ids import parse_invoice_qr
from receiving import services
from receiving.models import Carrier, Method, Outcome, ReceivedInvoice, ReviewState, UseState
from tests.receiving.conftest import FIXTURES, PUJIANG, XIHU, as_xml, small_document

pytestmark = pytest.mark.django_db


def _payloads() -> list[str]:
    with (FIXTURES / "vectors" / "qr_payloads.tsv").open(encoding="utf-8") as fh:
        return [row["payload"] for row in csv.DictReader(fh, delimiter="\t")]


@pytest.fixture
def scanner(pujiang, fiona):
    return services.collection_start(taxpayer=pujiang, method=Method.SCANNER, actor=fiona)


def scan(collection, payload, actor):
    return services.collection_add_qr(collection=collection, payload=payload, actor=actor)


def test_every_payload_of_the_vectors_makes_a_prefilled_record_or_says_it_is_in_the_pool(scanner, fiona):
    payloads = _payloads()
    assert len(payloads) == 25
    seen: dict[tuple[str, str], ReceivedInvoice] = {}
    for payload in payloads:
        item = scan(scanner, payload, fiona)
        qr = parse_invoice_qr(payload)
        key = (qr.code or "", qr.number)
        if key in seen:
            assert (item.outcome, item.invoice) == (Outcome.DUPLICATE, seen[key]), payload
            assert "已在发票池" in item.reason
            continue
        assert item.outcome == Outcome.REVIEW and item.rule == "needs_file", (payload, item.reason)
        record = item.invoice
        seen[key] = record
        assert (record.code, record.number, record.issue_date) == (qr.code or "", qr.number, qr.date)
        assert (record.review_state, record.use_state, record.data_source) == (
            ReviewState.NEEDS_REVIEW, UseState.IN_REVIEW, "qr")
        assert record.review_reasons[0]["code"] == "needs_file"
        if qr.is_shudian:
            assert record.total == qr.amount and record.amount is None
        else:
            assert record.amount == qr.amount and record.total is None
    assert ReceivedInvoice.objects.count() == len(seen) == 23  # 999 and 发票示例 are in twice


def test_irregular_payloads_are_read(scanner, fiona):
    spaced = scan(scanner, "01,31, ,23512000000005197325,2150.63,20230130, ,F366", fiona)
    dashed = scan(scanner, " 01,32,,25317000002856140513,73.20,2025-11-08,, \n", fiona)
    fullwidth = scan(scanner, "01，10，042002200411，51905150，187.61，20230405，77428312440844190734，51FB，", fiona)
    assert [i.outcome for i in (spaced, dashed, fullwidth)] == [Outcome.REVIEW] * 3
    assert dashed.invoice.issue_date == date(2025, 11, 8)
    assert (fullwidth.invoice.kind, fullwidth.invoice.check_code) == ("10", "77428312440844190734")


@pytest.mark.parametrize("payload", ["", "hello", "01,32,,123,1.00,20250101,,", "01,32,,25317000002856140513,x,20251108"])
def test_what_is_not_an_invoice_qr_is_rejected_with_the_reason(scanner, fiona, payload):
    item = scan(scanner, payload, fiona)
    assert item.outcome == Outcome.REJECTED and item.rule == "qr_invalid" and item.reason
    assert not ReceivedInvoice.objects.exists()


def test_the_file_of_a_scanned_invoice_completes_it_and_lets_it_into_the_pool(scanner, upload, fiona):
    doc = small_document()
    scan(scanner, f"01,31,,{doc.number},{doc.total_with_tax},{doc.issue_date:%Y%m%d},,ABCD", fiona)
    item = services.collection_add_file(collection=upload, name="a.xml", data=as_xml(doc), actor=fiona)
    assert item.outcome == Outcome.ATTACHED, item.reason
    record = ReceivedInvoice.objects.get()
    assert (record.amount, record.tax, record.total, record.seller_name) == (
        doc.total_amount, doc.total_tax, doc.total_with_tax, XIHU[0])
    assert record.lines.count() == 1
    assert (record.review_state, record.use_state, record.data_source) == (ReviewState.CLEAR, UseState.IN_POOL,
                                                                          "xml")
    assert record.review_reasons == []
    assert record.sources.count() == 2


def test_a_file_that_contradicts_the_scan_keeps_the_record_in_review(scanner, upload, fiona):
    doc = small_document()
    scan(scanner, f"01,31,,{doc.number},999.99,{doc.issue_date:%Y%m%d},,", fiona)
    item = services.collection_add_file(collection=upload, name="a.xml", data=as_xml(doc), actor=fiona)
    assert item.outcome == Outcome.REVIEW and item.rule == "carrier_conflict"
    record = ReceivedInvoice.objects.get()
    assert record.total == Decimal("999.99") and record.use_state == UseState.IN_REVIEW
    assert {r["field"]: r["values"] for r in record.review_reasons if r["code"] == "carrier_conflict"} == {
        "total": {"record": "999.99", "file": "1060.00"}}


# --- manual entry --------------------------------------------------------------------------------------------------

LINE = {"item_name": "*信息技术服务*软件开发服务", "amount": "1000.00", "tax_rate": "0.06", "tax": "60.00"}


def manual(entity, actor, **changes):
    values = {"kind": "82", "number": "25312000000123450042", "issue_date": date(2025, 10, 15),
              "seller_name": XIHU[0], "seller_tax_id": XIHU[1], "buyer_name": PUJIANG[0], "buyer_tax_id": PUJIANG[1],
              "amount": "1000.00", "tax": "60.00", "total": "1060.00", "lines": [LINE]}
    values.update(changes)
    return services.received_invoice_create_manual(taxpayer=entity, actor=actor, **values)


def test_an_invoice_entered_by_hand_lands_in_the_pool(pujiang, fiona):
    record = manual(pujiang, fiona)
    assert (record.total, record.data_source, record.use_state, record.review_state) == (
        Decimal("1060.00"), "manual", UseState.IN_POOL, ReviewState.CLEAR)
    assert record.lines.get().tax == Decimal("60.00")
    source = record.sources.get()
    assert source.method == Method.MANUAL and source.actor == fiona


def test_entry_by_hand_is_checked_like_a_file(pujiang, fiona):
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, total="1061.00")
    assert "total" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, lines=[{**LINE, "tax": "70.00"}], tax="70.00", total="1070.00")
    assert "lines" in exc.value.message_dict or "tax" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, number="2531200000012345")
    assert "number" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, issue_date=date.today() + timedelta(days=3))
    assert "issue_date" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, seller_name=PUJIANG[0], seller_tax_id=PUJIANG[1], buyer_name=XIHU[0],
               buyer_tax_id=XIHU[1])
    assert "buyer_name" in exc.value.message_dict  # the wrong way round
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona, seller_tax_id="9133010")  # no taxpayer id has 7 characters
    assert "seller_tax_id" in exc.value.message_dict
    assert not ReceivedInvoice.objects.exists()
    # an 18-character id that fails the USCC check is accepted as printed, as from a file (real sellers have them)
    assert manual(pujiang, fiona, seller_tax_id="91330106MA2GL8XY7Q").seller_tax_id == "91330106MA2GL8XY7Q"


def test_entry_by_hand_refuses_an_invoice_already_in_the_pool(pujiang, fiona):
    manual(pujiang, fiona)
    with pytest.raises(ValidationError) as exc:
        manual(pujiang, fiona)
    assert "已在发票池" in str(exc.value)


def test_a_legacy_invoice_with_a_15_character_seller_id_may_be_entered(pujiang, fiona):
    record = manual(pujiang, fiona, kind="04", code="4200161350", number="15045", seller_tax_id="420106177758479")
    assert (record.code, record.number, record.seller_tax_id) == ("4200161350", "00015045", "420106177758479")


def test_a_file_the_readers_could_not_read_is_entered_by_hand_and_linked(upload, pujiang, fiona):
    import io

    from PIL import Image

    photo = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(photo, format="PNG")
    item = services.collection_add_file(collection=upload, name="paper.png", data=photo.getvalue(), actor=fiona)
    assert item.carrier.invoice is None
    record = manual(pujiang, fiona, carrier=item.carrier)
    assert Carrier.objects.get(pk=item.carrier.pk).invoice == record


def test_a_paper_rail_ticket_gets_its_deductible_tax_by_the_formula(pujiang, fiona):
    record = manual(pujiang, fiona, kind="rail_paper", number="E012345678", seller_name="", seller_tax_id="",
                    amount=None, tax=None, total="109.00", lines=[],
                    passenger={"passenger_name": "张伟", "travel_date": date(2025, 3, 1), "travel_from": "上海虹桥",
                               "travel_to": "杭州东", "vehicle_number": "G7311"})
    assert record.deductible_tax == Decimal("9.00")
    assert (record.passenger_name, record.vehicle_number) == ("张伟", "G7311")
