"""Every path of a 红字确认单 through domain.md §11.1's states, against the sandbox platform and its clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_fsm import TransitionNotAllowed

from invoicing.channels.base import RedFormLine, RedFormRequest
from issuing.applications.models import ApplicationStatus
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.forms import (
    redletter_confirm,
    redletter_discard,
    redletter_reject,
    redletter_request,
    redletter_revoke,
    redletter_submit,
)
from issuing.redletter.models import RedLetterForm
from issuing.redletter.sync import RESEND_AFTER, apply_remote, redletter_poll, redletter_pull_inbound, redletter_sync
from sandbox import clock
from tests.redletter.conftest import buyer_confirms

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def test_not_used_by_the_buyer_01_issues_the_red_invoice_at_once(blue, fiona, channel, settings):
    inv = blue()
    settings.ISSUING_QUEUE_FILES = 1
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True, channel=channel)
    assert form.status == "01" and form.is_full and len(form.form_no) == 20
    red = form.red_invoice
    assert red is not None and red.is_red and red.blue_invoice_id == inv.pk
    assert (red.amount, red.tax, red.total) == (Decimal("-1500.00"), Decimal("-90.00"), Decimal("-1590.00"))
    assert [(ln.line_no, ln.amount, ln.tax, ln.quantity, ln.blue_line.line_no) for ln in red.lines.order_by("line_no")] == [
        (1, Decimal("-1000.00"), Decimal("-60.00"), Decimal("-10"), 1),
        (2, Decimal("-500.00"), Decimal("-30.00"), Decimal("-5"), 2),
    ]
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL and inv.red_amount_total == Decimal("1590.00")
    assert inv.application.status == S.RED_FLUSHED
    # the red invoice gets its own files, like a blue one
    assert set(red.files.values_list("format", flat=True)) >= {"pdf", "ofd", "xml"}


def test_02_confirmed_by_the_buyer_becomes_04_and_the_red_invoice_is_recorded(blue, fiona, channel, buyer_channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    assert form.status == "02" and form.expires_at is not None and form.red_invoice is None
    inv.application.refresh_from_db()
    assert inv.application.status == S.RED_PENDING
    buyer_confirms(buyer_channel, form)
    form = redletter_sync(form=form, channel=channel)
    assert form.status == "04" and form.confirmed_at and form.red_invoice.total == Decimal("-1590.00")
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL
    assert inv.application.status == S.RED_FLUSHED


def test_02_rejected_by_the_buyer_becomes_05_and_the_application_is_issued_again(blue, fiona, channel, buyer_channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    buyer_channel.red_form_reject(form.form_no)
    form = redletter_sync(form=form, channel=channel)
    assert form.status == "05" and form.red_invoice is None
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL and inv.application.status == S.ISSUED


def test_02_left_unconfirmed_expires_as_07_after_72_sandbox_hours(blue, fiona, channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    clock.advance(hours=71)
    assert redletter_poll(channel=channel).expired == 0
    assert RedLetterForm.objects.get(pk=form.pk).status == "02"
    clock.advance(hours=1)
    report = redletter_poll(channel=channel)
    assert report.expired == 1
    form.refresh_from_db()
    assert form.status == "07" and form.decided_at
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL and inv.application.status == S.ISSUED
    # the blue invoice is free again
    again = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    assert again.status == "02"


def test_we_revoke_our_waiting_form_as_08(blue, fiona, channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    form = redletter_revoke(form=form, actor=fiona, channel=channel)
    assert form.status == "08"
    inv.refresh_from_db()
    assert inv.application.status == S.ISSUED


def test_a_confirmed_paper_form_is_revoked_as_09_before_its_red_invoice(blue, fiona, channel, buyer_channel):
    inv = blue(booked=True, kind="86")
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", channel=channel)
    form = redletter_submit(form=form, actor=fiona, channel=channel)
    buyer_confirms(buyer_channel, form)
    # apply the confirmation without issuing the paper red invoice: query only
    form = apply_remote(form_id=form.pk, remote=channel.red_form_query(form.form_no), channel=_NoIssue(channel))
    assert form.status == "04" and form.red_invoice is None
    form = redletter_revoke(form=form, actor=fiona, channel=channel)
    assert form.status == "09"
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL and inv.application.status == S.ISSUED


class _NoIssue:
    """The channel, except that issuing is unavailable."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def issue_invoice(self, request):
        from invoicing.channels.base import ChannelUnavailable

        raise ChannelUnavailable("down", kind="server")

    def query_issue(self, serial):
        from invoicing.channels.base import ChannelRejected

        raise ChannelRejected("4004", "not found")


def test_a_paper_form_gets_its_red_invoice_issued_by_us(blue, fiona, channel):
    inv = blue(kind="86")
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True, channel=channel)
    assert form.status == "01" and form.red_invoice is not None
    assert form.red_invoice_serial == f"{form.request_no}-H"
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL


def _buyer_raises(buyer_channel, inv, request_no="B1", reason="02", lines=()):
    return buyer_channel.red_form_apply(RedFormRequest(request_no, inv.number, reason, initiator="buyer", lines=lines))


def test_a_buyer_form_03_is_pulled_inbound_and_we_confirm_it_04(blue, seller, fiona, channel, buyer_channel):
    inv = blue(booked=True)
    remote = _buyer_raises(buyer_channel, inv, lines=(
        RedFormLine(blue_line_no=1, amount=Decimal("-200.00"), tax=Decimal("-12.00"), quantity=Decimal("-2")),))
    report = redletter_pull_inbound(taxpayer=seller, channel=channel)
    assert report.created == 1
    form = RedLetterForm.objects.get(form_no=remote.form_no)
    assert form.status == "03" and form.initiator == "buyer" and form.waits_for_us and not form.is_full
    assert form.total == Decimal("-212.00")
    assert redletter_pull_inbound(taxpayer=seller, channel=channel).created == 0  # idempotent
    form = redletter_confirm(form=form, actor=fiona, channel=channel)
    assert form.status == "04" and form.red_invoice.total == Decimal("-212.00")
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_PARTIAL and inv.red_amount_total == Decimal("212.00")
    assert inv.application.status == S.PARTLY_RED


def test_a_buyer_form_03_rejected_by_us_becomes_06(blue, seller, fiona, channel, buyer_channel):
    inv = blue(booked=True)
    remote = _buyer_raises(buyer_channel, inv)
    redletter_pull_inbound(taxpayer=seller, channel=channel)
    form = RedLetterForm.objects.get(form_no=remote.form_no)
    form = redletter_reject(form=form, actor=fiona, channel=channel)
    assert form.status == "06"
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL and inv.application.status == S.ISSUED


def test_customer_service_drafts_but_cannot_submit_or_confirm(blue, sam, fiona, seller, channel, buyer_channel):
    inv = blue(booked=True)
    draft = redletter_request(actor=sam, blue_invoice=inv, reason="01")
    assert draft.status == "draft" and draft.requested_by == sam
    with pytest.raises(PermissionDenied):
        redletter_submit(form=draft, actor=sam, channel=channel)
    with pytest.raises(PermissionDenied):
        redletter_request(actor=sam, blue_invoice=inv, reason="01", submit=True, channel=channel)
    remote = _buyer_raises(buyer_channel, inv, request_no="B9")
    redletter_pull_inbound(taxpayer=seller, channel=channel)
    inbound = RedLetterForm.objects.get(form_no=remote.form_no)
    with pytest.raises(PermissionDenied):
        redletter_confirm(form=inbound, actor=sam, channel=channel)
    assert redletter_reject(form=inbound, actor=fiona, channel=channel).status == "06"
    form = redletter_submit(form=draft, actor=fiona, channel=channel)
    assert form.status == "02"


def test_lily_cannot_touch_yuntus_forms(blue, lily, fiona, channel):
    inv = blue()
    with pytest.raises(PermissionDenied):
        redletter_request(actor=lily, blue_invoice=inv, reason="01")
    draft = redletter_request(actor=fiona, blue_invoice=inv, reason="01")
    with pytest.raises(PermissionDenied):
        redletter_submit(form=draft, actor=lily, channel=channel)
    with pytest.raises(PermissionDenied):
        redletter_discard(form=draft, actor=lily)


def test_platform_unavailable_keeps_submitting_and_the_poller_resends_the_same_request_no(blue, fiona, channel):
    from invoicing.channels.base import ChannelUnavailable

    class Down:
        def __init__(self, inner):
            self.inner, self.calls = inner, []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def red_form_apply(self, request):
            self.calls.append(request.request_no)
            raise ChannelUnavailable("read time-out", kind="timeout")

    inv = blue()
    down = Down(channel)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True, channel=down)
    assert form.status == "submitting" and "重试" in form.last_error
    RedLetterForm.objects.filter(pk=form.pk).update(updated_at=form.updated_at - RESEND_AFTER * 2)
    redletter_poll(channel=channel)
    form.refresh_from_db()
    assert form.status == "01" and form.red_invoice is not None
    assert down.calls == [form.request_no]
    assert Invoice.objects.filter(is_red=True, blue_invoice=inv).count() == 1


def test_a_platform_refusal_is_submit_failed_and_the_application_goes_back(blue, fiona, channel):
    inv = blue()  # not booked: partial red is refused by the platform (3303), but our rules allow reason 02
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", lines=[
        {"blue_line_no": 1, "amount": "100.00"}], submit=True, channel=channel)
    assert form.status == "submit_failed" and "3303" in form.last_error
    inv.refresh_from_db()
    assert inv.application.status == S.ISSUED and inv.status == InvoiceStatus.NORMAL


def test_one_open_form_per_blue_invoice(blue, fiona, channel):
    inv = blue(booked=True)
    redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    with pytest.raises(ValidationError, match="未完成"):
        redletter_request(actor=fiona, blue_invoice=inv, reason="04", lines=[
            {"blue_line_no": 1, "amount": "1.00"}], submit=True, channel=channel)


def test_a_draft_may_be_discarded_but_nothing_else(blue, fiona, sam, channel):
    inv = blue()
    draft = redletter_request(actor=sam, blue_invoice=inv, reason="01")
    redletter_discard(form=draft, actor=sam)
    assert not RedLetterForm.objects.filter(pk=draft.pk).exists()
    sent = redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True, channel=channel)
    with pytest.raises(ValidationError):
        redletter_discard(form=sent, actor=fiona)


# --- the blue invoice's own states ------------------------------------------------------------------------------

IS = InvoiceStatus
INVOICE_MOVES = {  # transition → the states it may start from, and its arguments
    "red_flush": ({IS.NORMAL, IS.RED_PARTIAL}, {"red_total": Decimal("1.00")}),
    "void": ({IS.NORMAL}, {}),
}


@pytest.mark.parametrize("state", list(IS))
@pytest.mark.parametrize("name", list(INVOICE_MOVES))
def test_invoice_transition_matrix(state, name):
    inv = Invoice(status=state, total=Decimal("10.00"), red_amount_total=Decimal("0.00"))
    sources, kwargs = INVOICE_MOVES[name]
    if state in sources:
        getattr(inv, name)(**kwargs)
        assert inv.status == {"red_flush": IS.RED_PARTIAL, "void": IS.VOIDED}[name]
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(inv, name)(**kwargs)
        assert inv.status == state


def test_a_blue_invoice_is_partly_red_until_its_red_invoices_cover_its_total():
    inv = Invoice(status=IS.NORMAL, total=Decimal("10.00"), red_amount_total=Decimal("0.00"))
    inv.red_flush(red_total=Decimal("4.00"))
    assert (inv.status, inv.red_amount_total) == (IS.RED_PARTIAL, Decimal("4.00"))
    inv.red_flush(red_total=Decimal("6.00"))
    assert (inv.status, inv.red_amount_total) == (IS.RED_FULL, Decimal("10.00"))


def test_the_invoice_status_cannot_be_assigned():
    inv = Invoice(status=IS.NORMAL)
    with pytest.raises(AttributeError):
        inv.status = IS.VOIDED


def test_red_flushing_records_the_blue_invoices_move_in_the_audit_trail(blue, fiona, channel, buyer_channel):
    from invoicing.events import events_for

    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", amount_with_tax="530.00",
                                      submit=True, channel=channel)
    buyer_confirms(buyer_channel, form)
    redletter_sync(form=form, channel=channel)
    inv.refresh_from_db()
    assert (inv.status, inv.red_amount_total) == (IS.RED_PARTIAL, Decimal("530.00"))
    [event] = [e for e in events_for(inv) if e.action == "red_flushed"]
    assert (event.from_state, event.to_state, event.data["red_total"]) == (IS.NORMAL, IS.RED_PARTIAL, "530.00")
