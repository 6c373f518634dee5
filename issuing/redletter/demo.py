"""A helper for the red-letter part of the demo (issue #5). ``seed_demo`` does not run it on its own: call
``issuing.demo_red.seed()`` after ``seed_demo`` (and with the sandbox reachable), e.g. from ``manage.py shell``.

It issues, per demo entity, a few blue invoices to the other demo entity through the real issuing flow, and one paid
billing document invoiced in full, so that the demo can show:

1. finance red-flushes an issued invoice fully (申请红冲 → 保存并提交平台: 01, the red invoice at once, the blue
   invoice 已全额红冲);
2. partly: mark the blue invoice 入账 by the buyer in the sandbox admin (台账发票 → 购方入账), then a partial request
   (reason 销售折让, an amount) waits as 02 until the buyer confirms; the blue invoice becomes 部分红冲;
3. a refund on the billing document (业务单据 → 登记退款) red-flushes on its own within a minute (the
   ``issuing.redletter_refunds`` task);
4. a form left unconfirmed expires: advance the sandbox clock 72 hours (沙箱时钟 → 前进72小时); the next poll marks
   it 07 and the blue invoice is 正常 again.

Idempotent: an entity that already has red-letter demo invoices is left alone. Business code only: it speaks to the
platform through ``get_channel`` like everything else.
"""

from __future__ import annotations

from decimal import Decimal

from invoicing.channels import get_channel
from invoicing.models import Taxpayer
from issuing.applications import services as application_services
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from issuing.redletter.models import RedFlushPolicy

DEMO_SOURCE = "demo-red"
SOFTWARE = "3040201000000000000"
CODES = ("91440101MA5CYUN00U", "91440300MA5FM1NGYB")


def _buyer(entity: Taxpayer) -> dict[str, str]:
    return {"buyer_name": entity.name, "buyer_tax_id": entity.credit_code, "buyer_address": entity.address or "-",
            "buyer_phone": entity.phone or "-", "buyer_bank_name": entity.bank_name,
            "buyer_bank_account": entity.bank_account}


def _issue(app, channel) -> Invoice | None:
    application_services.application_approve(application=app, actor=None)
    application_services.application_mark_issuing(application=app, actor=None)
    platform_services.issue_attempt(application_id=app.pk, channel=channel)
    return Invoice.objects.filter(application=app, is_red=False).first()


def seed(stdout=None) -> list[str]:
    """Issue the red-letter demo invoices; returns their numbers."""
    numbers: list[str] = []
    entities = list(Taxpayer.objects.filter(credit_code__in=CODES, channel="sandbox").exclude(channel_app_key=""))
    for entity in entities:
        RedFlushPolicy.objects.get_or_create(taxpayer=entity)
        if BillingDocument.objects.filter(taxpayer=entity, source_system=DEMO_SOURCE).exists():
            continue
        other = next((e for e in entities if e.pk != entity.pk), None)
        if other is None:
            continue
        channel = get_channel(entity)
        for amount in ("1000.00", "2000.00", "3000.00"):
            app = application_services.application_create(
                actor=None, taxpayer=entity, kind="81", buyer=_buyer(other), remark="红冲演示",
                lines=[{"item_name": "软件技术服务费", "tax_category": SOFTWARE, "tax_rate": "0.06",
                        "amount": Decimal(amount), "tax_inclusive": False, "quantity": Decimal(10),
                        "unit_price": Decimal(amount) / 10}],
            )
            invoice = _issue(app, channel)
            if invoice is not None:
                numbers.append(invoice.number)
        doc = billing_services.billing_document_create(
            actor=None, taxpayer=entity, external_no=f"RED-DEMO-{entity.credit_code[-4:]}",
            source_system=DEMO_SOURCE, buyer={k: v for k, v in _buyer(other).items()}, paid_amount="1060.00",
            lines=[{"item_name": "软件技术服务费", "tax_category": SOFTWARE, "tax_rate": "0.06", "amount": "1060.00"}],
        )
        app = application_services.application_create(actor=None, taxpayer=entity, kind="81", sources=[doc])
        invoice = _issue(app, channel)
        if invoice is not None:
            numbers.append(invoice.number)
    if stdout is not None:
        stdout.write(f"issuing: {len(numbers)} blue invoice(s) for the red-letter demo")
    return numbers
