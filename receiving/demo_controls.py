"""The demo's bad cases for verification and the receiving rules, in 云途's pool: an invoice with a wrong buyer title,
one from a blacklisted seller, and one the platform reports as fully red-flushed (verified through a stand-in for
the platform that answers by the channel contract). Each shows its rule failures on the pool's list and record page.

Idempotent: the cases are created once, by their numbers.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from invoicing.actors import SystemActor
from invoicing.channels.base import (
    Capability,
    InboundInvoice,
    IssueRequest,
    IssueResult,
    TaxChannel,
    VerifyRequest,
    VerifyResult,
)
from invoicing.models import Taxpayer
from receiving import rules, sellers, services, verification
from receiving.models import ReceivedInvoice

DEMO = SystemActor("demo")
WRONG_TITLE = "26332000000012349001"
BLACKLISTED = "26332000000012349002"
RED_FLUSHED = "26332000000012349003"
NUMBERS = (WRONG_TITLE, BLACKLISTED, RED_FLUSHED)
SHADY = ("东莞速达商贸有限公司", "91441900MA4WDEMO1K")
SUPPLIER = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")


class RedFlushedPlatform(TaxChannel):
    """The platform's answer for the demo: verified, and fully red-flushed (fpzt 03)."""

    code = "demo"
    capabilities = frozenset({Capability.VERIFY})

    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        self._unsupported("issue_invoice")

    def query_issue(self, serial: str) -> IssueResult:
        self._unsupported("query_issue")

    def verify_invoice(self, request: VerifyRequest) -> VerifyResult:
        record = ReceivedInvoice.objects.filter(number=request.number).first()
        assert record is not None and record.amount is not None and record.tax is not None
        return VerifyResult(code="00", message="查验成功", invoice=InboundInvoice(
            number=record.number, kind=record.kind, issue_date=record.issue_date, seller_name=record.seller_name,
            seller_tax_id=record.seller_tax_id, buyer_name=record.buyer_name, buyer_tax_id=record.buyer_tax_id,
            total_amount=record.amount, total_tax=record.tax, total_with_tax=record.amount + record.tax,
            status="03", risk_level="01"))


def _enter(entity: Taxpayer, number: str, *, seller: tuple[str, str], buyer_name: str, amount: str,
           item: str) -> ReceivedInvoice:
    a = Decimal(amount)
    tax = (a * Decimal("0.06")).quantize(Decimal("0.01"))
    return services.received_invoice_create_manual(
        taxpayer=entity, actor=DEMO, kind="82", number=number, issue_date=timezone.localdate() - timedelta(days=12),
        seller_name=seller[0], seller_tax_id=seller[1], buyer_name=buyer_name, buyer_tax_id=entity.credit_code,
        amount=a, tax=tax, total=a + tax,
        lines=[{"item_name": item, "amount": a, "tax_rate": "0.06", "tax": tax, "tax_code": "3040203000000000000"}])


def seed(entity: Taxpayer) -> int:
    """Create the bad cases once; returns how many were created."""
    if ReceivedInvoice.objects.filter(taxpayer=entity, number__in=NUMBERS).exists():
        return 0
    # a buyer title without the entity's full name (a common slip: the short name)
    _enter(entity, WRONG_TITLE, seller=SUPPLIER, buyer_name=entity.short_name or "云途出行", amount="860.00",
           item="*信息技术服务*云服务器租用")
    sellers.seller_blacklist_add(taxpayer=entity, tax_id=SHADY[1], name=SHADY[0], reason="税务机关通报的虚开企业",
                                 actor=DEMO)
    _enter(entity, BLACKLISTED, seller=SHADY, buyer_name=entity.name, amount="4800.00", item="*办公用品*打印纸")
    red = _enter(entity, RED_FLUSHED, seller=SUPPLIER, buyer_name=entity.name, amount="1200.00",
                 item="*信息技术服务*云服务器租用")
    verification.received_invoice_verify(record=red, actor=DEMO, channel=RedFlushedPlatform())
    rules.rules_run(taxpayer=entity, actor=DEMO)
    return 3
