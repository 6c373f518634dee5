"""Helpers for the verification and rules tests: pool records built directly, and a fake verifying channel."""

from __future__ import annotations

import itertools
import threading
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from invoicing.channels.base import (
    Capability,
    ChannelUnavailable,
    ChannelUnsupported,
    InboundInvoice,
    IssueRequest,
    IssueResult,
    TaxChannel,
    VerifyRequest,
    VerifyResult,
)
from receiving.models import ReceivedInvoice, ReceivedInvoiceLine

_numbers = itertools.count(1)
XIHU = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")


def pool_invoice(entity, *, kind="81", number=None, code="", issue_date=None, seller=XIHU, buyer=None,
                 amount="1000.00", tax="60.00", lines=(("*信息技术服务*软件开发服务", "3040201000000000000"),),
                 **fields) -> ReceivedInvoice:
    if number is None:
        n = next(_numbers) * 10
        number = f"2544200000{n:010d}" if not code else f"{n:08d}"
    a, t = Decimal(amount), Decimal(tax)
    buyer = buyer or (entity.name, entity.credit_code)
    record = ReceivedInvoice.objects.create(
        taxpayer=entity, kind=kind, number=number, code=code,
        issue_date=issue_date or timezone.localdate() - timedelta(days=3),
        seller_name=seller[0], seller_tax_id=seller[1], buyer_name=buyer[0], buyer_tax_id=buyer[1],
        amount=a, tax=t, total=a + t, data_source="xml", **fields)
    for i, (name, tax_code) in enumerate(lines, start=1):
        ReceivedInvoiceLine.objects.create(invoice=record, line_no=i, item_name=name, amount=a, tax=t,
                                           tax_code=tax_code)
    return record


class FakeVerifier(TaxChannel):
    """Answers verification from a script: a code per number (default 00 with the record's data), or raises."""

    code = "fake"
    capabilities = frozenset({Capability.VERIFY})

    def __init__(self) -> None:
        self.calls: list[VerifyRequest] = []
        self.answers: dict[str, object] = {}
        self.default: object = "00"
        self.status = "01"
        self.risk = "01"
        self.lock = threading.Lock()
        self.platform: dict[str, dict] = {}  # number → overrides of the invoice the platform holds

    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        raise ChannelUnsupported("issue_invoice")  # a verifier only: the contract's answer for what it lacks

    def query_issue(self, serial: str) -> IssueResult:
        raise ChannelUnsupported("query_issue")

    def verify_invoice(self, request: VerifyRequest) -> VerifyResult:
        with self.lock:
            self.calls.append(request)
        answer = self.answers.get(request.number, self.default)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = answer(request)
        if answer == "00":
            record = ReceivedInvoice.objects.filter(number=request.number, code=request.code).first()
            data = dict(number=request.number, kind=request.kind, issue_date=request.issue_date,
                        seller_name=record.seller_name if record else "", seller_tax_id=record.seller_tax_id if record
                        else "", buyer_name=record.buyer_name if record else "",
                        buyer_tax_id=record.buyer_tax_id if record else "",
                        total_amount=record.amount if record else request.amount,
                        total_tax=record.tax if record else Decimal("0"),
                        total_with_tax=record.total if record else request.amount,
                        status=self.status, risk_level=self.risk)
            data.update(self.platform.get(request.number, {}))
            return VerifyResult(code="00", message="查验成功", invoice=InboundInvoice(**data))
        if answer == "03":
            return VerifyResult(code="03", message="查验信息不一致", differences=("amount",))
        return VerifyResult(code=str(answer), message="平台答复")


def unavailable(kind="timeout"):
    return ChannelUnavailable(kind=kind)


def old(days: int) -> date:
    return timezone.localdate() - timedelta(days=days)
