"""The issue's demo, end to end: full and partial red by finance, a refund on its own, expiry after 72 sandbox
hours, and the blue invoice's status each time."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from invoicing.channels import get_channel
from invoicing.models import Taxpayer
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter import demo, tasks
from issuing.redletter.forms import redletter_request
from sandbox import clock
from sandbox import services as sandbox
from sandbox.models import SandboxAccount

pytestmark = pytest.mark.django_db


def test_the_red_letter_demo(settings):
    settings.DEBUG = True  # seed_demo is for development (it refuses production settings)
    call_command("seed_demo")
    SandboxAccount.objects.update(issue_delay_seconds=0)
    numbers = demo.seed()
    assert len(numbers) == 8
    assert demo.seed() == []  # idempotent
    finance = User.objects.filter(groups__name="财务", entity_scope__all_entities=True).first()
    yuntu_blues = list(Invoice.objects.filter(number__in=numbers, taxpayer__credit_code=demo.CODES[0],
                                              application__remark="红冲演示").order_by("total"))
    full, partial, expiring = yuntu_blues

    form = redletter_request(actor=finance, blue_invoice=full, reason="01", submit=True)
    full.refresh_from_db()
    assert form.status == "01" and full.status == InvoiceStatus.RED_FULL

    sandbox.invoice_mark_booked(number=partial.number)
    form = redletter_request(actor=finance, blue_invoice=partial, reason="04", amount_with_tax="530.00",
                                       submit=True)
    assert form.status == "02"
    mingyuan = Taxpayer.objects.get(credit_code=demo.CODES[1])
    get_channel(mingyuan).red_form_confirm(form.form_no)  # the buyer confirms on the platform
    tasks.redletter_poll_task.delay()
    partial.refresh_from_db()
    assert partial.status == InvoiceStatus.RED_PARTIAL

    doc = BillingDocument.objects.get(source_system=demo.DEMO_SOURCE, taxpayer__credit_code=demo.CODES[0])
    billing_services.billing_document_refund(document=doc, actor=finance, amount="1060.00", reason="整单退款")
    tasks.redletter_refunds_task.delay()
    refunded = Invoice.objects.get(application__sources__billing_document=doc, is_red=False)
    assert refunded.status == InvoiceStatus.RED_FULL

    sandbox.invoice_mark_booked(number=expiring.number)
    form = redletter_request(actor=finance, blue_invoice=expiring, reason="02", submit=True)
    clock.advance(hours=72)
    tasks.redletter_poll_task.delay()
    form.refresh_from_db()
    expiring.refresh_from_db()
    assert form.status == "07" and expiring.status == InvoiceStatus.NORMAL
