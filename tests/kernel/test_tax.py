"""VAT line arithmetic: worked examples from domain.md §8 and properties checked with Hypothesis."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.tax import (
    EXEMPT,
    GENERAL_RATES,
    LEVY_RATES,
    NOT_TAXABLE,
    FavouredPolicy,
    LineAmounts,
    LineProperty,
    SequencedLine,
    ZeroRateFlag,
    allocate,
    check_tolerances,
    discount_line,
    invoice_totals,
    negate,
    q2,
    rates_for_taxpayer_type,
    split_deduction,
    split_line,
    validate_line_sequence,
)

D = Decimal
RATES = [D("0.13"), D("0.09"), D("0.06"), D("0.05"), D("0.03"), D("0.015"), D("0.01"), D("0")]

fen_amounts = st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: D(n).scaleb(-2))
positive_fen = st.integers(min_value=1, max_value=10**10).map(lambda n: D(n).scaleb(-2))
rates = st.sampled_from(RATES)


# --- rates ----------------------------------------------------------------------------------------------------------


def test_it_knows_the_general_rates_and_the_levy_rates() -> None:
    assert GENERAL_RATES == (D("0.13"), D("0.09"), D("0.06"), D("0"))
    assert LEVY_RATES == (D("0.05"), D("0.03"), D("0.015"), D("0.01"))


def test_a_small_scale_taxpayer_gets_levy_rates_and_no_general_rate() -> None:
    small = {o.rate for o in rates_for_taxpayer_type("small")}
    assert D("0.01") in small and D("0.03") in small
    assert not small & {D("0.13"), D("0.09"), D("0.06")}


def test_a_general_taxpayer_gets_13_9_6_and_zero() -> None:
    general = {o.rate for o in rates_for_taxpayer_type("general")}
    assert {D("0.13"), D("0.09"), D("0.06"), D("0")} <= general


def test_exempt_and_not_taxable_are_rate_zero_with_a_policy_flag() -> None:
    assert EXEMPT.rate == 0 and EXEMPT.policy is FavouredPolicy.EXEMPT and EXEMPT.policy == "03"
    assert NOT_TAXABLE.rate == 0 and NOT_TAXABLE.policy == "04"
    assert EXEMPT.zero_rate_flag is ZeroRateFlag.EXEMPT and NOT_TAXABLE.zero_rate_flag == "2"
    assert [p.value for p in FavouredPolicy] == [f"{i:02d}" for i in range(1, 19)]


def test_an_unknown_taxpayer_type_is_refused() -> None:
    with pytest.raises(ValueError):
        rates_for_taxpayer_type("medium")  # type: ignore[arg-type]


# --- §8.1 worked examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "rate", "amount", "tax"),
    [("1272.00", "0.06", "1200.00", "72.00"), ("100.00", "0.13", "88.50", "11.50"), ("19.19", "0.03", "18.63", "0.56")],
)
def test_it_separates_tax_from_an_inclusive_amount_as_in_domain_8_1(
    gross: str, rate: str, amount: str, tax: str
) -> None:
    line = split_line(amount=D(gross), rate=D(rate), tax_inclusive=True)
    assert (line.amount, line.tax, line.total) == (D(amount), D(tax), D(gross))


def test_it_computes_an_exclusive_line_from_price_and_quantity() -> None:
    line = split_line(quantity=D("3"), unit_price=D("33.333"), rate=D("0.13"), tax_inclusive=False)
    assert line.amount == D("100.00")  # round(99.999)
    assert line.tax == D("13.00")
    assert line.total == D("113.00")
    assert line.unit_price_excl == D("33.333")
    assert (
        str(split_line(quantity=D("2"), unit_price=D("5.500"), rate=D("0.13"), tax_inclusive=False).unit_price_excl)
        == "5.5"
    )


def test_it_keeps_the_net_unit_price_to_13_decimals_without_trailing_zeros() -> None:
    line = split_line(quantity=D("3"), unit_price=D("10"), rate=D("0.13"), tax_inclusive=True)
    assert (line.amount, line.tax, line.total) == (D("26.55"), D("3.45"), D("30.00"))
    assert line.unit_price_excl == D("8.85")
    line = split_line(quantity=D("7"), unit_price=D("1"), rate=D("0.06"), tax_inclusive=True)
    assert str(line.unit_price_excl) == "0.9428571428571"  # 6.60 / 7
    assert len(str(line.unit_price_excl)) <= 25


def test_quantity_and_unit_price_come_as_a_pair() -> None:
    with pytest.raises(ValueError):
        split_line(quantity=D("1"), amount=D("10.00"), rate=D("0.13"), tax_inclusive=False)
    with pytest.raises(ValueError):
        split_line(unit_price=D("1"), amount=D("10.00"), rate=D("0.13"), tax_inclusive=False)
    line = split_line(amount=D("10.00"), rate=D("0.13"), tax_inclusive=False)
    assert line.quantity is None and line.unit_price_excl is None


def test_it_refuses_floats_everywhere() -> None:
    with pytest.raises(TypeError):
        split_line(amount=10.0, rate=D("0.13"), tax_inclusive=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        split_line(amount=D("10"), rate=0.13, tax_inclusive=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        q2(1.005)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        allocate(D("1.00"), [0.5, 0.5])  # type: ignore[list-item]


def test_it_refuses_too_many_decimals_in_quantity_or_price_and_in_money() -> None:
    with pytest.raises(ValueError):
        split_line(quantity=D("1.00000000000001"), unit_price=D("1"), rate=D("0.13"), tax_inclusive=False)
    with pytest.raises(ValueError):
        split_line(amount=D("1.001"), rate=D("0.13"), tax_inclusive=False)


def test_an_amount_that_disagrees_with_price_times_quantity_is_refused() -> None:
    with pytest.raises(ValueError):
        split_line(quantity=D("2"), unit_price=D("5"), amount=D("10.50"), rate=D("0.13"), tax_inclusive=False)


@given(amount=fen_amounts, rate=rates, inclusive=st.booleans())
def test_splitting_a_negative_amount_mirrors_the_positive_split(
    amount: Decimal, rate: Decimal, inclusive: bool
) -> None:
    assert split_line(amount=-amount, rate=rate, tax_inclusive=inclusive) == negate(
        split_line(amount=amount, rate=rate, tax_inclusive=inclusive)
    )


def test_q2_rounds_half_up_to_the_fen() -> None:
    assert q2(D("0.005")) == D("0.01")
    assert q2(D("-0.005")) == D("-0.01")
    assert q2(D("2.675")) == D("2.68")


@given(amount=fen_amounts, rate=rates, inclusive=st.booleans())
def test_amount_plus_tax_is_the_total_exactly(amount: Decimal, rate: Decimal, inclusive: bool) -> None:
    line = split_line(amount=amount, rate=rate, tax_inclusive=inclusive)
    assert line.amount + line.tax == line.total
    assert line.amount == q2(line.amount) and line.tax == q2(line.tax)
    assert abs(line.amount * rate - line.tax) <= D("0.01")


@given(
    qty=st.integers(min_value=1, max_value=10**6),
    price_fen=st.integers(min_value=1, max_value=10**7),
    rate=rates,
    inclusive=st.booleans(),
)
def test_amount_plus_tax_is_the_total_for_price_and_quantity_input(
    qty: int, price_fen: int, rate: Decimal, inclusive: bool
) -> None:
    line = split_line(quantity=D(qty), unit_price=D(price_fen).scaleb(-2), rate=rate, tax_inclusive=inclusive)
    assert line.amount + line.tax == line.total
    assert line.unit_price_excl is not None and len(format(line.unit_price_excl, "f")) <= 25


@given(amount=positive_fen, rate=rates, inclusive=st.booleans(), qty=st.integers(min_value=1, max_value=1000))
def test_a_red_split_is_the_exact_negative_of_the_blue(
    amount: Decimal, rate: Decimal, inclusive: bool, qty: int
) -> None:
    price = amount / qty
    blue = split_line(quantity=D(qty), unit_price=q2(price), rate=rate, tax_inclusive=inclusive)
    red = negate(blue)
    assert (red.amount, red.tax, red.total) == (-blue.amount, -blue.tax, -blue.total)
    assert red.quantity == -blue.quantity  # type: ignore[operator]
    assert red.unit_price_excl == blue.unit_price_excl  # 单价 stays positive (§8.3)
    assert invoice_totals([blue, red]).total == 0


# --- §8.2 tolerances ------------------------------------------------------------------------------------------------


def test_300_lines_of_five_fen_at_13_percent_breach_the_invoice_tolerance_by_1_44() -> None:
    line = split_line(amount=D("0.05"), rate=D("0.13"), tax_inclusive=True)
    assert (line.amount, line.tax) == (D("0.04"), D("0.01"))
    report = check_tolerances([line] * 300)
    assert not report.line_breaches
    [group] = report.group_breaches
    assert (group.rate, group.amount_sum, group.tax_sum) == (D("0.13"), D("12.00"), D("3.00"))
    assert abs(group.error) == D("1.44")
    assert len(group.line_indexes) == 300
    assert not report.ok


def test_a_line_whose_tax_is_seven_fen_off_is_reported_with_its_index() -> None:
    good = split_line(amount=D("100.00"), rate=D("0.13"), tax_inclusive=False)
    bad = LineAmounts(amount=D("100.00"), tax=D("12.93"), total=D("112.93"), rate=D("0.13"))
    report = check_tolerances([good, bad])
    [breach] = report.line_breaches
    assert breach.index == 1 and breach.error == D("0.07")
    assert check_tolerances([good, bad], line_limit=D("0.07")).ok


def test_rate_groups_are_checked_separately() -> None:
    small = split_line(amount=D("0.05"), rate=D("0.13"), tax_inclusive=True)
    other = split_line(amount=D("0.05"), rate=D("0.06"), tax_inclusive=True)  # 0.05 + 0.00
    report = check_tolerances([small] * 150 + [other] * 150, invoice_limit=D("1.27"))
    assert {g.rate: g.ok for g in report.groups} == {D("0.13"): True, D("0.06"): True}
    assert check_tolerances([small] * 150, invoice_limit=D("0.5")).group_breaches[0].rate == D("0.13")


def _reference_breaches(lines: list[LineAmounts], line_limit: Fraction, invoice_limit: Fraction):
    """A plain reimplementation of §8.2 over Fractions, to check the production code against."""
    line_bad = [
        i for i, ln in enumerate(lines) if abs(Fraction(ln.amount) * Fraction(ln.rate) - Fraction(ln.tax)) > line_limit
    ]
    group_bad = set()
    for rate in {Fraction(ln.rate) for ln in lines}:
        members = [ln for ln in lines if Fraction(ln.rate) == rate]
        error = sum(Fraction(ln.amount) for ln in members) * rate - sum(Fraction(ln.tax) for ln in members)
        if abs(error) > invoice_limit:
            group_bad.add(rate)
    return line_bad, group_bad


@given(
    st.lists(
        st.tuples(fen_amounts, rates, st.integers(min_value=-9, max_value=9), st.booleans()), min_size=1, max_size=60
    ),
    st.sampled_from([D("0.06"), D("0.01"), D("0")]),
    st.sampled_from([D("1.27"), D("0.10"), D("0.01")]),
)
def test_the_tolerance_check_agrees_with_a_brute_force_reference(
    specs: list[tuple[Decimal, Decimal, int, bool]], line_limit: Decimal, invoice_limit: Decimal
) -> None:
    lines = []
    for amount, rate, nudge, inclusive in specs:
        ln = split_line(amount=amount, rate=rate, tax_inclusive=inclusive)
        tax = ln.tax + D(nudge).scaleb(-2)  # push some lines off their rounded tax
        lines.append(LineAmounts(amount=ln.amount, tax=tax, total=ln.amount + tax, rate=rate))
    report = check_tolerances(lines, line_limit=line_limit, invoice_limit=invoice_limit)
    line_bad, group_bad = _reference_breaches(lines, Fraction(line_limit), Fraction(invoice_limit))
    assert [b.index for b in report.line_breaches] == line_bad
    assert {Fraction(g.rate) for g in report.group_breaches} == group_bad
    for g in report.groups:
        members = [lines[i] for i in g.line_indexes]
        assert Fraction(g.error) == sum(Fraction(x.amount) for x in members) * Fraction(g.rate) - sum(
            Fraction(x.tax) for x in members
        )


# --- §8.3 totals ----------------------------------------------------------------------------------------------------


def test_invoice_totals_are_exact_sums() -> None:
    lines = [
        split_line(amount=D("1272.00"), rate=D("0.06"), tax_inclusive=True),
        split_line(amount=D("100.00"), rate=D("0.13"), tax_inclusive=True),
        split_line(amount=D("19.19"), rate=D("0.03"), tax_inclusive=True),
    ]
    totals = invoice_totals(lines)
    assert (totals.amount, totals.tax, totals.total) == (D("1307.13"), D("84.06"), D("1391.19"))


def test_invoice_totals_refuse_a_line_whose_parts_do_not_add_up() -> None:
    with pytest.raises(ValueError):
        invoice_totals([LineAmounts(amount=D("1.00"), tax=D("0.13"), total=D("1.14"), rate=D("0.13"))])


# --- §8.4 discount lines --------------------------------------------------------------------------------------------


def test_a_discount_line_is_negative_at_the_same_rate() -> None:
    blue = split_line(quantity=D("2"), unit_price=D("50"), rate=D("0.13"), tax_inclusive=True)
    off = discount_line(discounted=blue, discount_amount=D("10.00"), tax_inclusive=True)
    assert (off.amount, off.tax, off.total, off.rate) == (D("-8.85"), D("-1.15"), D("-10.00"), D("0.13"))
    ten_percent = discount_line(discounted=blue, discount_rate=D("0.1"), tax_inclusive=True)
    assert ten_percent == off
    exclusive = discount_line(discounted=blue, discount_rate=D("0.1"), tax_inclusive=False)
    assert exclusive.amount == D("-8.85") and exclusive.tax == D("-1.15")


def test_a_discount_can_take_the_whole_line_but_not_more() -> None:
    blue = split_line(amount=D("100.00"), rate=D("0.13"), tax_inclusive=True)
    full = discount_line(discounted=blue, discount_rate=D("1"), tax_inclusive=True)
    assert invoice_totals([blue, full]).total == 0
    with pytest.raises(ValueError):
        discount_line(discounted=blue, discount_amount=D("100.01"), tax_inclusive=True)
    with pytest.raises(ValueError):
        discount_line(discounted=blue, discount_amount=D("10"), discount_rate=D("0.1"), tax_inclusive=True)


def _seq(*specs: tuple[int, str, str, str]) -> list[SequencedLine]:
    return [SequencedLine(LineProperty(p), item, D(rate), D(amount)) for p, item, rate, amount in specs]


def test_a_discount_line_must_immediately_follow_its_discounted_line() -> None:
    ok = _seq((0, "餐费", "0.06", "100"), (2, "咖啡", "0.13", "50"), (1, "咖啡", "0.13", "-5"))
    assert validate_line_sequence(ok) == []
    detached = _seq((2, "咖啡", "0.13", "50"), (0, "餐费", "0.06", "100"), (1, "咖啡", "0.13", "-5"))
    assert {p.index for p in validate_line_sequence(detached)} == {0, 2}
    double = _seq((2, "咖啡", "0.13", "50"), (1, "咖啡", "0.13", "-5"), (1, "咖啡", "0.13", "-5"))
    assert [p.index for p in validate_line_sequence(double)] == [2]


def test_a_discount_line_names_the_same_item_and_rate_and_does_not_exceed_it() -> None:
    problems = validate_line_sequence(_seq((2, "咖啡", "0.13", "50"), (1, "茶", "0.06", "-60")))
    messages = " ".join(p.message for p in problems)
    assert "same item" in messages and "same rate" in messages and "exceeds" in messages


def test_a_red_invoice_has_only_normal_lines() -> None:
    lines = _seq((2, "咖啡", "0.13", "50"), (1, "咖啡", "0.13", "-5"))
    assert len(validate_line_sequence(lines, red=True)) == 2


# --- §8.5 差额征税 --------------------------------------------------------------------------------------------------


def test_deduction_tax_is_on_the_difference_only() -> None:
    split = split_deduction(gross=D("10600.00"), deduction=D("5000.00"), rate=D("0.06"))
    assert split.tax == D("316.98")  # round(5600 × 0.06 / 1.06)
    assert split.amount == D("10283.02")
    assert split.amount + split.tax == split.total == D("10600.00")


def test_a_deduction_larger_than_the_gross_is_refused() -> None:
    with pytest.raises(ValueError):
        split_deduction(gross=D("100.00"), deduction=D("100.01"), rate=D("0.06"))


# --- allocation -----------------------------------------------------------------------------------------------------


def test_allocate_gives_the_remainder_fen_to_the_largest_remainders() -> None:
    assert allocate(D("100.00"), [1, 1, 1]) == [D("33.34"), D("33.33"), D("33.33")]
    assert allocate(D("-0.05"), [1, 2]) == [D("-0.02"), D("-0.03")]
    assert allocate(D("10.00"), [0, 1]) == [D("0.00"), D("10.00")]


def test_allocate_refuses_empty_negative_or_all_zero_weights() -> None:
    for weights in ([], [D("-1"), D("2")], [0, 0]):
        with pytest.raises(ValueError):
            allocate(D("1.00"), weights)


@given(
    total=fen_amounts,
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40).filter(lambda w: sum(w) > 0),
)
def test_allocated_parts_sum_exactly_to_the_total_and_stay_within_a_fen_of_proportional(
    total: Decimal, weights: list[int]
) -> None:
    parts = allocate(total, [D(w) for w in weights])
    assert sum(parts, D(0)) == total
    weight_sum = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert part == q2(part)
        assert abs(Fraction(part) - Fraction(total) * w / weight_sum) < Fraction(1, 100)
