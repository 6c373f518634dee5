"""The channel contract, one suite for every provider: each test runs against the sandbox client (in process) and
against the Nuonuo client talking to the fake Nuonuo server over HTTP.

A new provider adds a ``Provider`` builder to ``PROVIDERS``: its seller and buyer channels, and the platform-side
hooks the suite needs (let pending work finish, force a fault on the next call, mark an invoice as used by the buyer,
count what the platform holds under a serial). The assertions are the contract's (base.py), never a provider's own
codes: a refusal is ``ChannelRejected`` with whatever code and message the platform gave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from invoicing.channels.base import (
    BookingRequest,
    Capability,
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    DeductionSelectRequest,
    IssueResult,
    Party,
    RedFormLine,
    RedFormRequest,
    TaxChannel,
    VerifyRequest,
)
from invoicing.models import Taxpayer
from tests.channels.conftest import issue_request


@dataclass
class Provider:
    name: str
    seller: Taxpayer
    channel: TaxChannel
    buyer_channel: TaxChannel
    settle: Callable[[], None]  # the platform's clock moves on: pending requests complete
    delay: Callable[[int], None]  # from now on, issue requests complete this many seconds after they arrive
    faulty: Callable[[str], TaxChannel]  # the seller's channel, whose next call gets this fault
    book: Callable[[str], None]  # the buyer has used (booked) this invoice
    count: Callable[[str], int]  # invoices the platform holds under this serial


def sandbox_provider(request: pytest.FixtureRequest) -> Provider:
    from sandbox import clock
    from sandbox import services as sandbox
    from sandbox.models import LedgerInvoice, SandboxAccount

    seller = request.getfixturevalue("seller")
    channel = request.getfixturevalue("channel")
    return Provider(
        name="sandbox", seller=seller, channel=channel, buyer_channel=request.getfixturevalue("buyer_channel"),
        settle=lambda: clock.advance(seconds=3600),
        delay=lambda seconds: SandboxAccount.objects.filter(credit_code=seller.credit_code).update(
            issue_delay_seconds=seconds),
        faulty=channel.with_fault,
        book=lambda number: sandbox.invoice_mark_booked(number=number),
        count=lambda serial: LedgerInvoice.objects.filter(serial=serial).count(),
    )


def nuonuo_provider(request: pytest.FixtureRequest) -> Provider:
    fake = request.getfixturevalue("fake_nuonuo")
    seller = request.getfixturevalue("nn_seller")
    channel = request.getfixturevalue("nn_channel")

    def faulty(kind: str) -> TaxChannel:
        fake.force(kind)
        return channel

    def delay(seconds: int) -> None:
        fake.issue_delay = timedelta(seconds=seconds)

    return Provider(
        name="nuonuo", seller=seller, channel=channel, buyer_channel=request.getfixturevalue("nn_buyer_channel"),
        settle=lambda: fake.advance(seconds=3600), delay=delay, faulty=faulty, book=fake.mark_booked,
        count=lambda serial: fake.count(seller.credit_code, serial),
    )


PROVIDERS = {"sandbox": sandbox_provider, "nuonuo": nuonuo_provider}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest, db: None) -> Provider:
    # ``db`` by name: pytest-django sets the test database up only for tests that ask for it statically.
    return PROVIDERS[request.param](request)


def settled(provider: Provider, serial: str) -> IssueResult:
    provider.settle()
    return provider.channel.query_issue(serial)


def blue_invoice(provider: Provider, **kw: object) -> IssueResult:
    """An issued invoice: line 1 1000.00 + 60.00, line 2 500.00 + 30.00 (专票 unless ``kind`` says otherwise)."""
    request = issue_request(provider.seller, **kw)
    provider.channel.issue_invoice(request)
    result = settled(provider, request.serial)
    assert result.status == "issued"
    return result


# --- issue ---------------------------------------------------------------------------------------------------------


def test_an_issue_request_is_answered_then_issued_under_its_serial(provider):
    provider.delay(30)
    request = issue_request(provider.seller)
    accepted = provider.channel.issue_invoice(request)
    assert accepted.serial == request.serial and accepted.status == "pending" and not accepted.invoice_number
    assert provider.channel.query_issue(request.serial).status == "pending"

    done = settled(provider, request.serial)
    assert done.serial == request.serial and done.status == "issued"
    assert len(done.invoice_number) == 20 and done.invoice_number.isdigit()
    assert done.issued_at is not None and done.invoice_status == "01" and not done.is_red
    assert (done.total_amount, done.total_tax, done.total_with_tax) == (Decimal("1500.00"), Decimal("90.00"),
                                                                        Decimal("1590.00"))
    assert [(x.amount, x.tax) for x in done.lines] == [(Decimal("1000.00"), Decimal("60.00")),
                                                       (Decimal("500.00"), Decimal("30.00"))]
    assert provider.count(request.serial) == 1


def test_the_same_serial_again_is_a_duplicate_and_still_one_invoice(provider):
    request = issue_request(provider.seller)
    provider.channel.issue_invoice(request)
    with pytest.raises(ChannelDuplicate) as exc:
        provider.channel.issue_invoice(request)
    assert exc.value.serial == request.serial
    assert settled(provider, request.serial).status == "issued"
    assert provider.count(request.serial) == 1


def test_a_time_out_after_processing_then_the_retry_with_the_same_serial_make_one_invoice(provider):
    request = issue_request(provider.seller)
    with pytest.raises(ChannelUnavailable) as exc:
        provider.faulty("timeout_after").issue_invoice(request)
    assert exc.value.kind == "timeout"
    assert provider.count(request.serial) == 1  # processed before the answer was lost

    with pytest.raises(ChannelDuplicate):  # the retry: the platform knows the serial
        provider.channel.issue_invoice(request)
    done = settled(provider, request.serial)
    assert done.status == "issued" and provider.count(request.serial) == 1


def test_a_time_out_before_processing_leaves_nothing_and_the_retry_issues(provider):
    request = issue_request(provider.seller)
    with pytest.raises(ChannelUnavailable) as exc:
        provider.faulty("timeout_before").issue_invoice(request)
    assert exc.value.kind == "timeout"
    assert provider.count(request.serial) == 0
    with pytest.raises(ChannelRejected) as missing:
        provider.channel.query_issue(request.serial)
    assert missing.value.code == "4004"

    provider.channel.issue_invoice(request)
    assert settled(provider, request.serial).status == "issued"
    assert provider.count(request.serial) == 1


def test_a_duplicate_reply_to_a_first_submission_means_fetch_it(provider):
    request = issue_request(provider.seller)
    with pytest.raises(ChannelDuplicate):
        provider.faulty("duplicate").issue_invoice(request)
    assert settled(provider, request.serial).status == "issued"
    assert provider.count(request.serial) == 1


@pytest.mark.parametrize(("fault", "kind"), [("error", "server"), ("rate_limit", "rate_limited"),
                                             ("session", "session")])
def test_server_errors_rate_limits_and_lost_sessions_are_unavailable_and_nothing_is_issued(provider, fault, kind):
    request = issue_request(provider.seller)
    with pytest.raises(ChannelUnavailable) as exc:
        provider.faulty(fault).issue_invoice(request)
    assert exc.value.kind == kind
    assert provider.count(request.serial) == 0
    provider.channel.issue_invoice(request)  # the next call is clean
    assert settled(provider, request.serial).status == "issued"


@pytest.mark.parametrize(
    "change",
    [{"kind": "81", "buyer": Party("个人买家")}, {"kind": "85", "buyer": Party("个人买家")}],
    ids=["special-without-buyer-tax-id", "paper-special-without-buyer-tax-id"],
)
def test_a_business_refusal_is_rejected_with_the_platforms_code_and_message(provider, change):
    request = issue_request(provider.seller, **change)
    with pytest.raises(ChannelRejected) as exc:
        provider.channel.issue_invoice(request)
    assert exc.value.code and exc.value.message
    assert provider.count(request.serial) == 0


def test_an_unknown_serial_is_not_found(provider):
    with pytest.raises(ChannelRejected) as exc:
        provider.channel.query_issue("NEVER-SENT-1")
    assert exc.value.code == "4004"


@pytest.mark.parametrize(("fault", "kind"), [(None, None), ("error", "server"), ("session", "session")])
def test_the_connection_check_proves_the_credentials_or_names_the_failure(provider, fault, kind):
    provider.channel.check_connection()  # a first call (a provider's token) before any forced fault
    if fault is None:
        assert provider.channel.check_connection() == "ok"
    else:
        with pytest.raises(ChannelUnavailable) as exc:
            provider.faulty(fault).check_connection()
        assert exc.value.kind == kind


# --- red-letter forms ----------------------------------------------------------------------------------------------


def test_full_red_before_the_buyer_used_the_invoice_needs_no_confirmation(provider):
    blue = blue_invoice(provider)
    form = provider.channel.red_form_apply(RedFormRequest("HZ-FULL-1", blue.invoice_number, "01"))
    assert form.status == "01" and form.is_full and form.initiator == "seller"
    assert form.blue_number == blue.invoice_number and len(form.form_no) == 20
    assert (form.total_amount, form.total_tax) == (Decimal("-1500.00"), Decimal("-90.00"))
    assert form.red_invoice_serial and form.red_invoice_number
    assert provider.channel.red_form_query(form.form_no).form_no == form.form_no

    red = provider.channel.query_issue(form.red_invoice_serial)
    assert red.status == "issued" and red.is_red and red.invoice_number == form.red_invoice_number
    assert red.blue_number == blue.invoice_number
    assert sorted(x.amount for x in red.lines) == [Decimal("-1000.00"), Decimal("-500.00")]
    assert red.total_with_tax == Decimal("-1590.00")


def test_a_form_applied_again_with_the_same_request_number_is_the_same_form(provider):
    blue = blue_invoice(provider)
    first = provider.channel.red_form_apply(RedFormRequest("HZ-AGAIN-1", blue.invoice_number, "01"))
    again = provider.channel.red_form_apply(RedFormRequest("HZ-AGAIN-1", blue.invoice_number, "01"))
    assert again.form_no == first.form_no


def test_partial_red_after_the_buyer_used_the_invoice_waits_for_the_buyers_confirmation(provider):
    blue = blue_invoice(provider)
    provider.book(blue.invoice_number)
    form = provider.channel.red_form_apply(RedFormRequest("HZ-PART-1", blue.invoice_number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal("-100.00"), tax=Decimal("-6.00")),
    )))
    assert form.status == "02" and not form.is_full and not form.red_invoice_number
    assert (form.total_amount, form.total_tax) == (Decimal("-100.00"), Decimal("-6.00"))
    assert form.expires_at is not None and form.expires_at - form.created_at == timedelta(hours=72)
    assert [f.form_no for f in provider.buyer_channel.red_form_list_inbound()] == [form.form_no]
    assert provider.channel.red_form_list_inbound() == ()

    done = provider.buyer_channel.red_form_confirm(form.form_no)
    assert done.status == "04"
    mine = provider.channel.red_form_query(form.form_no)
    assert mine.status == "04" and mine.red_invoice_serial
    red = provider.channel.query_issue(mine.red_invoice_serial)
    assert red.is_red and (red.total_amount, red.total_tax) == (Decimal("-100.00"), Decimal("-6.00"))

    with pytest.raises(ChannelRejected):  # more than is left on line 2
        provider.channel.red_form_apply(RedFormRequest("HZ-PART-2", blue.invoice_number, "04", lines=(
            RedFormLine(blue_line_no=2, amount=Decimal("-400.01"), tax=Decimal("-24.00")),
        )))


def test_partial_red_of_an_invoice_the_buyer_has_not_used_is_refused(provider):
    blue = blue_invoice(provider)
    with pytest.raises(ChannelRejected):
        provider.channel.red_form_apply(RedFormRequest("HZ-NOUSE-1", blue.invoice_number, "02", lines=(
            RedFormLine(blue_line_no=1, amount=Decimal("-500.00"), tax=Decimal("-30.00")),
        )))


def test_the_buyer_refuses_and_the_seller_revokes(provider):
    blue = blue_invoice(provider)
    provider.book(blue.invoice_number)
    form = provider.channel.red_form_apply(RedFormRequest("HZ-NO-1", blue.invoice_number, "02"))
    assert provider.buyer_channel.red_form_reject(form.form_no).status == "05"
    again = provider.channel.red_form_apply(RedFormRequest("HZ-NO-2", blue.invoice_number, "02"))
    assert again.status == "02"
    assert provider.channel.red_form_revoke(again.form_no).status == "08"


def test_a_waiting_form_expires_after_72_hours(provider):
    blue = blue_invoice(provider)
    provider.book(blue.invoice_number)
    form = provider.channel.red_form_apply(RedFormRequest("HZ-EXP-1", blue.invoice_number, "02"))
    provider.settle()  # an hour
    assert provider.channel.red_form_query(form.form_no).status == "02"
    for _ in range(72):
        provider.settle()
    assert provider.channel.red_form_query(form.form_no).status == "07"
    with pytest.raises(ChannelRejected):
        provider.buyer_channel.red_form_confirm(form.form_no)


def test_the_red_invoice_of_a_paper_invoice_is_issued_by_hand_under_its_form(provider):
    paper = blue_invoice(provider, kind="86")
    form = provider.channel.red_form_apply(RedFormRequest("HZ-PAPER-1", paper.invoice_number, "01"))
    assert form.status == "01" and not form.red_invoice_number  # 纸票: the platform does not issue it
    red_lines = tuple(replace(x, amount=-x.amount, tax=-x.tax,
                              quantity=-x.quantity if x.quantity is not None else None) for x in paper.lines)
    request = issue_request(provider.seller, kind="86", serial="HZ-PAPER-1-H", is_red=True,
                            blue_number=paper.invoice_number, red_form_no=form.form_no, lines=red_lines)
    provider.channel.issue_invoice(request)
    red = settled(provider, request.serial)
    assert red.status == "issued" and red.is_red and red.total_with_tax == Decimal("-1590.00")
    assert provider.channel.red_form_query(form.form_no).red_invoice_number == red.invoice_number
    with pytest.raises((ChannelRejected, ChannelDuplicate)):  # one red invoice per form
        provider.channel.issue_invoice(replace(request, serial="HZ-PAPER-1-H2"))


# --- void ----------------------------------------------------------------------------------------------------------


def test_a_paper_invoice_can_be_voided_and_an_electronic_one_cannot(provider):
    paper = blue_invoice(provider, kind="86")
    voided = provider.channel.void_paper(paper.invoice_number)
    assert (voided.invoice_number, voided.invoice_status) == (paper.invoice_number, "02")
    electronic = blue_invoice(provider, kind="82")
    with pytest.raises(ChannelRejected):
        provider.channel.void_paper(electronic.invoice_number)


# --- capabilities --------------------------------------------------------------------------------------------------


def test_booking_by_the_buyer_needs_confirmation_for_a_red_form_and_unbooking_lifts_it(provider):
    if not provider.buyer_channel.supports(Capability.BOOKING):
        with pytest.raises(ChannelUnsupported):
            provider.buyer_channel.received_book(BookingRequest("RZ-NS-1", "0" * 20))
        return
    blue = blue_invoice(provider)
    booked = provider.buyer_channel.received_book(BookingRequest("RZ-1", blue.invoice_number, voucher_no="记-1"))
    assert booked.booked and booked.number == blue.invoice_number
    assert provider.buyer_channel.received_book(BookingRequest("RZ-1", blue.invoice_number)).booked  # a repeat
    assert provider.channel.query_issue(blue.serial).buyer_status.booked
    with pytest.raises(ChannelRejected):  # only the buyer books
        provider.channel.received_book(BookingRequest("RZ-2", blue.invoice_number))
    unbooked = provider.buyer_channel.received_book(BookingRequest("RZ-3", blue.invoice_number, booked=False))
    assert not unbooked.booked
    assert not provider.channel.query_issue(blue.serial).buyer_status.booked
    # booked again: the seller's full red waits for the buyer (02) instead of being issued at once (01)
    provider.buyer_channel.received_book(BookingRequest("RZ-4", blue.invoice_number))
    form = provider.channel.red_form_apply(RedFormRequest("HZ-BOOKED-1", blue.invoice_number, "01"))
    assert form.status == "02"
    provider.buyer_channel.red_form_confirm(form.form_no)
    provider.buyer_channel.received_book(BookingRequest("RZ-5", blue.invoice_number, booked=False))
    with pytest.raises(ChannelRejected):  # fully red-flushed: cannot be booked any more
        provider.buyer_channel.received_book(BookingRequest("RZ-6", blue.invoice_number))


def _exercise(provider: Provider, capability: Capability, blue: IssueResult) -> object:
    channel = provider.channel
    today = timezone.localdate()
    calls: dict[Capability, Callable[[], object]] = {
        Capability.ISSUE: lambda: channel.issue_invoice(issue_request(provider.seller)),
        Capability.QUERY_ISSUE: lambda: channel.query_issue(blue.serial),
        Capability.LIST_ISSUED: lambda: channel.list_issued(day=today),
        Capability.RED_FORM: lambda: channel.red_form_list_inbound(),
        Capability.VOID_PAPER: lambda: channel.void_paper(blue_invoice(provider, kind="86").invoice_number),
        Capability.QUOTA: lambda: channel.get_quota(),
        Capability.FILES: lambda: channel.download_files(blue.invoice_number, ("pdf",)),
        Capability.VERIFY: lambda: channel.verify_invoice(VerifyRequest(
            kind="82", number=blue.invoice_number, issue_date=today, amount=Decimal("1590.00"))),
        Capability.RECEIVED: lambda: channel.list_received(date_from=today - timedelta(days=1), date_to=today),
        Capability.DEDUCTION: lambda: channel.deduction_select(DeductionSelectRequest(period=f"{today:%Y%m}",
                                                                                      items=())),
        Capability.BUYER_STATUS: lambda: channel.query_issue(blue.serial).buyer_status,
        Capability.BOOKING: lambda: provider.buyer_channel.received_book(BookingRequest("RZ-CAP-1",
                                                                                        blue.invoice_number)),
    }
    return calls[capability]()


@pytest.mark.parametrize("capability", list(Capability), ids=[c.value for c in Capability])
def test_each_capability_is_either_offered_or_raises_unsupported(provider, capability):
    blue = blue_invoice(provider)
    if provider.channel.supports(capability):
        try:
            answer = _exercise(provider, capability, blue)
        except ChannelRejected:
            answer = "refused"  # a platform may refuse this request: the operation itself exists
        if capability == Capability.BUYER_STATUS:
            assert answer is not None
    elif capability == Capability.BUYER_STATUS:
        assert _exercise(provider, capability, blue) is None  # the channel cannot tell
    else:
        with pytest.raises(ChannelUnsupported):
            _exercise(provider, capability, blue)


def test_files_and_quota_where_offered(provider):
    blue = blue_invoice(provider)
    if provider.channel.supports(Capability.FILES):
        bundle = provider.channel.download_files(blue.invoice_number, ("pdf",))
        assert bundle.invoice_number == blue.invoice_number
        assert (bundle.get("pdf") or b"").startswith(b"%PDF") and bundle.missing == ()
    if provider.channel.supports(Capability.QUOTA):
        quota = provider.channel.get_quota()
        assert quota.credit_code == provider.seller.credit_code
        assert quota.used >= Decimal("1500.00") and quota.remaining == quota.total - quota.used
        assert quota.period == f"{timezone.localdate():%Y-%m}"  # the current month, China time


def test_the_deduction_statistics_query_reads_the_period_where_offered(provider):
    period = f"{timezone.localdate():%Y%m}"
    channel = provider.buyer_channel
    if not channel.supports(Capability.DEDUCTION):
        with pytest.raises(ChannelUnsupported):
            channel.deduction_statistics_query(period)
        return
    assert channel.deduction_statistics_query(period).status == "none"
    applied = channel.deduction_statistics_apply(period)
    assert channel.deduction_statistics_query(period) == applied  # a read: what the apply answered, unchanged
    assert channel.deduction_statistics_query(period) == applied
