"""Partial red needs the buyer's 用途确认 or 入账确认 (domain.md §11.1; issue 14, defect 3).

The channel's invoice query tells the buyer's status where it can (``Capability.BUYER_STATUS``); the admin's
red-letter form then refuses a partial red before anything is written or sent. Where the status is unknown the
platform's refusal comes back as a failure naming the remedy. The blue invoice is chosen with the autocomplete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from invoicing.channels.base import BuyerStatus, Capability
from invoicing.channels.sandbox import SandboxChannel
from invoicing.models import ChannelCall
from issuing.redletter.forms import redletter_buyer_status, redletter_check_partial, redletter_request
from issuing.redletter.models import RedLetterForm
from sandbox import services as sandbox

pytestmark = pytest.mark.django_db

ADD = "admin:issuing_redletterform_add"


@pytest.fixture(autouse=True)
def _inprocess(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"


def test_the_invoice_query_tells_the_buyers_use_and_booking(blue, channel):
    inv = blue()
    assert channel.supports(Capability.BUYER_STATUS)
    assert channel.query_issue(inv.channel_serial).buyer_status == BuyerStatus(booked=False, usage="")
    sandbox.invoice_set_buyer_status(number=inv.number, booked=False, usage="1")
    status = channel.query_issue(inv.channel_serial).buyer_status
    assert status.usage == "1" and status.confirmed
    sandbox.invoice_mark_booked(number=inv.number)
    assert channel.query_issue(inv.channel_serial).buyer_status.booked


def test_a_channel_without_the_capability_answers_unknown(blue, channel, monkeypatch):
    inv = blue()
    monkeypatch.setattr(SandboxChannel, "capabilities", frozenset(Capability) - {Capability.BUYER_STATUS})
    assert redletter_buyer_status(blue_invoice=inv, channel=channel) is None
    assert redletter_check_partial(blue_invoice=inv, channel=channel) is None


def test_the_form_refuses_a_partial_red_before_submitting_when_the_buyer_has_not_confirmed(client, fiona, blue):
    inv = blue()
    client.force_login(fiona)
    page = client.post(reverse(ADD), {"blue_invoice": inv.pk, "reason": "02", "amount_with_tax": "106.00",
                                      "_submit_now": "1"})
    body = page.content.decode()
    assert page.status_code == 200
    assert "购方尚未对蓝字发票" in body and "只能全额红冲" in body and "请改为全额红冲" in body
    assert "用途确认或入账确认后再部分红冲" in body
    assert not RedLetterForm.objects.exists()
    assert not ChannelCall.objects.filter(operation="red_form_apply").exists()


def test_once_the_buyer_has_confirmed_the_use_a_partial_red_goes_to_the_buyer(client, fiona, blue):
    inv = blue()
    sandbox.invoice_set_buyer_status(number=inv.number, booked=False, usage="1")
    client.force_login(fiona)
    client.post(reverse(ADD), {"blue_invoice": inv.pk, "reason": "02", "amount_with_tax": "106.00",
                               "_submit_now": "1"})
    form = RedLetterForm.objects.get(blue_invoice=inv)
    assert form.status == "02" and not form.is_full


def test_a_full_red_of_an_unconfirmed_invoice_is_issued_at_once(client, fiona, blue):
    inv = blue()
    client.force_login(fiona)
    client.post(reverse(ADD), {"blue_invoice": inv.pk, "reason": "01", "_submit_now": "1"})
    form = RedLetterForm.objects.get(blue_invoice=inv)
    assert form.status == "01" and form.is_full and form.red_invoice is not None


def test_where_the_status_is_unknown_the_platforms_refusal_names_the_remedy(client, fiona, blue, monkeypatch):
    inv = blue()
    monkeypatch.setattr(SandboxChannel, "capabilities", frozenset(Capability) - {Capability.BUYER_STATUS})
    client.force_login(fiona)
    client.post(reverse(ADD), {"blue_invoice": inv.pk, "reason": "02", "amount_with_tax": "106.00",
                               "_submit_now": "1"})
    form = RedLetterForm.objects.get(blue_invoice=inv)
    assert form.status == "submit_failed"
    assert "[3303]" in form.last_error and "改为全额红冲" in form.last_error and "用途确认或入账确认" in form.last_error


def test_submitting_a_partial_draft_of_an_unconfirmed_invoice_is_refused_on_the_change_page(client, fiona, blue):
    inv = blue()
    draft = redletter_request(actor=fiona, blue_invoice=inv, reason="02", amount_with_tax="106.00")
    client.force_login(fiona)
    page = client.post(reverse("admin:issuing_redletterform_act", args=[draft.pk, "submit"]), follow=True)
    assert "只能全额红冲" in page.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_the_blue_invoice_is_chosen_with_an_autocomplete_scoped_to_red_flushable_invoices(client, fiona, lily, blue):
    first, second = blue(), blue()
    red = redletter_request(actor=fiona, blue_invoice=second, reason="01", submit=True).red_invoice
    client.force_login(fiona)
    page = client.get(reverse(ADD), {"blue": first.number}).content.decode()
    assert 'class="admin-autocomplete' in page and 'data-field-name="blue_invoice"' in page
    assert 'name="blue_number"' not in page  # no box to type the number into
    assert f'<option value="{first.pk}" selected>{first.number}</option>' in page
    params = {"app_label": "issuing", "model_name": "redletterform", "field_name": "blue_invoice", "term": ""}
    found = [r["text"] for r in client.get(reverse("admin:autocomplete"), params).json()["results"]]
    assert first.number in found and second.number not in found and red.number not in found
    client.force_login(lily)
    assert client.get(reverse("admin:autocomplete"), params).json()["results"] == []
