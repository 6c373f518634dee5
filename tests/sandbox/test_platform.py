"""The sandbox's own rules, below the HTTP API: numbers, the clock, accounts."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sandbox import clock, numbering
from sandbox import services as sandbox
from sandbox.models import FaultProfile, LedgerInvoice, SandboxAccount


@pytest.fixture
def account(db):
    return sandbox.account_ensure(credit_code="91440101MA5CYUN00U", name="云途", app_key="k", secret="s",
                                  region_code="3100")


def test_invoice_numbers_are_20_digits_year_province_channel_then_sequence(account):
    when = datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    first = numbering.invoice_number(account, when)
    second = numbering.invoice_number(account, when)
    assert re.fullmatch(r"\d{20}", first) and first == "26312000000000000001"
    assert second == "26312000000000000002"
    # the year is the Chinese calendar year even when UTC is still in the old one
    assert numbering.invoice_number(account, datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC"))).startswith("27")


def test_allocated_numbers_never_repeat_across_accounts(account):
    other = sandbox.account_ensure(credit_code="91440300MA5FM1NGYB", name="明远", app_key="k2", secret="s2",
                                   region_code="3100")
    now = clock.now()
    numbers = [numbering.invoice_number(acc, now) for _ in range(100) for acc in (account, other)]
    assert len(set(numbers)) == 200 and all(re.fullmatch(r"\d{20}", x) for x in numbers)


def test_red_form_numbers_are_20_digits(account):
    assert re.fullmatch(r"\d{20}", numbering.red_form_number(account, clock.now()))


def test_the_clock_moves_forward_only(db):
    before = clock.now()
    after = clock.advance(hours=2)
    assert (after - before).total_seconds() >= 7200
    with pytest.raises(ValueError):
        clock.advance(hours=-1)
    clock.reset()
    assert clock.offset().total_seconds() == 0


def test_account_ensure_is_idempotent_and_creates_a_fault_profile(account):
    again = sandbox.account_ensure(credit_code="91440101MA5CYUN00U", name="云途", app_key="k2", secret="s2")
    assert again.pk == account.pk and SandboxAccount.objects.get().app_key == "k2"
    assert FaultProfile.objects.filter(account=account, enabled=False).exists()


def test_the_demo_gives_each_sandbox_entity_a_demo_account(db):
    from invoicing import demo as kernel_demo
    from sandbox import demo

    kernel_demo.seed()
    demo.seed()
    demo.seed()
    accounts = SandboxAccount.objects.filter(is_demo=True).order_by("credit_code")
    assert [a.app_key for a in accounts] == ["yuntu-sandbox", "mingyuan-sandbox"]
    assert all(a.is_demo and a.issue_delay_seconds == demo.DEMO_ISSUE_DELAY_SECONDS for a in accounts)
    # the third-party sellers' accounts are not demo entities' (nobody toggles their faults), and their invoices to
    # each demo entity are issued once however often the demo runs
    third = SandboxAccount.objects.filter(is_demo=False)
    assert {a.credit_code for a in third} == {s[1] for s in sandbox.THIRD_PARTY_SELLERS}
    for account in accounts:
        received = LedgerInvoice.objects.filter(buyer_tax_id=account.credit_code, account__in=third)
        assert received.count() == demo.THIRD_PARTY_INVOICES
