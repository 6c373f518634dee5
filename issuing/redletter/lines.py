"""Red-line arithmetic: what is left of each blue line, and red lines that fit in it. No database.

A blue invoice is seen as units: its lines, a 被折扣行 merged with its 折扣行 (domain.md §8.4). A form's red lines
(negative) take from the units; ``remaining_units`` is what the blue lines hold minus every form that still holds
part of them, and ``check_red_lines`` refuses any line or total that would go beyond it, so the cumulative red
never exceeds the blue, per line and in total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from invoicing.formatting import money
from invoicing.tax import LINE_TOLERANCE, allocate, normalise_qty_price, q2
from issuing.base import LineProperty

ZERO = Decimal("0.00")

FEN = Decimal("0.01")


class RedCapacityError(ValidationError):
    """A red line or total would exceed what is left of the blue invoice."""


class IndivisibleRemainderError(RedCapacityError):
    """What is left cannot be split as asked without leaving tax with no amount: red the rest in one go."""


@dataclass(frozen=True)
class Unit:
    """A blue line as red-flushing sees it: a 被折扣行 merged with its 折扣行 (§8.4), referenced by its number."""

    line_no: int
    line_id: int | None
    item_name: str
    rate: Decimal
    amount: Decimal  # positive, net of the discount
    tax: Decimal
    quantity: Decimal | None = None  # positive
    unit_price: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


@dataclass(frozen=True)
class RedLine:
    """One requested red line, negative figures."""

    blue_line_no: int
    amount: Decimal
    tax: Decimal
    quantity: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


def units_from_lines(lines: Sequence[Any]) -> list[Unit]:
    """Blue invoice lines (sorted by line number) → units; a discount line joins the discounted line before it."""
    out: list[Unit] = []
    ordered = sorted(lines, key=lambda ln: ln.line_no)
    i = 0
    while i < len(ordered):
        ln = ordered[i]
        amount, tax = ln.amount, ln.tax
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if int(ln.line_property) == LineProperty.DISCOUNTED and nxt is not None and int(nxt.line_property) == (
            LineProperty.DISCOUNT
        ):
            amount += nxt.amount
            tax += nxt.tax
            i += 1
        i += 1
        if amount <= 0:
            continue  # a lone negative line (§8.4) cannot be red-flushed on its own
        out.append(Unit(line_no=ln.line_no, line_id=getattr(ln, "pk", None), item_name=ln.item_name,
                        rate=ln.tax_rate, amount=amount, tax=tax, quantity=ln.quantity, unit_price=ln.unit_price))
    return out


def remaining_units(units: Sequence[Unit], used: Iterable[RedLine]) -> list[Unit]:
    """What is left of each unit after ``used`` red lines (negative). Units never go below zero here: callers check
    every request with ``check_red_lines`` before it is counted."""
    taken: dict[int, list[Decimal | None]] = {}
    for rl in used:
        t = taken.setdefault(rl.blue_line_no, [ZERO, ZERO, ZERO])
        t[0] += -rl.amount
        t[1] += -rl.tax
        t[2] = (t[2] or ZERO) + (-rl.quantity if rl.quantity is not None else ZERO)
    out = []
    for u in units:
        a, t, q = taken.get(u.line_no, [ZERO, ZERO, ZERO])
        qty = None if u.quantity is None else u.quantity - q
        out.append(Unit(u.line_no, u.line_id, u.item_name, u.rate, u.amount - a, u.tax - t, qty, u.unit_price))
    return out


def check_red_lines(remaining: Sequence[Unit], lines: Sequence[RedLine]) -> None:
    """Refuse (``RedCapacityError``, every problem at once) any line that exceeds what is left, and the total."""
    by_no = {u.line_no: u for u in remaining}
    problems: list[str] = []
    seen: set[int] = set()
    if not lines:
        problems.append(gettext("红冲明细不能为空"))
    for rl in lines:
        u = by_no.get(rl.blue_line_no)
        if u is None:
            problems.append(gettext("蓝字明细序号%(line)s不存在（折扣行不传，只传被折扣行序号）") % {"line": rl.blue_line_no})
            continue
        if rl.blue_line_no in seen:
            problems.append(gettext("蓝字明细序号%(line)s重复") % {"line": rl.blue_line_no})
        seen.add(rl.blue_line_no)
        if rl.amount >= 0 or rl.tax > 0:
            problems.append(gettext("蓝字明细序号%(line)s：红冲金额应为负数、税额不能为正数") % {"line": rl.blue_line_no})
            continue
        if -rl.amount > u.amount:
            problems.append(
                gettext("蓝字明细序号%(line)s：红冲金额 %(asked)s 超过可冲金额 %(left)s")
                % {"line": rl.blue_line_no, "asked": -rl.amount, "left": u.amount}
            )
        if -rl.tax > u.tax:
            problems.append(
                gettext("蓝字明细序号%(line)s：红冲税额 %(asked)s 超过可冲税额 %(left)s")
                % {"line": rl.blue_line_no, "asked": -rl.tax, "left": u.tax}
            )
        if rl.quantity is not None:
            if rl.quantity >= 0:
                problems.append(gettext("蓝字明细序号%(line)s：红冲数量应为负数") % {"line": rl.blue_line_no})
            elif u.quantity is not None and -rl.quantity > u.quantity:
                problems.append(
                    gettext("蓝字明细序号%(line)s：红冲数量 %(asked)s 超过可冲数量 %(left)s")
                    % {"line": rl.blue_line_no, "asked": -rl.quantity, "left": u.quantity}
                )
        if abs(rl.amount * u.rate - rl.tax) > LINE_TOLERANCE:
            problems.append(gettext("蓝字明细序号%(line)s：税额与金额×税率相差超过0.06") % {"line": rl.blue_line_no})
    left = sum((u.total for u in remaining), ZERO)
    asked = -sum((rl.total for rl in lines), ZERO)
    if asked > left:
        problems.append(gettext("红冲价税合计 %(asked)s 超过蓝字发票可冲价税合计 %(left)s") % {"asked": asked, "left": left})
    if problems:
        raise RedCapacityError(problems)


def _scaled_quantity(u: Unit, amount: Decimal) -> Decimal | None:
    """The negative quantity for ``amount`` (positive) of unit ``u``, at its unit price; None without a quantity."""
    if u.quantity is None or u.quantity <= 0 or u.amount <= 0:
        return None
    if amount == u.amount:
        return -u.quantity
    qty = normalise_qty_price(u.quantity * amount / u.amount)
    return -qty if qty > 0 else None


def red_line_for(u: Unit, *, amount: Decimal, tax: Decimal | None = None,
                 quantity: Decimal | None = None) -> RedLine:
    """A red line taking ``amount`` (positive, 不含税) of what is left of ``u``; the rest of the unit takes its tax
    exactly, otherwise tax = amount × rate, never more than the tax left."""
    amount = q2(abs(amount))
    if tax is None:
        tax = u.tax if amount == u.amount else min(q2(amount * u.rate), u.tax)
    tax = q2(abs(tax))
    qty = -abs(quantity) if quantity is not None else _scaled_quantity(u, amount)
    return RedLine(u.line_no, -amount, -tax, qty)


def rest_lines(remaining: Sequence[Unit]) -> list[RedLine]:
    """Everything still left: the 'full' red of a blue invoice that was already partly red-flushed."""
    return [red_line_for(u, amount=u.amount, tax=u.tax) for u in remaining if u.amount > 0 or u.tax > 0]


def _split_share(u: Unit, share: Decimal) -> tuple[Decimal, Decimal] | None:
    """(amount, tax) taking ``share`` (< u.total) of unit ``u`` so that what stays keeps an amount (a red line must
    carry a negative amount, so tax alone could never be red-flushed later). None when that is impossible."""
    if u.amount <= FEN:
        return None
    amount = min(q2(share / (1 + u.rate)), u.amount - FEN)
    if amount <= 0:
        amount = min(share, u.amount - FEN)
    tax = share - amount
    if tax > u.tax:
        tax = u.tax
        amount = share - tax
    if amount <= 0 or amount >= u.amount or tax < 0:
        return None
    return amount, tax


def lines_for_gross(remaining: Sequence[Unit], gross: Decimal) -> list[RedLine]:
    """Red lines worth ``gross`` (价税合计, positive), spread over what is left of each unit pro rata.

    A unit that cannot give a part of itself (1 fen of amount left) gives all of it, and the difference comes off
    the other units' shares; when that is impossible too, ``IndivisibleRemainderError`` asks for the rest in one go."""
    gross = q2(gross)
    live = [u for u in remaining if u.total > 0]
    left = sum((u.total for u in live), ZERO)
    if gross <= 0:
        raise ValidationError(gettext("红冲金额必须大于0"))
    if gross > left:
        raise RedCapacityError(
            gettext("红冲价税合计 %(asked)s 超过蓝字发票可冲价税合计 %(left)s") % {"asked": gross, "left": left}
        )
    if gross == left:
        return rest_lines(live)
    shares = allocate(gross, [u.total for u in live])
    whole: set[int] = set()
    for i, (u, share) in enumerate(zip(live, shares, strict=True)):
        if 0 < share < u.total and _split_share(u, share) is None:
            excess = u.total - share
            shares[i] = u.total
            whole.add(i)
            for j in sorted(range(len(live)), key=lambda k: -shares[k]):
                if j in whole or j == i or excess <= 0:
                    continue
                give = min(excess, shares[j] - FEN) if shares[j] > FEN else ZERO
                if give > 0 and (shares[j] - give == 0 or _split_share(live[j], shares[j] - give) is not None):
                    shares[j] -= give
                    excess -= give
            if excess > 0:
                raise IndivisibleRemainderError(
                    gettext("蓝字明细序号%(line)s只剩 %(amount)s 元金额，无法按 %(gross)s 拆分；请一次红冲剩余全部 %(left)s")
                    % {"line": u.line_no, "amount": money(u.amount), "gross": money(gross), "left": money(left)}
                )
    out = []
    for u, share in zip(live, shares, strict=True):
        if share <= 0:
            continue
        if share == u.total:
            out.append(red_line_for(u, amount=u.amount, tax=u.tax))
            continue
        split = _split_share(u, share)
        if split is None:
            raise IndivisibleRemainderError(
                gettext("蓝字明细序号%(line)s无法按比例拆分；请一次红冲剩余全部 %(left)s") % {"line": u.line_no, "left": left}
            )
        out.append(red_line_for(u, amount=split[0], tax=split[1]))
    return out
