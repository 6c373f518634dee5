"""Input rules shared by every entrance (API, import, admin, services): one function per rule.

* Text that can reach an invoice may not hold characters the official XML cannot carry (XML 1.0: C0 controls other
  than tab, LF and CR; surrogates; U+FFFE/U+FFFF), nor characters that change how text is displayed without being
  seen: bidirectional overrides and isolates (U+202A–202E, U+2066–2069, U+200E/200F, U+061C), zero-width characters
  (U+200B–200D, U+2060, U+FEFF), DEL and the C1 controls (U+007F–U+009F). An invoice with such a character cannot
  be rendered (the XML and OFD writers refuse it), and a reversed name is a forgery risk.
* A tax rate must be one the entity's taxpayer type may use (``invoicing.tax.rates_for_taxpayer_type``, domain.md
  §6.1); otherwise the document can never be invoiced.
* A business date may not be in the future (beyond ``BUSINESS_DATE_MAX_FUTURE_DAYS``, default 1 day, for upstream
  systems whose clock or time zone is a little ahead) nor older than ``BUSINESS_DATE_MAX_AGE_DAYS`` (default 3650).
* A billing document holds at most ``BILLING_DOCUMENT_MAX_LINES`` lines (default 2000: the most lines a 数电
  invoice holds, domain.md §5.3; a document with discounts may still need several invoices, which splitting does).

Messages are Chinese msgids, translated when raised.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.formatting import money
from invoicing.tax import INVOICE_RATES, rates_for_taxpayer_type

# --- text ---------------------------------------------------------------------------------------------------------

UNSAFE_TEXT = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f"  # C0 controls except tab, LF, CR (illegal in XML 1.0)
    "\x7f-\x9f"  # DEL and C1 controls
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, overrides, isolates
    "\u200b-\u200d\u2060\ufeff"  # zero-width space / non-joiner / joiner, word joiner, BOM
    "\ud800-\udfff"  # lone surrogates (illegal in XML 1.0)
    "\ufffe\uffff"  # non-characters (illegal in XML 1.0)
    "]"
)


def unsafe_char(value: str) -> tuple[int, str] | None:
    """The first character of ``value`` that may not reach an invoice, as (1-based position, character)."""
    match = UNSAFE_TEXT.search(value)
    if match is None:
        return None
    return match.start() + 1, match.group()


def unsafe_text_message(position: int, char: str) -> str:
    return gettext("第 %(position)s 个字符 U+%(code)04X 是控制字符、双向文本控制符或零宽字符，不能出现在发票上，请删除") % {
        "position": position, "code": ord(char)}


def validate_invoice_text(value: Any) -> None:
    """A Django validator: refuse text with a character that may not reach an invoice (see the module docstring)."""
    if not isinstance(value, str):
        return
    found = unsafe_char(value)
    if found is not None:
        raise ValidationError(unsafe_text_message(*found), code="unsafe_char")


class SafeTextModelMixin:
    """For models whose text can reach an invoice: ``full_clean`` (admin forms, services) checks every text field.

    A field-level check on all ``CharField``/``TextField`` values, added in ``clean_fields`` so that it needs no
    migration and follows the form's exclusions like Django's own field validators.
    """

    def clean_fields(self, exclude: Iterable[str] | None = None) -> None:
        errors: dict[str, list[ValidationError]] = {}
        try:
            super().clean_fields(exclude=exclude)  # type: ignore[misc]
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        excluded = set(exclude or ())
        for f in self._meta.concrete_fields:  # type: ignore[attr-defined]
            if f.name in excluded or f.name in errors or not isinstance(f, models.CharField | models.TextField):
                continue
            try:
                validate_invoice_text(getattr(self, f.attname))
            except ValidationError as exc:
                errors.setdefault(f.name, []).extend(exc.error_list)
        if errors:
            raise ValidationError(errors)


def add_text_validators(form: Any) -> None:
    """Give every text field of a plain (non-model) Django form the invoice-text validator."""
    for field in form.fields.values():
        if isinstance(field, forms.CharField) and validate_invoice_text not in field.validators:
            field.validators.append(validate_invoice_text)


# --- tax rates -----------------------------------------------------------------------------------------------------


def allowed_rates(taxpayer_type: str) -> frozenset[Decimal]:
    return frozenset(o.rate.normalize() for o in rates_for_taxpayer_type(taxpayer_type))  # type: ignore[arg-type]


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def tax_rate_problem(rate: Decimal, taxpayer_type: str) -> str | None:
    """Why ``rate`` may not be used by an entity of ``taxpayer_type`` ("general" / "small"), or None."""
    allowed = allowed_rates(taxpayer_type)
    if Decimal(rate).normalize() in allowed:
        return None
    kind = gettext("小规模纳税人") if taxpayer_type == "small" else gettext("一般纳税人")
    return gettext("税率 %(rate)s 不可用：%(kind)s可用的税率为 %(allowed)s") % {
        "rate": _percent(Decimal(rate)), "kind": kind,
        "allowed": gettext("、").join(_percent(r) for r in sorted(allowed, reverse=True))}


def validate_tax_rate(rate: Decimal, taxpayer_type: str) -> None:
    problem = tax_rate_problem(rate, taxpayer_type)
    if problem:
        raise ValidationError(problem, code="rate_not_allowed")


def invoice_rate_problem(rate: Decimal) -> str | None:
    """Why ``rate`` is on no VAT invoice (``invoicing.tax.INVOICE_RATES``: the rates and levy rates of domain.md §6.1
    and the general rates before the cuts), or None. For invoices received, whose seller's type is not known."""
    if Decimal(rate).normalize() in {r.normalize() for r in INVOICE_RATES}:
        return None
    return gettext("税率 %(rate)s 不存在：增值税发票的税率或征收率为 %(allowed)s") % {
        "rate": _percent(Decimal(rate)),
        "allowed": gettext("、").join(_percent(r) for r in sorted(set(INVOICE_RATES), reverse=True))}


GENERAL_ONLY_RATES = frozenset({Decimal("0.13"), Decimal("0.09"), Decimal("0.06")})


def category_rate_problem(rate: Decimal, category_rates: Iterable[Any], taxpayer_type: str) -> str | None:
    """Why a general rate (13%/9%/6%) does not fit the tax category's rates, or None.

    征收率 (simplified method), 0 and small-scale taxpayers are not tied to the category's general rate.
    """
    rate = Decimal(rate).normalize()
    rates = [Decimal(r).normalize() for r in category_rates or ()]
    if taxpayer_type == "small" or rate not in GENERAL_ONLY_RATES or not rates or rate in rates:
        return None
    return gettext("税率 %(rate)s 与税收分类编码不符：该编码适用税率为 %(rates)s") % {
        "rate": _percent(rate), "rates": gettext("、").join(_percent(r) for r in sorted(rates, reverse=True))}


# --- money ---------------------------------------------------------------------------------------------------------

# Significant digits every supported database keeps exactly: PostgreSQL's DECIMAL(18,2) holds 18, but SQLite stores a
# decimal that is not whole as a REAL (a double: 15 significant digits), so an 18-digit amount would come back rounded.
MONEY_EXACT_DIGITS = 15


def money_limit() -> Decimal:
    """The largest amount (in absolute value) a money column keeps exactly on every database: 9,999,999,999,999.99."""
    return Decimal(10) ** (MONEY_EXACT_DIGITS - settings.MONEY_DECIMAL_PLACES) - Decimal(1).scaleb(
        -settings.MONEY_DECIMAL_PLACES)


def money_range_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be stored exactly as money (never silently rounded), or None."""
    limit = money_limit()
    if abs(value) <= limit:
        return None
    return gettext("金额 %(value)s 超出可保存的范围：绝对值不能超过 %(limit)s") % {
        "value": money(value), "limit": money(limit)}


# --- dates ---------------------------------------------------------------------------------------------------------


def business_date_bounds(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or timezone.localdate()
    future = int(getattr(settings, "BUSINESS_DATE_MAX_FUTURE_DAYS", 1))
    age = int(getattr(settings, "BUSINESS_DATE_MAX_AGE_DAYS", 3650))
    return today - dt.timedelta(days=age), today + dt.timedelta(days=future)


def business_date_problem(value: dt.date | None, today: dt.date | None = None) -> str | None:
    if value is None:
        return None
    earliest, latest = business_date_bounds(today)
    if value > latest:
        return gettext("业务日期 %(date)s 晚于允许的最晚日期 %(latest)s（不能是将来的日期）") % {
            "date": value.isoformat(), "latest": latest.isoformat()}
    if value < earliest:
        return gettext("业务日期 %(date)s 早于允许的最早日期 %(earliest)s") % {
            "date": value.isoformat(), "earliest": earliest.isoformat()}
    return None


def validate_business_date(value: dt.date | None) -> None:
    problem = business_date_problem(value)
    if problem:
        raise ValidationError(problem, code="date_out_of_range")


# --- document size -------------------------------------------------------------------------------------------------


def max_document_lines() -> int:
    return int(getattr(settings, "BILLING_DOCUMENT_MAX_LINES", 2000))


def document_lines_problem(count: int) -> str | None:
    limit = max_document_lines()
    if count <= limit:
        return None
    return gettext("明细共 %(count)s 行，超过每张单据 %(limit)s 行的上限；请拆分为多张单据") % {
        "count": count, "limit": limit}


def validate_document_lines(count: int) -> None:
    problem = document_lines_problem(count)
    if problem:
        raise ValidationError(problem, code="too_many_lines")


__all__ = [
    "SafeTextModelMixin", "UNSAFE_TEXT", "add_text_validators", "allowed_rates", "business_date_bounds",
    "category_rate_problem", "invoice_rate_problem", "money_limit", "money_range_problem",
    "business_date_problem", "document_lines_problem", "max_document_lines", "tax_rate_problem", "unsafe_char",
    "unsafe_text_message", "validate_business_date", "validate_document_lines", "validate_invoice_text",
    "validate_tax_rate",
]
