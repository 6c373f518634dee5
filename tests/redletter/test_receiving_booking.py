"""The seller's red-letter rule sees the buyer's 入账 made in this system's receiving side (domain.md §11.1): once
明远 books 云途's invoice from its pool, 云途's partial red is allowed and waits for 明远's confirmation; after 取消入账
it is refused again before anything is sent."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from invoicing.channels import get_channel
from issuing.redletter.forms import redletter_check_partial
from receiving import bookkeeping, services
from receiving.bookkeeping import Voucher
from receiving.models import UseState

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _inprocess(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"


def test_booking_in_the_buyers_pool_opens_partial_red_on_the_sellers_side(blue, seller, buyer_entity, channel):
    inv = blue()
    with pytest.raises(ValidationError, match="只能全额红冲"):
        redletter_check_partial(blue_invoice=inv, channel=channel)
    held = services.received_invoice_create_manual(
        taxpayer=buyer_entity, actor=None, kind=inv.kind, number=inv.number, issue_date=inv.issue_date,
        seller_name=inv.seller_name, seller_tax_id=inv.seller_tax_id, buyer_name=buyer_entity.name,
        buyer_tax_id=buyer_entity.credit_code, amount=inv.amount, tax=inv.tax, total=inv.total)
    booked = bookkeeping.received_invoice_book(record=held, voucher=Voucher("记-9", date(2026, 12, 6)), actor=None,
                                               channel=get_channel(buyer_entity, transport="inprocess"))
    assert booked.use_state == UseState.BOOKED
    status = redletter_check_partial(blue_invoice=inv, channel=channel)
    assert status is not None and status.booked
    bookkeeping.received_invoice_unbook(record=held, actor=None,
                                        channel=get_channel(buyer_entity, transport="inprocess"))
    with pytest.raises(ValidationError, match="只能全额红冲"):
        redletter_check_partial(blue_invoice=inv, channel=channel)
