"""The admin path (django-import-export upload, preview, confirm) and the fast path share one validator and write
the same rows; the fast path runs as a job with a progress page."""

from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
import tablib
from django.urls import reverse

from invoicing.intake import jobs as intake_jobs
from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.intake.resources import BillingLineResource, BillingXLSX
from issuing.intake.run import import_billing_file
from issuing.intake.template import EXAMPLE_SHEET
from tests.importing.conftest import counts, row, write_xlsx

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.importing.admin_urls")]

DOC_FIELDS = ("taxpayer_id", "counterparty_id", "source", "source_system", "external_no", "business_date",
              "order_amount", "paid_amount", "refunded_amount", "buyer_kind", "buyer_name", "buyer_tax_id",
              "buyer_address", "buyer_email", "remark", "created_by_id")
LINE_FIELDS = ("document__external_no", "line_no", "item_id", "item_name", "spec", "unit", "quantity", "unit_price",
               "amount", "tax_inclusive", "discount", "tax_category_id", "tax_rate", "total")


def snapshot():
    docs = sorted(BillingDocument.objects.values_list(*DOC_FIELDS), key=repr)
    lines = sorted(BillingDocumentLine.objects.values_list(*LINE_FIELDS), key=repr)
    return docs, lines


def mixed_rows():
    return [
        row(external_no="A-1", business_date="2026-11-01", remark="十一月"),
        row(external_no="A-1", line_no=2, item_name="运维服务", quantity="2", unit_price="530", amount="1060.00"),
        row(external_no="A-1", line_no=3, line_property="折扣行", item_name="运维服务", quantity="", unit_price="",
            amount="-60.00"),
        row(external_no="A-2", customer_code="C0001", buyer_name="", buyer_tax_id="", item_code="G0001",
            item_name="", tax_code="", tax_rate="", quantity="3", unit_price="100", amount="300.00",
            tax_inclusive="否", paid_amount="339.00"),
        row(external_no="A-3", quantity=0.5, unit_price=33.3333333333333, amount=16.67, tax_rate=0.06),
    ]


def admin_import(path, user):
    dataset = BillingXLSX().create_dataset(path.read_bytes())
    return BillingLineResource().import_data(dataset, dry_run=False, user=user, raise_errors=False)


def test_the_admin_path_and_the_fast_path_write_the_same_rows(tmp_path, master, fiona):
    path = write_xlsx(tmp_path / "same.xlsx", mixed_rows())
    result = admin_import(path, fiona)
    assert not result.has_errors() and not result.has_validation_errors()
    via_admin = snapshot()
    assert len(via_admin[0]) == 3 and len(via_admin[1]) == 4
    BillingDocumentLine.objects.all().delete()
    BillingDocument.objects.all().delete()
    out = import_billing_file(path, user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    assert snapshot() == via_admin
    line = BillingDocumentLine.objects.get(document__external_no="A-1", line_no=2)
    assert line.discount == Decimal("60.00") and line.total == Decimal("1000.00")


def test_the_admin_path_reports_every_error_and_writes_nothing(tmp_path, master, fiona):
    rows = mixed_rows()
    for r in rows[:3]:
        r["buyer_tax_id"] = "123"
    rows[3]["item_code"] = "NOPE"
    result = admin_import(write_xlsx(tmp_path / "bad.xlsx", rows), fiona)
    assert result.has_validation_errors()
    codes = [(i.code, i.row) for i in result.fapiao_issues]
    assert codes == [("tax_id.invalid", 2), ("item.unknown", 5)]
    assert len(result.invalid_rows) == 2
    assert counts() == (0, 0)
    assert intake_jobs.read(result.fapiao_errors_job)["errors_file"].endswith("errors.xlsx")


def test_the_admin_path_refuses_a_file_the_readers_refuse(tmp_path, master, fiona):
    dataset = BillingXLSX().create_dataset(b"%PDF-1.7 not a workbook")
    result = BillingLineResource().import_data(dataset, dry_run=True, user=fiona)
    assert [i.code for i in result.fapiao_issues] == ["file.type"] and counts() == (0, 0)


def test_lily_cannot_import_into_yuntu_through_the_admin(tmp_path, master, lily):
    result = admin_import(write_xlsx(tmp_path / "y.xlsx", [row()]), lily)
    assert [i.code for i in result.fapiao_issues] == ["entity.forbidden"] and counts() == (0, 0)


def test_the_admin_upload_preview_confirm_flow(client, tmp_path, master, fiona):
    client.force_login(fiona)
    url = reverse("admin:issuing_billingdocument_import", current_app="testadmin")
    bad = write_xlsx(tmp_path / "bad.xlsx", [row(tax_rate="8%")])
    with open(bad, "rb") as fh:
        page = client.post(url, {"import_file": fh, "format": "0"})
    html = page.content.decode()
    assert "发现 1 个错误，未写入任何数据" in html and "rate.not_allowed" in html and "下载错误清单" in html
    assert counts() == (0, 0)
    good = write_xlsx(tmp_path / "good.xlsx", [row(), row(external_no="SO-2")])
    with open(good, "rb") as fh:
        page = client.post(url, {"import_file": fh, "format": "0"})
    assert page.status_code == 200 and "confirm_form" in page.context
    assert counts() == (0, 0)  # the preview is a dry run
    confirm = page.context["confirm_form"]
    data = {k: v for k, v in confirm.initial.items()}
    done = client.post(reverse("admin:issuing_billingdocument_process_import", current_app="testadmin"), data)
    assert done.status_code == 302
    assert counts() == (2, 2)
    from invoicing.models import Event

    event = Event.objects.get(action="billing_import")
    assert event.actor == fiona and event.data["documents"] == 2 and event.data["path"] == "admin"


def test_the_changelist_links_to_the_template_and_the_fast_import(client, master, fiona):
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_billingdocument_changelist", current_app="testadmin"))
    html = page.content.decode()
    assert reverse("issuing:import_template") in html and reverse("issuing:import") in html
    assert "导出 Excel" in html


def test_template_download(client, fiona, sam):
    client.force_login(fiona)
    response = client.get(reverse("issuing:import_template"))
    assert response.status_code == 200 and response.content[:2] == b"PK"
    client.force_login(sam)  # customer service may not add billing documents
    assert client.get(reverse("issuing:import_template")).status_code == 403


def _workbook_texts(content: bytes) -> list[str]:
    book = openpyxl.load_workbook(BytesIO(content))
    return [str(v) for ws in book.worksheets for values in ws.iter_rows(values_only=True) for v in values if v]


def test_the_template_example_names_only_an_entity_the_user_may_see(client, yuntu, mingyuan, lily):
    client.force_login(lily)  # finance, 明远 only
    response = client.get(reverse("issuing:import_template"))
    assert response.status_code == 200
    texts = _workbook_texts(response.content)
    assert not [t for t in texts if yuntu.credit_code in t or yuntu.name in t or yuntu.short_name in t]
    example = openpyxl.load_workbook(BytesIO(response.content))[EXAMPLE_SHEET]
    assert [row[0] for row in example.iter_rows(min_row=2, values_only=True) if any(row)] == [mingyuan.credit_code] * 2


def test_the_template_of_a_user_without_entities_leaves_the_entity_blank(client, yuntu, mingyuan):
    from invoicing import roles
    from tests.factories import UserFactory

    nobody = UserFactory(username="nobody", role=roles.FINANCE, entities=[])
    client.force_login(nobody)
    response = client.get(reverse("issuing:import_template"))
    assert response.status_code == 200
    texts = _workbook_texts(response.content)
    assert not [t for t in texts if any(code in t for code in (yuntu.credit_code, mingyuan.credit_code))]


def test_the_fast_import_runs_as_a_job_with_progress(client, tmp_path, master, fiona):
    client.force_login(fiona)
    path = write_xlsx(tmp_path / "big.xlsx", [row(external_no=f"SO-{i}") for i in range(50)])
    with open(path, "rb") as fh:
        response = client.post(reverse("issuing:import"), {"file": fh})
    assert response.status_code == 302
    job_id = response.url.rstrip("/").split("/")[-1]
    status = client.get(reverse("issuing:job_status", args=[job_id])).json()
    assert status["status"] == "succeeded" and status["percent"] == 100 and status["done"]
    assert status["processed"] == 50 and "已导入 50 张单据" in status["message"]
    assert counts() == (50, 50)
    page = client.get(response.url)
    assert "progressbar" in page.content.decode()


def test_the_fast_import_job_lists_errors_and_offers_the_error_workbook(client, tmp_path, master, fiona, lily):
    client.force_login(fiona)
    path = write_xlsx(tmp_path / "bad.xlsx", [row(), row(external_no="SO-2", amount="abc")])
    with open(path, "rb") as fh:
        response = client.post(reverse("issuing:import"), {"file": fh})
    job_id = response.url.rstrip("/").split("/")[-1]
    status = client.get(reverse("issuing:job_status", args=[job_id])).json()
    assert status["status"] == "failed" and status["issues"][0]["code"] == "cell.not_number"
    assert status["issues"][0]["row"] == 3 and status["issues"][0]["column"] == "金额"
    download = client.get(status["errors_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"
    assert counts() == (0, 0)
    client.force_login(lily)  # another user's job is not visible
    assert client.get(reverse("issuing:job_status", args=[job_id])).status_code == 404


def test_a_dataset_built_by_hand_goes_through_the_same_validator(master, fiona):
    from tests.importing.conftest import HEADERS, KEY

    inv = {v: k for k, v in KEY.items()}
    ds = tablib.Dataset(headers=HEADERS)
    ds.append([row(quantity="-1").get(inv[h], "") for h in HEADERS])
    result = BillingLineResource().import_data(ds, dry_run=True, user=fiona)
    assert [i.code for i in result.fapiao_issues] == ["line.negative"]
