"""Merge and split keep every fen: property tests over random lines (pure, no database), then the services."""

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from invoicing.tax import (
    LineProperty,
    SequencedLine,
    check_tolerances,
    discount_line,
    split_line,
    validate_line_sequence,
)
from issuing.applications import splitting as applications_splitting
from issuing.applications.splitting import SplitPlan
from issuing.inputs import Line, line_from_amounts

RATES = [Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.03"), Decimal("0")]
CODES = ["1090101010000000000", "3040201000000000000", "3050100000000000000"]
ZERO = Decimal("0.00")


@st.composite
def units(draw, index):
    rate = draw(st.sampled_from(RATES))
    code = draw(st.sampled_from(CODES))
    if draw(st.booleans()):
        qty = Decimal(draw(st.integers(min_value=1, max_value=500)))
        price = Decimal(draw(st.integers(min_value=1, max_value=2_000_000))) / 100
        main = split_line(quantity=qty, unit_price=price, rate=rate, tax_inclusive=True)
    else:
        cents = draw(st.integers(min_value=1, max_value=50_000_000))
        main = split_line(amount=Decimal(cents) / 100, rate=rate, tax_inclusive=True)
    base = line_from_amounts(f"item{index % 4}", main, tax_code=code, ref=(index, 0))
    if main.total > Decimal("0.02") and draw(st.booleans()):
        cents = draw(st.integers(min_value=1, max_value=int(main.total * 100) - 1))
        try:
            disc = discount_line(discounted=main, discount_amount=Decimal(cents) / 100, tax_inclusive=True)
        except ValueError:  # a discount the kernel refuses (rounding at the edge) is simply not drawn
            return [base]
        return [
            Line(**{**base.__dict__, "line_property": LineProperty.DISCOUNTED}),
            Line(item_name=base.item_name, amount=disc.amount, tax=disc.tax, rate=rate, tax_code=code,
                 line_property=LineProperty.DISCOUNT, ref=(index, 1)),
        ]
    return [base]


@st.composite
def line_lists(draw, max_units=30):
    n = draw(st.integers(min_value=1, max_value=max_units))
    out = []
    for i in range(n):
        out.extend(draw(units(i)))
    return out


def sums(lines):
    t = applications_splitting.totals(lines)
    return t.amount, t.tax, t.total


def assert_every_fen(whole, parts):
    flat = [ln for p in parts for ln in p]
    assert sums(flat) == sums(whole)
    assert sum(sums(p)[2] for p in parts) == sums(whole)[2]
    # per unit (a line, or a discounted line with its discount): a pair that had to be cut is collapsed first
    by_unit = defaultdict(list)
    for ln in flat:
        by_unit[ln.ref[0]].append(ln)
    originals = defaultdict(list)
    for ln in whole:
        originals[ln.ref[0]].append(ln)
    assert set(by_unit) == set(originals)
    for key, unit in originals.items():
        pieces = by_unit[key]
        assert sum((p.amount for p in pieces), ZERO) == sum((u.amount for u in unit), ZERO)
        assert sum((p.tax for p in pieces), ZERO) == sum((u.tax for u in unit), ZERO)
        if unit[0].quantity is not None:
            mains = [p for p in pieces if p.line_property != LineProperty.DISCOUNT]
            assert sum((p.quantity for p in mains), Decimal(0)) == unit[0].quantity
    for part in parts:
        seq = [SequencedLine(LineProperty(ln.line_property), ln.item_name, ln.rate, ln.amount) for ln in part]
        assert validate_line_sequence(seq) == []
        assert all(ln.tax <= 0 for ln in part if ln.line_property == LineProperty.DISCOUNT)


FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    lines=line_lists(),
    group_by=st.sampled_from(["", "category", "code", "rate"]),
    max_lines=st.one_of(st.none(), st.integers(min_value=2, max_value=12)),
    limit=st.one_of(st.none(), st.integers(min_value=100, max_value=500_000).map(lambda c: Decimal(c))),
    tolerance=st.booleans(),
)
def test_a_split_accounts_for_every_fen_and_respects_every_limit(lines, group_by, max_lines, limit, tolerance):
    plan = SplitPlan(group_by=group_by, max_lines=max_lines, amount_limit=limit, tolerance=tolerance)
    parts = applications_splitting.plan_split(lines, plan)
    assert_every_fen(lines, parts)
    for part in parts:
        if max_lines:
            assert len(part) <= max_lines
        if limit is not None:
            assert sums(part)[0] <= limit
        if tolerance:
            assert not check_tolerances(part).group_breaches
        if group_by == "rate":
            assert len({ln.rate for ln in part}) == 1


@FAST
@given(lines=line_lists(max_units=12), cuts=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=5))
def test_a_split_by_amounts_gives_parts_of_exactly_those_amounts(lines, cuts):
    whole = sums(lines)[2]
    targets = [Decimal(c) / 100 for c in cuts]
    assume(sum(targets) <= whole)
    # units worth less than a fen per piece cannot be cut; skip those rare draws
    try:
        parts = applications_splitting.split_by_amounts(lines, targets)
    except applications_splitting.SplitError:
        assume(False)
    assert_every_fen(lines, parts)
    got = [sums(p)[2] for p in parts]
    expected = targets + ([whole - sum(targets)] if sum(targets) < whole else [])
    assert got == [t for t in expected if t]


@FAST
@given(
    qty=st.integers(min_value=2, max_value=1000),
    price_cents=st.integers(min_value=1, max_value=1_000_000),
    rate=st.sampled_from(RATES),
    data=st.data(),
)
def test_a_split_by_quantity_gives_exact_quantities(qty, price_cents, rate, data):
    main = split_line(quantity=Decimal(qty), unit_price=Decimal(price_cents) / 100, rate=rate, tax_inclusive=True)
    line = line_from_amounts("货物", main, tax_code=CODES[0], ref=(0, 0))
    first = data.draw(st.integers(min_value=1, max_value=qty - 1))
    try:
        parts = applications_splitting.split_by_quantities([line], [Decimal(first)])
    except applications_splitting.SplitError:
        assume(False)
    assert [p[0].quantity for p in parts] == [Decimal(first), Decimal(qty - first)]
    assert_every_fen([line], parts)
    for p in parts:  # 数量 × 单价 still matches 金额 within the slack the compliance rule allows
        assert abs(p[0].quantity * p[0].unit_price - p[0].amount) <= Decimal("0.02")


@FAST
@given(lines=line_lists(max_units=40))
def test_merging_identical_lines_keeps_the_total_and_each_line_valid(lines):
    merged = applications_splitting.merge_identical(lines)
    assert sums(merged)[2] == sums(lines)[2]
    assert len(merged) <= len(lines)
    assert not check_tolerances(merged).line_breaches
    keys = [ln.merge_key for ln in merged if ln.line_property == LineProperty.NORMAL]
    assert len(keys) == len(set(keys))
    seq = [SequencedLine(LineProperty(ln.line_property), ln.item_name, ln.rate, ln.amount) for ln in merged]
    assert validate_line_sequence(seq) == []


def test_merging_many_small_lines_fixes_their_rounding():
    small = line_from_amounts("配件", split_line(amount=Decimal("0.05"), rate=Decimal("0.13"), tax_inclusive=True),
                                        tax_code=CODES[0])
    merged = applications_splitting.merge_identical([small] * 300)
    assert len(merged) == 1
    assert merged[0].total == Decimal("15.00")
    assert (merged[0].amount, merged[0].tax) == (Decimal("13.27"), Decimal("1.73"))


def test_the_1_27_tolerance_splits_the_worked_example():
    small = line_from_amounts("配件", split_line(amount=Decimal("0.05"), rate=Decimal("0.13"), tax_inclusive=True),
                                        tax_code=CODES[0])
    parts = applications_splitting.split_by_tolerance([small] * 300)
    assert len(parts) == 2
    assert all(check_tolerances(p).ok for p in parts)


def test_a_negative_normal_line_cannot_be_split():
    line = Line(item_name="退款", amount=Decimal("-1.00"), tax=Decimal("-0.06"), rate=Decimal("0.06"))
    with pytest.raises(applications_splitting.SplitError):
        applications_splitting.plan_split([line], SplitPlan())


def test_a_line_above_the_limit_is_cut_by_whole_quantities():
    main = split_line(quantity=Decimal(10), unit_price=Decimal("1130"), rate=Decimal("0.13"), tax_inclusive=True)
    line = line_from_amounts("服务器", main, tax_code=CODES[0], ref=(1, 0))
    parts = applications_splitting.split_by_amount_limit([line], Decimal("3000"))
    assert [p[0].quantity for p in parts] == [Decimal(3), Decimal(3), Decimal(2), Decimal(2)]
    assert_every_fen([line], parts)
