"""Excel import of received invoices: the template, the same rules as manual entry, all or nothing with row, column
and rule on every error, one batch per entity with each row's outcome, nothing collected twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook

from invoicing.intake.error_workbook import write_error_workbook
from receiving import excel, services
from receiving.models import Collection, DataSource, Method, Outcome, ReceivedInvoice, Source

SELLER = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")
HEADERS = ["收票主体税号", "*票种", "发票代码", "*发票号码", "*开票日期", "销售方名称", "销售方纳税人识别号", "购买方名称",
           "购买方纳税人识别号", "合计金额", "合计税额", "价税合计"]


def row(entity, number="26332000000012345678", *, kind="数电专票", code="", date="2026-11-20", seller=SELLER,
        buyer=None, amount="1000.00", tax="60.00", total="1060.00"):
    buyer = buyer or (entity.name, entity.credit_code)
    return [entity.credit_code, kind, code, number, date, seller[0], seller[1], buyer[0], buyer[1], amount, tax, total]


def xlsx(tmp_path, rows, headers=HEADERS, name="收票.xlsx"):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    path = tmp_path / name
    wb.save(path)
    return path


def run(path, actor, taxpayer=None):
    return excel.import_received_file(path, actor=actor, taxpayer=taxpayer, filename=path.name)


@pytest.fixture
def entity(mingyuan):
    return mingyuan


def test_the_template_has_the_columns_an_example_and_the_rules():
    wb = load_workbook(BytesIO(excel.build_template()))
    assert wb.sheetnames == [excel.DATA_SHEET, excel.EXAMPLE_SHEET, excel.HELP_SHEET]
    headers = [c.value for c in wb[excel.DATA_SHEET][1]]
    assert "*发票号码" in headers and "价税合计" in headers
    assert wb[excel.EXAMPLE_SHEET].max_row == 2


def test_a_clean_file_fills_the_pool_with_one_batch_and_each_rows_outcome(tmp_path, entity, fiona):
    path = xlsx(tmp_path, [row(entity), row(entity, "26332000000012345679", kind="82", amount="100", tax="",
                                            total="106")])
    out = run(path, fiona)
    assert out.ok and not out.issues and (out.created, out.duplicate) == (2, 0)
    (batch,) = out.collections
    assert (batch.method, batch.created_count, batch.taxpayer_id) == (Method.EXCEL, 2, entity.pk)
    assert list(batch.items.values_list("outcome", flat=True)) == [Outcome.CREATED, Outcome.CREATED]
    record = ReceivedInvoice.objects.get(number="26332000000012345679")
    assert (record.kind, record.tax, record.total, record.data_source) == ("82", Decimal("6.00"), Decimal("106.00"),
                                                                          DataSource.MANUAL)
    assert record.issue_date == dt.date(2026, 11, 20)


def test_one_bad_row_writes_nothing_and_every_error_names_row_column_and_rule(tmp_path, entity, fiona):
    path = xlsx(tmp_path, [
        row(entity),
        row(entity, "26332000000012345670", date="2026-13-01"),
        row(entity, "26332000000012345671", total="1070.00"),
        row(entity, "26332000000012345672", seller=(SELLER[0], "9133010")),
        row(entity),  # the first row again
        row(entity, "123", kind="火车票"),
        row(entity, 2.6332000000012346e19),  # typed as a number: digits lost
    ])
    out = run(path, fiona)
    assert not out.ok and out.collections == []
    assert ReceivedInvoice.objects.count() == 0 and Collection.objects.count() == 0
    found = {(i.row, i.column, i.code) for i in out.issues}
    assert (3, "*开票日期", "cell.bad_date") in found
    assert (4, "价税合计", "invoice.amounts") in found
    assert (5, "销售方纳税人识别号", "tax_id.invalid") in found
    assert (6, "*发票号码", "invoice.duplicate_in_file") in found
    assert (7, "*票种", "invoice.kind") in found
    assert (8, "*发票号码", "cell.lost_digits") in found
    duplicate = next(i for i in out.issues if i.code == "invoice.duplicate_in_file")
    assert "第 2 行" in duplicate.message
    target = tmp_path / "errors.xlsx"
    write_error_workbook(out.issues, target)
    sheet = load_workbook(target).active
    assert [c.value for c in sheet[1]] == ["工作表", "行号", "列", "单元格内容", "规则", "错误说明"]
    assert sheet.max_row == len(out.issues) + 1


def test_missing_columns_and_an_unknown_one_are_named(tmp_path, entity, fiona):
    path = xlsx(tmp_path, [["x", "y"]], headers=["发票号码", "颜色"])
    codes = {(i.code, i.column) for i in run(path, fiona).issues}
    assert ("column.unknown", "B") in codes and ("column.missing", "票种") in codes
    assert ("column.missing", "收票主体税号") in codes  # no entity chosen: the column is needed


def test_an_invoice_already_in_the_pool_is_one_more_source_not_a_second_record(tmp_path, entity, fiona):
    services.received_invoice_create_manual(
        taxpayer=entity, actor=fiona, kind="81", number="26332000000012345678", issue_date=dt.date(2026, 11, 20),
        seller_name=SELLER[0], seller_tax_id=SELLER[1], buyer_name=entity.name, buyer_tax_id=entity.credit_code,
        amount="1000.00", tax="60.00", total="1060.00")
    out = run(xlsx(tmp_path, [row(entity)]), fiona)
    assert out.ok and (out.created, out.duplicate) == (0, 1)
    record = ReceivedInvoice.objects.get()
    assert sorted(Source.objects.filter(invoice=record).values_list("method", flat=True)) == [Method.EXCEL,
                                                                                             Method.MANUAL]


def test_buyer_and_seller_the_wrong_way_round_is_an_error(tmp_path, entity, yuntu, fiona):
    # 云途 (ours) sells to someone else: not an invoice 明远 received
    path = xlsx(tmp_path, [row(entity, seller=(yuntu.name, yuntu.credit_code), buyer=("上海白鹭文化传媒有限公司",
                                                                                     "91310000MA1K0BA10F"))])
    (problem,) = run(path, fiona).issues
    assert (problem.row, problem.code) == (2, "invoice.wrong_way")


def test_a_user_limited_to_one_entity_cannot_import_for_another(tmp_path, entity, yuntu, lily):
    out = run(xlsx(tmp_path, [row(yuntu)]), lily)
    assert [i.code for i in out.issues] == ["entity.forbidden"]
    assert run(xlsx(tmp_path, [row(entity)], name="ok.xlsx"), lily).ok


def test_customer_service_may_not_import(tmp_path, entity, sam):
    out = run(xlsx(tmp_path, [row(entity)]), sam)
    assert [i.code for i in out.issues] == ["receiving.permission"] and not out.ok


def test_the_chosen_entity_lets_the_column_be_left_out_and_must_agree(tmp_path, entity, yuntu, fiona):
    path = xlsx(tmp_path, [row(entity)[1:]], headers=HEADERS[1:])
    assert run(path, fiona, taxpayer=entity).ok
    other = xlsx(tmp_path, [row(entity, "26332000000012345600")], name="other.xlsx")
    assert [i.code for i in run(other, fiona, taxpayer=yuntu).issues] == ["entity.mismatch"]


def test_a_csv_file_is_read_the_same_way(tmp_path, entity, fiona):
    path = tmp_path / "收票.csv"
    lines = [",".join(HEADERS), ",".join(str(x) for x in row(entity))]
    path.write_text("\n".join(lines), encoding="utf-8-sig")
    assert run(path, fiona).ok


def test_a_renamed_pdf_is_refused_as_a_file(tmp_path, fiona):
    path = tmp_path / "收票.xlsx"
    path.write_bytes(b"%PDF-1.7 not a workbook")
    out = run(path, fiona)
    assert out.issues[0].code == "file.type" and not out.ok


def test_rows_that_cannot_be_an_invoice_are_refused_like_manual_entry(tmp_path, entity, fiona):
    path = xlsx(tmp_path, [row(entity, amount="-100.00", tax="-6.00", total="-106.00"),
                           row(entity, "26332000000012345679", amount="0", tax="0", total="0"),
                           row(entity, "26332000000012345680", amount="99999999999999.00", tax="5999999999999.94",
                               total="105999999999998.94")])
    out = run(path, fiona)
    assert not out.ok and not ReceivedInvoice.objects.exists()
    found = [(i.row, i.column, i.message) for i in out.issues]
    assert any(r == 2 and c == "价税合计" and "蓝字发票的价税合计必须大于 0" in m for r, c, m in found), found
    assert any(r == 3 and c == "价税合计" and "蓝字发票的价税合计必须大于 0" in m for r, c, m in found), found
    assert any(r == 4 and c == "合计金额" and "超出可保存的范围" in m for r, c, m in found), found


def test_a_red_invoice_is_imported_when_its_row_says_so(tmp_path, entity, fiona):
    path = xlsx(tmp_path, [row(entity, amount="-100.00", tax="-6.00", total="-106.00") + ["是"]],
                headers=[*HEADERS, "红字发票"])
    out = run(path, fiona)
    assert out.ok, out.issues
    record = ReceivedInvoice.objects.get()
    assert (record.is_red, record.total) == (True, Decimal("-106.00"))
