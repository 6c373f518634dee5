"""Issuing through the sandbox client, in process: accept, complete after the delay, duplicates, validation."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelDuplicate, ChannelRejected, Party
from sandbox import clock
from sandbox.models import LedgerInvoice, SandboxAccount
from tests.channels.conftest import issue_request, line


def test_an_issue_request_is_pending_until_the_delay_has_passed_on_the_sandbox_clock(seller, channel):
    SandboxAccount.objects.filter(credit_code=seller.credit_code).update(issue_delay_seconds=30)
    request = issue_request(seller)

    accepted = channel.issue_invoice(request)
    assert accepted.status == "pending" and accepted.invoice_number == ""
    assert channel.query_issue(request.serial).status == "pending"

    clock.advance(seconds=31)
    done = channel.query_issue(request.serial)
    assert done.status == "issued"
    assert re.fullmatch(r"\d{20}", done.invoice_number)
    assert done.invoice_status == "01"
    assert done.total_with_tax == Decimal("1590.00")
    assert [ln.line_no for ln in done.lines] == [1, 2]


def test_without_a_delay_the_answer_is_issued_at_once(seller, channel):
    result = channel.issue_invoice(issue_request(seller))
    assert result.status == "issued" and result.issued_at is not None


def test_the_number_is_year_province_channel_digit_and_sequence(seller, buyer_entity, channel, buyer_channel):
    numbers = [channel.issue_invoice(issue_request(seller)).invoice_number for _ in range(3)]
    numbers.append(buyer_channel.issue_invoice(issue_request(buyer_entity, buyer=Party("广州云途", "91440101MA5CYUN00U")))
                   .invoice_number)
    assert all(re.fullmatch(r"\d{20}", n) for n in numbers)
    assert len(set(numbers)) == 4
    year = f"{clock.now():%y}"
    assert all(n.startswith(year + "44" + "2") for n in numbers)  # 4400 and 4403 are both 广东
    assert int(numbers[1][5:]) == int(numbers[0][5:]) + 1


def test_a_second_submission_of_a_serial_is_a_duplicate_and_query_returns_the_same_invoice(seller, channel):
    request = issue_request(seller)
    first = channel.issue_invoice(request)
    with pytest.raises(ChannelDuplicate) as exc:
        channel.issue_invoice(request)
    assert exc.value.serial == request.serial
    assert channel.query_issue(request.serial).invoice_number == first.invoice_number
    assert LedgerInvoice.objects.filter(serial=request.serial).count() == 1


def test_an_unknown_serial_is_rejected_not_found(channel):
    with pytest.raises(ChannelRejected) as exc:
        channel.query_issue("NEVER-SENT")
    assert exc.value.code == "4004"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"kind": "81", "buyer": Party("个人买家")}, "3103"),
        ({"kind": "85", "buyer": Party("个人买家")}, "3103"),
        ({"lines": (line(1, "1000.00", tax="60.07"),)}, "3101"),
        ({"total_amount": Decimal("1.00")}, "3104"),
        ({"lines": (line(1, tax_code="304020"),)}, "3106"),
        ({"buyer": Party("某公司", "91440300MA5FM1NGYA")}, "3105"),
        ({"seller_credit_code": "91440300MA5FM1NGYB"}, "3108"),
        ({"kind": "51"}, "3001"),
    ],
)
def test_what_the_platform_validates_is_rejected_with_its_code(seller, channel, change, code):
    with pytest.raises(ChannelRejected) as exc:
        channel.issue_invoice(issue_request(seller, **change))
    assert exc.value.code == code
    assert exc.value.message  # a Chinese message from the platform
    assert not LedgerInvoice.objects.exists()


def test_a_person_may_buy_without_a_tax_id_on_a_general_invoice(seller, channel):
    assert channel.issue_invoice(issue_request(seller, kind="82", buyer=Party("张伟"))).status == "issued"


def test_the_invoice_tolerance_of_1_27_per_rate_group(seller, channel):
    # 300 lines of 0.04 + 0.01 at 13%: every line within 0.06, the group off by 1.44 (domain.md §8.2).
    lines = tuple(line(i, "0.04", "0.13", tax="0.01", quantity=None, unit_price=None) for i in range(1, 301))
    with pytest.raises(ChannelRejected) as exc:
        channel.issue_invoice(issue_request(seller, kind="82", lines=lines))
    assert exc.value.code == "3102"


def test_the_quota_is_consumed_and_an_issue_over_it_is_rejected(seller, channel):
    SandboxAccount.objects.filter(credit_code=seller.credit_code).update(monthly_quota=Decimal("2000.00"))
    channel.issue_invoice(issue_request(seller))  # 1500.00 不含税
    quota = channel.get_quota()
    assert (quota.total, quota.used, quota.remaining) == (Decimal("2000.00"), Decimal("1500.00"), Decimal("500.00"))
    with pytest.raises(ChannelRejected) as exc:
        channel.issue_invoice(issue_request(seller))
    assert exc.value.code == "3201"
    assert channel.get_quota().used == Decimal("1500.00")  # the refused request consumed nothing


def test_get_channel_uses_the_configured_transport(seller, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    assert get_channel(seller).transport.name == "inprocess"
    settings.TAX_CHANNEL_TRANSPORT = "http"
    assert get_channel(seller).transport.name == "http"


def test_list_issued_gives_the_sellers_day_for_reconciliation(seller, buyer_entity, channel, buyer_channel):
    SandboxAccount.objects.filter(credit_code=seller.credit_code).update(issue_delay_seconds=600)
    pending = channel.issue_invoice(issue_request(seller))
    SandboxAccount.objects.filter(credit_code=seller.credit_code).update(issue_delay_seconds=0)
    done = channel.issue_invoice(issue_request(seller))
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()

    results = {r.serial: r for r in channel.list_issued(day=today)}
    assert results[done.serial].status == "issued" and results[done.serial].invoice_number == done.invoice_number
    assert results[pending.serial].status == "pending"
    assert len(results[done.serial].lines) == 2
    assert buyer_channel.list_issued(day=today) == []
    assert channel.list_issued(day=today - timedelta(days=1)) == []
