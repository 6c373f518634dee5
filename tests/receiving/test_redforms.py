"""红字确认单 against invoices in the pool: the supplier's forms in our queue, and forms we raise as the buyer."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from invoicing.channels.base import RedFormLine, RedFormRequest
from invoicing.models import Event
from receiving import bookkeeping, claims, redforms
from receiving.bookkeeping import Voucher
from receiving.claims import LineInput
from receiving.models import PlatformStatus, ReceivedInvoice, ReceivedRedForm, ReceivedRedFormState
from receiving.redforms import RedLineChoice
from sandbox import clock
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

S = ReceivedRedFormState


@pytest.fixture
def supplier(yuntu):
    return connect(yuntu)


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def held(supplier, entity, fiona):
    """1000.00 + 60.00 and 500.00 + 30.00: 1,590.00 in all."""
    return supplied_invoice(supplier, entity, actor=fiona)


@pytest.fixture
def booked(held, entity, fiona):
    return bookkeeping.received_invoice_book(record=held, voucher=Voucher("记-1", date(2026, 12, 6)), actor=fiona,
                                             channel=channel_of(entity))


def pull(entity):
    return redforms.received_red_forms_pull(taxpayer=entity, channel=channel_of(entity))


def supplier_partial(supplier, record, amount="-100.00", tax="-6.00", request_no="HZ-S-1"):
    return channel_of(supplier).red_form_apply(RedFormRequest(request_no, record.number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal(amount), tax=Decimal(tax)),)))


def test_a_suppliers_form_appears_in_the_queue_with_its_countdown_and_confirming_red_flushes_the_record(
        booked, supplier, entity, fiona):
    remote = supplier_partial(supplier, booked)
    assert remote.status == "02"
    report = pull(entity)
    assert (report.created, report.seen) == (1, 1)
    form = ReceivedRedForm.objects.get()
    assert (form.status, form.initiator, form.form_no, form.invoice_id) == ("02", "seller", remote.form_no, booked.pk)
    assert (form.amount, form.tax, form.is_full) == (Decimal("-100.00"), Decimal("-6.00"), False)
    assert [(x.blue_line_no, x.amount) for x in form.lines.all()] == [(2, Decimal("-100.00"))]
    assert form.expires_at == remote.expires_at and form.is_waiting_for_us
    left = redforms.countdown(form, now=remote.created_at + timedelta(hours=1))
    assert left == 71 * 3600
    assert pull(entity).created == 0  # pulled again: still one form

    done = redforms.received_red_form_confirm(form=form, actor=fiona, channel=channel_of(entity))
    assert done.status == S.CONFIRMED and done.red_invoice_number and done.applied
    record = ReceivedInvoice.objects.get(pk=booked.pk)
    assert record.platform_status == PlatformStatus.RED_PARTIAL and record.platform_status_code == "04"
    assert (record.red_amount, record.red_tax) == (Decimal("100.00"), Decimal("6.00"))
    assert (record.remaining_amount, record.remaining_tax, record.remaining_total) == (
        Decimal("1400.00"), Decimal("84.00"), Decimal("1484.00"))
    assert record.red_attention  # booked before the red invoice: the voucher must be adjusted
    actions = set(Event.objects.filter(object_id=str(record.pk)).values_list("action", flat=True))
    assert {"received_red_flushed", "received_red_attention"} <= actions
    assert Event.objects.filter(object_id=str(form.pk), action="received_red_form_confirm").exists()
    # applied once, however often the platform is asked again
    pull(entity)
    assert ReceivedInvoice.objects.get(pk=booked.pk).red_amount == Decimal("100.00")


def test_rejecting_a_suppliers_form_leaves_the_record_alone(booked, supplier, entity, fiona):
    supplier_partial(supplier, booked)
    pull(entity)
    form = redforms.received_red_form_reject(form=ReceivedRedForm.objects.get(), actor=fiona,
                                             channel=channel_of(entity))
    assert form.status == S.VOID_BUYER_DENIED and not form.applied
    record = ReceivedInvoice.objects.get(pk=booked.pk)
    assert record.platform_status == "" and record.red_amount == 0 and not record.red_attention
    with pytest.raises(ValidationError, match="不能确认或拒绝"):
        redforms.received_red_form_confirm(form=form, actor=fiona, channel=channel_of(entity))


def test_past_72_hours_the_platform_voids_the_form_and_it_can_no_longer_be_confirmed(booked, supplier, entity, fiona):
    supplier_partial(supplier, booked)
    pull(entity)
    form = ReceivedRedForm.objects.get()
    clock.advance(hours=73)
    with pytest.raises(ValidationError, match="平台拒绝"):
        redforms.received_red_form_confirm(form=form, actor=fiona, channel=channel_of(entity))
    form = ReceivedRedForm.objects.get(pk=form.pk)
    assert form.status == S.VOID_EXPIRED and redforms.countdown(form) is None
    assert ReceivedInvoice.objects.get(pk=booked.pk).red_amount == 0


def test_the_pull_records_the_expiry_too(booked, supplier, entity):
    supplier_partial(supplier, booked)
    pull(entity)
    clock.advance(hours=73)
    assert pull(entity).updated == 1
    assert ReceivedRedForm.objects.get().status == S.VOID_EXPIRED


def test_a_full_red_of_an_unbooked_invoice_is_issued_at_once_and_the_pull_records_it(held, supplier, entity):
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-FULL-1", held.number, "01"))
    report = pull(entity)
    assert report.created == 1
    form = ReceivedRedForm.objects.get()
    assert form.status == S.NO_CONFIRMATION and form.applied and form.is_full
    record = ReceivedInvoice.objects.get(pk=held.pk)
    assert record.platform_status == PlatformStatus.RED_FULL and record.remaining_total == Decimal("0.00")
    assert not record.red_attention  # never booked: nothing to undo
    with pytest.raises(ValidationError, match="全额红冲"):
        bookkeeping.received_invoice_book(record=record, voucher=Voucher("记-2", date(2026, 12, 6)), actor=None)


def test_forms_against_invoices_not_in_the_pool_are_skipped(supplier, entity, fiona, held):
    other = supplied_invoice(supplier, entity, actor=fiona)
    ReceivedInvoice.objects.filter(pk=other.pk).update(number="26442000000099999999")
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-NOT-1", other.number, "01"))
    report = pull(entity)
    assert report.created == 0 and report.skipped


def test_as_the_buyer_we_raise_a_full_form_and_the_seller_confirms(booked, supplier, entity, fiona):
    form = redforms.received_red_form_request(record=booked, reason="02", actor=fiona, channel=channel_of(entity))
    assert form.status == S.BUYER_ENTERED and form.form_no and form.initiator == "buyer" and form.is_full
    assert (form.amount, form.tax) == (Decimal("-1500.00"), Decimal("-90.00"))
    with pytest.raises(ValidationError, match="未完成"):
        redforms.received_red_form_request(record=booked, reason="02", actor=fiona, channel=channel_of(entity))
    with pytest.raises(ValidationError, match="不能确认或拒绝"):  # the seller decides, not us
        redforms.received_red_form_confirm(form=form, actor=fiona, channel=channel_of(entity))
    channel_of(supplier).red_form_confirm(form.form_no)
    pull(entity)
    form = ReceivedRedForm.objects.get(pk=form.pk)
    assert form.status == S.CONFIRMED and form.applied
    record = ReceivedInvoice.objects.get(pk=booked.pk)
    assert record.platform_status == PlatformStatus.RED_FULL and record.remaining_total == 0 and record.red_attention


def test_as_the_buyer_we_raise_a_partial_form_by_lines(booked, supplier, entity, fiona):
    form = redforms.received_red_form_request(record=booked, reason="04", actor=fiona, channel=channel_of(entity),
                                              lines=[RedLineChoice(line_no=2, amount=Decimal("200"))])
    assert form.status == S.BUYER_ENTERED and not form.is_full
    assert [(x.blue_line_no, x.amount, x.tax) for x in form.lines.all()] == [(2, Decimal("-200.00"),
                                                                             Decimal("-12.00"))]
    channel_of(supplier).red_form_confirm(form.form_no)
    pull(entity)
    record = ReceivedInvoice.objects.get(pk=booked.pk)
    assert record.platform_status == PlatformStatus.RED_PARTIAL
    assert (record.red_amount, record.red_tax, record.remaining_total) == (
        Decimal("200.00"), Decimal("12.00"), Decimal("1378.00"))
    with pytest.raises(ValidationError, match="可冲金额 300.00"):
        redforms.received_red_form_request(record=record, reason="04", actor=fiona, channel=channel_of(entity),
                                           lines=[RedLineChoice(line_no=2, amount=Decimal("300.01"))])
    with pytest.raises(ValidationError, match="部分红冲"):
        redforms.received_red_form_request(record=record, reason="04", actor=fiona, channel=channel_of(entity))


def test_the_buyer_may_not_raise_a_form_before_booking_and_customer_service_never(held, entity, fiona, sam):
    with pytest.raises(ValidationError, match="应由销方发起"):
        redforms.received_red_form_request(record=held, reason="02", actor=fiona, channel=channel_of(entity))
    with pytest.raises(PermissionDenied):
        redforms.received_red_form_request(record=held, reason="02", actor=sam, channel=channel_of(entity))
    assert not ReceivedRedForm.objects.exists()


def test_a_form_the_platform_did_not_answer_is_sent_again_by_the_pull(booked, entity, fiona):
    form = redforms.received_red_form_request(record=booked, reason="02", actor=fiona,
                                              channel=channel_of(entity, "error"))
    assert form.status == S.SUBMITTING and not form.form_no
    assert pull(entity).sent == 1
    form = ReceivedRedForm.objects.get(pk=form.pk)
    assert form.status == S.BUYER_ENTERED and form.form_no


def test_a_refused_form_is_marked_with_the_platforms_message(booked, supplier, entity, fiona):
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-FIRST", booked.number, "02"))  # the platform's open form
    form = redforms.received_red_form_request(record=booked, reason="02", actor=fiona, channel=channel_of(entity))
    assert form.status == S.SUBMIT_FAILED and "3305" in form.last_error


def test_the_periodic_tasks_pull_forms_and_retry_bookings_for_every_entity(held, supplier, entity, fiona, settings):
    from receiving import tasks

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    pending = bookkeeping.received_invoice_book(record=held, voucher=Voucher("记-T", date(2026, 12, 6)), actor=fiona,
                                                channel=channel_of(entity, "error"))
    assert pending.booking_sync == "book_pending"
    assert tasks.booking_retry_task() == {"sent": 1, "done": 1, "pending": 0, "rejected": 0}
    supplier_partial(supplier, held)
    assert tasks.red_forms_pull_task()["created"] == 1
    assert ReceivedRedForm.objects.get().status == S.SELLER_ENTERED


def test_a_red_flush_of_an_invoice_a_claim_holds_flags_it_for_attention(held, supplier, entity, fiona):
    """A claim holding part of an invoice is a use although the record stays 在池: its red flush is flagged, and the
    event names the claim; a rejected claim holds nothing."""
    claim = claims.claim_create(taxpayer=entity, claimant_name="张三", title="差旅", actor=fiona,
                                lines=[LineInput(invoice=held, amount=Decimal("300.00"))])
    assert ReceivedInvoice.objects.get(pk=held.pk).use_state == "in_pool"
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-FULL-2", held.number, "01"))
    pull(entity)
    record = ReceivedInvoice.objects.get(pk=held.pk)
    assert record.platform_status == PlatformStatus.RED_FULL and record.red_attention
    event = Event.objects.get(action="received_red_attention", object_id=str(record.pk))
    assert event.data["claims"] == [claim.claim_no]
