"""数电纸票: void within the month (domain.md §11.2), otherwise red; electronic invoices are never voided."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from invoicing.events import events_for
from issuing.applications import selectors as application_selectors
from issuing.applications.models import QuotaPeriod
from issuing.platform.models import InvoiceStatus
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RedLetterForm
from issuing.redletter.voids import paper_invoice_void
from sandbox import clock

pytestmark = pytest.mark.django_db


def test_a_paper_invoice_of_this_month_is_voided(blue, fiona, channel):
    inv = blue(kind="86")
    outcome = paper_invoice_void(invoice=inv, actor=fiona, reason="开错抬头", channel=channel)
    assert outcome.voided and outcome.form is None
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.VOIDED
    assert not RedLetterForm.objects.exists()
    [event] = [e for e in events_for(inv) if e.action == "void"]
    assert (event.from_state, event.to_state, event.reason, event.actor) == (
        InvoiceStatus.NORMAL, InvoiceStatus.VOIDED, "开错抬头", fiona)


def test_voiding_the_invoice_voids_its_application_and_frees_its_billing_document(document_invoice, fiona, channel):
    from issuing.applications.models import ApplicationStatus, InvoiceApplication, customer_status

    doc, inv = document_invoice(kind="86")
    assert application_selectors.applied_amount(doc) == Decimal("1060.00")

    paper_invoice_void(invoice=inv, actor=fiona, reason="开错抬头", channel=channel)

    app = InvoiceApplication.objects.get(pk=inv.application_id)
    assert app.status == ApplicationStatus.VOIDED
    assert customer_status(app.status) == ("voided", "已作废")
    [event] = [e for e in events_for(app) if e.action == "void"]
    assert (event.from_state, event.to_state, event.reason, event.actor) == (
        ApplicationStatus.ISSUED, ApplicationStatus.VOIDED, "开错抬头", fiona)
    assert application_selectors.applied_amount(doc) == Decimal("0.00")  # free for a correct application


def test_next_month_on_the_platform_clock_the_void_becomes_a_red_flush(blue, fiona, channel):
    inv = blue(kind="86")
    clock.advance(hours=24 * 32)  # the platform's month has turned; ours has not
    outcome = paper_invoice_void(invoice=inv, actor=fiona, reason="退货", channel=channel)
    assert not outcome.voided and outcome.form.status == "01" and outcome.form.reason == "01"
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL
    assert outcome.form.red_invoice.total == -inv.total


def test_next_month_on_our_clock_goes_straight_to_red(blue, fiona, channel):
    inv = blue(kind="85")
    with time_machine.travel(timezone.now() + timedelta(days=40)):
        clock.advance(hours=24 * 40)
        outcome = paper_invoice_void(invoice=inv, actor=fiona, channel=channel)
    assert not outcome.voided and outcome.form.red_invoice is not None


def test_an_electronic_invoice_cannot_be_voided(blue, fiona, channel):
    inv = blue(kind="82")
    with pytest.raises(ValidationError, match="不能作废"):
        paper_invoice_void(invoice=inv, actor=fiona, channel=channel)


def test_customer_service_cannot_void(blue, sam, channel):
    inv = blue(kind="86")
    with pytest.raises(PermissionDenied):
        paper_invoice_void(invoice=inv, actor=sam, channel=channel)


def test_red_restores_quota_only_when_the_entity_says_so(blue, fiona, seller, channel):
    from issuing.applications.selectors import quota_month
    from issuing.billing.models import IssuingPolicy

    period = QuotaPeriod.objects.create(taxpayer=seller, month=quota_month(), total=Decimal("100000.00"))
    inv = blue()
    period.refresh_from_db()
    used = period.used
    redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True, channel=channel)
    period.refresh_from_db()
    assert period.used == used
    IssuingPolicy.objects.create(taxpayer=seller, red_restores_quota=True)
    seller.refresh_from_db()
    inv2 = blue()
    period.refresh_from_db()
    used = period.used
    redletter_request(actor=fiona, blue_invoice=inv2, reason="01", submit=True, channel=channel)
    period.refresh_from_db()
    assert period.used == used - inv2.amount
