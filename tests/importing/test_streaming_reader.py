"""Huge sheets are read row by row (openpyxl read-only) instead of by calamine: the same rows, the same errors."""

import pytest

from issuing.importing.readers import open_table
from issuing.importing.run import import_billing_file
from issuing.models import BillingDocument
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
