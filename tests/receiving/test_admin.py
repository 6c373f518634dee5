"""The receiving admin: the pool with its filters and review, files by permission and entity, batches with their
results, and the upload page that hands many files or a ZIP to a job."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing import roles
from invoicing.events import events_for
from receiving import services
from receiving.models import Collection, CollectionStatus, Method, ReceivedInvoice, ReviewState, UseState
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import as_ofd, as_xml, small_document

pytestmark = pytest.mark.django_db

POOL = "admin:receiving_receivedinvoice_changelist"


def collect(batch, name, data, actor=None):
    return services.collection_add_file(collection=batch, name=name, data=data, actor=actor)


@pytest.fixture
def filled(upload, fiona):
    """Two clean invoices and one whose files disagree."""
    collect(upload, "a.xml", as_xml(small_document(number="25312000000000000301")))
    collect(upload, "b.xml", as_xml(small_document(number="25312000000000000302",
                                                   seller=("苏州别的供应商有限公司", "91110108MA01ABCD1E"))))
    collect(upload, "c.xml", as_xml(small_document(number="25312000000000000303")))
    collect(upload, "c.ofd", as_ofd(small_document(number="25312000000000000303", amount="999.00")))
    return upload


def test_the_pool_lists_filters_and_searches(client, fiona, filled):
    client.force_login(fiona)
    page = client.get(reverse(POOL)).content.decode()
    assert "25312000000000000301" in page and "苏州别的供应商有限公司" in page
    review = client.get(reverse(POOL), {"review_state__exact": "review"}).content.decode()
    assert "25312000000000000303" in review and "25312000000000000301" not in review
    by_seller = client.get(reverse(POOL), {"seller": "91110108MA01ABCD1E"}).content.decode()
    assert "25312000000000000302" in by_seller and "25312000000000000301" not in by_seller
    by_source = client.get(reverse(POOL), {"source": "scanner"}).content.decode()
    assert "25312000000000000301" not in by_source
    assert "25312000000000000301" in client.get(reverse(POOL), {"source": "upload"}).content.decode()
    for term, hit in (("25312000000000000302", "302"), ("别的供应商", "302"), ("91110108MA01ABCD1E", "302")):
        found = client.get(reverse(POOL), {"q": term}).content.decode()
        assert f"25312000000000000{hit}" in found and "25312000000000000301" not in found


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [POOL, "admin:receiving_carrier_changelist", "admin:receiving_collection_changelist"])
def test_changelists_run_a_constant_number_of_queries(client, fiona, pujiang, url):
    client.force_login(fiona)
    serial = iter(range(1000))

    def add(n):
        batch = services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=None)
        for _ in range(n):
            number = f"253120000000000{next(serial):05d}"
            collect(batch, f"{number}.xml", as_xml(small_document(number=number)))
        services.collection_finish(collection=batch, actor=None)

    add(2)
    few = _count(client, reverse(url))
    add(12)
    assert _count(client, reverse(url)) == few


POOL_PAGES = ("", "?review_state__exact=review", "?seller=91330106MA2GL8XY7N", "?source=upload",
              "?q=25312000000000000001", "?q=00000001", "?q=91330106ma2gl8xy7n", "?q=西湖")


@pytest.mark.parametrize("query", POOL_PAGES)
def test_the_pool_costs_at_most_ten_queries_whatever_its_size_for_a_user_of_one_entity(client, pujiang, query):
    """Filters and searches included; the query count is the same with 2 records as with 14 (bench/bench_receiving.py
    measures the same pages at a million records)."""
    finance = UserFactory(username="fred-r", role=roles.FINANCE, entities=[pujiang])
    client.force_login(finance)
    url = reverse(POOL) + query
    serial = iter(range(1000))

    def add(n):
        batch = services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=None)
        for _ in range(n):
            number = f"253120000000000{next(serial):05d}"
            collect(batch, f"{number}.xml", as_xml(small_document(number=number)))
        services.collection_finish(collection=batch, actor=None)

    add(2)
    few = _count(client, url)
    add(12)
    assert _count(client, url) == few <= 10


def test_a_number_or_a_tax_id_is_searched_exactly_and_a_name_by_part(client, fiona, filled):
    client.force_login(fiona)
    for term in ("25312000000000000302", "91110108ma01abcd1e"):
        found = client.get(reverse(POOL), {"q": term}).content.decode()
        assert "25312000000000000302" in found and "25312000000000000301" not in found
    by_buyer = client.get(reverse(POOL), {"q": "91310115MA1K4ABC2B"}).content.decode()  # 浦江 buys all three
    assert all(f"2531200000000000030{n}" in by_buyer for n in (1, 2, 3))
    assert "25312000000000000301" not in client.get(reverse(POOL), {"q": "2531200000000000030"}).content.decode()
    assert "25312000000000000302" in client.get(reverse(POOL), {"q": "别的供应商"}).content.decode()


def test_the_last_digits_of_a_number_find_it(client, fiona, filled):
    client.force_login(fiona)
    for term in ("0302", "00000302", "000000000302", " 0302 "):
        found = client.get(reverse(POOL), {"q": term}).content.decode()
        assert "25312000000000000302" in found and "25312000000000000301" not in found, term
    both = client.get(reverse(POOL), {"q": "0000030"}).content.decode()  # not the end of any number
    assert "25312000000000000301" not in both and "25312000000000000302" not in both
    assert "25312000000000000302" not in client.get(reverse(POOL), {"q": "302"}).content.decode()  # under 4 digits


def test_the_last_digits_search_stays_in_the_users_entities(client, pujiang, filled):
    other = TaxpayerFactory()
    finance = UserFactory(username="fred-o", role=roles.FINANCE, entities=[other])
    client.force_login(finance)
    assert "25312000000000000302" not in client.get(reverse(POOL), {"q": "0302"}).content.decode()


def test_the_last_digits_search_follows_the_reversed_number_index(client, fiona, filled):
    """On PostgreSQL the suffix is a range on recv_number_reversed, not a scan (bench/bench_receiving.py measures it at a
    million records)."""
    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's")
    client.force_login(fiona)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse(POOL), {"q": "0302"}).status_code == 200
            search = next(q["sql"] for q in ctx.captured_queries
                          if "REVERSE" in q["sql"].upper() and "LIMIT" in q["sql"].upper())
            cursor.execute(f"EXPLAIN {search}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("SET enable_seqscan = on")
    assert "recv_number_reversed" in plan, plan


def test_a_record_page_shows_lines_files_sources_and_the_reasons_with_both_values(client, fiona, filled):
    record = ReceivedInvoice.objects.get(number="25312000000000000303")
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[record.pk])).content.decode()
    assert "*信息技术服务*软件开发服务" in page  # the line
    assert "c.xml" in page and "c.ofd" in page  # both files
    assert "记录：1000.00；文件：999.00" in page  # the difference, both sides
    assert reverse("admin:receiving_carrier_download", args=[record.carriers.first().pk]) in page
    assert reverse("admin:receiving_receivedinvoice_review", args=[record.pk]) in page


def test_files_are_downloaded_by_permission_and_entity(client, fiona, filled, pujiang):
    carrier = ReceivedInvoice.objects.get(number="25312000000000000301").carriers.get()
    url = reverse("admin:receiving_carrier_download", args=[carrier.pk])
    client.force_login(fiona)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == as_xml(small_document(number="25312000000000000301"))
    assert "carrier.downloaded" in [e.action for e in events_for(carrier.invoice)]
    viewer = UserFactory(username="viewer", entities=None)
    viewer.user_permissions.set(Permission.objects.filter(content_type__app_label="receiving",
                                                         codename__startswith="view_"))
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[carrier.invoice_id])).content.decode()
    assert url not in page  # no download link for whoever may not download
    elsewhere = UserFactory(username="elsewhere", role=roles.FINANCE, entities=[TaxpayerFactory()])
    client.force_login(elsewhere)
    assert client.get(url).status_code == 404
    assert "25312000000000000301" not in client.get(reverse(POOL)).content.decode()


def test_customer_service_does_not_see_the_pool(client, filled):
    sam = UserFactory(username="sam-r", role=roles.CUSTOMER_SERVICE, entities=None)
    client.force_login(sam)
    assert client.get(reverse(POOL)).status_code == 403


def test_a_person_resolves_a_review_with_a_note_and_the_invoice_enters_the_pool(client, fiona, filled):
    record = ReceivedInvoice.objects.get(number="25312000000000000303")
    client.force_login(fiona)
    url = reverse("admin:receiving_receivedinvoice_review", args=[record.pk])
    assert "请填写复核说明" in client.post(url, {"note": ""}).content.decode()
    response = client.post(url, {"note": "已与 XML 核对，OFD 为供应商重开前的旧版"})
    assert response.status_code == 302
    record = ReceivedInvoice.objects.get(pk=record.pk)
    assert (record.review_state, record.use_state) == (ReviewState.RESOLVED, UseState.IN_POOL)
    assert record.review_reasons  # kept for the trail
    assert events_for(record).filter(action="resolve_review", reason__contains="已与 XML 核对").exists()
    assert client.get(url).status_code == 403  # nothing left to review


def test_a_batch_page_lists_every_item_with_links_and_its_status_as_json(client, fiona, filled):
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_collection_change", args=[filled.pk])).content.decode()
    assert "c.ofd" in page and "待复核" in page
    record = ReceivedInvoice.objects.get(number="25312000000000000301")
    assert reverse("admin:receiving_receivedinvoice_change", args=[record.pk]) in page
    status = client.get(reverse("admin:receiving_collection_status", args=[filled.pk]), {"after": 2}).json()
    assert status["processed"] == 4 and [i["position"] for i in status["items"]] == [3, 4]
    assert status["counts"]["review"] == 1


def test_the_upload_page_hands_files_and_zips_to_the_job_and_shows_the_batch(
        client, fiona, pujiang, django_capture_on_commit_callbacks):
    client.force_login(fiona)
    url = reverse("admin:receiving_collection_upload")
    assert "上传发票文件" in client.get(url).content.decode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("b.xml", as_xml(small_document(number="25312000000000000402")))
    files = [SimpleUploadedFile("a.xml", as_xml(small_document(number="25312000000000000401"))),
             SimpleUploadedFile("more.zip", archive.getvalue()), SimpleUploadedFile("empty.pdf", b"")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"taxpayer": pujiang.pk, "files": files})
    batch = Collection.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:receiving_collection_change",
                                                                            args=[batch.pk])
    assert (batch.status, batch.method, batch.created_count, batch.rejected_count, batch.created_by) == (
        CollectionStatus.DONE, Method.UPLOAD, 2, 1, fiona)  # an empty file is one rejected item, not a refusal
    page = client.get(response["Location"]).content.decode()
    assert "more.zip/b.xml" in page


def test_the_upload_page_refuses_more_than_the_limits_and_other_entities(client, fiona, pujiang, settings):
    settings.RECEIVING_MAX_UPLOAD_FILES = 1
    client.force_login(fiona)
    url = reverse("admin:receiving_collection_upload")
    files = [SimpleUploadedFile("a.xml", b"<a/>"), SimpleUploadedFile("b.xml", b"<b/>")]
    page = client.post(url, {"taxpayer": pujiang.pk, "files": files}).content.decode()
    assert "超过一次最多 1 个的限制" in page
    assert not Collection.objects.exists()
    lily = UserFactory(username="lily-u", role=roles.FINANCE, entities=[TaxpayerFactory()])
    client.force_login(lily)
    page = client.post(url, {"taxpayer": pujiang.pk, "files": [SimpleUploadedFile("a.xml", b"<a/>")]})
    assert page.status_code == 200 and not Collection.objects.exists()  # not a choice for her


def test_the_upload_page_needs_the_collect_permission(client):
    viewer = UserFactory(username="viewer-u", entities=None)
    client.force_login(viewer)
    assert client.get(reverse("admin:receiving_collection_upload")).status_code == 403


def test_the_receiving_pages_read_in_english_for_an_english_reader(client, fiona, filled):
    from django.utils import translation

    client.force_login(fiona)
    with translation.override("en"):
        pool = client.get(reverse(POOL), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        batch = client.get(reverse("admin:receiving_collection_change", args=[filled.pk]),
                           HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Invoice pool" in pool and "To review" in pool
    assert "Result per file" in batch and "Created" in batch and "To review" in batch


def test_the_scanner_page_turns_each_scan_into_a_result_without_a_reload(client, fiona, pujiang):
    client.force_login(fiona)
    assert "扫码枪" in client.get(reverse("admin:receiving_collection_scanner")).content.decode()
    url = reverse("admin:receiving_collection_scan")
    first = client.post(url, {"taxpayer": pujiang.pk,
                              "payload": "01,32,,25317000002856140513,73.20,2025-11-08,,"}).json()
    assert first["outcome"] == "review" and first["invoice_url"]
    batch = Collection.objects.get(pk=first["collection"])
    assert (batch.method, batch.status, batch.taxpayer) == (Method.SCANNER, CollectionStatus.OPEN, pujiang)
    again = client.post(url, {"taxpayer": pujiang.pk, "collection": batch.pk,
                              "payload": " 01,32,,25317000002856140513,73.20,20251108,, "}).json()
    assert again["outcome"] == "duplicate" and again["collection"] == batch.pk
    assert again["invoice_url"] == first["invoice_url"] and "已在发票池" in again["reason"]
    wrong = client.post(url, {"taxpayer": pujiang.pk, "collection": batch.pk, "payload": "https://example.com/x"})
    assert wrong.json()["outcome"] == "rejected"
    assert client.post(url, {"taxpayer": pujiang.pk, "collection": batch.pk, "finish": "1"}).json()["finished"]
    assert Collection.objects.get(pk=batch.pk).status == CollectionStatus.DONE
    assert Collection.objects.get(pk=batch.pk).processed == 3


def test_a_scan_cannot_reach_another_entity(client, pujiang):
    lily = UserFactory(username="lily-s", role=roles.FINANCE, entities=[TaxpayerFactory()])
    client.force_login(lily)
    response = client.post(reverse("admin:receiving_collection_scan"),
                           {"taxpayer": pujiang.pk, "payload": "01,32,,25317000002856140513,73.20,20251108,,"})
    assert response.status_code == 400
    assert not ReceivedInvoice.objects.exists()


def _manual_post(pujiang, **changes):
    data = {"taxpayer": pujiang.pk, "kind": "82", "code": "", "number": "25312000000000000501",
            "issue_date": "2025-10-15", "check_code": "", "seller_name": "杭州西湖云计算服务有限公司",
            "seller_tax_id": "91330106MA2GL8XY7N", "buyer_name": pujiang.name, "buyer_tax_id": pujiang.credit_code,
            "amount": "100.00", "tax": "6.00", "total": "106.00", "remark": "",
            "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50",
            "lines-0-item_name": "*信息技术服务*咨询费", "lines-0-amount": "100.00", "lines-0-tax_rate": "6%",
            "lines-0-tax": "6.00"}
    data.update(changes)
    return data


def test_manual_entry_in_the_admin_is_checked_by_the_service(client, fiona, pujiang):
    client.force_login(fiona)
    url = reverse("admin:receiving_receivedinvoice_manual")
    page = client.post(url, _manual_post(pujiang, total="107.00")).content.decode()
    assert not ReceivedInvoice.objects.exists() and "价税合计" in page
    response = client.post(url, _manual_post(pujiang))
    record = ReceivedInvoice.objects.get()
    assert response["Location"] == reverse("admin:receiving_receivedinvoice_change", args=[record.pk])
    assert (record.data_source, record.total, record.lines.get().tax_rate) == ("manual", Decimal("106.00"),
                                                                              Decimal("0.0600"))
    assert "已在发票池" in client.post(url, _manual_post(pujiang)).content.decode()


def test_a_file_awaiting_entry_is_entered_beside_its_preview_and_linked(client, fiona, upload, pujiang):
    from PIL import Image

    blank = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(blank, format="PDF")
    item = collect(upload, "scan.pdf", blank.getvalue(), fiona)
    client.force_login(fiona)
    assert "去录入" in client.get(reverse("admin:receiving_carrier_changelist")).content.decode()
    url = reverse("admin:receiving_receivedinvoice_manual") + f"?carrier={item.carrier.pk}"
    page = client.get(url).content.decode()
    assert "scan.pdf" in page and reverse("admin:receiving_carrier_download", args=[item.carrier.pk]) in page
    client.post(url, _manual_post(pujiang))
    assert ReceivedInvoice.objects.get().carriers.get() == item.carrier
