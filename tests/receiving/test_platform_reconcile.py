"""The pool against the platform: matched exactly on number and seller tax id (never on amounts); each difference
says on which side it is missing and why; one report per run, with its event."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelUnavailable
from invoicing.models import Event
from receiving import platform, services
from receiving.models import Method, PlatformReconciliation, ReceivedInvoice
from receiving.tasks import platform_reconcile_all_task
from sandbox import services as sandbox
from sandbox.models import LedgerInvoice, LedgerStatus
from tests.channels.conftest import connect


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def channel(entity):
    return get_channel(entity, transport="inprocess")


def window():
    today = platform.china_today()
    return today - timedelta(days=10), today


def seed(entity, count, days=5, prefix="r"):
    return sandbox.received_seed(buyer_credit_code=entity.credit_code, buyer_name=entity.name, count=count,
                                 days=days, prefix=prefix)


def manual(entity, *, number, seller=("上海申城物业管理有限公司", "91310104MA1FR3PW64"), total="106.00",
           issue_date=None, buyer_tax_id=None):
    return services.received_invoice_create_manual(
        taxpayer=entity, actor=None, kind="82", number=number, issue_date=issue_date or platform.china_today(),
        seller_name=seller[0], seller_tax_id=seller[1], buyer_name=entity.name,
        buyer_tax_id=buyer_tax_id or entity.credit_code, amount="100.00", tax="6.00", total=total)


def by_rule(report):
    out = {}
    for d in report.differences:
        out.setdefault(d["rule"], []).append(d)
    return out


def test_a_pool_in_step_with_the_platform_has_no_difference(entity, channel):
    seed(entity, 4)
    platform.platform_download(taxpayer=entity, channel=channel)
    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1],
                                         channel=channel)
    assert (report.platform_count, report.pool_count, report.matched_count, report.difference_count) == (4, 4, 4, 0)
    assert report.complete
    assert Event.objects.filter(action="platform_reconcile", object_id=str(report.pk)).exists()


def test_each_difference_says_which_side_and_why(entity, channel):
    invoices = seed(entity, 3)
    platform.platform_download(taxpayer=entity, channel=channel)
    later = seed(entity, 1, days=0, prefix="later")[0]  # issued after the download
    fake = manual(entity, number="26442000000099999999")  # in the pool, unknown to the platform
    # the same number as a platform invoice but another seller: never matched by number alone
    record = ReceivedInvoice.objects.get(number=invoices[0].number)
    LedgerInvoice.objects.filter(pk=invoices[1].pk).update(status=LedgerStatus.VOIDED)
    ReceivedInvoice.objects.filter(pk=record.pk).update(seller_tax_id="91110105MA01JHBG2W")
    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1],
                                         channel=channel)
    rules = by_rule(report)
    assert rules["seller_differs"][0]["number"] == invoices[0].number
    assert "91110105MA01JHBG2W" in rules["seller_differs"][0]["reason"]
    assert rules["status_differs"][0]["number"] == invoices[1].number
    assert "作废" in rules["status_differs"][0]["reason"]
    missing = rules.get("not_downloaded_yet", []) + rules.get("missing_in_pool", [])
    assert [d["number"] for d in missing] == [later.number] and missing[0]["side"] == "pool"
    assert rules["missing_on_platform"][0]["number"] == fake.number
    assert rules["missing_on_platform"][0]["side"] == "platform"
    assert report.matched_count == 1 and report.difference_count == 4


def test_never_matched_by_amount(entity, channel):
    (inv,) = seed(entity, 1, days=0)
    # the pool holds an invoice of the same seller, date and total under another number: two differences
    services.received_invoice_create_manual(
        taxpayer=entity, actor=None, kind=inv.kind, number="26442000000088888888", issue_date=platform.china_today(),
        seller_name=inv.seller_name, seller_tax_id=inv.seller_credit_code, buyer_name=entity.name,
        buyer_tax_id=entity.credit_code, amount=inv.total_amount, tax=inv.total_tax, total=inv.total_with_tax)
    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1],
                                         channel=channel)
    assert report.matched_count == 0
    assert {d["side"] for d in report.differences} == {"pool", "platform"}


def test_a_record_dated_otherwise_is_named_with_both_dates(entity, channel):
    (inv,) = seed(entity, 1, days=0)
    manual(entity, number=inv.number, seller=(inv.seller_name, inv.seller_credit_code),
           issue_date=platform.china_today() - timedelta(days=30))
    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1],
                                         channel=channel)
    (diff,) = report.differences
    assert diff["rule"] == "issue_date_differs" and diff["invoice"] is not None


def test_a_platform_unavailable_gives_an_incomplete_report_without_differences(entity, channel):
    seed(entity, 2)

    class Down:
        def list_received(self, **kwargs):
            raise ChannelUnavailable("down", kind="server")

    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1], channel=Down())
    assert not report.complete and report.difference_count == 0 and "不可用" in report.message


def test_the_daily_task_keeps_one_report_per_entity(entity, yuntu):
    connect(yuntu)
    seed(entity, 2, days=3)
    out = platform_reconcile_all_task()
    assert {row["taxpayer"] for row in out} == {entity.credit_code, yuntu.credit_code}
    assert PlatformReconciliation.objects.count() == 2
    report = PlatformReconciliation.objects.get(taxpayer=entity)
    assert report.date_to == platform.china_today() - timedelta(days=1)
    assert report.platform_count == 1  # the other one was issued today, after the report's range


def test_the_money_in_a_difference_is_text_with_two_decimals(entity, channel):
    seed(entity, 1, days=0)
    report = platform.platform_reconcile(taxpayer=entity, date_from=window()[0], date_to=window()[1],
                                         channel=channel)
    (diff,) = report.differences
    assert Decimal(diff["total"]) == Decimal(diff["total"]).quantize(Decimal("0.01"))
    assert Method.PLATFORM  # the report does not collect: no batch is opened
