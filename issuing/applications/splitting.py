"""Merging and splitting invoice lines: pure functions over ``Decimal``, no database.

The invariant every function here keeps: **every fen is accounted for.** The parts of a split add up exactly to the
whole, line by line (金额, 税额, 价税合计, and quantities where lines carry them). A merge keeps each merged group's
价税合计 exact (and 金额 and 税额 as well, unless the summed line would breach the 0.06 line tolerance, in which case
the group's 价税合计 is separated again; domain.md §8.2).

A 被折扣行 and its 折扣行 travel together as one *unit* and are never separated (domain.md §8.4). When a unit has to
be cut (a single line above the amount limit, or an explicit split), a discount pair is first collapsed into one
line at the discounted price, so that no piece ends up with a discount worth less than a fen.

The services (``issuing.services.application_split`` / ``applications_merge``) convert model rows to ``Line`` and
back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction
from typing import Any

from django.utils.translation import gettext

from invoicing.formatting import money
from invoicing.tax import (
    FEN,
    INVOICE_TOLERANCE,
    LINE_TOLERANCE,
    LineAmounts,
    LineProperty,
    allocate,
    invoice_totals,
    line_tax_error,
    normalise_qty_price,
    q2,
    split_line,
)
from issuing.inputs import Line

ZERO = Decimal("0.00")


Unit = tuple[Line, ...]
Part = list[Line]


class SplitError(ValueError):
    """The lines cannot be split as asked (the message says why, in Chinese, for the user)."""


# --- units ---------------------------------------------------------------------------------------------------------


def to_units(lines: Sequence[Line]) -> list[Unit]:
    """Group lines into units: a 被折扣行 with the 折扣行 that follows it, or a single normal line."""
    units: list[Unit] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.line_property == LineProperty.DISCOUNTED:
            if i + 1 >= len(lines) or lines[i + 1].line_property != LineProperty.DISCOUNT:
                raise SplitError(gettext("第%(line)s行是被折扣行，但后面没有紧邻的折扣行") % {"line": i + 1})
            units.append((ln, lines[i + 1]))
            i += 2
            continue
        if ln.line_property == LineProperty.DISCOUNT:
            raise SplitError(gettext("第%(line)s行是折扣行，但前面没有被折扣行") % {"line": i + 1})
        if ln.total < 0:
            raise SplitError(gettext("第%(line)s行是负数行；负数只能作为折扣行出现") % {"line": i + 1})
        units.append((ln,))
        i += 1
    return units


def flatten(units: Sequence[Unit]) -> list[Line]:
    return [ln for u in units for ln in u]


def unit_amount(unit: Unit) -> Decimal:
    return sum((ln.amount for ln in unit), ZERO)


def unit_total(unit: Unit) -> Decimal:
    return sum((ln.total for ln in unit), ZERO)


def totals(lines: Sequence[Line]):
    """合计金额 / 合计税额 / 价税合计 of some lines (invoicing.tax.invoice_totals)."""
    return invoice_totals(LineAmounts(amount=ln.amount, tax=ln.tax, total=ln.total, rate=ln.rate) for ln in lines)


# --- exact allocation helpers -----------------------------------------------------------------------------------------


def _places(d: Decimal) -> int:
    exponent = d.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def allocate_decimal(total: Decimal, weights: Sequence[Decimal | int], places: int) -> list[Decimal]:
    """Largest-remainder allocation of ``total`` at ``places`` decimals; the parts sum exactly to ``total``."""
    scale = Decimal(1).scaleb(-places)
    ws = [Fraction(abs(Decimal(w))) for w in weights]
    wsum = sum(ws, Fraction(0))
    if wsum == 0:
        raise SplitError(gettext("无法按全为零的权重分配"))
    sign = -1 if total < 0 else 1
    units = int((abs(total) / scale).to_integral_value())
    if Decimal(units) * scale != abs(total):
        raise ValueError(f"{total} has more than {places} decimals")
    exact = [Fraction(units) * w / wsum for w in ws]
    parts = [int(x) for x in exact]
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: units - sum(parts)]:
        parts[i] += 1
    return [(Decimal(sign * p) * scale).quantize(scale) for p in parts]


def allocate_quantity(quantity: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Cut a quantity by weights, exactly. Shares that come out whole at the quantity's own precision stay so;
    otherwise the cut is made at 13 decimals (domain.md §5.4), so that 数量 × 单价 keeps matching each piece's 金额."""
    ws = [Fraction(abs(Decimal(w))) for w in weights]
    wsum = sum(ws, Fraction(0))
    places = _places(quantity)
    scale = Fraction(10) ** places
    exact = [Fraction(quantity) * w / wsum for w in ws] if wsum else []
    if exact and all((x * scale).denominator == 1 for x in exact):
        parts = allocate_decimal(quantity, weights, places)
    else:
        parts = allocate_decimal(quantity, weights, 13)
    return [_tidy(p) for p in parts]


def _tidy(d: Decimal) -> Decimal:
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def cut_line(line: Line, grosses: Sequence[Decimal], quantities: Sequence[Decimal] | None = None) -> list[Line]:
    """Cut one line into pieces whose 价税合计 are ``grosses`` (summing exactly to ``line.total``).

    金额 is allocated by the same weights; 税额 = piece total − piece amount, so Σ税额 is exact too. Quantities are
    allocated by the weights unless given.
    """
    if sum(grosses, ZERO) != line.total:
        raise ValueError(f"pieces {list(grosses)} do not add up to {line.total}")
    if len(grosses) == 1:
        return [line]
    weights = [abs(g) for g in grosses]
    if sum(weights, ZERO) == 0:
        raise SplitError(gettext("“%(item)s”的价税合计为零，不能再拆分") % {"item": line.item_name})
    amounts = allocate(line.amount, weights)
    if quantities is None and line.quantity is not None:
        quantities = allocate_quantity(line.quantity, weights)
    pieces = []
    for k, (gross, amount) in enumerate(zip(grosses, amounts, strict=True)):
        pieces.append(
            replace(
                line,
                amount=amount,
                tax=gross - amount,
                quantity=quantities[k] if quantities is not None and line.quantity is not None else line.quantity,
            )
        )
    return pieces


def collapse_pair(unit: Unit) -> Line:
    """A 被折扣行 and its 折扣行 as one normal line at the discounted price (金额 and 税额 are the pair's sums)."""
    if len(unit) == 1:
        return unit[0]
    discounted, discount = unit
    amount = discounted.amount + discount.amount
    price = discounted.unit_price
    if discounted.quantity is not None and discounted.quantity != 0 and price is not None:
        with localcontext() as ctx:
            ctx.prec = 60
            price = normalise_qty_price(amount / discounted.quantity)
    return replace(discounted, amount=amount, tax=discounted.tax + discount.tax, unit_price=price,
                   line_property=LineProperty.NORMAL)


def cut_unit(unit: Unit, grosses: Sequence[Decimal], quantities: Sequence[Decimal] | None = None) -> list[Unit]:
    """Cut a unit into pieces with the given 价税合计.

    A discount pair that has to be cut is first collapsed into one line at the discounted price: a discount cut
    into pieces can leave a piece worth less than a fen (a zero or positive "discount"), which no invoice accepts.
    The pair's 金额, 税额 and quantity are kept exactly.
    """
    if len(grosses) == 1:
        return [unit]
    return [(p,) for p in cut_line(collapse_pair(unit), grosses, quantities)]


# --- merge ---------------------------------------------------------------------------------------------------------


def merge_identical(lines: Sequence[Line]) -> list[Line]:
    """Merge normal lines with the same item, spec, unit, unit price, rate and code into one line each.

    The first occurrence keeps its place. Quantities add up (None if any is None). 金额 and 税额 add up; if the sum
    breaches the 0.06 line tolerance (many rounded small lines), the group's 价税合计 is separated again so that the
    merged line is valid; 价税合计 is always exact. Discount pairs are not merged.
    """
    out: list[Line | list[Line]] = []
    index: dict[tuple, int] = {}
    for ln in lines:
        if ln.line_property != LineProperty.NORMAL:
            out.append(ln)
            continue
        key = ln.merge_key
        if key in index:
            group = out[index[key]]
            assert isinstance(group, list)
            group.append(ln)
        else:
            index[key] = len(out)
            out.append([ln])
    merged: list[Line] = []
    for entry in out:
        if isinstance(entry, Line):
            merged.append(entry)
            continue
        if len(entry) == 1:
            merged.append(entry[0])
            continue
        first = entry[0]
        amount = sum((x.amount for x in entry), ZERO)
        tax = sum((x.tax for x in entry), ZERO)
        quantity = None
        if all(x.quantity is not None for x in entry):
            quantity = sum((x.quantity for x in entry), Decimal(0))  # type: ignore[misc]
        line = replace(first, amount=amount, tax=tax, quantity=quantity, ref=[x.ref for x in entry])
        if abs(line_tax_error(line)) > LINE_TOLERANCE:
            split = split_line(amount=amount + tax, rate=first.rate, tax_inclusive=True)
            line = replace(line, amount=split.amount, tax=split.tax)
        if quantity is None:
            line = replace(line, unit_price=None)
        elif line.unit_price is not None and quantity != 0:
            with localcontext() as ctx:
                ctx.prec = 60
                implied = line.amount / quantity
            if abs(implied * quantity - line.amount) > FEN or abs(implied - line.unit_price) * abs(quantity) > FEN:
                line = replace(line, unit_price=normalise_qty_price(implied))
        merged.append(line)
    return merged


# --- split strategies ----------------------------------------------------------------------------------------------


def split_by_group(lines: Sequence[Line], key: Callable[[Line], Any]) -> list[Part]:
    """One part per group (e.g. by tax category, by rate), in order of first appearance."""
    groups: dict[Any, list[Line]] = {}
    for unit in to_units(lines):
        groups.setdefault(key(unit[0]), []).extend(unit)
    return [g for g in groups.values() if g]


def category_group(line: Line) -> str:
    """The default grouping: the tax category's first level (篇, first digit) and chapter (first 3 digits)."""
    return line.tax_code[:3]


def split_by_max_lines(lines: Sequence[Line], max_lines: int) -> list[Part]:
    """Consecutive parts of at most ``max_lines`` lines, counting discount lines (domain.md §5.3)."""
    if max_lines < 2:
        raise SplitError(gettext("每张发票至少要能容纳2行（被折扣行与折扣行不能分开）"))
    parts: list[Part] = [[]]
    for unit in to_units(lines):
        if len(parts[-1]) + len(unit) > max_lines:
            parts.append([])
        parts[-1].extend(unit)
    return [p for p in parts if p]


def _cut_for_limit(unit: Unit, limit: Decimal) -> list[Unit]:
    """Cut a unit whose net amount exceeds ``limit`` into the fewest pieces that each fit."""
    main = unit[0]
    net = unit_amount(unit)
    total = unit_total(unit)
    n = max(2, int((net / limit).to_integral_value(rounding=ROUND_CEILING)))
    while True:
        if n > 100000:
            raise SplitError(gettext("“%(item)s”无法按限额 %(limit)s 拆分") % {"item": main.item_name, "limit": money(limit)})
        quantities = None
        weights: list[Decimal]
        if main.quantity is not None and main.quantity == main.quantity.to_integral_value() and main.quantity >= n:
            quantities = allocate_decimal(main.quantity, [1] * n, 0)
            weights = [abs(q) for q in quantities]
        else:
            weights = [Decimal(1)] * n
        grosses = allocate(total, weights)
        if any(g == 0 for g in grosses):
            raise SplitError(gettext("“%(item)s”金额太小，不能再拆分") % {"item": main.item_name})
        pieces = cut_unit(unit, grosses, quantities)
        if all(unit_amount(p) <= limit for p in pieces):
            return pieces
        n += 1


def split_by_amount_limit(lines: Sequence[Line], limit: Decimal) -> list[Part]:
    """Parts whose 合计金额 (不含税) stays within ``limit`` (单张发票限额); a line above the limit is cut."""
    if limit <= 0:
        raise SplitError(gettext("单张发票限额必须大于0"))
    parts: list[Part] = [[]]
    running = ZERO
    for unit in to_units(lines):
        pieces = _cut_for_limit(unit, limit) if unit_amount(unit) > limit else [unit]
        for piece in pieces:
            amount = unit_amount(piece)
            if parts[-1] and running + amount > limit:
                parts.append([])
                running = ZERO
            parts[-1].extend(piece)
            running += amount
    return [p for p in parts if p]


def split_by_tolerance(lines: Sequence[Line], limit: Decimal = INVOICE_TOLERANCE) -> list[Part]:
    """Parts in which each rate group's accumulated rounding error |Σ金额×税率 − Σ税额| stays within 1.27 (§8.2)."""
    parts: list[Part] = [[]]
    errors: dict[Decimal, Decimal] = {}
    for unit in to_units(lines):
        unit_errors: dict[Decimal, Decimal] = {}
        for ln in unit:
            r = ln.rate.normalize()
            unit_errors[r] = unit_errors.get(r, Decimal(0)) + line_tax_error(ln)
        fits = all(abs(errors.get(r, Decimal(0)) + e) <= limit for r, e in unit_errors.items())
        if parts[-1] and not fits:
            parts.append([])
            errors = {}
        parts[-1].extend(unit)
        for r, e in unit_errors.items():
            errors[r] = errors.get(r, Decimal(0)) + e
    return [p for p in parts if p]


def _northwest(rows: Sequence[Decimal], cols: Sequence[Decimal]) -> list[list[Decimal]]:
    """A non-negative matrix with the given row and column sums (equal grand totals), filled north-west first."""
    if sum(rows, ZERO) != sum(cols, ZERO):
        raise ValueError("row and column totals differ")
    matrix = [[ZERO for _ in cols] for _ in rows]
    rows_left = list(rows)
    cols_left = list(cols)
    i = j = 0
    while i < len(rows) and j < len(cols):
        take = min(rows_left[i], cols_left[j])
        matrix[i][j] = take
        rows_left[i] -= take
        cols_left[j] -= take
        if rows_left[i] == 0 and i < len(rows) - 1:
            i += 1
        elif cols_left[j] == 0:
            j += 1
        else:
            i += 1
    return matrix


def split_by_amounts(lines: Sequence[Line], amounts: Sequence[Decimal]) -> list[Part]:
    """Parts with the given 价税合计 in order; whatever is left over becomes one more part at the end."""
    units = to_units(lines)
    whole = sum((unit_total(u) for u in units), ZERO)
    targets = [q2(a) for a in amounts]
    if any(t <= 0 for t in targets):
        raise SplitError(gettext("拆分金额必须大于0"))
    if sum(targets, ZERO) > whole:
        raise SplitError(
            gettext("拆分金额合计 %(parts)s 超过申请价税合计 %(whole)s") % {"parts": sum(targets, ZERO), "whole": whole}
        )
    if sum(targets, ZERO) < whole:
        targets.append(whole - sum(targets, ZERO))
    if len(targets) < 2:
        raise SplitError(gettext("至少要拆成两部分"))
    matrix = _northwest(targets, [unit_total(u) for u in units])
    parts: list[Part] = [[] for _ in targets]
    last = 0
    for j, unit in enumerate(units):
        column = [matrix[i][j] for i in range(len(targets))]
        used = [i for i, g in enumerate(column) if g != 0]
        if not used:  # a unit worth nothing (fully discounted) stays with the part before it
            parts[last].extend(unit)
            continue
        if len(used) == 1:
            parts[used[0]].extend(unit)
        else:
            for i, piece in zip(used, cut_unit(unit, [column[i] for i in used]), strict=True):
                parts[i].extend(piece)
        last = used[-1]
    return [p for p in parts if p]


def split_by_quantities(lines: Sequence[Line], quantities: Sequence[Decimal]) -> list[Part]:
    """Split by quantity: every line has the same quantity Q; part k takes ``quantities[k]`` of each line.

    Whatever quantity is left over becomes one more part. Money is allocated by the quantity weights.
    """
    units = to_units(lines)
    qs = [Decimal(q) for q in quantities]
    if not units or any(u[0].quantity is None for u in units):
        raise SplitError(gettext("按数量拆分要求每一行都有数量"))
    whole_q = units[0][0].quantity
    assert whole_q is not None
    if any(u[0].quantity != whole_q for u in units):
        raise SplitError(gettext("按数量拆分要求各行数量相同"))
    if any(q <= 0 for q in qs):
        raise SplitError(gettext("拆分数量必须大于0"))
    if sum(qs, Decimal(0)) > whole_q:
        raise SplitError(gettext("拆分数量合计 %(parts)s 超过 %(whole)s") % {"parts": sum(qs, Decimal(0)), "whole": whole_q})
    if sum(qs, Decimal(0)) < whole_q:
        qs.append(whole_q - sum(qs, Decimal(0)))
    if len(qs) < 2:
        raise SplitError(gettext("至少要拆成两部分"))
    parts: list[Part] = [[] for _ in qs]
    for unit in units:
        grosses = allocate(unit_total(unit), qs)
        if any(g == 0 for g in grosses):
            raise SplitError(gettext("“%(item)s”金额太小，不能按这些数量拆分") % {"item": unit[0].item_name})
        for k, piece in enumerate(cut_unit(unit, grosses, qs)):
            parts[k].extend(piece)
    return parts


# --- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlan:
    """How to split: any combination; applied as group → amount limit → max lines → tolerance."""

    group_by: str = ""  # "" | "category" | "rate" | "code"
    amount_limit: Decimal | None = None
    max_lines: int | None = None
    tolerance: bool = True
    amounts: tuple[Decimal, ...] = ()
    quantities: tuple[Decimal, ...] = ()


_GROUP_KEYS: dict[str, Callable[[Line], Any]] = {
    "category": category_group,
    "code": lambda ln: ln.tax_code,
    "rate": lambda ln: ln.rate.normalize(),
}


def plan_split(lines: Sequence[Line], plan: SplitPlan) -> list[Part]:
    """Apply a SplitPlan. Explicit amounts or quantities come first, then the automatic rules on each part."""
    if plan.amounts and plan.quantities:
        raise SplitError(gettext("按金额拆分与按数量拆分只能选一种"))
    parts: list[Part] = [list(lines)]
    if plan.amounts:
        parts = split_by_amounts(lines, plan.amounts)
    elif plan.quantities:
        parts = split_by_quantities(lines, plan.quantities)
    if plan.group_by:
        if plan.group_by not in _GROUP_KEYS:
            raise SplitError(gettext("未知的分组方式：%(group_by)s") % {"group_by": plan.group_by})
        parts = [g for p in parts for g in split_by_group(p, _GROUP_KEYS[plan.group_by])]
    if plan.amount_limit is not None:
        parts = [g for p in parts for g in split_by_amount_limit(p, plan.amount_limit)]
    if plan.max_lines is not None:
        parts = [g for p in parts for g in split_by_max_lines(p, plan.max_lines)]
    if plan.tolerance:
        parts = [g for p in parts for g in split_by_tolerance(p)]
    return [p for p in parts if p]


def allocate_sources(part_totals: Sequence[Decimal], source_amounts: Sequence[Decimal]) -> list[list[Decimal]]:
    """Which part takes how much from which billing document: rows = parts, columns = documents, both exact."""
    return _northwest(part_totals, source_amounts)


__all__ = [
    "Line",
    "SplitError",
    "SplitPlan",
    "allocate_sources",
    "cut_line",
    "cut_unit",
    "merge_identical",
    "plan_split",
    "split_by_amount_limit",
    "split_by_amounts",
    "split_by_group",
    "split_by_max_lines",
    "split_by_quantities",
    "split_by_tolerance",
    "to_units",
    "totals",
]
