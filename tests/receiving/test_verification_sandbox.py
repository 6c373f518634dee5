"""Verification through the sandbox platform (in process): the contract end to end, and the platform's faults:
unavailable, slow, rate-limiting, answering 02 or 03 with the fields that differ."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from invoicing.channels import get_channel
from receiving import verification
from receiving.control_models import InvoiceCheck, VerifyState
from receiving.models import PlatformStatus, ReceivedInvoice
from sandbox import clock
from tests.channels.conftest import connect, issue_request
from tests.receiving.controls import pool_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(yuntu):
    return connect(yuntu)


@pytest.fixture
def buyer(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def blue(seller, buyer):
    return get_channel(seller, transport="inprocess").issue_invoice(issue_request(seller))


@pytest.fixture
def record(blue, buyer, seller):
    return pool_invoice(buyer, number=blue.invoice_number, seller=(seller.name, seller.credit_code),
                        issue_date=clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date(),
                        amount="1500.00", tax="90.00")


@pytest.fixture
def fault(monkeypatch, settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    state = {"fault": ""}
    monkeypatch.setattr(verification, "channel_for",
                        lambda taxpayer: get_channel(taxpayer, transport="inprocess").with_fault(state["fault"]))
    return state


def test_a_sandbox_invoice_verifies_with_its_status(record, fault):
    v = verification.received_invoice_verify(record=record, actor=None).verification
    assert (v.state, v.code, v.status_code) == (VerifyState.DONE, "00", "01")
    assert ReceivedInvoice.objects.get(pk=record.pk).platform_status == PlatformStatus.NORMAL


def test_a_wrong_total_is_03_naming_the_field(record, fault):
    ReceivedInvoice.objects.filter(pk=record.pk).update(amount=Decimal("1400.00"), total=Decimal("1490.00"))
    v = verification.received_invoice_verify(record=ReceivedInvoice.objects.get(pk=record.pk), actor=None).verification
    assert v.code == "03"
    assert [d["field"] for d in v.differences] == ["total"]


def test_an_unknown_number_is_02(buyer, seller, fault):
    record = pool_invoice(buyer, number="25442000000999999999", seller=(seller.name, seller.credit_code))
    assert verification.received_invoice_verify(record=record, actor=None).verification.code == "02"


@pytest.mark.parametrize(("header", "reason"), [
    ("timeout_before", "timeout"),
    ("timeout_after", "timeout"),
    ("error", "server"),
    ("rate_limit", "rate_limited"),
    ("session", "session"),
])
def test_a_failing_platform_leaves_the_verification_pending(record, fault, header, reason):
    fault["fault"] = header
    outcome = verification.received_invoice_verify(record=record, actor=None)
    assert outcome.pending and outcome.verification.wait_reason == reason
    assert InvoiceCheck.objects.get(invoice=record).verify_code == ""
    fault["fault"] = ""
    outcome.verification.next_try_at = None
    v = verification.attempt(verification=outcome.verification, actor=None).verification
    assert (v.state, v.code) == (VerifyState.DONE, "00")


def test_a_slow_platform_answers_late_but_answers(record, fault):
    fault["fault"] = "latency=300"
    assert verification.received_invoice_verify(record=record, actor=None).verification.code == "00"


def test_a_later_status_change_on_the_platform_is_seen_on_the_next_use(record, fault, monkeypatch, seller):
    verification.received_invoice_verify(record=record, actor=None)
    later = verification.now() + timedelta(hours=25)
    monkeypatch.setattr(verification, "now", lambda: later)
    assert verification.received_invoice_verify(record=record, actor=None, purpose="reimburse").called
