"""The import refuses what cannot reach an invoice or fit a column, row by row, and never shows a traceback
(issue 12: control characters, 1e400, rates and dates like the API, lines per document, UTF-16 CSV)."""

from __future__ import annotations

import codecs

import pytest
from django.urls import reverse

from invoicing.intake import jobs as intake_jobs
from issuing.intake import run as intake_run
from issuing.intake import validate as intake_validate
from issuing.intake.resources import BillingLineResource, BillingXLSX
from issuing.intake.run import import_billing_file
from issuing.intake.tasks import import_billing_file_task
from tests.importing.conftest import HEADERS, KEY, counts, row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def first(out):
    assert not out.ok
    return [(i.code, i.row, i.column) for i in out.issues]


@pytest.mark.parametrize("writer", [write_xlsx, write_csv])
def test_a_buyer_name_with_rlo_and_bel_is_a_cell_error(tmp_path, master, fiona, writer):
    bel = "" if writer is write_xlsx else "\x07"  # a worksheet cannot hold C0 controls; a CSV can
    path = writer(tmp_path / ("a.xlsx" if writer is write_xlsx else "a.csv"),
                  [row(buyer_name=f"上海白鹭\u202e{bel}文化传媒有限公司"), row(external_no="SO-2", spec="A\u200bB")])
    out = import_billing_file(path, user=fiona)
    assert first(out) == [("cell.bad_char", 2, "购买方名称"), ("cell.bad_char", 3, "规格型号")]
    assert "<U+202E>" in out.issues[0].value and "\u202e" not in out.issues[0].value
    assert counts() == (0, 0)


NUMERIC = [("quantity", "数量"), ("unit_price", "单价"), ("amount", "金额"), ("paid_amount", "实收金额"),
           ("tax", "税额"), ("discount", "折扣金额"), ("order_amount", "订单金额")]


@pytest.mark.parametrize("value", ["1e400", "-1e400", "1E-400", "NaN", "Infinity", "sNaN", "1e999999999999"])
@pytest.mark.parametrize(("key", "header"), NUMERIC, ids=[k for k, _h in NUMERIC])
def test_numbers_that_fit_no_column_are_cell_errors(tmp_path, master, fiona, key, header, value):
    out = import_billing_file(write_csv(tmp_path / "n.csv", [row(**{key: value})]), user=fiona)
    issues = first(out)
    assert issues[0][1:] == (2, header), issues
    assert issues[0][0] in ("cell.out_of_range", "cell.not_number", "cell.decimals")
    assert counts() == (0, 0)


def test_a_quantity_with_more_integer_digits_than_the_column_holds_is_refused(tmp_path, master, fiona):
    out = import_billing_file(write_csv(tmp_path / "q.csv", [row(quantity="1234567890123", unit_price="0.001",
                                                                 amount="1234567890.12")]), user=fiona)
    assert first(out)[0] == ("cell.out_of_range", 2, "数量")


def test_a_tax_exclusive_amount_whose_total_overflows_is_refused(tmp_path, master, fiona):
    big = "9999999999999999.00"
    out = import_billing_file(write_csv(tmp_path / "m.csv", [row(amount=big, quantity="", unit_price="",
                                                                 tax_inclusive="否", paid_amount="0")]), user=fiona)
    assert first(out)[0] == ("cell.out_of_range", 2, "金额")
    assert counts() == (0, 0)


def test_a_future_business_date_is_refused(tmp_path, master, fiona):
    out = import_billing_file(write_xlsx(tmp_path / "d.xlsx", [row(business_date="2099-12-31")]), user=fiona)
    assert first(out) == [("cell.date_range", 2, "业务日期")]


def test_a_document_over_the_line_limit_is_refused(tmp_path, master, fiona, settings):
    settings.BILLING_DOCUMENT_MAX_LINES = 2
    rows = [row(line_no=i + 1) for i in range(3)] + [row(external_no="SO-2")]
    out = import_billing_file(write_xlsx(tmp_path / "l.xlsx", rows), user=fiona)
    assert first(out) == [("doc.too_many_lines", 2, "订单号")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_csv_with_a_bom_imports_like_utf8(tmp_path, master, fiona, encoding):
    path = write_csv(tmp_path / "u.csv", [row(), row(external_no="SO-2", buyer_name="北京青禾科技有限公司")],
                     encoding="utf-16")
    if encoding == "utf-16-be":
        path.write_bytes(codecs.BOM_UTF16_BE + path.read_bytes()[2:].decode("utf-16-le").encode("utf-16-be"))
    out = import_billing_file(path, user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    assert counts() == (2, 2)


def test_excels_unicode_text_utf16_with_tabs_imports(tmp_path, master, fiona):
    inv = {v: k for k, v in KEY.items()}
    data = row()
    text = "\t".join(HEADERS) + "\r\n" + "\t".join(str(data.get(inv[h], "")) for h in HEADERS) + "\r\n"
    path = tmp_path / "unicode.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    out = import_billing_file(path, user=fiona)
    assert out.ok, [str(i) for i in out.issues]


def test_utf16_without_a_bom_is_an_encoding_error_that_says_so(tmp_path, master, fiona):
    path = write_csv(tmp_path / "nobom.csv", [row()], encoding="utf-16-le")
    out = import_billing_file(path, user=fiona)
    assert [i.code for i in out.issues] == ["file.encoding"]
    assert "UTF-16" in out.issues[0].message


def test_an_unexpected_error_in_a_background_import_shows_a_generic_message(tmp_path, master, fiona, monkeypatch):


    monkeypatch.setattr(intake_run.BillingValidator, "run", lambda *a, **k: 1 / 0)
    path = write_xlsx(tmp_path / "x.xlsx", [row()])
    job_id = intake_jobs.create("import", user_id=fiona.pk, filename="x.xlsx")
    stored = intake_jobs.save_file(job_id, "upload.xlsx", path.read_bytes())  # as the upload page stores it
    with pytest.raises(ZeroDivisionError):
        import_billing_file_task(job_id, stored, None, fiona.pk)
    assert not intake_jobs.file_exists(stored)  # the upload is not kept
    job = intake_jobs.read(job_id)
    assert job["status"] == intake_jobs.FAILED
    assert "ZeroDivision" not in job["message"] and "内部错误" in job["message"] and job_id in job["message"]


def test_the_admin_import_never_shows_a_traceback(client, tmp_path, master, fiona, monkeypatch, caplog):


    monkeypatch.setattr(intake_validate.BillingValidator, "run", lambda *a, **k: 1 / 0)
    client.force_login(fiona)
    with open(write_xlsx(tmp_path / "t.xlsx", [row()]), "rb") as fh:
        page = client.post(reverse("admin:issuing_billingdocument_import"), {"import_file": fh, "format": "0"})
    html = page.content.decode()
    assert page.status_code == 200 and "内部错误" in html
    assert "Traceback" not in html and "ZeroDivision" not in html and "division" not in html
    assert "ZeroDivisionError" in caplog.text


def test_1e400_through_the_admin_path_is_a_cell_error(tmp_path, master, fiona):
    dataset = BillingXLSX().create_dataset(write_xlsx(tmp_path / "e.xlsx", [row(quantity="1e400")]).read_bytes())
    result = BillingLineResource().import_data(dataset, dry_run=False, user=fiona, raise_errors=False)
    assert [(i.code, i.column) for i in result.fapiao_issues] == [("cell.out_of_range", "数量")]
    assert not result.base_errors and counts() == (0, 0)
