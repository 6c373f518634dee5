"""The fast path (calamine + set-based validation + bulk insert): good files, autofill, duplicates, scoping."""

from decimal import Decimal

import pytest

from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.intake.run import import_billing_file
from tests.importing.conftest import MINGYUAN_CODE, counts, row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def test_a_good_file_imports_every_document_and_line_with_correct_totals(tmp_path, master, fiona):
    rows = [
        row(external_no="SO-1", line_no=1),
        row(external_no="SO-1", line_no=2, item_name="运维服务", quantity="2", unit_price="530", amount="1060.00",
            paid_amount="1060.00"),
        row(external_no="SO-2", customer_code="C0001", buyer_name="", buyer_tax_id="", item_code="G0001",
            item_name="", tax_code="", tax_rate="", quantity="3", unit_price="100", amount="300.00",
            tax_inclusive="否", paid_amount="339.00", order_amount="339.00"),
    ]
    rows[1]["paid_amount"] = rows[0]["paid_amount"]
    path = write_xlsx(tmp_path / "good.xlsx", rows)
    out = import_billing_file(path, user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    assert (out.documents, out.lines) == (2, 3)
    assert counts() == (2, 3)
    so1 = BillingDocument.objects.get(external_no="SO-1")
    assert so1.order_amount == Decimal("2120.00")
    assert [ln.total for ln in so1.lines.order_by("line_no")] == [Decimal("1060.00"), Decimal("1060.00")]
    so2 = BillingDocument.objects.get(external_no="SO-2")
    assert so2.buyer_name == "上海白鹭文化传媒有限公司" and so2.counterparty_id == master["customer"].id
    assert so2.buyer_address == "上海市静安区"
    line = so2.lines.get()
    assert line.item_name == "网络设备" and line.unit == "台" and line.tax_rate == Decimal("0.13")
    assert line.tax_category.code == "1090501010000000000" and line.item_id == master["goods"].id
    assert line.total == Decimal("339.00") and line.tax_inclusive is False
    assert out.totals == {"amount": "2300.00", "tax": "159.00", "total": "2459.00"}


def test_a_discount_row_is_folded_into_the_line_it_follows(tmp_path, master, fiona):
    rows = [row(), row(line_property="折扣行", quantity="", unit_price="", amount="-60.00")]
    out = import_billing_file(write_xlsx(tmp_path / "d.xlsx", rows), user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    line = BillingDocumentLine.objects.get()
    assert line.discount == Decimal("60.00") and line.total == Decimal("1000.00")


def test_csv_imports_the_same_as_xlsx(tmp_path, master, fiona):
    out = import_billing_file(write_csv(tmp_path / "g.csv", [row(), row(external_no="SO-2")]), user=fiona)
    assert out.ok and counts() == (2, 2)


def test_gbk_csv_is_read(tmp_path, master, fiona):
    out = import_billing_file(write_csv(tmp_path / "g.csv", [row()], encoding="gb18030"), user=fiona)
    assert out.ok and BillingDocument.objects.get().buyer_name == "上海白鹭文化传媒有限公司"


def test_dry_run_writes_nothing(tmp_path, master, fiona):
    out = import_billing_file(write_xlsx(tmp_path / "g.xlsx", [row()]), user=fiona, dry_run=True)
    assert out.ok and out.documents == 1 and counts() == (0, 0)


def test_numbers_typed_as_numbers_keep_their_digits(tmp_path, master, fiona):
    rows = [row(external_no=20261122001, tax_code=3040201000000000000)]
    out = import_billing_file(write_xlsx(tmp_path / "n.xlsx", rows), user=fiona)
    assert not out.ok and [i.code for i in out.issues] == ["cell.lost_digits"]
    out = import_billing_file(write_xlsx(tmp_path / "n.xlsx", [row(external_no=20261122001)]), user=fiona)
    assert out.ok and BillingDocument.objects.get().external_no == "20261122001"


def test_lily_cannot_import_into_yuntu_but_can_into_mingyuan(tmp_path, master, lily):
    out = import_billing_file(write_xlsx(tmp_path / "y.xlsx", [row()]), user=lily)
    assert [(i.code, i.row, i.column) for i in out.issues] == [("entity.forbidden", 2, "主体税号")]
    assert counts() == (0, 0)
    ok = row(entity=MINGYUAN_CODE, buyer_name="", buyer_tax_id="", customer_code="C0001")
    out = import_billing_file(write_xlsx(tmp_path / "m.xlsx", [ok]), user=lily)
    assert out.ok and BillingDocument.objects.get().buyer_name == "北京青禾科技有限公司"


def test_a_fixed_entity_fills_an_empty_entity_column(tmp_path, master, fiona, mingyuan):
    out = import_billing_file(write_xlsx(tmp_path / "f.xlsx", [row(entity="")]), user=fiona, taxpayer=mingyuan)
    assert out.ok and BillingDocument.objects.get().taxpayer == mingyuan
