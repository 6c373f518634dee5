"""What cannot be on an invoice is refused at entry, by every way in (the admin's form, the API, the Excel import):
figures that do not fit the invoice's colour, rates no invoice carries, amounts no money column keeps exactly. A red
invoice's negative figures are what it is, and it is entered."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from receiving.models import ReceivedInvoice, ReviewState, UseState
from tests.receiving.test_admin import _manual_post
from tests.receiving.test_scanner_and_manual import LINE, manual

pytestmark = pytest.mark.django_db

NEGATIVE = {"amount": "-100.00", "tax": "-6.00", "total": "-106.00",
            "lines": [{**LINE, "amount": "-100.00", "tax": "-6.00"}]}
ZERO = {"amount": "0.00", "tax": "0.00", "total": "0.00", "lines": [{**LINE, "amount": "0.00", "tax": "0.00"}]}
ODD_RATE = {"amount": "100.00", "tax": "77.00", "total": "177.00",
            "lines": [{**LINE, "amount": "100.00", "tax_rate": "0.77", "tax": "77.00"}]}
HUGE = {"amount": "99999999999999.00", "tax": "5999999999999.94", "total": "105999999999998.94",
        "lines": [{**LINE, "amount": "99999999999999.00", "tax": "5999999999999.94"}]}


def refused(entity, actor, **changes) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        manual(entity, actor, **changes)
    assert not ReceivedInvoice.objects.exists()
    return exc.value.message_dict


def test_a_blue_invoice_with_negative_figures_is_refused(pujiang, fiona):
    errors = refused(pujiang, fiona, **NEGATIVE)
    assert "蓝字发票的价税合计必须大于 0" in errors["total"][0]
    assert "蓝字发票的合计金额不能为负数" in errors["amount"][0]
    assert "蓝字发票的合计税额不能为负数" in errors["tax"][0]


def test_an_invoice_of_nothing_is_refused(pujiang, fiona):
    assert "蓝字发票的价税合计必须大于 0" in refused(pujiang, fiona, **ZERO)["total"][0]


def test_a_rate_no_invoice_carries_is_refused(pujiang, fiona):
    errors = refused(pujiang, fiona, **ODD_RATE)
    assert errors["lines"] == ["第 1 行：税率 77% 不存在：增值税发票的税率或征收率为 "
                               "17%、16%、13%、11%、10%、9%、6%、5%、3%、2%、1.5%、1%、0.5%、0%"]


@pytest.mark.parametrize("rate", ["0.13", "0.09", "0.06", "0.05", "0.03", "0.02", "0.015", "0.01", "0.005", "0.16", "0.17"])
def test_every_rate_and_levy_rate_is_taken(pujiang, fiona, rate):
    amount, tax = Decimal("1000.00"), (Decimal("1000.00") * Decimal(rate)).quantize(Decimal("0.01"))
    record = manual(pujiang, fiona, amount=amount, tax=tax, total=amount + tax,
                    lines=[{**LINE, "amount": amount, "tax_rate": rate, "tax": tax}])
    assert record.lines.get().tax_rate == Decimal(rate)


def test_an_amount_no_money_column_keeps_exactly_is_refused_not_rounded(pujiang, fiona):
    errors = refused(pujiang, fiona, **HUGE)
    for name in ("amount", "total"):
        assert errors[name] == [f"金额 {'99,999,999,999,999.00' if name == 'amount' else '105,999,999,999,998.94'} "
                                "超出可保存的范围：绝对值不能超过 9,999,999,999,999.99"]
    assert "tax" not in errors  # 5,999,999,999,999.94 alone is kept exactly
    assert any("超出可保存的范围" in m for m in errors["lines"])


def test_the_largest_amount_kept_exactly_is_taken_and_comes_back_to_the_fen(pujiang, fiona):
    amount, tax = Decimal("9000000000000.01"), Decimal("540000000000.00")
    manual(pujiang, fiona, amount=amount, tax=tax, total=amount + tax,
           lines=[{**LINE, "amount": amount, "tax": tax}])
    record = ReceivedInvoice.objects.get()
    assert (record.amount, record.tax, record.total) == (amount, tax, Decimal("9540000000000.01"))


def test_a_red_invoice_keeps_its_negative_figures(pujiang, fiona):
    record = manual(pujiang, fiona, is_red=True, blue_number="25312000000123450041", **NEGATIVE)
    assert (record.is_red, record.blue_number, record.total) == (True, "25312000000123450041", Decimal("-106.00"))
    assert (record.use_state, record.review_state) == (UseState.IN_POOL, ReviewState.CLEAR)


def test_a_red_invoice_with_positive_figures_is_refused(pujiang, fiona):
    errors = refused(pujiang, fiona, is_red=True)
    assert errors["total"] == ["红字发票的价税合计应为负数"]


def test_a_blue_number_belongs_to_a_red_invoice_only(pujiang, fiona):
    assert "blue_number" in refused(pujiang, fiona, blue_number="25312000000123450041")


# --- the admin's form ----------------------------------------------------------------------------------------------


def _lines(changes: dict) -> dict[str, str]:
    """A case's figures as the form posts them (its one line in the first row)."""
    line = changes["lines"][0]
    return {"amount": changes["amount"], "tax": changes["tax"], "total": changes["total"],
            "lines-0-amount": line["amount"], "lines-0-tax": line["tax"], "lines-0-tax_rate": line["tax_rate"]}


@pytest.mark.parametrize(("case", "field", "rule"), [
    (NEGATIVE, "total", "蓝字发票的价税合计必须大于 0"), (NEGATIVE, "amount", "蓝字发票的合计金额不能为负数"),
    (ZERO, "total", "蓝字发票的价税合计必须大于 0"),
    (ODD_RATE, "lines-0-tax_rate", "税率 77% 不存在"),
    (HUGE, "amount", "超出可保存的范围"), (HUGE, "total", "超出可保存的范围"),
    (HUGE, "lines-0-amount", "超出可保存的范围"),
], ids=["negative-total", "negative-amount", "zero", "rate", "huge-amount", "huge-total", "huge-line"])
def test_the_form_shows_the_rule_beside_the_field_and_saves_nothing(client, fiona, pujiang, case, field, rule):
    client.force_login(fiona)
    response = client.post(reverse("admin:receiving_receivedinvoice_manual"), _manual_post(pujiang, **_lines(case)))
    assert response.status_code == 200 and not ReceivedInvoice.objects.exists()
    form = response.context["form"]
    if field.startswith("lines-0-"):
        errors = response.context["lines"].forms[0].errors[field.removeprefix("lines-0-")]
    else:
        errors = form.errors[field]
    assert any(rule in e for e in errors), errors


def test_the_form_enters_a_red_invoice(client, fiona, pujiang):
    client.force_login(fiona)
    response = client.post(reverse("admin:receiving_receivedinvoice_manual"),
                           _manual_post(pujiang, is_red="on", **_lines(NEGATIVE)))
    record = ReceivedInvoice.objects.get()
    assert response.status_code == 302 and (record.is_red, record.total) == (True, Decimal("-106.00"))
