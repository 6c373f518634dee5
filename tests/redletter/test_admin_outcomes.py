"""What the red-letter and invoice pages say after a call to the platform: a refusal is an error carrying the
platform's words, never a green "已提交"; and 作废 of a 数电纸票 from its page."""

from __future__ import annotations

import pytest
from django.contrib.messages import constants
from django.urls import reverse

from invoicing.channels.base import ChannelRejected
from invoicing.channels.sandbox import SandboxChannel
from issuing.platform.models import InvoiceStatus
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RedFormState, RedLetterForm

pytestmark = pytest.mark.django_db

REFUSAL = "购方未进行用途确认或入账确认，只能全额红冲"


@pytest.fixture(autouse=True)
def _inprocess(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"


@pytest.fixture
def refusing_platform(monkeypatch):
    def refuse(self, request):
        raise ChannelRejected("3303", REFUSAL)

    monkeypatch.setattr(SandboxChannel, "red_form_apply", refuse)


def _messages(response):
    return [(m.level, str(m)) for m in response.context["messages"]]


def test_a_form_refused_on_submit_from_the_request_page_is_an_error_with_the_platforms_reason(
        client, fiona, blue, refusing_platform):
    inv = blue()
    client.force_login(fiona)
    response = client.post(reverse("admin:issuing_redletterform_add"),
                           {"blue_number": inv.number, "reason": "01", "_submit_now": "1"}, follow=True)
    form = RedLetterForm.objects.get()
    assert form.status == RedFormState.SUBMIT_FAILED
    shown = _messages(response)
    assert any(level == constants.ERROR and "3303" in text and REFUSAL in text for level, text in shown), shown
    assert not any(level == constants.SUCCESS for level, _text in shown), shown


def test_the_submit_button_and_the_bulk_submit_report_a_refusal_as_an_error(client, fiona, blue, refusing_platform):
    drafts = [redletter_request(actor=fiona, blue_invoice=blue(), reason="01") for _ in range(2)]
    client.force_login(fiona)
    one = client.post(reverse("admin:issuing_redletterform_act", args=[drafts[0].pk, "submit"]), follow=True)
    shown = _messages(one)
    assert any(level == constants.ERROR and REFUSAL in text for level, text in shown), shown
    assert not any(level == constants.SUCCESS for level, _text in shown), shown
    bulk = client.post(reverse("admin:issuing_redletterform_changelist"),
                       {"action": "submit_selected", "_selected_action": [f.pk for f in drafts]}, follow=True)
    shown = _messages(bulk)
    assert (constants.ERROR, "2 张红字确认单未能处理") in shown
    assert sum(1 for level, text in shown if level == constants.ERROR and REFUSAL in text) == 2
    assert not any(level == constants.SUCCESS for level, _text in shown), shown


# --- 作废 ----------------------------------------------------------------------------------------------------


def test_finance_voids_a_paper_invoice_from_its_page_with_a_reason(client, fiona, sam, blue):
    inv = blue(kind="86")
    change = reverse("admin:issuing_invoice_change", args=[inv.pk])
    void = reverse("admin:issuing_invoice_void", args=[inv.pk])
    client.force_login(sam)
    assert void not in client.get(change).content.decode()
    assert client.post(void, {"reason": "开错抬头"}).status_code == 403
    client.force_login(fiona)
    assert void in client.get(change).content.decode()
    ask = client.get(void)
    assert ask.status_code == 200 and inv.number in ask.content.decode()
    empty = client.post(void, {"reason": ""})
    assert empty.status_code == 200 and "作废必须填写原因" in empty.content.decode()
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL
    done = client.post(void, {"reason": "开错抬头"}, follow=True)
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.VOIDED
    assert (constants.SUCCESS, f"发票 {inv.number} 已作废") in _messages(done)
    assert void not in client.get(change).content.decode()  # nothing left to void


def test_no_void_button_for_an_electronic_invoice(client, fiona, blue):
    inv = blue()
    client.force_login(fiona)
    assert reverse("admin:issuing_invoice_void", args=[inv.pk]) not in client.get(
        reverse("admin:issuing_invoice_change", args=[inv.pk])).content.decode()
    response = client.post(reverse("admin:issuing_invoice_void", args=[inv.pk]), {"reason": "开错"})
    assert response.status_code == 200 and "不能作废，只能红冲" in response.content.decode()
