"""The kernel's input rules (invoicing/validators.py), which the API, the import and the admin all call."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from invoicing.validators import (
    business_date_problem,
    category_rate_problem,
    document_lines_problem,
    tax_rate_problem,
    unsafe_char,
    validate_invoice_text,
)
from tests.factories import CounterpartyFactory

UNSAFE = ["\x07", "\x00", "\x1b", "\x7f", "\x85", "\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f",
          "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufffe", "\uffff", "\ud800"]


@pytest.mark.parametrize("char", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_characters_that_cannot_reach_an_invoice_are_found_with_their_position(char):
    assert unsafe_char(f"上海{char}白鹭") == (3, char)
    with pytest.raises(ValidationError) as info:
        validate_invoice_text(f"上海{char}白鹭")
    assert f"U+{ord(char):04X}" in info.value.messages[0] and info.value.error_list[0].code == "unsafe_char"


@pytest.mark.parametrize("text", ["上海白鹭文化传媒有限公司", "Room 1\tA", "第一行\n第二行\r\n", "€ ¥ — 𠀀 ©", ""])
def test_ordinary_text_tabs_and_line_breaks_pass(text):
    assert unsafe_char(text) is None
    validate_invoice_text(text)


@pytest.mark.django_db
def test_a_model_with_invoice_text_refuses_it_in_full_clean_as_a_field_error(yuntu):
    cp = CounterpartyFactory.build(taxpayer=yuntu, name="白鹭\u202e\x07传媒", address="上海\u200b")
    with pytest.raises(ValidationError) as info:
        cp.full_clean()
    assert {"name", "address"} <= set(info.value.message_dict)
    cp.full_clean(exclude=["name", "address"])  # like a form without those fields


@pytest.mark.parametrize(("rate", "kind", "ok"), [
    ("0.13", "general", True), ("0.06", "general", True), ("0.03", "general", True), ("0", "general", True),
    ("0.07", "general", False), ("0.01", "general", False), ("0.01", "small", True), ("0.13", "small", False),
])
def test_tax_rates_follow_the_taxpayer_type(rate, kind, ok):
    problem = tax_rate_problem(Decimal(rate), kind)
    assert (problem is None) is ok
    if not ok:
        assert "%" in problem


def test_a_general_rate_must_fit_the_category_but_levy_rates_and_small_taxpayers_need_not():
    assert category_rate_problem(Decimal("0.13"), ["0.06"], "general")
    assert category_rate_problem(Decimal("0.06"), ["0.06"], "general") is None
    assert category_rate_problem(Decimal("0.03"), ["0.06"], "general") is None
    assert category_rate_problem(Decimal("0.03"), ["0.13"], "small") is None
    assert category_rate_problem(Decimal("0.13"), [], "general") is None


def test_business_dates_are_neither_in_the_future_nor_absurdly_old(settings):
    settings.BUSINESS_DATE_MAX_FUTURE_DAYS = 1
    settings.BUSINESS_DATE_MAX_AGE_DAYS = 3650
    today = dt.date(2026, 12, 6)
    assert business_date_problem(today, today) is None
    assert business_date_problem(today + dt.timedelta(days=1), today) is None
    assert "2026-12-08" in business_date_problem(today + dt.timedelta(days=2), today)
    assert business_date_problem(dt.date(2099, 12, 31), today)
    assert business_date_problem(dt.date(1900, 1, 1), today)
    assert business_date_problem(None, today) is None
    settings.BUSINESS_DATE_MAX_FUTURE_DAYS = 0
    assert business_date_problem(today + dt.timedelta(days=1), today)


def test_the_line_limit_is_a_setting_defaulting_to_an_invoices_2000_lines(settings):
    del settings.BILLING_DOCUMENT_MAX_LINES
    assert document_lines_problem(2000) is None
    assert "2000" in document_lines_problem(2001)
    settings.BILLING_DOCUMENT_MAX_LINES = 3
    assert document_lines_problem(3) is None and document_lines_problem(4)
