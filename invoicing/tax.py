"""VAT arithmetic for invoice lines: rates, price-tax separation, tolerances, discounts, splits.

Pure functions over ``decimal.Decimal``. Money is rounded ROUND_HALF_UP to the fen (0.01). Floats are refused with
``TypeError`` everywhere: a float has already lost the fen before it reaches us. Rules: domain.md §§5.4, 6, 8.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import IntEnum, StrEnum
from fractions import Fraction
from typing import Literal, Protocol

FEN = Decimal("0.01")
ZERO = Decimal("0")

# 税率 for general taxpayers (一般纳税人), domain.md §6.1.
RATE_13 = Decimal("0.13")
RATE_9 = Decimal("0.09")
RATE_6 = Decimal("0.06")
RATE_0 = Decimal("0")
GENERAL_RATES: tuple[Decimal, ...] = (RATE_13, RATE_9, RATE_6, RATE_0)

# 征收率 under the simplified method (简易计税), domain.md §6.1.
LEVY_5 = Decimal("0.05")
LEVY_3 = Decimal("0.03")
LEVY_1_5 = Decimal("0.015")  # 按5%简易征收减按1.5%计征 (individuals renting housing)
LEVY_1 = Decimal("0.01")  # small-scale 3% reduced to 1%; end date UNVERIFIED (§6.1)
LEVY_RATES: tuple[Decimal, ...] = (LEVY_5, LEVY_3, LEVY_1_5, LEVY_1)

# General rates before the cuts (17%/11% until 2018-04-30, 16%/10% until 2019-03-31; 公告2019年第39号, §6.1): no
# longer issued, but printed on older invoices that still arrive on the input side.
FORMER_GENERAL_RATES: tuple[Decimal, ...] = (Decimal("0.17"), Decimal("0.16"), Decimal("0.11"), Decimal("0.10"))
# Reduced levy rates printed on other sellers' invoices (we never issue at them, so they are not in LEVY_RATES):
# 3% reduced to 2% for some used goods (§6.1, UNVERIFIED) and 0.5% for used-car dealers (domain knowledge: 财政部
# 税务总局公告2020年第17号, extended by 2023年第63号; UNVERIFIED). Refusing them would lock a real invoice out of the pool.
RECEIVED_REDUCED_RATES: tuple[Decimal, ...] = (Decimal("0.02"), Decimal("0.005"))
# Every rate a VAT invoice line can carry (a received invoice's seller may be of either type, or an older invoice).
INVOICE_RATES: tuple[Decimal, ...] = GENERAL_RATES + LEVY_RATES + RECEIVED_REDUCED_RATES + FORMER_GENERAL_RATES

LINE_TOLERANCE = Decimal("0.06")  # §8.2, per line
INVOICE_TOLERANCE = Decimal("1.27")  # §8.2, per invoice and rate group (per-group reading UNVERIFIED)

MAX_QTY_PRICE_DECIMALS = 13  # 数票通: 小数点后最多13位 (§5.4); Nuonuo keeps 8
MAX_QTY_PRICE_CHARS = 25  # VARCHAR(25) in the tax-data spec (§5.2)

_EXACT = Context(prec=60)


class FavouredPolicy(StrEnum):
    """优惠政策标识 (favouredPolicyFlag) for 数电 lines, domain.md §6.3."""

    SIMPLIFIED = "01"  # 简易征收
    RARE_EARTH = "02"  # 稀土产品
    EXEMPT = "03"  # 免税
    NOT_TAXABLE = "04"  # 不征税
    REFUND_AFTER_LEVY = "05"  # 先征后退
    REFUND_AFTER_LEVY_100 = "06"  # 100%先征后退
    REFUND_AFTER_LEVY_50 = "07"  # 50%先征后退
    SIMPLIFIED_3 = "08"  # 按3%简易征收
    SIMPLIFIED_5 = "09"  # 按5%简易征收
    SIMPLIFIED_5_REDUCED_1_5 = "10"  # 按5%简易征收减按1.5%计征
    IMMEDIATE_REFUND_30 = "11"  # 即征即退30%
    IMMEDIATE_REFUND_50 = "12"  # 即征即退50%
    IMMEDIATE_REFUND_70 = "13"  # 即征即退70%
    IMMEDIATE_REFUND_100 = "14"  # 即征即退100%
    EXCESS_BURDEN_3 = "15"  # 超税负3%即征即退
    EXCESS_BURDEN_8 = "16"  # 超税负8%即征即退
    EXCESS_BURDEN_12 = "17"  # 超税负12%即征即退
    EXCESS_BURDEN_6 = "18"  # 超税负6%即征即退


class ZeroRateFlag(StrEnum):
    """零税率标识 (legacy ``lslbs`` / Nuonuo ``zeroRateFlag``), domain.md §6.2. Empty on 数电 lines."""

    NONE = ""
    EXEMPT = "1"  # 免税
    NOT_TAXABLE = "2"  # 不征税
    ZERO_RATED = "3"  # 普通零税率


@dataclass(frozen=True)
class RateOption:
    """A rate as offered to a user: the number plus the markers that give a 0 its meaning."""

    rate: Decimal
    label: str
    policy: FavouredPolicy | None = None
    zero_rate_flag: ZeroRateFlag = ZeroRateFlag.NONE


EXEMPT = RateOption(RATE_0, "免税", FavouredPolicy.EXEMPT, ZeroRateFlag.EXEMPT)
NOT_TAXABLE = RateOption(RATE_0, "不征税", FavouredPolicy.NOT_TAXABLE, ZeroRateFlag.NOT_TAXABLE)
ZERO_RATED = RateOption(RATE_0, "0%", None, ZeroRateFlag.ZERO_RATED)

TaxpayerType = Literal["general", "small"]


def rates_for_taxpayer_type(taxpayer_type: TaxpayerType) -> tuple[RateOption, ...]:
    """Rates a taxpayer of this type may put on a line (§6.1). 免税/不征税 are rate 0 with a policy flag."""
    if taxpayer_type == "general":
        return (
            RateOption(RATE_13, "13%"),
            RateOption(RATE_9, "9%"),
            RateOption(RATE_6, "6%"),
            # 一般纳税人 may elect 简易计税 for qualifying items.
            RateOption(LEVY_5, "5%", FavouredPolicy.SIMPLIFIED_5),
            RateOption(LEVY_3, "3%", FavouredPolicy.SIMPLIFIED_3),
            ZERO_RATED,
            EXEMPT,
            NOT_TAXABLE,
        )
    if taxpayer_type == "small":
        return (
            RateOption(LEVY_3, "3%"),
            RateOption(LEVY_1, "1%"),
            RateOption(LEVY_5, "5%"),
            RateOption(LEVY_1_5, "1.5%", FavouredPolicy.SIMPLIFIED_5_REDUCED_1_5),
            EXEMPT,
            NOT_TAXABLE,
        )
    raise ValueError(f"unknown taxpayer type {taxpayer_type!r}; expected 'general' or 'small'")


# --- helpers -------------------------------------------------------------------------------------------------------


def to_decimal(value: Decimal | int | str, name: str = "value") -> Decimal:
    """Decimal from Decimal, int or str; floats and bools raise TypeError, garbage raises ValueError."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except ArithmeticError as exc:
            raise ValueError(f"{name} is not a number: {value!r}") from exc
    else:
        raise TypeError(f"{name} must be Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def q2(x: Decimal | int | str) -> Decimal:
    """Round to the fen, ROUND_HALF_UP."""
    return to_decimal(x, "amount").quantize(FEN, rounding=ROUND_HALF_UP)


def _rate(rate: Decimal | int | str) -> Decimal:
    r = to_decimal(rate, "rate")
    if r < 0 or r >= 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    return r


def _money(value: Decimal | int | str, name: str) -> Decimal:
    d = to_decimal(value, name)
    if d != d.quantize(FEN, rounding=ROUND_HALF_UP):
        raise ValueError(f"{name} has more than 2 decimals: {value}")
    return d.quantize(FEN)


def _decimals(d: Decimal) -> int:
    exponent = d.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _qty_or_price(value: Decimal | int | str, name: str) -> Decimal:
    d = to_decimal(value, name)
    if _decimals(d) > MAX_QTY_PRICE_DECIMALS:
        raise ValueError(f"{name} has more than {MAX_QTY_PRICE_DECIMALS} decimals: {value}")
    if len(format(d.normalize(), "f")) > MAX_QTY_PRICE_CHARS:
        raise ValueError(f"{name} is longer than {MAX_QTY_PRICE_CHARS} characters: {value}")
    return d


def normalise_qty_price(d: Decimal) -> Decimal:
    """Up to 13 decimals, trailing zeros removed, no exponent, at most 25 characters (§5.4)."""
    places = MAX_QTY_PRICE_DECIMALS
    while True:
        rounded = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        text = format(rounded, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if len(text) <= MAX_QTY_PRICE_CHARS or places == 0:
            break
        places -= 1
    if len(text) > MAX_QTY_PRICE_CHARS:
        raise ValueError(f"{d} does not fit in {MAX_QTY_PRICE_CHARS} characters")
    return Decimal(text)


# --- one line ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineAmounts:
    """The three amounts of a line (不含税金额, 税额, 价税合计) and its optional quantity and net unit price."""

    amount: Decimal
    tax: Decimal
    total: Decimal
    rate: Decimal
    quantity: Decimal | None = None
    unit_price_excl: Decimal | None = None


def split_line(
    *,
    quantity: Decimal | int | str | None = None,
    unit_price: Decimal | int | str | None = None,
    amount: Decimal | int | str | None = None,
    rate: Decimal | int | str,
    tax_inclusive: bool,
) -> LineAmounts:
    """Price-tax separation of one line (§8.1).

    ``unit_price`` and ``amount`` are on the basis named by ``tax_inclusive`` (含税标志). Quantity and unit price are
    optional as a pair (§5.4); when ``amount`` is missing it is round(quantity × unit_price). When all three are given
    the amount wins and must agree with quantity × unit price within a fen.
    """
    r = _rate(rate)
    if (quantity is None) != (unit_price is None):
        raise ValueError("quantity and unit_price go together: give both or neither (§5.4)")
    qty = _qty_or_price(quantity, "quantity") if quantity is not None else None
    price = _qty_or_price(unit_price, "unit_price") if unit_price is not None else None
    if price is not None and price < 0:
        raise ValueError("unit_price must not be negative; a red line has a negative quantity (§8.3)")
    if qty is not None and qty == 0:
        raise ValueError("quantity must not be zero")

    if amount is None:
        if qty is None or price is None:
            raise ValueError("give amount, or quantity and unit_price")
        base = q2(qty * price)
    else:
        base = _money(amount, "amount")
        if qty is not None and price is not None and abs(qty * price - base) > FEN:
            raise ValueError(f"amount {base} disagrees with quantity × unit_price = {qty * price}")

    if tax_inclusive:
        # 金额 = round(含税金额 ÷ (1 + 税率)); 税额 = 含税金额 − 金额, so 金额 + 税额 = 含税金额 exactly.
        with localcontext(_EXACT):
            net = q2(base / (1 + r))
        tax = base - net
        total = base
    else:
        net = base
        with localcontext(_EXACT):
            tax = q2(net * r)
        total = net + tax

    unit_price_excl: Decimal | None = None
    if qty is not None and price is not None:
        if tax_inclusive:
            with localcontext(_EXACT):
                unit_price_excl = normalise_qty_price(net / qty)
        else:
            unit_price_excl = normalise_qty_price(price)
    return LineAmounts(amount=net, tax=tax, total=total, rate=r, quantity=qty, unit_price_excl=unit_price_excl)


def negate(line: LineAmounts) -> LineAmounts:
    """The red (负数) counterpart of a blue line: amounts and quantity negated, unit price kept positive (§8.3)."""
    return replace(
        line,
        amount=-line.amount,
        tax=-line.tax,
        total=-line.total,
        quantity=-line.quantity if line.quantity is not None else None,
    )


# --- tolerances (§8.2) ---------------------------------------------------------------------------------------------


class HasAmountTaxRate(Protocol):
    @property
    def amount(self) -> Decimal: ...

    @property
    def tax(self) -> Decimal: ...

    @property
    def rate(self) -> Decimal: ...


@dataclass(frozen=True)
class LineToleranceResult:
    """|金额 × 税率 − 税额| for one line; ``error`` is signed (amount × rate − tax) and exact."""

    index: int
    rate: Decimal
    error: Decimal
    limit: Decimal

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.limit


@dataclass(frozen=True)
class RateGroupToleranceResult:
    """Accumulated rounding error of all lines at one rate: Σ金额 × 税率 − Σ税额."""

    rate: Decimal
    amount_sum: Decimal
    tax_sum: Decimal
    error: Decimal
    limit: Decimal
    line_indexes: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.limit


@dataclass(frozen=True)
class ToleranceReport:
    lines: tuple[LineToleranceResult, ...]
    groups: tuple[RateGroupToleranceResult, ...]

    @property
    def line_breaches(self) -> tuple[LineToleranceResult, ...]:
        return tuple(x for x in self.lines if not x.ok)

    @property
    def group_breaches(self) -> tuple[RateGroupToleranceResult, ...]:
        return tuple(x for x in self.groups if not x.ok)

    @property
    def ok(self) -> bool:
        return not self.line_breaches and not self.group_breaches


def line_tax_error(line: HasAmountTaxRate) -> Decimal:
    """金额 × 税率 − 税额, exact."""
    with localcontext(_EXACT):
        return line.amount * line.rate - line.tax


def check_tolerances(
    lines: Sequence[HasAmountTaxRate],
    *,
    line_limit: Decimal = LINE_TOLERANCE,
    invoice_limit: Decimal = INVOICE_TOLERANCE,
) -> ToleranceReport:
    """Check every line against ``line_limit`` (0.06) and every rate group against ``invoice_limit`` (1.27), §8.2.

    The per-rate-group reading of the 1.27 rule is the common implementation; the tax system's exact formula is
    UNVERIFIED (domain.md §8.2).
    """
    line_limit = to_decimal(line_limit, "line_limit")
    invoice_limit = to_decimal(invoice_limit, "invoice_limit")
    line_results = tuple(
        LineToleranceResult(index=i, rate=ln.rate, error=line_tax_error(ln), limit=line_limit)
        for i, ln in enumerate(lines)
    )
    by_rate: dict[Decimal, list[int]] = {}
    for i, ln in enumerate(lines):
        by_rate.setdefault(ln.rate.normalize(), []).append(i)
    groups = []
    for rate, indexes in by_rate.items():
        amount_sum = sum((lines[i].amount for i in indexes), ZERO)
        tax_sum = sum((lines[i].tax for i in indexes), ZERO)
        with localcontext(_EXACT):
            error = amount_sum * rate - tax_sum
        groups.append(
            RateGroupToleranceResult(
                rate=rate,
                amount_sum=amount_sum,
                tax_sum=tax_sum,
                error=error,
                limit=invoice_limit,
                line_indexes=tuple(indexes),
            )
        )
    return ToleranceReport(lines=line_results, groups=tuple(groups))


# --- totals (§8.3) -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceTotals:
    amount: Decimal  # 合计金额
    tax: Decimal  # 合计税额
    total: Decimal  # 价税合计


def invoice_totals(lines: Iterable[LineAmounts]) -> InvoiceTotals:
    """合计金额 = Σ金额, 合计税额 = Σ税额, 价税合计 = 合计金额 + 合计税额 (exact, §8.3)."""
    amount = ZERO.quantize(FEN)
    tax = ZERO.quantize(FEN)
    for ln in lines:
        if ln.amount + ln.tax != ln.total:
            raise ValueError(f"line amount {ln.amount} + tax {ln.tax} != total {ln.total}")
        amount += ln.amount
        tax += ln.tax
    return InvoiceTotals(amount=amount, tax=tax, total=amount + tax)


# --- discount lines (§8.4) -----------------------------------------------------------------------------------------


class LineProperty(IntEnum):
    """发票行性质 (invoiceLineProperty / fphxz) in Nuonuo's numbering; other platforms swap 1 and 2 (§8.4)."""

    NORMAL = 0
    DISCOUNT = 1  # 折扣行
    DISCOUNTED = 2  # 被折扣行


def discount_line(
    *,
    discounted: LineAmounts,
    discount_amount: Decimal | int | str | None = None,
    discount_rate: Decimal | int | str | None = None,
    tax_inclusive: bool,
) -> LineAmounts:
    """The negative 折扣行 for ``discounted``, at the same rate (§8.4).

    Give either ``discount_amount`` (a positive sum on the ``tax_inclusive`` basis) or ``discount_rate`` (a fraction
    of the discounted line, e.g. 0.1 for 10% off). The discount may not exceed the discounted line.
    """
    if (discount_amount is None) == (discount_rate is None):
        raise ValueError("give exactly one of discount_amount and discount_rate")
    if discounted.amount <= 0:
        raise ValueError("only a positive (blue) line can be discounted")
    base = discounted.total if tax_inclusive else discounted.amount
    if discount_amount is not None:
        discount = _money(discount_amount, "discount_amount")
    elif discount_rate is not None:
        fraction = to_decimal(discount_rate, "discount_rate")
        if fraction < 0 or fraction > 1:
            raise ValueError(f"discount_rate must be in [0, 1], got {discount_rate}")
        discount = q2(base * fraction)
    if discount <= 0:
        raise ValueError("a discount must be positive")
    if discount > base:
        raise ValueError(f"discount {discount} exceeds the discounted line ({base})")
    line = split_line(amount=-discount, rate=discounted.rate, tax_inclusive=tax_inclusive)
    if abs(line.amount) > discounted.amount or abs(line.tax) > abs(discounted.tax) + FEN:
        raise ValueError("discount exceeds the discounted line")
    return line


@dataclass(frozen=True)
class SequencedLine:
    """What the sequence check needs to know about a line."""

    line_property: LineProperty
    item: str  # 商品名称 or tax code: must match between a 被折扣行 and its 折扣行
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class SequenceProblem:
    index: int
    message: str


def validate_line_sequence(lines: Sequence[SequencedLine], *, red: bool = False) -> list[SequenceProblem]:
    """Check 发票行性质 ordering (§8.4): each 折扣行 immediately follows its 被折扣行, same item and rate.

    A 被折扣行 must be followed by exactly one 折扣行; a red invoice has only normal lines.
    """
    problems: list[SequenceProblem] = []
    for i, ln in enumerate(lines):
        prop = LineProperty(ln.line_property)
        if red and prop != LineProperty.NORMAL:
            problems.append(SequenceProblem(i, "a red invoice has only normal lines (红票只有正常行)"))
            continue
        if prop == LineProperty.DISCOUNTED:
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            if nxt is None or LineProperty(nxt.line_property) != LineProperty.DISCOUNT:
                problems.append(SequenceProblem(i, "a discounted line must be immediately followed by its discount"))
            if ln.amount <= 0:
                problems.append(SequenceProblem(i, "a discounted line must be positive"))
        elif prop == LineProperty.DISCOUNT:
            prev = lines[i - 1] if i > 0 else None
            if prev is None or LineProperty(prev.line_property) != LineProperty.DISCOUNTED:
                problems.append(SequenceProblem(i, "a discount line must immediately follow its discounted line"))
                continue
            if prev.item != ln.item:
                problems.append(SequenceProblem(i, "a discount line must name the same item as its discounted line"))
            if prev.rate.normalize() != ln.rate.normalize():
                problems.append(SequenceProblem(i, "a discount line must carry the same rate as its discounted line"))
            if ln.amount >= 0:
                problems.append(SequenceProblem(i, "a discount line must be negative"))
            elif -ln.amount > prev.amount:
                problems.append(SequenceProblem(i, "the discount exceeds the discounted line"))
    return problems


# --- 差额征税 (§8.5) -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeductionSplit:
    amount: Decimal  # 金额 = 含税销售额 − 税额
    tax: Decimal
    total: Decimal  # 含税销售额
    deduction: Decimal  # 扣除额
    rate: Decimal


def split_deduction(
    *, gross: Decimal | int | str, deduction: Decimal | int | str, rate: Decimal | int | str
) -> DeductionSplit:
    """差额征税: 税额 = round((含税销售额 − 扣除额) × 税率 ÷ (1 + 税率)), 金额 = 含税销售额 − 税额 (§8.5)."""
    g = _money(gross, "gross")
    d = _money(deduction, "deduction")
    r = _rate(rate)
    if (g < 0) != (d < 0) and d != 0:
        raise ValueError("gross and deduction must have the same sign")
    if abs(d) > abs(g):
        raise ValueError(f"deduction {d} exceeds the gross amount {g}")
    with localcontext(_EXACT):
        tax = q2((g - d) * r / (1 + r))
    return DeductionSplit(amount=g - tax, tax=tax, total=g, deduction=d, rate=r)


# --- allocation ----------------------------------------------------------------------------------------------------


def allocate(total: Decimal | int | str, weights: Sequence[Decimal | int | str]) -> list[Decimal]:
    """Split ``total`` across ``weights`` to the fen by largest remainder; the parts sum exactly to ``total``.

    Ties in the remainder go to the earlier part. Weights must be non-negative with a positive sum.
    """
    t = _money(total, "total")
    ws = [Fraction(to_decimal(w, "weight")) for w in weights]
    if not ws:
        raise ValueError("at least one weight is needed")
    if any(w < 0 for w in ws):
        raise ValueError("weights must not be negative")
    weight_sum = sum(ws, Fraction(0))
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if t < 0 else 1
    fen = int(abs(t) * 100)
    exact = [Fraction(fen) * w / weight_sum for w in ws]
    parts = [int(x) for x in exact]  # floor, all non-negative
    short = fen - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:short]:
        parts[i] += 1
    return [(Decimal(sign * p) / 100).quantize(FEN) for p in parts]
