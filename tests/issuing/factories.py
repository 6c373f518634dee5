"""Factories and small builders for the issuing tests."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import factory

from invoicing.channels.base import IssueResult
from invoicing.models import CounterpartyKind
from issuing.applications.models import ApplicationLine, ApplicationStatus, InvoiceApplication
from issuing.base import InvoiceKind
from issuing.billing import services as billing_services
from issuing.billing.models import IssuingPolicy
from issuing.paperstock import services as paper_services
from issuing.platform import services as platform_services
from tests.factories import TaxpayerFactory, tax_category

SOFTWARE = "3040201000000000000"  # 软件服务, 6%
CONSTRUCTION = "3050100000000000000"  # 工程服务, 9%
SUMMARY = "1000000000000000000"  # 货物 (a summary node)

_numbers = count(1)


def software_line(amount: str | None = "106.00", **overrides) -> dict:
    line = {
        "item_name": "软件技术服务费",
        "unit": "项",
        "amount": Decimal(amount) if amount is not None else None,
        "tax_rate": Decimal("0.06"),
        "tax_category": SOFTWARE,
        "tax_inclusive": True,
    }
    line.update(overrides)
    return line


def make_document(taxpayer, *, counterparty=None, buyer=None, lines=None, paid: str | None = None,
                  external_no: str | None = None, **kwargs):
    """A billing document made through the service (system actor). Paid in full unless ``paid`` says otherwise."""
    lines = lines if lines is not None else [software_line()]
    if counterparty is None and buyer is None:
        buyer = {"buyer_kind": CounterpartyKind.PERSON, "buyer_name": "张伟"}
    doc = billing_services.billing_document_create(
        actor=None,
        taxpayer=taxpayer,
        external_no=external_no or f"ORD{next(_numbers):06d}",
        lines=lines,
        counterparty=counterparty,
        buyer=buyer,
        **kwargs,
    )
    if paid is None:
        paid = str(doc.order_amount)
    if Decimal(paid) > 0:
        doc = billing_services.billing_document_record_payment(document=doc, actor=None, amount=paid)
    return doc


class InvoiceApplicationFactory(factory.django.DjangoModelFactory):
    """An application put directly in any state (for the transition matrix), with one 6% line."""

    class Meta:
        model = InvoiceApplication
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: f"SQT{n:08d}")
    taxpayer = factory.SubFactory(TaxpayerFactory)
    kind = InvoiceKind.SHUDIAN_NORMAL
    status = ApplicationStatus.PENDING_REVIEW
    buyer_kind = CounterpartyKind.COMPANY
    buyer_name = "上海白鹭文化传媒有限公司"
    buyer_tax_id = "91310000MA1K0BA10F"
    amount = Decimal("100.00")
    tax = Decimal("6.00")
    total = Decimal("106.00")

    @factory.post_generation
    def lines(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            ApplicationLine.objects.create(
                application=self, line_no=1, item_name="软件技术服务费", short_name="信息技术服务",
                amount=self.amount, tax=self.tax, tax_rate=Decimal("0.06"), tax_category=tax_category(SOFTWARE),
            )


def issued(app: InvoiceApplication, number: str, *, actor=None):  # noqa: ANN001, ANN201
    """The platform's answer "issued under ``number``" for ``app`` (开票中), recorded as the issuing task records it."""
    result = IssueResult(serial=app.issue_serial or app.number, status="issued", invoice_number=number)
    return platform_services.invoice_record_issued(application_id=app.pk, result=result, actor=actor)


def refused(app: InvoiceApplication, *, code: str = "2001", message: str = "购买方纳税人识别号不存在") -> str:
    """The platform refusing ``app`` (开票中 → 开票失败), recorded as the issuing task records it: the outcome."""
    result = IssueResult(serial=app.issue_serial, status="failed", code=code, message=message)
    return platform_services.apply_result(application_id=app.pk, result=result)


def policy(taxpayer, **fields) -> IssuingPolicy:
    IssuingPolicy.objects.update_or_create(taxpayer=taxpayer, defaults=fields)
    taxpayer._state.fields_cache.pop("issuing_policy", None)
    return IssuingPolicy.objects.get(taxpayer=taxpayer)


_paper_codes = count(1)


def paper_stock(taxpayer, *, sheets: int = 1000, kinds=(InvoiceKind.PAPER_SPECIAL, InvoiceKind.PAPER_NORMAL)):
    """Give ``taxpayer`` blank 数电纸票 to print on: one batch of ``sheets`` numbers per paper kind, received through
    the 票仓 service as finance would (a paper invoice cannot be issued without stock). Returns the batches."""
    return [
        paper_services.paper_batch_receive(taxpayer=taxpayer, kind=kind, code=f"1440{next(_paper_codes):08d}",
                                           start_number=1, end_number=sheets, actor=None)
        for kind in kinds
    ]
