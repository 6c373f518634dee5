"""Refunds red-flush on their own (issue #5 §3): full refund → full red; partial refund → partial red where the
reason allows, otherwise full red and a new application for the rest; once per refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.billing import services as billing_services
from issuing.platform.models import InvoiceStatus
from issuing.redletter.forms import redletter_submit
from issuing.redletter.models import RedFlushPolicy, RedLetterForm
from issuing.redletter.refunds import refund_red_flush, refunds_scan
from issuing.redletter.sync import redletter_poll
from tests.redletter.conftest import buyer_confirms

pytestmark = pytest.mark.django_db
S = ApplicationStatus
D = Decimal


def test_a_full_refund_red_flushes_the_whole_invoice_on_its_own(document_invoice, channel):
    doc, inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00", reason="整单退款")
    [outcome] = refunds_scan(channel=channel)
    [form] = outcome.forms
    assert form.is_full and form.status == "01" and form.billing_document_id == doc.pk
    assert form.red_invoice.total == D("-1060.00")
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL and inv.application.status == S.RED_FLUSHED
    doc.refresh_from_db()
    bal = application_selectors.billing_document_balance(doc)
    assert (bal.balance, bal.over_invoiced) == (D("0.00"), D("0.00"))


def test_the_same_refund_twice_opens_one_form(document_invoice, channel):
    doc, _inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    assert len(refunds_scan(channel=channel)) == 1
    assert refunds_scan(channel=channel) == []
    again = refund_red_flush(document=doc, refund_key=f"refund-event-{_refund_event(doc).pk}",
                                       channel=channel)
    assert again.already and len(again.forms) == 1
    assert RedLetterForm.objects.count() == 1


def _refund_event(doc):
    from invoicing.events import events_for

    return events_for(doc).filter(action="refund").latest("id")


def test_an_explicit_refund_key_is_idempotent(document_invoice, channel):
    doc, _inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    first = refund_red_flush(document=doc, refund_key="shop-refund-77", amount="1060.00", channel=channel)
    second = refund_red_flush(document=doc, refund_key="shop-refund-77", amount="1060.00", channel=channel)
    assert [f.pk for f in second.forms] == [f.pk for f in first.forms] and second.already
    assert RedLetterForm.objects.count() == 1


def test_a_partial_refund_is_a_partial_red_when_the_buyer_has_used_the_invoice(document_invoice, channel,
                                                                              buyer_channel):
    doc, inv = document_invoice("1060.00", booked=True)
    billing_services.billing_document_refund(document=doc, actor=None, amount="318.00")
    [outcome] = refunds_scan(channel=channel)
    [form] = outcome.forms
    assert not form.is_full and form.status == "02" and form.total == D("-318.00") and form.reason == "02"
    buyer_confirms(buyer_channel, form)
    redletter_poll(channel=channel)
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_PARTIAL and inv.red_amount_total == D("318.00")
    assert inv.application.status == S.PARTLY_RED
    doc.refresh_from_db()
    bal = application_selectors.billing_document_balance(doc)
    assert (bal.balance, bal.over_invoiced) == (D("0.00"), D("0.00"))


def test_a_partial_refund_the_buyer_has_not_used_is_full_red_and_a_new_application(document_invoice, channel):
    doc, inv = document_invoice("1060.00")  # not booked: the platform allows only full red (01)
    billing_services.billing_document_refund(document=doc, actor=None, amount="318.00")
    [outcome] = refunds_scan(channel=channel)
    partial, full = outcome.forms
    assert partial.status == "submit_failed" and "3303" in partial.last_error
    assert full.is_full and full.status == "01" and full.red_invoice.total == D("-1060.00")
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL and inv.application.status == S.RED_FLUSHED
    new = InvoiceApplication.objects.get(pk=full.reissue_application_id)
    assert new.total == D("742.00") and new.status in (S.PENDING_REVIEW, S.APPROVED)
    assert list(new.sources.values_list("billing_document_id", flat=True)) == [doc.pk]


def test_the_full_and_reissue_policy_red_flushes_everything_and_applies_again(document_invoice, seller, channel):
    RedFlushPolicy.objects.create(taxpayer=seller, refund_policy="full_and_reissue")
    doc, inv = document_invoice("2120.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    [outcome] = refunds_scan(channel=channel)
    [form] = outcome.forms
    assert form.is_full and form.reissue_amount == D("1060.00") and form.red_invoice is not None
    new = InvoiceApplication.objects.get(pk=form.reissue_application_id)
    assert new.total == D("1060.00")


def test_an_allowance_only_entity_with_issued_in_error_reason_goes_full(document_invoice, seller, channel):
    RedFlushPolicy.objects.create(taxpayer=seller, refund_reason="01")
    doc, inv = document_invoice("1060.00", booked=True)
    billing_services.billing_document_refund(document=doc, actor=None, amount="106.00")
    [outcome] = refunds_scan(channel=channel)
    [form] = outcome.forms
    assert form.is_full and form.reason == "01" and form.status == "02" and form.reissue_amount == D("954.00")


def test_a_refund_of_what_was_never_invoiced_red_flushes_nothing(seller, buyer_entity, channel):
    from tests.redletter.conftest import MINGYUAN_BUYER, SOFTWARE, issue

    doc = billing_services.billing_document_create(
        actor=None, taxpayer=seller, external_no="ORD-HALF", buyer=MINGYUAN_BUYER, paid_amount="1060.00",
        lines=[{"item_name": "软件技术服务费", "tax_category": SOFTWARE, "tax_rate": "0.06", "amount": "1060.00"}],
    )
    app = application_services.application_create(actor=None, taxpayer=seller, sources=[(doc, "530.00")])
    issue(app, channel)
    billing_services.billing_document_refund(document=doc, actor=None, amount="318.00")
    [outcome] = refunds_scan(channel=channel)
    assert outcome.nothing_to_flush and outcome.forms == []
    assert refunds_scan(channel=channel) == []  # remembered as handled


def test_a_draft_only_entity_leaves_the_refund_form_for_finance(document_invoice, seller, fiona, channel):
    RedFlushPolicy.objects.create(taxpayer=seller, auto_submit=False)
    doc, inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    [outcome] = refunds_scan(channel=channel)
    [form] = outcome.forms
    assert form.status == "draft"
    # a second refund scan does not red the same amount again while the draft waits
    assert refund_red_flush(document=doc, refund_key="other", channel=channel).nothing_to_flush
    form = redletter_submit(form=form, actor=fiona, channel=channel)
    assert form.status == "01" and form.red_invoice is not None
