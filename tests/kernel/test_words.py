"""大写金额 against every row of rmb_daxie_cases.tsv, with the writer's options derived from each row's source/note."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.words import amount_in_words, integer_in_words, parse_amount_in_words

VECTORS = Path(__file__).resolve().parent.parent / "fixtures" / "vectors"


def _read(name: str) -> list[dict[str, str]]:
    with (VECTORS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


ROWS = [(i + 2, row) for i, row in enumerate(_read("rmb_daxie_cases.tsv"))]  # i + 2: line number in the file
NZH_GROUPS = {int(g["tsv_line"]): g for g in _read("rmb_daxie_nzh_groups.tsv")}

# cn2an's note: "cn2an uses 元 and truncates beyond 分"; its an2cn_test also writes no 整 after 角 (1.2 -> 壹元贰角).
CN2AN = {"yuan": "元", "rounding": "truncate", "zheng_after_jiao": False}
# hutool's note: "hutool uses 元".
HUTOOL = {"yuan": "元"}
# nzh toMoney always truncates, writes 元, puts 人民币 in front, writes 整 only for an integer literal and never after 角
# unless forceZheng. Its custom-language test swaps in ¥, 正 and a fourth unit, 厘.
NZH_BASE = {
    "yuan": "元",
    "prefix": "人民币",
    "rounding": "truncate",
    "zheng_after_jiao": False,
    "zheng_only_for_whole_input": True,
}
NZH_ARGS: dict[str, dict[str, Any]] = {
    "{}": {},
    "{ outSymbol: false }": {"prefix": ""},
    "{ unOmitYuan: true }": {"zero_yuan": "write"},
    # Commented out in nzh's own test data; it is the 零-after-元 rule applied literally, so it gets that option.
    "{ unOmitYuan: true } // disabled": {"zero_yuan": "write_with_zero"},
    "{ complete: true }": {"complete": True},
    "{ forceZheng: true }": {"zheng_after_jiao": True, "zheng_only_for_whole_input": False},
    "custom lang (¥, 正, 元角分厘)": {"prefix": "¥", "zheng": "正", "li": True},
    "custom lang (¥, 正, 元角分厘) + { complete: true }": {"prefix": "¥", "zheng": "正", "li": True, "complete": True},
}


def options_for(line: int, row: dict[str, str]) -> dict[str, Any] | None:
    """The keyword options that reproduce a row's writer; None for the parse-direction rows."""
    source, note = row["source"], row["note"]
    if note == "reverse direction":
        return None
    if source.startswith("Ailln/cn2an"):
        return CN2AN
    if source.startswith("dromara/hutool"):
        return HUTOOL
    if source.startswith("cnwhy/nzh"):
        return {**NZH_BASE, **NZH_ARGS[NZH_GROUPS[line]["nzh_args"]]}
    if source.startswith("invoice sample"):
        options: dict[str, Any] = {}
        if "uses 元" in source:
            options["yuan"] = "元"
        if "and 零" in source:
            options["zero_before_jiao"] = True
        if "no 整 after 角" in source:
            options["zheng_after_jiao"] = False
        return options
    raise AssertionError(f"no writer options known for source {source!r}")


@pytest.mark.parametrize(("line", "row"), ROWS, ids=[f"line{line}" for line, _ in ROWS])
def test_it_writes_each_vector_amount_exactly_as_its_source_did(line: int, row: dict[str, str]) -> None:
    options = options_for(line, row)
    if options is None:
        # cn2an's parse-direction cases: the uppercase text is the input and the number the answer.
        assert parse_amount_in_words(row["expected_uppercase"]) == Decimal(row["input_amount"])
    else:
        assert amount_in_words(Decimal(row["input_amount"]), **options) == row["expected_uppercase"]


def test_the_vector_file_has_all_132_rows_and_every_nzh_row_has_its_upstream_group() -> None:
    assert len(ROWS) == 132
    nzh_lines = {line for line, row in ROWS if row["source"].startswith("cnwhy/nzh")}
    assert nzh_lines == set(NZH_GROUPS)
    for line, row in ROWS:
        if line in NZH_GROUPS:
            assert NZH_GROUPS[line]["input_amount"] == row["input_amount"]
            assert NZH_GROUPS[line]["expected_uppercase"] == row["expected_uppercase"]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", "零圆整"),
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("10.70", "壹拾圆零柒角整"),
        ("1001", "壹仟零壹圆整"),
        ("1409.50", "壹仟肆佰零玖圆伍角整"),
        ("6007.14", "陆仟零柒圆壹角肆分"),
        ("1680.32", "壹仟陆佰捌拾圆零叁角贰分"),
        ("107000.53", "壹拾万柒仟圆零伍角叁分"),
        ("16409.02", "壹万陆仟肆佰零玖圆零贰分"),
        ("325.04", "叁佰贰拾伍圆零肆分"),
        ("1272.00", "壹仟贰佰柒拾贰圆整"),
        ("100010000", "壹亿零壹万圆整"),
        ("1000000.01", "壹佰万圆零壹分"),
        ("20000001", "贰仟万零壹圆整"),
        ("101000", "壹拾万壹仟圆整"),
        ("-113", "负壹佰壹拾叁圆整"),
    ],
)
def test_it_matches_the_worked_table_in_domain_section_10(amount: str, expected: str) -> None:
    # That reference implementation writes the optional 零 (壹拾圆零柒角整); real 数电 faces omit it.
    assert amount_in_words(Decimal(amount), zero_before_jiao=True) == expected


def test_it_omits_the_optional_zero_before_jiao_by_default_as_shudian_invoices_print() -> None:
    assert amount_in_words(Decimal("2150.63")) == "贰仟壹佰伍拾圆陆角叁分"
    assert amount_in_words(Decimal("10.70")) == "壹拾圆柒角整"


def test_it_offers_yuan_and_zheng_spellings() -> None:
    assert amount_in_words(Decimal("1470.00"), yuan="元", zheng="正") == "壹仟肆佰柒拾元正"


def test_it_rounds_half_up_to_the_fen_by_default_and_truncates_on_request() -> None:
    assert amount_in_words(Decimal("0.125")) == "壹角叁分"
    assert amount_in_words(Decimal("0.125"), rounding="truncate") == "壹角贰分"


def test_it_refuses_floats() -> None:
    with pytest.raises(TypeError):
        amount_in_words(1.5)  # type: ignore[arg-type]


def test_it_writes_nothing_for_a_zero_integer_part() -> None:
    assert integer_in_words(0) == ""
    assert integer_in_words(10**16) == "壹万万亿"


@given(st.integers(min_value=-(10**16) + 1, max_value=10**16 - 1))
def test_reading_back_the_words_gives_the_amount(fen: int) -> None:
    amount = Decimal(fen).scaleb(-2)
    assert parse_amount_in_words(amount_in_words(amount)) == amount
    assert parse_amount_in_words(amount_in_words(amount, yuan="元", zheng_after_jiao=False)) == amount
