"""Turning line and buyer input (API, admin, import) into checked values: tax categories, decimals, text rules, and
the invoice lines (``Line``) that the splitter (``issuing.applications.splitting``) cuts and merges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from invoicing.models import Counterparty, CounterpartyKind, TaxCategory
from invoicing.tax import LineAmounts, LineProperty, discount_line, split_line, to_decimal
from invoicing.validators import (
    validate_invoice_text,
)
from issuing.base import ZERO


@dataclass(frozen=True)
class Line:
    """One invoice line as the splitter sees it. ``amount`` is net (不含税); ``ref`` is carried along untouched."""

    item_name: str
    amount: Decimal
    tax: Decimal
    rate: Decimal
    tax_code: str = ""
    short_name: str = ""
    spec: str = ""
    unit: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    line_property: int = LineProperty.NORMAL
    favoured_policy: str = ""
    ref: Any = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax

    @property
    def merge_key(self) -> tuple:
        return (
            self.item_name,
            self.short_name,
            self.spec,
            self.unit,
            self.unit_price.normalize() if self.unit_price is not None else None,
            self.rate.normalize(),
            self.tax_code,
            self.favoured_policy,
        )


def line_from_amounts(item_name: str, la: LineAmounts, **fields) -> Line:
    return Line(item_name=item_name, amount=la.amount, tax=la.tax, rate=la.rate, quantity=la.quantity,
                unit_price=la.unit_price_excl, **fields)


def tax_category_of(value: TaxCategory | str | None) -> TaxCategory:
    if isinstance(value, TaxCategory):
        return value
    if not value:
        raise ValidationError({"tax_category": gettext("税收分类编码必须填写")})
    try:
        return TaxCategory.objects.get(code=str(value))
    except TaxCategory.DoesNotExist as exc:
        raise ValidationError({"tax_category": gettext("税收分类编码 %(code)s 不存在") % {"code": value}}) from exc


def optional_decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value, name)
    except (TypeError, ValueError) as exc:
        raise ValidationError({name: gettext("%(field)s 不是有效的数字：%(value)s") % {"field": name, "value": repr(value)}}) from exc


def input_lines(raw: dict[str, Any], *, no: int) -> list[Line]:
    """One entered line (含税 or not, with an optional discount) → one or two invoice lines (被折扣行 + 折扣行)."""
    name = str(raw.get("item_name") or "").strip()
    if not name:
        raise ValidationError({"item_name": gettext("第%(line)s行：项目名称必须填写") % {"line": no}})
    category = tax_category_of(raw.get("tax_category"))
    rate = optional_decimal(raw.get("tax_rate"), "tax_rate")
    if rate is None:
        raise ValidationError({"tax_rate": gettext("第%(line)s行：税率必须填写") % {"line": no}})
    inclusive = bool(raw.get("tax_inclusive", True))
    quantity = optional_decimal(raw.get("quantity"), "quantity")
    price = optional_decimal(raw.get("unit_price"), "unit_price")
    amount = optional_decimal(raw.get("amount"), "amount")
    discount = optional_decimal(raw.get("discount"), "discount") or ZERO
    try:
        main = split_line(quantity=quantity, unit_price=price, amount=amount, rate=rate, tax_inclusive=inclusive)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"amount": gettext("第%(line)s行：%(error)s") % {"line": no, "error": exc}}) from exc
    if main.amount < 0:
        raise ValidationError({"amount": gettext("第%(line)s行：金额不能为负数；折扣请填写折扣金额") % {"line": no}})
    common = {
        "tax_code": category.code,
        "short_name": category.short_name or "",
        "spec": str(raw.get("spec") or ""),
        "unit": str(raw.get("unit") or ""),
        "favoured_policy": str(raw.get("favoured_policy") or ""),
        "ref": raw.get("ref"),
    }
    if discount == 0:
        return [line_from_amounts(name, main, **common)]
    try:
        disc = discount_line(discounted=main, discount_amount=discount, tax_inclusive=inclusive)
    except ValueError as exc:
        raise ValidationError({"discount": gettext("第%(line)s行：%(error)s") % {"line": no, "error": exc}}) from exc
    return [
        line_from_amounts(name, main, line_property=LineProperty.DISCOUNTED, **common),
        Line(
            item_name=name,
            amount=disc.amount,
            tax=disc.tax,
            rate=disc.rate,
            line_property=LineProperty.DISCOUNT,
            **{k: v for k, v in common.items() if k not in ("spec", "unit")},
        ),
    ]


def lines_with_categories(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines with their tax categories resolved in one query (a code per line would be one query per line)."""
    codes = {str(raw.get("tax_category")) for raw in lines
             if raw.get("tax_category") and not isinstance(raw.get("tax_category"), TaxCategory)}
    found = {c.code: c for c in TaxCategory.objects.filter(code__in=codes)} if codes else {}
    out = []
    for raw in lines:
        value = raw.get("tax_category")
        if value and not isinstance(value, TaxCategory) and str(value) in found:
            raw = {**raw, "tax_category": found[str(value)]}
        out.append(raw)
    return out


LINE_TEXT_KEYS = ("item_name", "spec", "unit")


def check_line_text(raw: dict[str, Any], *, no: int) -> None:
    for key in LINE_TEXT_KEYS:
        try:
            validate_invoice_text(raw.get(key))
        except ValidationError as exc:
            raise ValidationError({key: gettext("第%(line)s行：%(error)s") % {"line": no, "error": exc.messages[0]}}) from None


BUYER_KEYS = ("buyer_kind", "buyer_name", "buyer_tax_id", "buyer_address", "buyer_phone", "buyer_bank_name",
              "buyer_bank_account")


def buyer_from_counterparty(cp: Counterparty) -> dict[str, str]:
    return {
        "buyer_kind": cp.kind,
        "buyer_name": cp.name,
        "buyer_tax_id": cp.tax_id,
        "buyer_address": cp.address,
        "buyer_phone": cp.phone,
        "buyer_bank_name": cp.bank_name,
        "buyer_bank_account": cp.bank_account,
    }


def buyer_from_dict(buyer: dict[str, Any]) -> dict[str, str]:
    out = {k: str(buyer.get(k) or buyer.get(k.removeprefix("buyer_")) or "").strip() for k in BUYER_KEYS}
    out["buyer_kind"] = out["buyer_kind"] or CounterpartyKind.COMPANY
    out["buyer_tax_id"] = out["buyer_tax_id"].upper()
    if out["buyer_kind"] not in CounterpartyKind.values:
        raise ValidationError({"buyer_kind": gettext("购买方类型无效：%(kind)s") % {"kind": out["buyer_kind"]}})
    return out
