"""Numbers and names as people read them: one kernel helper for money, rates, quantities and unit prices, used by
the template filters, the admin's columns and every decimal field the admin shows; users by name."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.utils import translation

from invoicing import formatting
from invoicing.ids import UsccError, is_acceptable_tax_id, validate_uscc


@pytest.mark.parametrize("value,text", [
    (Decimal("12720"), "12,720.00"), (Decimal("1000000"), "1,000,000.00"), (Decimal("987705.500000000000"), "987,705.50"),
    (Decimal("10600"), "10,600.00"), (Decimal("-1234.565"), "-1,234.57"), (Decimal("0.005"), "0.01"),
    (Decimal("-0.001"), "0.00"), ("108", "108.00"), (None, "-"),
])
def test_money(value, text):
    assert formatting.money(value) == text


@pytest.mark.parametrize("value,text", [(Decimal("0.0600"), "6%"), (Decimal("0.015"), "1.5%"), (Decimal("0.13"), "13%"),
                                        (Decimal("0"), "0%")])
def test_rate(value, text):
    assert formatting.rate(value) == text


def test_quantities_and_unit_prices_keep_their_precision_without_noise():
    assert formatting.quantity(Decimal("3.0000000000000")) == "3"
    assert formatting.quantity(Decimal("1234.5")) == "1,234.5"
    assert formatting.unit_price(Decimal("36.0000000000000")) == "36.00"
    assert formatting.unit_price(Decimal("12.3456789012300")) == "12.34567890123"


def test_template_filters():
    html = Template("{% load fapiao %}{{ a|money }} {{ r|rate }} {{ q|quantity }} {{ p|unit_price }}").render(
        Context({"a": Decimal("12720"), "r": Decimal("0.0600"), "q": Decimal("2.000"), "p": Decimal("530")}))
    assert html == "12,720.00 6% 2 530.00"


def test_each_decimal_field_reads_by_its_kind():
    from django.contrib.admin.utils import display_for_field

    from issuing.applications.models import ApplicationLine, InvoiceApplication

    line = ApplicationLine._meta
    assert display_for_field(Decimal("0.0600"), line.get_field("tax_rate"), "-") == "6%"
    assert display_for_field(Decimal("3.0000000000000"), line.get_field("quantity"), "-") == "3"
    assert display_for_field(Decimal("36.0000000000000"), line.get_field("unit_price"), "-") == "36.00"
    assert display_for_field(Decimal("10600.00"), InvoiceApplication._meta.get_field("total"), "-") == "10,600.00"


def test_users_by_name_not_login(db):
    assert formatting.person_name(User(username="service", first_name="李客服")) == "李客服"
    assert formatting.person_name(User(username="x", first_name="客服", last_name="李")) == "李客服"
    assert formatting.person_name(User(username="ann", first_name="Ann", last_name="Lee")) == "Ann Lee"
    assert formatting.person_name(User(username="nobody")) == "nobody"


def test_tax_id_errors_speak_the_users_language():
    wrong = "91310000MA1K0BA10U"  # check character should be F
    with translation.override("zh-hans"):
        reason = is_acceptable_tax_id(wrong).reason
        assert "校验位" in reason and "USCC" not in reason and "expected" not in reason
        with pytest.raises(UsccError) as exc:
            validate_uscc("1234")
        assert "18 位" in exc.value.user_message
    with translation.override("en"):
        assert "check character" in is_acceptable_tax_id(wrong).reason


def test_a_moment_reads_in_china_time_not_the_stored_utc():
    from datetime import UTC, datetime

    at = datetime(2026, 12, 6, 20, 48, 5, 123456, tzinfo=UTC)
    assert formatting.local_time(at) == "2026-12-07 04:48"
    assert formatting.local_time(at, seconds=True) == "2026-12-07 04:48:05"
    assert formatting.local_time(None) == "-"
    assert formatting.local_time(datetime(2026, 12, 7, 4, 48)) == "2026-12-07 04:48"  # naive: already local
