"""Every class of bad input: the exact rule, where it is, and nothing written."""

from __future__ import annotations

import zipfile

import openpyxl
import pytest

from issuing.intake.run import import_billing_file
from tests.importing.conftest import HEADERS, counts, row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db

SOFTWARE = "3040201000000000000"


def rows_file(*rows):
    return lambda tmp: write_xlsx(tmp / "bad.xlsx", list(rows))


# (case, file builder, expected first issue: (rule code, row, column))
CASES = [
    ("bad buyer tax id", rows_file(row(buyer_tax_id="91350100M000100Y4Z")),
     ("tax_id.invalid", 2, "购买方纳税人识别号")),
    ("company buyer without tax id", rows_file(row(buyer_tax_id="")), ("tax_id.required", 2, "购买方纳税人识别号")),
    ("rate not a general taxpayer's", rows_file(row(tax_rate="7%")), ("rate.not_allowed", 2, "税率")),
    ("rate that is text", rows_file(row(tax_rate="六个点")), ("rate.invalid", 2, "税率")),
    ("rate of 130%", rows_file(row(tax_rate="130%")), ("rate.invalid", 2, "税率")),
    ("rate outside the category", rows_file(row(tax_rate="13%")), ("rate.category", 2, "税率")),
    ("unknown tax code", rows_file(row(tax_code="3049999999999999999")), ("tax_code.unknown", 2, "税收分类编码")),
    ("summary tax code", rows_file(row(tax_code="3040200000000000000")), ("tax_code.summary", 2, "税收分类编码")),
    ("tax code not 19 digits", rows_file(row(tax_code="30402")), ("tax_code.format", 2, "税收分类编码")),
    ("negative quantity on a normal line", rows_file(row(quantity="-1")), ("line.negative", 2, "数量")),
    ("text in a number", rows_file(row(amount="一千零六十")), ("cell.not_number", 2, "金额")),
    ("too many decimals on an amount", rows_file(row(amount="1060.001", quantity="", unit_price="")),
     ("cell.decimals", 2, "金额")),
    ("too many decimals on a quantity", rows_file(row(quantity="1.00000000000001")), ("cell.decimals", 2, "数量")),
    ("negative amount on a normal line", rows_file(row(amount="-10.00", quantity="", unit_price="")),
     ("line.negative", 2, "金额")),
    ("amounts typed as numbers with too many decimals", rows_file(row(amount=10.125, quantity=None, unit_price=None)),
     ("cell.decimals", 2, "金额")),
    ("order amount that does not add up", rows_file(row(order_amount="1000.00")), ("doc.totals", 2, "订单金额")),
    ("given tax outside 0.06", rows_file(row(tax="70.00")), ("line.tax_tolerance", 2, "税额")),
    ("rate group outside 1.27", rows_file(*[row(line_no=i + 1, amount="0.05", quantity="", unit_price="",
                                                tax_rate="13%", tax_code="1090501010000000000")
                                            for i in range(300)]),
     ("doc.tax_tolerance", 2, "税额")),
    ("quantity without price", rows_file(row(unit_price="")), ("line.qty_price_pair", 2, "单价")),
    ("amount is not quantity × price", rows_file(row(quantity="2")), ("line.amount_mismatch", 2, "金额")),
    ("zero quantity", rows_file(row(quantity="0")), ("cell.zero", 2, "数量")),
    ("missing order number", rows_file(row(external_no="")), ("cell.required", 2, "订单号")),
    ("bad date", rows_file(row(business_date="2026-13-45")), ("cell.bad_date", 2, "业务日期")),
    ("bad tax-inclusive flag", rows_file(row(tax_inclusive="也许")), ("cell.bad_choice", 2, "含税标志")),
    ("bad e-mail", rows_file(row(buyer_email="not-an-email")), ("cell.bad_email", 2, "收票邮箱")),
    ("text too long", rows_file(row(item_name="服" * 301)), ("cell.too_long", 2, "项目名称")),
    ("remark too long", rows_file(row(remark="备" * 151)), ("doc.remark_too_long", 2, "备注")),
    ("refund above paid", rows_file(row(refunded_amount="2000.00")), ("doc.refund_exceeds_paid", 2, "退款金额")),
    ("tax id typed as a number", rows_file(row(buyer_tax_id=915300007194052520)),
     ("cell.lost_digits", 2, "购买方纳税人识别号")),
    ("order fields that disagree between lines", rows_file(row(), row(buyer_name="别的公司", line_no=2)),
     ("doc.inconsistent", 3, "购买方名称")),
    ("duplicate order number in the file", rows_file(row(external_no="A"), row(external_no="B"), row(external_no="A")),
     ("doc.duplicate_in_file", 4, "订单号")),
    ("duplicate line number", rows_file(row(line_no=1), row(line_no=1)), ("line.duplicate_no", 3, "行号")),
    ("discount line without a discounted line", rows_file(row(line_property="折扣行", amount="-10.00", quantity="",
                                                              unit_price="")),
     ("line.discount", 2, "行性质")),
    ("discount above the line", rows_file(row(), row(line_property="折扣行", amount="-2000.00", quantity="",
                                                      unit_price="")),
     ("line.discount", 3, "金额")),
    ("unknown customer code", rows_file(row(customer_code="NOPE")), ("customer.unknown", 2, "客户编码")),
    ("customer code contradicting the title", rows_file(row(customer_code="C0001", buyer_name="另一家公司")),
     ("customer.mismatch", 2, "购买方名称")),
    ("unknown product code", rows_file(row(item_code="NOPE")), ("item.unknown", 2, "商品编码")),
    ("product code contradicting the rate", rows_file(row(item_code="S0001", tax_rate="13%")),
     ("item.mismatch", 2, "税率")),
    ("unknown entity", rows_file(row(entity="91350100M000100Y43")), ("entity.unknown", 2, "主体税号")),
    ("missing required column", lambda tmp: write_xlsx(tmp / "bad.xlsx", [row()],
                                                       headers=[h for h in HEADERS if h != "金额"]),
     ("column.missing", 1, "金额")),
    ("unknown column", lambda tmp: write_xlsx(tmp / "bad.xlsx", [row()], headers=[*HEADERS, "随便"]),
     ("column.unknown", 1, "AI")),
    ("duplicate column", lambda tmp: write_xlsx(tmp / "bad.xlsx", [row()], headers=[*HEADERS, "金额"]),
     ("column.duplicate", 1, "AI")),
]


def merged(tmp):
    path = write_xlsx(tmp / "bad.xlsx", [row(), row(line_no=2)])
    wb = openpyxl.load_workbook(path)
    wb.active.merge_cells("C2:C3")
    wb.save(path)
    return path


def formula(tmp):
    path = write_xlsx(tmp / "bad.xlsx", [row()])
    wb = openpyxl.load_workbook(path)
    col = HEADERS.index("金额") + 1
    wb.active.cell(row=2, column=col, value="=1000+60")
    wb.save(path)
    return path


def header_only(tmp):
    return write_xlsx(tmp / "bad.xlsx", [])


def blank_workbook(tmp):
    path = tmp / "bad.xlsx"
    openpyxl.Workbook().save(path)
    return path


def pdf_renamed(tmp):
    path = tmp / "bad.xlsx"
    path.write_bytes(b"%PDF-1.7\n" + b"0" * 100)
    return path


def text_renamed(tmp):
    path = tmp / "bad.xlsx"
    path.write_text("订单号,金额\nSO-1,10\n", encoding="utf-8")
    return path


def docx_renamed(tmp):
    path = tmp / "bad.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return path


CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def encrypted(tmp):
    """The shape of an encrypted OOXML workbook: a CFB container with EncryptionInfo and EncryptedPackage streams."""
    path = tmp / "bad.xlsx"
    body = CFB + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 50
    path.write_bytes(body + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 2048)
    return path


def legacy_xls(tmp):
    path = tmp / "bad.xlsx"
    path.write_bytes(CFB + b"\x00" * 504 + "Workbook".encode("utf-16-le") + b"\x00" * 2048)
    return path


def binary_csv(tmp):
    path = tmp / "bad.csv"
    path.write_bytes("订单号,金额\n".encode() + bytes([0xFF, 0xFE, 0x81]) * 10)
    return path


def zip_bomb(tmp):
    path = tmp / "bad.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\x00" * (60 * 1024 * 1024))
    return path


FILE_CASES = [
    ("merged cells", merged, ("sheet.merged_cells", 2, "C2:C3")),
    ("formula", formula, ("sheet.formula", 2, "AB")),
    ("header only", header_only, ("sheet.empty", None, "")),
    ("empty workbook", blank_workbook, ("sheet.empty", None, "")),
    ("a PDF renamed to .xlsx", pdf_renamed, ("file.type", None, "")),
    ("a text file renamed to .xlsx", text_renamed, ("file.type", None, "")),
    ("a Word document renamed to .xlsx", docx_renamed, ("file.type", None, "")),
    ("an encrypted workbook", encrypted, ("file.encrypted", None, "")),
    ("a legacy .xls", legacy_xls, ("file.type", None, "")),
    ("a CSV in an unknown encoding", binary_csv, ("file.encoding", None, "")),
    ("a zip bomb", zip_bomb, ("file.too_large", None, "")),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES + FILE_CASES, ids=[c[0] for c in CASES + FILE_CASES])
def test_bad_input_is_reported_and_nothing_is_written(tmp_path, master, fiona, case, build, expected):
    before = counts()
    out = import_billing_file(build(tmp_path), user=fiona)
    assert not out.ok
    first = out.issues[0]
    assert (first.code, first.row, first.column) == expected, [str(i) for i in out.issues]
    assert first.message and first.sheet is not None
    assert counts() == before


def test_a_file_over_the_size_limit(tmp_path, master, fiona, settings):
    settings.BILLING_IMPORT_MAX_FILE_BYTES = 1000
    out = import_billing_file(write_xlsx(tmp_path / "big.xlsx", [row()]), user=fiona)
    assert [i.code for i in out.issues] == ["file.too_large"] and counts() == (0, 0)


@pytest.mark.parametrize("writer", [write_xlsx, write_csv])
def test_a_file_over_the_row_limit(tmp_path, master, fiona, settings, writer):
    settings.BILLING_IMPORT_MAX_ROWS = 2
    path = writer(tmp_path / ("big.xlsx" if writer is write_xlsx else "big.csv"),
                  [row(external_no=f"SO-{i}") for i in range(5)])
    out = import_billing_file(path, user=fiona)
    assert [i.code for i in out.issues] == ["file.too_many_rows"] and counts() == (0, 0)


def test_duplicate_against_the_database(tmp_path, master, fiona):
    assert import_billing_file(write_xlsx(tmp_path / "a.xlsx", [row(external_no="X-1")]), user=fiona).ok
    before = counts()
    out = import_billing_file(write_xlsx(tmp_path / "b.xlsx", [row(external_no="X-2"), row(external_no="X-1")]),
                              user=fiona)
    assert [(i.code, i.row, i.column, i.value) for i in out.issues] == [("doc.duplicate_in_db", 3, "订单号", "X-1")]
    assert counts() == before


def test_every_error_is_reported_at_once_and_a_late_error_rolls_back_early_chunks(tmp_path, master, fiona):
    rows = [row(external_no=f"SO-{i}") for i in range(30)]
    rows[3]["tax_rate"] = "8%"
    rows[17]["buyer_tax_id"] = "123"
    rows[29]["amount"] = "abc"
    out = import_billing_file(write_xlsx(tmp_path / "m.xlsx", rows), user=fiona, chunk_rows=5)
    assert [(i.code, i.row) for i in out.issues] == [
        ("rate.not_allowed", 5), ("tax_id.invalid", 19), ("cell.not_number", 31),
    ]
    assert counts() == (0, 0)


def test_a_late_error_after_written_chunks_leaves_nothing(tmp_path, master, fiona):
    rows = [row(external_no=f"SO-{i}") for i in range(30)]
    rows[29]["tax_rate"] = "8%"
    out = import_billing_file(write_xlsx(tmp_path / "late.xlsx", rows), user=fiona, chunk_rows=5)
    assert [i.code for i in out.issues] == ["rate.not_allowed"] and counts() == (0, 0)
