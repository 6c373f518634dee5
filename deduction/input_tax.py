"""The deductible input tax of one voucher, and the line of 附列资料二 it goes to: pure arithmetic, no database.

- 旅客运输 (domain.md §14.6): 数电 tickets (铁路电子客票 51, 电子行程单 61) carry the tax: use it. Legacy paper tickets:
  air (票价 + 燃油附加费) ÷ 1.09 × 9%, rail 票面金额 ÷ 1.09 × 9%, road and water 票面金额 ÷ 1.03 × 3%.
- 农产品 (§14.7): 买价 × 9%; the 1% 加计扣除 (produce used for 13% goods) is its own figure, for line 8a.
- Everything else: the tax on the face, less what a red-letter invoice took back (§14.3, partial red).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")

SPECIAL_KINDS = frozenset({"81", "85", "01", "08"})  # 专票 (§15: lines 1 / 2 / 3)
TOLL_KINDS = frozenset({"14"})  # 通行费电子普票, counted with 专票 on line 1
MOTOR_KINDS = frozenset({"83", "03"})  # 机动车销售统一发票: deductible like a 专票 (公告2019年第45号, §14.4)
CUSTOMS_KINDS = frozenset({"customs"})  # line 5
AGRI_KINDS = frozenset({"agri_purchase", "agri_sales"})  # line 6, and 8a for the 1%
TICKET_KINDS = frozenset({"51", "61", "rail_paper", "air_paper"})  # lines 8b and 10
DEDUCTIBLE_KINDS = SPECIAL_KINDS | TOLL_KINDS | MOTOR_KINDS | CUSTOMS_KINDS | AGRI_KINDS | TICKET_KINDS

AGRI_RATE = Decimal("0.09")
AGRI_EXTRA_RATE = Decimal("0.01")


def fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def passenger_tax(*, kind: str, total: Decimal, printed_tax: Decimal | None = None, fuel: Decimal = ZERO,
                  road_or_water: bool = False) -> Decimal:
    """§14.6: the printed tax on a 数电 ticket; the formula for a legacy paper ticket (``total`` = 票面金额, or for
    air the fare without the fuel surcharge, which ``fuel`` adds; 民航发展基金 is never included)."""
    if kind in ("51", "61"):
        if printed_tax is None:
            raise ValueError("a 数电 ticket carries its tax")
        return fen(printed_tax)
    if road_or_water:
        return fen(total / Decimal("1.03") * Decimal("0.03"))
    if kind == "air_paper":
        return fen((total + fuel) / Decimal("1.09") * Decimal("0.09"))
    if kind == "rail_paper":
        return fen(total / Decimal("1.09") * Decimal("0.09"))
    raise ValueError(f"not a passenger ticket: {kind}")


def agricultural_tax(price: Decimal) -> Decimal:
    """§14.7: 买价 × 9%."""
    return fen(price * AGRI_RATE)


def agricultural_extra(price: Decimal) -> Decimal:
    """§14.7: the 1% 加计扣除 of produce used for 13% goods (line 8a)."""
    return fen(price * AGRI_EXTRA_RATE)


def face_tax(*, kind: str, amount: Decimal | None, tax: Decimal | None, total: Decimal | None,
             red_tax: Decimal = ZERO, deductible_tax: Decimal | None = None) -> Decimal:
    """What may be deducted of one voucher at most (the effective tax defaults to it and may only be lowered)."""
    if kind in TICKET_KINDS:
        if deductible_tax is not None:
            return fen(deductible_tax)
        return passenger_tax(kind=kind, total=total or ZERO, printed_tax=tax)
    if kind in AGRI_KINDS:
        return agricultural_tax(amount or ZERO)
    return fen((tax or ZERO) - red_tax)


def schedule_line(kind: str) -> str:
    """The first line of 附列资料二 a deducted voucher of ``kind`` goes to (§15)."""
    if kind in SPECIAL_KINDS or kind in TOLL_KINDS or kind in MOTOR_KINDS:
        return "2"
    if kind in CUSTOMS_KINDS:
        return "5"
    if kind in AGRI_KINDS:
        return "6"
    if kind in TICKET_KINDS:
        return "8b"
    raise ValueError(f"not deductible: {kind}")
