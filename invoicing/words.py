"""Uppercase money (大写金额) for 价税合计（大写）, domain.md §10.

Default output is what the invoice face prints: 圆, 整 after 圆 and after 角, 零 per the PBOC rules. The keyword
options exist only to reproduce other writers (cn2an, nzh, hutool, older invoices), see tests/fixtures/README.md.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Literal

from invoicing.tax import to_decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_FRACTION_UNITS = ("角", "分", "厘")
_WAN = 10**4
_YI = 10**8

Rounding = Literal["half_up", "truncate"]
ZeroYuan = Literal["omit", "write", "write_with_zero"]


def _section(n: int) -> str:
    """0 < n < 10⁴; inner runs of zeros become one 零."""
    out, pending_zero = "", False
    for power in range(3, -1, -1):
        d = (n // 10**power) % 10
        if d == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out += "零"
            pending_zero = False
        out += DIGITS[d] + _SMALL_UNITS[power]
    return out


def _below_yi(n: int) -> str:
    """0 ≤ n < 10⁸."""
    high, low = divmod(n, _WAN)
    out = _section(high) + "万" if high else ""
    if low:
        if high and low < 1000:
            out += "零"
        out += _section(low)
    return out


def integer_in_words(n: int) -> str:
    """Uppercase for a non-negative integer, "" for 0. 亿 nests: 10¹² = 壹万亿; 10¹⁶ = 壹万万亿 (万万 for an inner 亿)."""
    if n < 0:
        raise ValueError("n must not be negative")
    if n < _YI:
        return _below_yi(n)
    high, low = divmod(n, _YI)
    out = integer_in_words(high).replace("亿", "万万") + "亿"
    if low:
        if low < 10**7:
            out += "零"
        out += _below_yi(low)
    return out


def amount_in_words(
    amount: Decimal | int | str,
    *,
    yuan: str = "圆",
    zheng: str = "整",
    negative_prefix: str = "负",
    prefix: str = "",
    zheng_after_jiao: bool = True,
    zero_before_jiao: bool = False,
    rounding: Rounding = "half_up",
    zero_yuan: ZeroYuan = "omit",
    complete: bool = False,
    li: bool = False,
    zheng_only_for_whole_input: bool = False,
) -> str:
    """大写金额 of ``amount``; e.g. 2150.63 → 贰仟壹佰伍拾圆陆角叁分, 73.20 → 柒拾叁圆贰角整.

    Zeros follow the PBOC rules (§10): one 零 per run of zeros; 零 after 圆 when 角 is 0 and 分 is not.
    ``yuan``/``zheng``: 圆 or 元, 整 or 正. ``prefix``: e.g. 人民币 or ¥. ``zheng_after_jiao``: write 整 when the
    amount ends at 角. ``zero_before_jiao``: write the optional 零 when 圆位 is 0 and 角 is not (壹拾圆零柒角整).
    ``rounding``: to the fen (or 厘 with ``li``).
    ``zero_yuan``: for amounts under one yuan, omit 零圆 (伍分), "write" it (零圆伍分), or "write_with_zero"
    (零圆零伍分, the 零-after-圆 rule applied literally). ``complete``: every unit written, 零角零分 included.
    ``li``: carry a third place, 厘. ``zheng_only_for_whole_input``: 整 only when ``amount`` was written without
    decimals (nzh without forceZheng). The sign is the sign of the unrounded input.
    """
    a = to_decimal(amount, "amount")
    places = 3 if li else 2
    modes = {"half_up": ROUND_HALF_UP, "truncate": ROUND_DOWN}
    if rounding not in modes:
        raise ValueError(f"rounding must be 'half_up' or 'truncate', got {rounding!r}")
    if zero_yuan not in ("omit", "write", "write_with_zero"):
        raise ValueError(f"zero_yuan must be 'omit', 'write' or 'write_with_zero', got {zero_yuan!r}")
    mode = modes[rounding]
    q = abs(a).quantize(Decimal(1).scaleb(-places), rounding=mode)
    n = int(q)
    scaled = int(q.scaleb(places))
    digits = [(scaled // 10 ** (places - 1 - i)) % 10 for i in range(places)]
    sign = negative_prefix if a < 0 else ""
    exponent = a.as_tuple().exponent
    whole_input = isinstance(exponent, int) and exponent >= 0

    if complete:
        body = (integer_in_words(n) or DIGITS[0]) + yuan
        body += "".join(DIGITS[d] + u for d, u in zip(digits, _FRACTION_UNITS, strict=False))
        return prefix + sign + body

    nonzero = [i for i, d in enumerate(digits) if d]
    if n:
        body = integer_in_words(n) + yuan
    elif not nonzero or zero_yuan != "omit":
        body = DIGITS[0] + yuan
    else:
        body = ""
    # 圆位 0 and 角 not: the PBOC rules allow 零 or not (§10 rule 3); 数电 faces omit it (贰仟壹佰伍拾圆陆角叁分).
    pending_zero = zero_before_jiao and bool(n) and n % 10 == 0
    wrote_fraction = False
    for i in range(nonzero[-1] + 1 if nonzero else 0):
        d = digits[i]
        if d == 0:
            pending_zero = True
            continue
        if pending_zero and (n or wrote_fraction or zero_yuan == "write_with_zero"):
            body += DIGITS[0]
        pending_zero = False
        wrote_fraction = True
        body += DIGITS[d] + _FRACTION_UNITS[i]

    ends_at = nonzero[-1] if nonzero else -1  # -1: at 圆; 0: at 角; 1+: at 分 or 厘 (no 整 after 分)
    want_zheng = ends_at == -1 or (ends_at == 0 and zheng_after_jiao)
    if zheng_only_for_whole_input and not whole_input:
        want_zheng = False
    if want_zheng:
        body += zheng
    return prefix + sign + body


# --- reading 大写 back -----------------------------------------------------------------------------------------------

_UNIT_VALUES = {"拾": 10, "佰": 100, "仟": 1000}


def _parse_section(text: str) -> int:
    value, digit = 0, None
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS.index(ch)
        elif ch in _UNIT_VALUES:
            value += (1 if digit is None else digit) * _UNIT_VALUES[ch]
            digit = None
        else:
            raise ValueError(f"unexpected character {ch!r} in {text!r}")
    return value + (digit or 0)


def _parse_integer(text: str) -> int:
    if "亿" in text:
        head, _, tail = text.rpartition("亿")
        return _parse_integer(head) * _YI + _parse_integer(tail)
    if "万" in text:
        head, _, tail = text.rpartition("万")
        return _parse_integer(head) * _WAN + _parse_integer(tail)
    return _parse_section(text)


def parse_amount_in_words(text: str) -> Decimal:
    """Read 大写金额 back to a Decimal: accepts 圆/元, 整/正 or neither, a 人民币/¥ prefix, 负, 万万 for 亿."""
    s = text.strip()
    for p in ("人民币", "¥", "￥"):
        s = s.removeprefix(p)
    negative = s.startswith("负")
    s = s.removeprefix("负").rstrip("整正")
    if not s:
        raise ValueError(f"no amount in {text!r}")
    head, sep, tail = s.rpartition("元") if "元" in s else s.rpartition("圆")
    integer_part, fraction_part = (head, tail) if sep else ("", s)
    value = Decimal(_parse_integer(integer_part.replace("万万", "亿")))
    digit: int | None = None
    for ch in fraction_part:
        if ch in DIGITS:
            digit = DIGITS.index(ch)
        elif ch in _FRACTION_UNITS:
            if digit is None:
                raise ValueError(f"{ch} without a digit in {text!r}")
            value += Decimal(digit).scaleb(-1 - _FRACTION_UNITS.index(ch))
            digit = None
        else:
            raise ValueError(f"unexpected character {ch!r} in {text!r}")
    if digit:
        raise ValueError(f"a digit without a unit at the end of {text!r}")
    return -value if negative else value
