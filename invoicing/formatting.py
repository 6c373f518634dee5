"""How numbers read in the admin, its messages and reports: one place for money, rates, quantities and unit prices.

- money: thousands separators and two decimals, rounded half-up to the fen: 12,720.00; -1,000,000.00
- rate: a percentage without noise: 0.0600 → 6%, 0.015 → 1.5%
- quantity: what was entered, without trailing zeros: 3.0000000000000 → 3, 1.5 → 1.5
- unit price: at least two decimals, more only where they carry value: 36 → 36.00, 12.3456 → 12.3456
- a moment (an aware datetime) in the admin's own tables and messages: in local time (``TIME_ZONE``, China time),
  2026-12-07 04:48 (or with seconds), as Django shows every other datetime on the page; never the stored UTC

``decimal_for_field`` picks one of these for a model's DecimalField (rates by name, money by its two decimal
places, unit prices by name, quantities otherwise); the admin shows every decimal field through it (``apps.py``).
The template filters are in ``invoicing/templatetags/fapiao.py`` (``{% load fapiao %}{{ x|money }}``), the list
columns in ``invoicing.admin.money_column`` / ``rate_column``.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from django.db import models

EMPTY = "-"
_FEN = Decimal("0.01")


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # the float's shortest spelling, not its binary expansion
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _grouped(d: Decimal, places: int | None) -> str:
    """``d`` with thousands separators; ``places`` decimals, or as many as it has (trailing zeros dropped)."""
    if places is None:
        d = d.normalize()
        exponent = d.as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else 0
    if d.is_zero():
        d = abs(d)  # no "-0.00"
    return f"{d:,.{places}f}"


def money(value: Any, empty: str = EMPTY) -> str:
    """12720 → "12,720.00"; 987705.500000000000 → "987,705.50"; None → "-"."""
    d = _decimal(value)
    if d is None:
        return empty if value in (None, "") else str(value)
    return _grouped(d.quantize(_FEN, rounding=ROUND_HALF_UP), 2)


def rate(value: Any, empty: str = EMPTY) -> str:
    """A tax rate or any fraction as a percentage: 0.0600 → "6%", 0.015 → "1.5%", 0 → "0%"."""
    d = _decimal(value)
    if d is None:
        return empty if value in (None, "") else str(value)
    return _grouped(d * 100, None) + "%"


def quantity(value: Any, empty: str = EMPTY) -> str:
    """3.0000000000000 → "3"; 1234.5 → "1,234.5" (every significant decimal kept)."""
    d = _decimal(value)
    if d is None:
        return empty if value in (None, "") else str(value)
    return _grouped(d, None)


def unit_price(value: Any, empty: str = EMPTY) -> str:
    """36 → "36.00"; 12.3456000 → "12.3456": two decimals at least, more when they carry value."""
    d = _decimal(value)
    if d is None:
        return empty if value in (None, "") else str(value)
    exponent = d.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return _grouped(d, places)


def number_kind(field: models.DecimalField[Any, Any]) -> str:
    """"rate", "money", "price" or "quantity" for a model DecimalField."""
    name = field.name or ""
    if name == "rate" or name.endswith("_rate") or name.startswith("rate_"):
        return "rate"
    if "price" in name:
        return "price"
    if field.decimal_places == 2:
        return "money"
    return "quantity"


FORMATTERS = {"rate": rate, "money": money, "price": unit_price, "quantity": quantity}


def decimal_for_field(value: Any, field: models.DecimalField[Any, Any]) -> str:
    return FORMATTERS[number_kind(field)](value)


def person_name(user: Any) -> str:
    """A user as colleagues know them: the full name (李客服; 姓 before 名 without a space in Chinese), falling back
    to the login name."""
    if user is None:
        return ""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if first and last:
        cjk = any("\u4e00" <= ch <= "\u9fff" for ch in first + last)
        return f"{last}{first}" if cjk else f"{first} {last}"
    return first or last or getattr(user, "username", "") or str(user)


def local_time(value: dt.datetime | None, *, seconds: bool = False, empty: str = EMPTY) -> str:
    """An aware datetime in local time: "2026-12-07 04:48" ("2026-12-07 04:48:05" with ``seconds``); None → "-".

    ``strftime`` on a stored datetime prints UTC (eight hours behind China); a naive one is taken as local already.
    """
    if value is None:
        return empty
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
