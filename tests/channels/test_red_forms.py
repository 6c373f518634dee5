"""Red-letter forms through the states of domain.md §11.1, on the sandbox clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.channels.base import ChannelRejected, RedFormLine, RedFormRequest
from sandbox import clock
from sandbox import services as sandbox
from sandbox.models import LedgerInvoice
from tests.channels.conftest import issue_request


@pytest.fixture
def blue(seller, buyer_entity, channel):
    """An issued 专票 from 云途 to 明远: line 1 1000.00 + 60.00, line 2 500.00 + 30.00."""
    return channel.issue_invoice(issue_request(seller))


def booked(blue):
    sandbox.invoice_mark_booked(number=blue.invoice_number)
    return blue


def test_not_yet_used_by_the_buyer_no_confirmation_is_needed_and_the_red_invoice_is_issued(channel, blue):
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "01"))
    assert form.status == "01" and form.is_full
    assert (form.total_amount, form.total_tax) == (Decimal("-1500.00"), Decimal("-90.00"))
    assert len(form.form_no) == 20 and len(form.uuid) == 32
    assert form.red_invoice_number and form.red_invoice_number != blue.invoice_number
    red = LedgerInvoice.objects.get(number=form.red_invoice_number)
    assert red.is_red and red.total_with_tax == Decimal("-1590.00") and red.blue_number == blue.invoice_number
    assert LedgerInvoice.objects.get(number=blue.invoice_number).status == "03"
    fetched = channel.query_issue(form.red_invoice_serial)
    assert fetched.is_red and fetched.invoice_number == form.red_invoice_number and fetched.red_form_no == form.form_no
    assert [ln.amount for ln in fetched.lines] == [Decimal("-1000.00"), Decimal("-500.00")]


def test_a_repeated_application_returns_the_same_form(channel, blue):
    first = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "01"))
    again = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "01"))
    assert again.form_no == first.form_no


def test_partial_red_needs_the_buyer_to_have_used_the_invoice(channel, blue):
    request = RedFormRequest("R1", blue.invoice_number, "02", lines=(
        RedFormLine(blue_line_no=1, quantity=Decimal("-0.5"), amount=Decimal("-500.00"), tax=Decimal("-30.00")),
    ))
    with pytest.raises(ChannelRejected) as exc:
        channel.red_form_apply(request)
    assert exc.value.code == "3303"


def test_full_red_seller_entered_confirmed_by_the_buyer(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02"))
    assert form.status == "02" and form.expires_at == form.created_at + sandbox.RED_FORM_TTL
    assert not form.red_invoice_number

    inbound = buyer_channel.red_form_list_inbound()
    assert [f.form_no for f in inbound] == [form.form_no]
    assert channel.red_form_list_inbound() == ()

    with pytest.raises(ChannelRejected):
        channel.red_form_confirm(form.form_no)  # the initiator cannot confirm its own form
    confirmed = buyer_channel.red_form_confirm(form.form_no)
    assert confirmed.status == "04" and confirmed.red_invoice_number
    assert channel.red_form_query(form.form_no).red_invoice_number == confirmed.red_invoice_number
    assert LedgerInvoice.objects.get(number=blue.invoice_number).status == "03"


def test_partial_red_through_02_to_04_leaves_the_blue_invoice_partly_flushed(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal("-100.00"), tax=Decimal("-6.00")),
    )))
    assert form.status == "02" and not form.is_full and form.total_amount == Decimal("-100.00")
    done = buyer_channel.red_form_confirm(form.form_no)
    assert done.status == "04"
    assert LedgerInvoice.objects.get(number=blue.invoice_number).status == "04"
    red = LedgerInvoice.objects.get(number=done.red_invoice_number)
    assert red.total_amount == Decimal("-100.00") and red.total_tax == Decimal("-6.00")

    with pytest.raises(ChannelRejected) as exc:  # more than is left on line 2
        channel.red_form_apply(RedFormRequest("R2", blue.invoice_number, "04", lines=(
            RedFormLine(blue_line_no=2, amount=Decimal("-400.01"), tax=Decimal("-24.00")),
        )))
    assert exc.value.code == "3308"


def test_issued_in_error_allows_only_full_red(channel, blue):
    booked(blue)
    with pytest.raises(ChannelRejected) as exc:
        channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "01", lines=(
            RedFormLine(blue_line_no=1, amount=Decimal("-100.00"), tax=Decimal("-6.00")),
        )))
    assert exc.value.code == "3302"


def test_a_waiting_form_expires_after_72_hours_as_07(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02"))
    clock.advance(hours=71)
    assert channel.red_form_query(form.form_no).status == "02"
    clock.advance(hours=1)
    assert channel.red_form_query(form.form_no).status == "07"
    with pytest.raises(ChannelRejected):
        buyer_channel.red_form_confirm(form.form_no)
    # the blue invoice is free for a new form
    assert channel.red_form_apply(RedFormRequest("R2", blue.invoice_number, "02")).status == "02"


def test_the_initiator_revokes_a_waiting_form_as_08(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02"))
    with pytest.raises(ChannelRejected):
        buyer_channel.red_form_revoke(form.form_no)  # only the initiator may revoke
    assert channel.red_form_revoke(form.form_no).status == "08"


def test_the_buyer_rejects_a_seller_form_as_05(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "03"))
    assert buyer_channel.red_form_reject(form.form_no).status == "05"
    assert LedgerInvoice.objects.get(number=blue.invoice_number).status == "01"


def test_a_buyer_entered_form_waits_for_the_seller_as_03(channel, buyer_channel, blue):
    booked(blue)
    form = buyer_channel.red_form_apply(RedFormRequest("B1", blue.invoice_number, "02", initiator="buyer"))
    assert form.status == "03"
    assert [f.form_no for f in channel.red_form_list_inbound()] == [form.form_no]
    assert channel.red_form_reject(form.form_no).status == "06"


def test_only_one_open_form_per_blue_invoice(channel, blue):
    booked(blue)
    channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02"))
    with pytest.raises(ChannelRejected) as exc:
        channel.red_form_apply(RedFormRequest("R2", blue.invoice_number, "02"))
    assert exc.value.code == "3305"


def test_a_paper_invoice_red_is_issued_by_hand_and_a_paper_invoice_can_be_voided(seller, channel):
    paper = channel.issue_invoice(issue_request(seller, kind="86"))
    form = channel.red_form_apply(RedFormRequest("R1", paper.invoice_number, "01"))
    assert form.status == "01" and not form.red_invoice_number
    red = channel.issue_invoice(issue_request(
        seller, kind="86", is_red=True, blue_number=paper.invoice_number, red_form_no=form.form_no,
        lines=tuple(
            type(ln)(**{**ln.__dict__, "amount": -ln.amount, "tax": -ln.tax, "quantity": -ln.quantity})
            for ln in paper.lines
        ),
    ))
    assert red.status == "issued" and red.is_red
    assert channel.red_form_query(form.form_no).red_invoice_number == red.invoice_number
    assert LedgerInvoice.objects.get(number=paper.invoice_number).status == "03"

    other = channel.issue_invoice(issue_request(seller, kind="86"))
    assert channel.void_paper(other.invoice_number).invoice_status == "02"
    electronic = channel.issue_invoice(issue_request(seller, kind="82"))
    with pytest.raises(ChannelRejected) as exc:
        channel.void_paper(electronic.invoice_number)
    assert exc.value.code == "3401"


def test_a_confirmed_paper_form_without_its_red_invoice_can_be_revoked_as_09(seller, channel, buyer_channel, buyer_entity):
    paper = channel.issue_invoice(issue_request(seller, kind="85"))
    booked(paper)
    form = channel.red_form_apply(RedFormRequest("R1", paper.invoice_number, "02"))
    assert buyer_channel.red_form_confirm(form.form_no).status == "04"
    assert not channel.red_form_query(form.form_no).red_invoice_number  # 纸票: issued by hand, not yet
    assert channel.red_form_revoke(form.form_no).status == "09"


def test_an_expired_form_no_longer_waits_in_the_inbox(channel, buyer_channel, blue):
    booked(blue)
    form = channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02"))
    clock.advance(hours=73)
    assert buyer_channel.red_form_list_inbound() == ()
    assert [f.form_no for f in buyer_channel.red_form_list_inbound(status="07")] == [form.form_no]
