"""Each injected fault reaches business code as the right error; a time-out after processing leaves the invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.channels.base import ChannelDuplicate, ChannelUnavailable
from invoicing.models import ChannelCall
from sandbox import faults
from sandbox.models import LedgerInvoice, SandboxAccount
from tests.channels.conftest import issue_request


def _account(taxpayer):
    return SandboxAccount.objects.get(credit_code=taxpayer.credit_code)


@pytest.mark.parametrize(
    ("knob", "kind"),
    [
        ({"error_rate": Decimal(1)}, "server"),
        ({"timeout_before_rate": Decimal(1)}, "timeout"),
        ({"session_dropped": True}, "session"),
    ],
)
def test_faults_before_processing_are_unavailable_and_nothing_is_issued(seller, channel, knob, kind):
    faults.profile_set(account=_account(seller), enabled=True, **knob)
    request = issue_request(seller)
    with pytest.raises(ChannelUnavailable) as exc:
        channel.issue_invoice(request)
    assert exc.value.kind == kind
    assert not LedgerInvoice.objects.filter(serial=request.serial).exists()
    assert ChannelCall.objects.get(serial=request.serial).outcome == "unavailable"


def test_a_time_out_after_processing_is_unavailable_but_the_invoice_exists(seller, channel):
    faults.profile_set(account=_account(seller), enabled=True, timeout_after_rate=Decimal(1))
    request = issue_request(seller)
    with pytest.raises(ChannelUnavailable) as exc:
        channel.issue_invoice(request)
    assert exc.value.kind == "timeout"
    assert LedgerInvoice.objects.get(serial=request.serial).number

    faults.profile_clear(account=_account(seller))
    with pytest.raises(ChannelDuplicate):  # the retry with the same serial: the platform knows it
        channel.issue_invoice(request)
    assert channel.query_issue(request.serial).status == "issued"
    assert LedgerInvoice.objects.filter(serial=request.serial).count() == 1


def test_a_duplicate_reply_to_a_first_submission_means_fetch_it(seller, channel):
    faults.profile_set(account=_account(seller), enabled=True, duplicate_reply_rate=Decimal(1))
    request = issue_request(seller)
    with pytest.raises(ChannelDuplicate):
        channel.issue_invoice(request)
    assert channel.query_issue(request.serial).status == "issued"


def test_rate_limiting_is_unavailable(seller, channel):
    faults.profile_set(account=_account(seller), enabled=True, rate_limit_per_second=1)
    kinds = []
    for _ in range(3):
        try:
            channel.get_quota()
        except ChannelUnavailable as exc:
            kinds.append(exc.kind)
    assert "rate_limited" in kinds  # three calls cannot all fit in one-per-second windows twice over


@pytest.mark.parametrize(
    ("header", "kind"),
    [("error", "server"), ("timeout_before", "timeout"), ("session", "session"), ("rate_limit", "rate_limited")],
)
def test_a_fault_can_be_forced_for_one_request(seller, channel, header, kind):
    with pytest.raises(ChannelUnavailable) as exc:
        channel.with_fault(header).get_quota()
    assert exc.value.kind == kind
    channel.get_quota()  # the next call is clean


def test_a_forced_time_out_after_processing_issues_the_invoice(seller, channel):
    request = issue_request(seller)
    with pytest.raises(ChannelUnavailable):
        channel.with_fault("timeout_after").issue_invoice(request)
    assert LedgerInvoice.objects.filter(serial=request.serial).exists()


def test_draws_are_deterministic_for_a_seed(seller, channel):
    def run():
        account = _account(seller)
        faults.profile_set(account=account, enabled=True, error_rate=Decimal("0.5"), seed=7)
        type(account.fault).objects.filter(pk=account.fault.pk).update(draws=0)
        outcomes = []
        for _ in range(12):
            try:
                channel.get_quota()
                outcomes.append("ok")
            except ChannelUnavailable:
                outcomes.append("x")
        return outcomes

    first = run()
    assert first == run()
    assert "ok" in first and "x" in first


def test_latency_is_added(seller, channel):
    faults.profile_set(account=_account(seller), enabled=True, latency_ms=50)
    channel.get_quota()
    assert ChannelCall.objects.get(operation="quota").duration_ms >= 50


def test_unknown_knobs_are_refused(seller):
    with pytest.raises(TypeError):
        faults.profile_set(account=_account(seller), lose_everything=True)
