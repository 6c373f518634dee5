"""The admin of the pool's platform side and its Excel import: the watermark per entity and the download button,
the reconciliation report page, the Excel page with its template and error workbook; entity scope and roles; lists
in a constant number of queries."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from invoicing.models import Event
from receiving import platform
from receiving.models import Collection, Method, PlatformReconciliation, PlatformSync, ReceivedInvoice
from sandbox import services as sandbox
from tests.channels.conftest import connect

pytestmark = pytest.mark.django_db

EXCEL = "admin:receiving_collection_excel"
SYNC = "admin:receiving_platformsync_changelist"
RECON = "admin:receiving_platformreconciliation_changelist"


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


def workbook(rows):
    wb = Workbook()
    ws = wb.active
    ws.append(["收票主体税号", "票种", "发票号码", "开票日期", "销售方名称", "销售方纳税人识别号", "合计金额", "合计税额",
               "价税合计"])
    for r in rows:
        ws.append(r)
    out = BytesIO()
    wb.save(out)
    return SimpleUploadedFile("收票.xlsx", out.getvalue())


def good(entity, number="26332000000012345678", total="1060.00"):
    return [entity.credit_code, "数电专票", number, "2026-11-20", "杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N",
            "1000.00", "60.00", total]


def test_the_excel_page_offers_the_template_and_imports_a_clean_file(client, fiona, entity):
    client.force_login(fiona)
    page = client.get(reverse(EXCEL))
    assert page.status_code == 200 and "下载导入模板" in page.content.decode()
    template = client.get(reverse("admin:receiving_collection_excel_template"))
    assert template.status_code == 200 and load_workbook(BytesIO(template.content)).sheetnames[0] == "收票明细"
    response = client.post(reverse(EXCEL), {"file": workbook([good(entity)])})
    batch = Collection.objects.get(method=Method.EXCEL)
    assert response.status_code == 302 and response.url == reverse("admin:receiving_collection_change",
                                                                   args=[batch.pk])
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 1


def test_the_template_example_is_addressed_only_to_an_entity_the_user_may_see(client, yuntu, mingyuan):
    from invoicing import roles
    from receiving import excel
    from tests.factories import UserFactory

    guangzhou = UserFactory(username="finance_gz", role=roles.FINANCE, entities=[yuntu])
    client.force_login(guangzhou)
    template = client.get(reverse("admin:receiving_collection_excel_template"))
    assert template.status_code == 200
    book = load_workbook(BytesIO(template.content))
    texts = [str(v) for ws in book.worksheets for values in ws.iter_rows(values_only=True) for v in values if v]
    assert not [t for t in texts if mingyuan.credit_code in t or mingyuan.name in t or mingyuan.short_name in t]
    header, example = list(book[excel.EXAMPLE_SHEET].iter_rows(values_only=True))
    named = dict(zip(header, example, strict=True))
    assert (named["收票主体税号"], named["购买方名称"], named["购买方纳税人识别号"]) == (
        yuntu.credit_code, yuntu.name, yuntu.credit_code)


def test_a_file_with_errors_lists_them_writes_nothing_and_offers_the_error_workbook(client, fiona, entity):
    client.force_login(fiona)
    response = client.post(reverse(EXCEL), {"file": workbook([good(entity), good(entity, "26332000000012345679",
                                                                                  total="9.99")])})
    page = response.content.decode()
    assert response.status_code == 200 and "invoice.amounts" in page and "未写入任何数据" in page
    assert ReceivedInvoice.objects.count() == 0
    link = response.context["errors_url"]
    errors = client.get(link)
    sheet = load_workbook(BytesIO(b"".join(errors.streaming_content))).active
    assert sheet.cell(row=2, column=2).value == 3 and sheet.cell(row=2, column=5).value == "invoice.amounts"
    client.force_login(fiona.__class__.objects.create_user("other", is_staff=True))
    assert client.get(link).status_code in (403, 404)  # someone else's error workbook


def test_customer_service_has_no_excel_page_nor_download_button(client, sam, entity):
    client.force_login(sam)
    assert client.get(reverse(EXCEL)).status_code == 403
    assert client.get(reverse("admin:receiving_collection_excel_template")).status_code == 403
    assert client.post(reverse("admin:receiving_platformsync_download"), {"taxpayer": entity.pk}).status_code == 403


def test_the_download_button_downloads_and_the_list_shows_the_watermark(client, fiona, entity,
                                                                       django_capture_on_commit_callbacks):
    sandbox.received_seed(buyer_credit_code=entity.credit_code, buyer_name=entity.name, count=3, days=4)
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:receiving_platformsync_download"), {"taxpayer": entity.pk})
    assert response.status_code == 302
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 3
    sync = PlatformSync.objects.get(taxpayer=entity)
    assert Event.objects.filter(action="platform_download_request", object_id=str(sync.pk)).exists()
    page = client.get(reverse(SYNC)).content.decode()
    assert sync.synced_through.isoformat() in page or str(sync.synced_through.year) in page
    assert "从平台下载" in page


def test_a_user_limited_to_one_entity_cannot_download_for_another(client, lily, yuntu, entity,
                                                                  django_capture_on_commit_callbacks):
    connect(yuntu)
    client.force_login(lily)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(reverse("admin:receiving_platformsync_download"), {"taxpayer": yuntu.pk})
    assert callbacks == [] and not PlatformSync.objects.filter(taxpayer=yuntu).exists()
    PlatformSync.objects.create(taxpayer=yuntu)
    PlatformSync.objects.create(taxpayer=entity)
    page = client.get(reverse(SYNC)).content.decode()
    assert entity.name in page or "明远" in page
    assert yuntu.name not in page


def test_the_reconciliation_page_runs_and_shows_each_difference(client, fiona, entity):
    (inv,) = sandbox.received_seed(buyer_credit_code=entity.credit_code, buyer_name=entity.name, count=1, days=0)
    client.force_login(fiona)
    today = platform.china_today()
    response = client.post(reverse("admin:receiving_platformreconciliation_run"),
                           {"taxpayer": entity.pk, "date_from": today.isoformat(), "date_to": today.isoformat()})
    report = PlatformReconciliation.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{report.pk}/change/")
    page = client.get(response.url).content.decode()
    assert inv.number in page and "发票池缺少" in page and "not_downloaded_yet" in page
    assert "立即对账" in client.get(reverse(RECON)).content.decode()


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_lists_cost_the_same_queries_whatever_their_size(client, fiona, entity, yuntu):
    connect(yuntu)
    client.force_login(fiona)
    PlatformSync.objects.create(taxpayer=entity)
    PlatformReconciliation.objects.create(taxpayer=entity, date_from="2026-11-01", date_to="2026-11-30")
    few = (_queries(client, reverse(SYNC)), _queries(client, reverse(RECON)))
    PlatformSync.objects.create(taxpayer=yuntu)
    for _ in range(5):
        PlatformReconciliation.objects.create(taxpayer=yuntu, date_from="2026-11-01", date_to="2026-11-30")
    assert (_queries(client, reverse(SYNC)), _queries(client, reverse(RECON))) == few
