"""Collecting files into the pool: one record per invoice, files by hash, carriers that must agree."""

from __future__ import annotations

import hashlib
import zipfile
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage

from invoicing.events import events_for
from receiving import services
from receiving.models import (
    Carrier,
    Collection,
    CollectionItem,
    Method,
    Outcome,
    ReceivedInvoice,
    ReviewState,
    Source,
    UseState,
)
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import PUJIANG, XIHU, as_ofd, as_pdf, as_xml, fixture_bytes, small_document

pytestmark = pytest.mark.django_db


def add(collection, name, data, actor):
    return services.collection_add_file(collection=collection, name=name, data=data, actor=actor)


def test_an_xml_invoice_becomes_a_pool_record_with_its_lines_source_and_file(upload, fiona, pujiang):
    doc = small_document()
    item = add(upload, "25312000000123456789.xml", as_xml(doc), fiona)
    assert item.outcome == Outcome.CREATED, item.reason
    record = item.invoice
    assert (record.taxpayer, record.kind, record.number, record.code, record.issue_date) == (
        pujiang, "81", "25312000000123456789", "", doc.issue_date)
    assert (record.seller_name, record.seller_tax_id, record.buyer_name, record.buyer_tax_id) == (*XIHU, *PUJIANG)
    assert (record.amount, record.tax, record.total) == (Decimal("1000.00"), Decimal("60.00"), Decimal("1060.00"))
    assert (record.review_state, record.use_state, record.data_source, record.other_buyer) == (
        ReviewState.CLEAR, UseState.IN_POOL, "xml", False)
    line = record.lines.get()
    assert (line.item_name, line.amount, line.tax_rate, line.tax) == (
        "*信息技术服务*软件开发服务", Decimal("1000.00"), Decimal("0.0600"), Decimal("60.00"))
    carrier = record.carriers.get()
    data = as_xml(doc)
    assert carrier.sha256 == hashlib.sha256(data).hexdigest() and carrier.format == "xml" and carrier.reader == "xml"
    assert carrier.file.name.endswith(f"{carrier.sha256}.xml")
    with default_storage.open(carrier.file.name, "rb") as fh:
        assert fh.read() == data
    assert carrier.read_data["invoice"]["total"] == "1060.00"
    source = record.sources.get()
    assert (source.collection, source.method, source.actor, source.carrier) == (upload, Method.UPLOAD, fiona, carrier)
    assert [e.action for e in events_for(record)] == ["receive"]
    batch = Collection.objects.get(pk=upload.pk)
    assert (batch.processed, batch.created_count) == (1, 1)


def test_identical_bytes_are_a_duplicate_and_never_a_second_file(upload, fiona, pujiang):
    data = as_xml(small_document())
    first = add(upload, "a.xml", data, fiona)
    again = add(upload, "copy of a.xml", data, fiona)
    assert again.outcome == Outcome.DUPLICATE and again.rule == "same_file"
    assert again.invoice == first.invoice and again.carrier == first.carrier
    assert "copy of a.xml" in again.reason and "same_file" not in again.reason  # the rule is the item's own field
    assert Carrier.objects.count() == 1 and ReceivedInvoice.objects.count() == 1
    later = services.collection_start(taxpayer=pujiang, method=Method.CLI, actor=None)
    assert add(later, "a.xml", data, None).outcome == Outcome.DUPLICATE
    assert Source.objects.filter(invoice=first.invoice).count() == 2  # two batches delivered it


def test_one_invoice_as_pdf_ofd_and_xml_is_one_record_with_three_carriers(upload, fiona):
    doc = small_document()
    pdf = add(upload, "invoice.pdf", as_pdf(doc), fiona)
    ofd = add(upload, "invoice.ofd", as_ofd(doc), fiona)
    xml = add(upload, "invoice.xml", as_xml(doc), fiona)
    assert [pdf.outcome, ofd.outcome, xml.outcome] == [Outcome.CREATED, Outcome.ATTACHED, Outcome.ATTACHED], [
        i.reason for i in (pdf, ofd, xml)]
    record = ReceivedInvoice.objects.get()
    assert sorted(record.carriers.values_list("format", flat=True)) == ["ofd", "pdf", "xml"]
    assert record.data_source == "xml"  # the most trusted carrier that agreed
    assert record.review_state == ReviewState.CLEAR
    assert [e.action for e in events_for(record)][::-1] == ["receive", "carrier_attach", "carrier_attach"]


def test_carriers_that_disagree_send_the_record_to_review_with_both_values_and_never_overwrite(upload, fiona):
    add(upload, "invoice.xml", as_xml(small_document(amount="1000.00")), fiona)
    item = add(upload, "invoice.ofd", as_ofd(small_document(amount="1100.00")), fiona)
    assert item.outcome == Outcome.REVIEW and item.rule == "carrier_conflict"
    record = item.invoice
    assert (record.amount, record.tax, record.total) == (Decimal("1000.00"), Decimal("60.00"), Decimal("1060.00"))
    assert (record.review_state, record.use_state) == (ReviewState.NEEDS_REVIEW, UseState.IN_REVIEW)
    conflicts = {r["field"]: r["values"] for r in record.review_reasons if r["code"] == "carrier_conflict"}
    assert conflicts["amount"] == {"record": "1000.00", "file": "1100.00"}
    assert conflicts["total"] == {"record": "1060.00", "file": "1166.00"}
    assert "1100.00" in item.reason and "1000.00" in item.reason and "invoice.ofd" in item.reason
    assert record.carriers.count() == 2  # the file is kept, attached, and shown
    assert [e.action for e in events_for(record)][:3][::-1] == ["carrier_attach", "flag_for_review",
                                                                 "hold_for_review"]


def test_the_same_invoice_twice_in_one_batch_is_one_record(upload, fiona):
    doc = small_document()
    items = [add(upload, "a.xml", as_xml(doc), fiona), add(upload, "b.ofd", as_ofd(doc), fiona),
             add(upload, "a again.xml", as_xml(doc), fiona)]
    assert [i.outcome for i in items] == [Outcome.CREATED, Outcome.ATTACHED, Outcome.DUPLICATE]
    assert ReceivedInvoice.objects.count() == 1
    assert Source.objects.count() == 1  # one batch, one source


def test_an_invoice_addressed_to_another_buyer_is_kept_and_flagged(upload, fiona):
    doc = small_document(buyer=("北京别家科技有限公司", "91110108MA01ABCD1E"))
    item = add(upload, "other.xml", as_xml(doc), fiona)
    assert item.outcome == Outcome.CREATED and item.rule == "other_buyer"
    assert item.invoice.other_buyer is True and item.invoice.use_state == UseState.IN_POOL
    assert "北京别家科技有限公司" in item.reason


def test_an_invoice_whose_seller_is_us_and_buyer_is_not_was_read_the_wrong_way_round(upload, fiona):
    doc = small_document(seller=PUJIANG, buyer=XIHU)
    item = add(upload, "swapped.xml", as_xml(doc), fiona)
    assert item.outcome == Outcome.REVIEW and item.rule == "wrong_way"
    assert item.invoice.review_state == ReviewState.NEEDS_REVIEW
    assert "读反" in item.reason


def _legacy_xml(buyer_tax_id: str) -> bytes:
    """The legacy 电子普票 XML inside ofdrw-1.ofd (tests/fixtures/ofd), with the buyer's id replaced."""
    with zipfile.ZipFile(BytesIO(fixture_bytes("ofd", "ofdrw-1.ofd"))) as zf:
        xml = zf.read("Doc_0/Attachs/original_invoice.xml")
    return xml.replace(b"91320115MA202UKD7X", buyer_tax_id.encode())


def test_a_legacy_invoice_with_a_15_character_buyer_id_is_ours_when_it_is_our_uscc_s_old_form(db, fiona):
    jlh = TaxpayerFactory(name="江苏京利华新材料有限公司", credit_code="91320115MA202UKD7X")
    batch = services.collection_start(taxpayer=jlh, method=Method.UPLOAD, actor=fiona)
    item = add(batch, "legacy.xml", _legacy_xml("320115MA202UKD7"), fiona)
    assert item.outcome == Outcome.CREATED, item.reason
    record = item.invoice
    assert (record.kind, record.code, record.number, record.buyer_tax_id) == (
        "10", "033002000211", "83089647", "320115MA202UKD7")
    assert record.other_buyer is False
    assert record.check_code == "16197833567414507415"


def test_a_15_character_id_of_someone_else_is_another_buyer(db, fiona):
    jlh = TaxpayerFactory(name="江苏京利华新材料有限公司", credit_code="91320115MA202UKD7X")
    batch = services.collection_start(taxpayer=jlh, method=Method.UPLOAD, actor=fiona)
    item = add(batch, "legacy.xml", _legacy_xml("320115MA202UKD8"), fiona)
    assert item.outcome == Outcome.CREATED and item.invoice.other_buyer is True


def test_nobody_collects_into_an_entity_outside_their_scope(pujiang):
    lily = UserFactory(username="lily-r", role="财务", entities=[TaxpayerFactory()])
    with pytest.raises(PermissionDenied):
        services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=lily)
    batch = services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=None)
    with pytest.raises(PermissionDenied):
        add(batch, "a.xml", as_xml(small_document()), lily)
    assert not CollectionItem.objects.exists()


def test_a_file_that_breaks_the_service_is_rejected_with_its_reason_and_leaves_nothing_behind(
        upload, fiona, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_file_into_pool", boom)
    data = as_xml(small_document(number="25312000000999999901"))  # bytes no other test stored
    item = add(upload, "a.xml", data, fiona)
    assert item.outcome == Outcome.REJECTED and item.rule == "internal_error"
    assert not Carrier.objects.exists() and not ReceivedInvoice.objects.exists()
    sha = hashlib.sha256(data).hexdigest()
    assert not default_storage.exists(f"receiving/carriers/{sha[:2]}/{sha[2:4]}/{sha}.xml")
    monkeypatch.undo()
    assert add(upload, "a.xml", data, fiona).outcome == Outcome.CREATED  # the batch goes on
