"""The CSV export formats a chunk column by column (fast paths in C); every cell must come out exactly as the per-cell
formatters (``iter_rows``) write it, whatever the values: None, formula-like text, unknown choices, odd decimals."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from issuing.platform.models import Invoice
from issuing.reports.specs import Col, ExportSpec
from issuing.reports.stream import csv_chunks, iter_rows

SPEC = ExportSpec(
    name="t", model=Invoice,
    columns=(Col("文本", "a"), Col("金额", "b", "money"), Col("日期", "c", "date"), Col("红字", "d", "bool"),
             Col("状态", "e", "choice"), Col("数量", "f", "qty"), Col("税率", "g", "rate"), Col("行号", "h", "int"),
             Col("时间", "i", "datetime")),
    choices={"e": {"normal": "正常", "void": "作废"}},
)
AT = timezone.make_aware(dt.datetime(2026, 10, 1, 8, 30))


def reference(rows) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(SPEC.headers)
    w.writerows(iter_rows(SPEC, rows, "csv"))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def ours(rows) -> bytes:
    return b"".join(csv_chunks(SPEC, rows))


def first_difference(rows):
    """(line, ours, reference) of the first line that differs, or None (small, so a failure reports quickly)."""
    a, b = ours(rows).splitlines(), reference(rows).splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i, x, y
    return None if len(a) == len(b) else (min(len(a), len(b)), len(a), len(b))


PLAIN = ("云途", Decimal("300.00"), dt.date(2026, 10, 1), False, "normal", Decimal("2.500"), Decimal("0.06"), 1, AT)


@pytest.mark.parametrize("odd", [
    {},
    {0: None}, {0: ""}, {0: "=SUM(A1)"}, {0: "-3"}, {0: "@x"}, {0: 42}, {0: 0}, {0: "多行\n备注, \"引号\""}, {0: "a\n=b"}, {0: "\rx"},
    {1: None}, {1: Decimal("300")}, {1: Decimal("1E+3")}, {1: Decimal("0.005")}, {1: Decimal("-0.00")}, {1: 7}, {1: 0.25}, {1: 1.5}, {1: Decimal("12.345")},
    {1: Decimal("0")}, {1: Decimal("3.0")}, {1: Decimal("0.00")}, {1: True}, {1: Decimal("NaN")},
    {2: None}, {2: dt.datetime(2026, 10, 1, 9, 0)},
    {3: None}, {3: True}, {3: 1}, {3: 2}, {3: ""},
    {4: None}, {4: "void"}, {4: "unknown"}, {4: 3},
    {5: None}, {6: None}, {7: None}, {8: None},
])
def test_chunks_match_the_per_cell_formatters(odd):
    rows = [PLAIN] * 700
    rows = [tuple(odd.get(i, v) for i, v in enumerate(r)) if n % 3 == 1 else r for n, r in enumerate(rows)]
    assert first_difference(rows) is None


def test_every_column_odd_at_once_and_the_empty_export():
    rows = [(None,) * 9, ("=1", Decimal("1"), None, 1, "x", None, None, None, None), PLAIN]
    assert first_difference(rows) is None
    assert ours([]) == reference([])


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError):
        ours([PLAIN, PLAIN[:-1]])
