"""Changelist exports stream (CSV generated as sent, XLSX written in write-only mode), respect filters and entity
scope, escape formulas, and become jobs when large. The reports page exports the summary to Excel."""

import csv
import io
from decimal import Decimal

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from issuing.platform.models import Invoice
from issuing.reports.specs import get_spec
from issuing.reports.stream import csv_chunks, write_xlsx

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.importing.admin_urls")]

EXPORT = "admin:issuing_invoice_stream_export"


def csv_rows(response):
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def xlsx_rows(data: bytes):
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


def test_csv_export_of_the_filtered_changelist(client, invoices, fiona):
    client.force_login(fiona)
    url = reverse(EXPORT, args=["csv"], current_app="testadmin")
    response = client.get(url, {"is_red__exact": "1"})
    rows = csv_rows(response)
    assert rows[0][:4] == ["发票号码", "主体", "发票种类", "红字"]
    assert len(rows) == 2 and rows[1][3] == "是" and rows[1][7] == "-1000.00"
    assert response["Content-Disposition"].startswith("attachment;")


def test_xlsx_export_streams_a_write_only_workbook(client, invoices, fiona, yuntu):
    client.force_login(fiona)
    url = reverse(EXPORT, args=["xlsx"], current_app="testadmin")
    response = client.get(url, {"taxpayer__id__exact": yuntu.pk})
    assert isinstance(response, FileResponse)
    rows = xlsx_rows(b"".join(response.streaming_content))
    assert rows[0][0] == "发票号码" and len(rows) == 1 + Invoice.objects.filter(taxpayer=yuntu).count()
    assert sum(Decimal(str(r[9])) for r in rows[1:]) == sum(i.total for i in Invoice.objects.filter(taxpayer=yuntu))


def test_exports_for_lily_contain_only_mingyuan_rows(client, invoices, lily, mingyuan):
    client.force_login(lily)
    rows = csv_rows(client.get(reverse(EXPORT, args=["csv"], current_app="testadmin")))
    assert len(rows) == 1 + Invoice.objects.filter(taxpayer=mingyuan).count()
    assert {r[1] for r in rows[1:]} == {mingyuan.name}


def test_text_that_looks_like_a_formula_is_escaped(client, invoices, fiona, mingyuan):
    client.force_login(fiona)
    rows = csv_rows(client.get(reverse(EXPORT, args=["csv"], current_app="testadmin"),
                               {"taxpayer__id__exact": mingyuan.pk}))
    names = [r[5] for r in rows[1:]]
    assert "'=HYPERLINK(\"http://x\")" in names


def test_a_large_export_becomes_a_job_with_a_download(client, invoices, fiona):
    client.force_login(fiona)  # the test admin sets export_async_threshold = 5
    response = client.get(reverse(EXPORT, args=["xlsx"], current_app="testadmin"))
    assert response.status_code == 302
    job_id = response.url.rstrip("/").split("/")[-1]
    status = client.get(reverse("issuing:job_status", args=[job_id])).json()
    assert status["status"] == "succeeded" and status["processed"] == Invoice.objects.count()
    download = client.get(status["output_url"])
    rows = xlsx_rows(b"".join(download.streaming_content))
    assert len(rows) == 1 + Invoice.objects.count()


def test_the_export_job_keeps_lily_in_scope(client, invoices, lily, mingyuan, settings):
    from invoicing.intake import jobs as intake_jobs
    from issuing.reports import tasks


    job_id = intake_jobs.create("export", user_id=lily.pk, filename="x.csv")
    # even a query naming every invoice is narrowed to lily's entities in the worker
    tasks.export_task(job_id, "invoices", tasks.sign_query(Invoice.objects.all()), "csv", lily.pk)
    with intake_jobs.open_file(intake_jobs.read(job_id)["output_file"]) as fh:
        rows = list(csv.reader(io.StringIO(fh.read().decode("utf-8-sig"))))
    assert {r[1] for r in rows[1:]} == {mingyuan.name}


def test_a_tampered_query_token_is_refused(invoices, fiona):
    from django.core.signing import BadSignature

    from issuing.reports import tasks



    token = tasks.sign_query(Invoice.objects.all())
    with pytest.raises(BadSignature):
        tasks.unsign_query(Invoice, token[:-2] + "xx")


def test_the_reports_page_and_its_excel_export(client, invoices, fiona):
    client.force_login(fiona)
    page = client.get(reverse("issuing:reports"))  # this month by default
    assert page.context["form"].cleaned_data["date_from"] == timezone.localdate().replace(day=1)
    year = {"date_from": "2026-01-01", "date_to": "2026-12-31"}
    html = client.get(reverse("issuing:reports"), year).content.decode()
    assert "发票汇总表" in html and "2026-10" in html and "6%" in html
    response = client.get(reverse("issuing:reports"), {"report": "summary", "format": "xlsx", **year})
    rows = xlsx_rows(b"".join(response.streaming_content))
    assert rows[0][:4] == ["主体", "所属月份", "税率", "蓝字张数"]
    for r in rows[1:]:
        assert round(r[4] + r[8], 2) == round(r[12], 2)  # blue + red = net
    detail = csv_rows(client.get(reverse("issuing:reports"), {"report": "detail", "format": "csv", **year}))
    assert detail[0][0] == "发票号码" and len(detail) == 1 + 8
    status = client.get(reverse("issuing:reports"), {"report": "status", "format": "csv"})
    assert csv_rows(status)[0][:3] == ["主体", "状态", "张数"]


def test_reports_need_the_view_invoice_permission(client, sam, invoices, django_user_model):
    client.force_login(sam)
    assert client.get(reverse("issuing:reports")).status_code == 200  # 客服 may view invoices
    nobody = django_user_model.objects.create_user("nobody", is_staff=True)
    client.force_login(nobody)
    assert client.get(reverse("issuing:reports")).status_code == 403


def test_writers_keep_memory_flat_by_design(invoices, tmp_path):
    spec = get_spec("invoices")
    chunks = list(csv_chunks(spec, Invoice.objects.all()))
    assert chunks[0].startswith("\ufeff".encode())
    n = write_xlsx(spec, Invoice.objects.all(), tmp_path / "x.xlsx")
    assert n == Invoice.objects.count()


def test_an_export_file_counts_rows_not_lines(invoices, tmp_path):
    """A cell with a line break is one row over two lines of the file: the job reports rows."""
    from issuing.reports.stream import write_file

    Invoice.objects.filter(pk=Invoice.objects.order_by("pk").first().pk).update(buyer_name="上海白鹭\n文化传媒有限公司")
    target = tmp_path / "invoices.csv"
    seen: list[int] = []
    n = write_file(get_spec("invoices"), Invoice.objects.all(), target, "csv", progress=lambda done, _: seen.append(done))
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert n == Invoice.objects.count() == len(rows) - 1 == seen[-1]
    assert any("上海白鹭\n文化传媒有限公司" in row for row in rows)
