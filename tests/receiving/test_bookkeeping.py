"""入账 / 取消入账 of received invoices through the platform (receiving/bookkeeping.py)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from invoicing import roles
from invoicing.channels.base import RedFormRequest
from invoicing.models import Event
from receiving import bookkeeping
from receiving.bookkeeping import Voucher
from receiving.models import BookingSync, PlatformStatus, ReceivedInvoice, UseState
from sandbox.models import LedgerInvoice
from tests.factories import UserFactory
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

VOUCHER = Voucher(voucher_no="记-2026-12-0031", booked_on=date(2026, 12, 6), account_code="6602.01",
                  cost_centre="研发中心")


@pytest.fixture
def supplier(yuntu):
    return connect(yuntu)


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def held(supplier, entity, fiona):
    return supplied_invoice(supplier, entity, actor=fiona)


def ledger(record):
    return LedgerInvoice.objects.get(number=record.number)


def test_booking_goes_to_the_platform_and_the_sellers_red_letter_rule_sees_it(held, supplier, entity, fiona):
    assert not ledger(held).buyer_booked
    booked = bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona,
                                               channel=channel_of(entity))
    assert booked.use_state == UseState.BOOKED and booked.platform_booked
    assert booked.booking_sync == BookingSync.NONE and booked.booking_request_no.startswith("RZ")
    assert (booked.voucher_no, booked.booked_on, booked.account_code, booked.cost_centre, booked.booked_by) == (
        "记-2026-12-0031", date(2026, 12, 6), "6602.01", "研发中心", fiona)
    assert ledger(held).buyer_booked
    # the seller's side: the platform says the buyer has booked, so a red-letter form needs the buyer's confirmation
    seller = channel_of(supplier)
    assert seller.query_issue(held.serial_for_tests).buyer_status.confirmed
    form = seller.red_form_apply(RedFormRequest("HZ-SEEN-1", held.number, "01"))
    assert form.status == "02" and not form.red_invoice_number
    actions = list(Event.objects.filter(object_id=str(held.pk), action__in=("book_request", "book"))
                   .values_list("action", flat=True).order_by("id"))
    assert actions == ["book_request", "book"]


def test_unbooking_lifts_the_flag_and_clears_the_voucher(held, entity, fiona):
    ch = channel_of(entity)
    bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona, channel=ch)
    after = bookkeeping.received_invoice_unbook(record=held, actor=fiona, reason="凭证作废", channel=ch)
    assert after.use_state == UseState.IN_POOL and not after.platform_booked
    assert (after.voucher_no, after.booked_on, after.booked_by) == ("", None, None)
    assert not ledger(held).buyer_booked
    event = Event.objects.filter(object_id=str(held.pk), action="unbook").get()
    assert event.data["voucher"]["voucher_no"] == "记-2026-12-0031"
    with pytest.raises(ValidationError, match="未入账"):
        bookkeeping.received_invoice_unbook(record=held, actor=fiona, channel=ch)


@pytest.mark.parametrize("fault", ["error", "timeout_before", "rate_limit", "session"])
def test_platform_unavailable_stays_pending_and_the_retry_books_it(held, entity, fiona, fault):
    pending = bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona,
                                                channel=channel_of(entity, fault))
    assert pending.booking_sync == BookingSync.BOOK_PENDING and pending.use_state == UseState.IN_POOL
    assert pending.booking_attempts == 1 and "自动重试" in pending.booking_error
    request_no = pending.booking_request_no
    with pytest.raises(ValidationError, match="等待平台确认"):  # no second request while one is pending
        bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona, channel=channel_of(entity))
    counts = bookkeeping.booking_retry_pending(channel=channel_of(entity))
    assert counts == {"sent": 1, "done": 1, "pending": 0, "rejected": 0}
    done = ReceivedInvoice.objects.get(pk=held.pk)
    assert done.use_state == UseState.BOOKED and done.booking_request_no == request_no and ledger(held).buyer_booked


def test_processed_but_unanswered_is_retried_with_the_same_request_and_booked_once(held, entity, fiona):
    pending = bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona,
                                                channel=channel_of(entity, "timeout_after"))
    assert pending.booking_sync == BookingSync.BOOK_PENDING and ledger(held).buyer_booked  # done, never told
    bookkeeping.booking_retry_pending(channel=channel_of(entity))
    assert ReceivedInvoice.objects.get(pk=held.pk).use_state == UseState.BOOKED
    assert Event.objects.filter(object_id=str(held.pk), action="book").count() == 1


def test_the_platform_refuses_and_its_message_is_shown(held, supplier, entity, fiona):
    # the seller red-flushed the whole invoice before we knew: the platform refuses to book it
    channel_of(supplier).red_form_apply(RedFormRequest("HZ-GONE-1", held.number, "01"))
    refused = bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona, channel=channel_of(entity))
    assert refused.booking_sync == BookingSync.REJECTED and refused.use_state == UseState.IN_POOL
    assert "3601" in refused.booking_error and "红冲" in refused.booking_error
    assert Event.objects.filter(object_id=str(held.pk), action="book_rejected").count() == 1


@pytest.mark.parametrize("change, words", [
    ({"review_state": "review"}, "待复核"),
    ({"platform_status": PlatformStatus.VOIDED}, "作废"),
    ({"platform_status": PlatformStatus.RED_FULL}, "全额红冲"),
])
def test_an_unusable_invoice_is_refused_before_the_platform_is_asked(held, entity, fiona, change, words):
    ReceivedInvoice.objects.filter(pk=held.pk).update(**change)
    with pytest.raises(ValidationError, match=words):
        bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=fiona, channel=channel_of(entity))
    assert not ledger(held).buyer_booked


def test_a_voucher_number_and_date_are_required(held, entity, fiona):
    with pytest.raises(ValidationError) as exc:
        bookkeeping.received_invoice_book(record=held, voucher=Voucher(voucher_no=" ", booked_on=None),
                                          actor=fiona, channel=channel_of(entity))
    assert set(exc.value.message_dict) == {"voucher_no", "booked_on"}


def test_customer_service_and_other_entities_may_not_book(held, entity, sam, yuntu):
    with pytest.raises(PermissionDenied):
        bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=sam, channel=channel_of(entity))
    elsewhere = UserFactory(username="yuri", role=roles.FINANCE, entities=[yuntu])
    with pytest.raises(PermissionDenied):
        bookkeeping.received_invoice_book(record=held, voucher=VOUCHER, actor=elsewhere, channel=channel_of(entity))
    assert ReceivedInvoice.objects.get(pk=held.pk).booking_sync == ""


def test_bulk_booking_counts_what_was_booked_and_says_why_the_rest_was_not(supplier, entity, fiona):
    records = [supplied_invoice(supplier, entity, actor=fiona) for _ in range(3)]
    ReceivedInvoice.objects.filter(pk=records[2].pk).update(review_state="review")
    report = bookkeeping.received_invoices_book(records=ReceivedInvoice.objects.filter(pk__in=[r.pk for r in records]),
                                                voucher=VOUCHER, actor=fiona, channel=channel_of(entity))
    assert (report.done, report.pending, len(report.refused)) == (2, 0, 1)
    assert records[2].number in report.refused[0]
    unbooked = bookkeeping.received_invoices_unbook(records=ReceivedInvoice.objects.all(), actor=fiona,
                                                    channel=channel_of(entity))
    assert (unbooked.done, len(unbooked.refused)) == (2, 1)
