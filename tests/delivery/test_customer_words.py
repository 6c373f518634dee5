"""What the customer reads (the link page, the e-mail, the SMS): amounts with thousands separators and two decimals,
rates as percentages, quantities without noise, through the kernel's number helpers."""

import re

import pytest
from django.urls import reverse

from delivery.services import build_email, invoice_link_create, sms_text
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_link_page_shows_amounts_with_separators_and_rates_as_percentages(client, yuntu):
    invoice = make_invoice(yuntu, lines=2)  # 1,000.00 + 2,000.00 at 6%
    link = invoice_link_create(invoice=invoice)
    page = _text(client.get(reverse("delivery:link", args=[link.token])).content.decode())
    assert "¥3,000.00" in page and "¥180.00" in page and "¥3,180.00" in page, page
    assert " 1,000.00 " in page and " 2,000.00 " in page and " 120.00 " in page
    assert " 6% " in page and "0.06" not in page
    assert "3180.00" not in page and "3000.00" not in page


def test_the_email_and_the_sms_show_the_total_with_separators(yuntu):
    invoice = make_invoice(yuntu, lines=2)
    body = build_email(invoice, "finance@bailu.example.com").body
    assert "¥3,180.00" in body and "3180.00" not in body, body
    text = sms_text(invoice, "https://fapiao.example.com/i/x/")
    assert "3,180.00 元" in text and "3180.00" not in text, text
