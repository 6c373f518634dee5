"""The derived tax classification table, invoicing/data/tax_categories_2021_06.csv."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent.parent / "invoicing" / "data" / "tax_categories_2021_06.csv"
FIELDS = [
    "code",
    "name",
    "short_name",
    "parent_code",
    "is_summary",
    "is_active",
    "allowed_rates",
    "description",
    "keywords",
]
KNOWN_RATES = {Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0")}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == FIELDS
        return list(reader)


@pytest.fixture(scope="module")
def by_code(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["code"]: r for r in rows}


def test_it_has_all_4262_rows_with_unique_19_digit_codes(rows, by_code) -> None:
    assert len(rows) == 4262
    assert len(by_code) == 4262
    assert all(len(r["code"]) == 19 and r["code"].isdigit() for r in rows)


def test_every_parent_exists_and_is_a_shorter_prefix(rows, by_code) -> None:
    tops = [r["code"] for r in rows if not r["parent_code"]]
    assert sorted(tops) == [f"{i}".ljust(19, "0") for i in range(1, 7)]
    for r in rows:
        parent = r["parent_code"]
        if parent:
            assert parent in by_code
            stem = parent.rstrip("0")
            assert r["code"].startswith(stem) and parent != r["code"]


def test_there_are_3584_leaf_items(rows) -> None:
    # PROVENANCE.md: 3,584 leaf items. That is the count of 是否为汇总项 = N, and also of codes with no children.
    assert sum(1 for r in rows if r["is_summary"] == "N") == 3584
    parents = {r["parent_code"] for r in rows}
    assert sum(1 for r in rows if r["code"] not in parents) == 3584


def test_every_row_has_known_allowed_rates_and_every_leaf_at_least_one(rows) -> None:
    for r in rows:
        rates = r["allowed_rates"].split(";")
        assert rates and all(Decimal(x) in KNOWN_RATES for x in rates), r["code"]
        assert len(set(rates)) == len(rates)


def test_levy_rates_are_not_part_of_allowed_rates(rows) -> None:
    assert not any({"0.05", "0.03", "0.01", "0.015"} & set(r["allowed_rates"].split(";")) for r in rows)


@pytest.mark.parametrize(
    ("code", "name", "short_name"),
    [
        ("3070401000000000000", "餐饮服务", "餐饮服务"),
        ("3070402000000000000", "住宿服务", "住宿服务"),
        ("3040201000000000000", "软件服务", "信息技术服务"),
        ("3040203000000000000", "信息系统服务", "信息技术服务"),
        ("3040601000000000000", "认证服务", "鉴证咨询服务"),
        ("3040802000000000000", "经纪代理服务", "经纪代理服务"),
        ("3040502000000000000", "经营租赁", "经营租赁"),
        ("3049900000000000000", "其他现代服务", "现代服务"),
        ("3050100000000000000", "工程服务", "建筑服务"),
        ("3060100000000000000", "贷款服务", "金融服务"),
        ("3010101020203000000", "出租汽车客运服务", "运输服务"),
        ("1010101010000000000", "稻谷", "谷物"),
    ],
)
def test_it_agrees_with_the_codes_in_domain_7(by_code, code: str, name: str, short_name: str) -> None:
    assert (by_code[code]["name"], by_code[code]["short_name"]) == (name, short_name)


@pytest.mark.parametrize(
    ("code", "rates"),
    [
        ("3070401000000000000", "0.06"),  # 餐饮服务
        ("3040201000000000000", "0.06;0"),  # 软件服务
        ("3050100000000000000", "0.09"),  # 工程服务
        ("3040502010100000000", "0.13"),  # 光租业务: 有形动产经营租赁
        ("3040502020100000000", "0.09"),  # 住宅经营租赁服务: 不动产租赁
        ("4050101000000000000", "0.09"),  # 出让土地使用权
        ("4020000000000000000", "0.06"),  # 商标
        ("1010101010000000000", "0.09;0"),  # 稻谷
        ("6110000000000000000", "0"),  # 不征税自来水
    ],
)
def test_derived_rates_follow_domain_6_1(by_code, code: str, rates: str) -> None:
    assert by_code[code]["allowed_rates"] == rates


def test_a_summary_row_carries_the_union_of_its_descendants_rates(rows, by_code) -> None:
    assert by_code["3000000000000000000"]["allowed_rates"] == "0.13;0.09;0.06;0"
    children: dict[str, set[str]] = {}
    for r in rows:
        if r["parent_code"]:
            children.setdefault(r["parent_code"], set()).update(r["allowed_rates"].split(";"))
    for parent, rates in children.items():
        assert set(by_code[parent]["allowed_rates"].split(";")) == rates
