"""Huge sheets are read by calamine in slices instead of whole: the same rows, the same errors."""

import pytest

from invoicing.intake.readers import open_table
from issuing.billing.models import BillingDocument
from issuing.intake.run import import_billing_file
from tests.importing.conftest import counts, row, write_xlsx
from tests.importing.test_bad_input import formula, merged

pytestmark = pytest.mark.django_db


def rows_of(path):
    table = open_table(path)
    try:
        return table.kind, table.headers, [(n, [c for c in cells]) for n, cells in table.rows()]
    finally:
        table.close()


def test_both_readers_see_the_same_file(tmp_path, settings):
    path = write_xlsx(tmp_path / "r.xlsx", [row(external_no=20261122001), row(external_no="SO-2", quantity=1.5)])
    kind, headers, fast = rows_of(path)
    settings.BILLING_IMPORT_STREAM_ABOVE_BYTES = 0
    _, headers2, streamed = rows_of(path)
    assert headers == headers2
    assert [n for n, _ in fast] == [n for n, _ in streamed] == [2, 3]


def test_the_streaming_path_imports_and_validates_alike(tmp_path, master, fiona, settings):
    settings.BILLING_IMPORT_STREAM_ABOVE_BYTES = 0
    out = import_billing_file(write_xlsx(tmp_path / "g.xlsx", [row(external_no=20261122001), row(external_no="B")]),
                              user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    assert set(BillingDocument.objects.values_list("external_no", flat=True)) == {"20261122001", "B"}
    bad = write_xlsx(tmp_path / "b.xlsx", [row(external_no="C", tax_rate="8%", buyer_tax_id=915300007194052520)])
    out = import_billing_file(bad, user=fiona)
    assert [(i.code, i.row, i.column) for i in out.issues] == [
        ("cell.lost_digits", 2, "购买方纳税人识别号"), ("rate.not_allowed", 2, "税率")]
    assert counts() == (2, 2)


@pytest.mark.parametrize(("build", "code"), [(merged, "sheet.merged_cells"), (formula, "sheet.formula")])
def test_the_streaming_path_finds_merged_cells_and_formulas(tmp_path, master, fiona, settings, build, code):
    settings.BILLING_IMPORT_STREAM_ABOVE_BYTES = 0
    out = import_billing_file(build(tmp_path), user=fiona)
    assert out.issues[0].code == code and counts() == (0, 0)


def _meaningful(rows):
    """(row number, cells without trailing blanks) of the rows that have a value: blank rows and the width of a
    row's empty tail are not data."""
    out = []
    for n, cells in rows:
        cells = list(cells)
        while cells and cells[-1] in ("", None):
            cells.pop()
        if cells:
            out.append((n, cells))
    return out


def test_a_sheet_read_in_many_slices_gives_every_row_as_read_whole(tmp_path, settings):
    import datetime as dt

    import openpyxl

    from invoicing.intake.readers import _sheet_part, _sheet_slices

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "业务单据明细"
    ws.append(["", "主体", "订单号", "数量", "业务日期", "备注"])  # the table starts in column B
    for i in range(60):
        if i % 7 == 3:
            ws.append([])  # a blank row
        elif i % 11 == 5:
            ws.append([None, None, None, None, None, None, None, "far right"])  # wider than the header
        elif 20 <= i < 30:
            ws.append([None, None, f"SO-{i}", i + 0.5])  # a stretch without column B
        else:
            ws.append([None, "云途", f"SO-{i}", i, dt.datetime(2026, 10, 1 + i % 28), "备注" * (i % 3)])
    path = tmp_path / "s.xlsx"
    wb.save(path)
    kind, headers, whole = rows_of(path)
    settings.BILLING_IMPORT_STREAM_ABOVE_BYTES = 0
    settings.BILLING_IMPORT_SLICE_BYTES = 400
    import zipfile

    with zipfile.ZipFile(path) as zf:
        assert len(list(_sheet_slices(zf, _sheet_part(zf, "业务单据明细"), 400))) > 5
    _, headers2, sliced = rows_of(path)
    named = ["主体", "订单号", "数量", "业务日期", "备注"]
    assert headers[:5] == headers2 == named and not any(headers[5:])  # read whole: as wide as the widest row
    assert _meaningful(sliced) == _meaningful(whole)
    assert len(_meaningful(whole)) == 60 - 9
