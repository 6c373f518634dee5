"""The red-letter queue in the admin: countdown, the 'waiting for us' filter, buttons over the services, roles."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from invoicing.channels.base import RedFormRequest
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RedLetterForm
from issuing.redletter.sync import redletter_pull_inbound

pytestmark = pytest.mark.django_db

LIST = "admin:issuing_redletterform_changelist"


@pytest.fixture(autouse=True)
def _inprocess(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"


def _inbound(blue, seller, buyer_channel, channel):
    inv = blue(booked=True)
    remote = buyer_channel.red_form_apply(RedFormRequest("B1", inv.number, "02", initiator="buyer"))
    redletter_pull_inbound(taxpayer=seller, channel=channel)
    return inv, RedLetterForm.objects.get(form_no=remote.form_no)


def test_finance_sees_the_queue_with_the_countdown_and_the_waiting_for_us_filter(client, fiona, blue, seller,
                                                                                 channel, buyer_channel):
    _inv, form = _inbound(blue, seller, buyer_channel, channel)
    client.force_login(fiona)
    page = client.get(reverse(LIST), {"queue": "ours"})
    assert page.status_code == 200
    body = page.content.decode()
    assert form.form_no in body and "fapiao-countdown" in body and "小时" in body


def test_finance_confirms_a_buyer_form_with_the_button(client, fiona, blue, seller, channel, buyer_channel):
    inv, form = _inbound(blue, seller, buyer_channel, channel)
    client.force_login(fiona)
    change = client.get(reverse("admin:issuing_redletterform_change", args=[form.pk]))
    assert 'data-action="confirm"' in change.content.decode()
    done = client.post(reverse("admin:issuing_redletterform_act", args=[form.pk, "confirm"]), follow=True)
    assert "已处理 1 张红字确认单" in done.content.decode()
    form.refresh_from_db()
    assert form.status == "04" and form.red_invoice is not None
    inv.refresh_from_db()
    assert inv.status == "red_full"


def test_customer_service_sees_no_decision_buttons_and_cannot_confirm(client, sam, blue, seller, channel,
                                                                       buyer_channel):
    _inv, form = _inbound(blue, seller, buyer_channel, channel)
    client.force_login(sam)
    assert client.get(reverse(LIST)).status_code == 200
    change = client.get(reverse("admin:issuing_redletterform_change", args=[form.pk])).content.decode()
    assert 'data-action="confirm"' not in change and 'data-action="reject"' not in change
    answer = client.post(reverse("admin:issuing_redletterform_act", args=[form.pk, "confirm"]), follow=True)
    assert "没有执行此操作的权限" in answer.content.decode()
    form.refresh_from_db()
    assert form.status == "03"


def test_customer_service_raises_a_draft_for_finance(client, sam, fiona, blue, channel):
    inv = blue()
    client.force_login(sam)
    page = client.get(reverse("admin:issuing_redletterform_add"))
    assert page.status_code == 200 and "_submit_now" not in page.content.decode()
    client.post(reverse("admin:issuing_redletterform_add"),
                {"blue_number": inv.number, "reason": "01", "note": "客户要求重开", "_submit_now": "1"})
    form = RedLetterForm.objects.get(blue_invoice=inv)
    assert form.status == "draft" and form.requested_by == sam
    client.force_login(fiona)
    change = client.get(reverse("admin:issuing_redletterform_change", args=[form.pk])).content.decode()
    assert 'data-action="submit"' in change
    client.post(reverse("admin:issuing_redletterform_act", args=[form.pk, "submit"]))
    form.refresh_from_db()
    assert form.status == "01" and form.red_invoice is not None


def test_finance_requests_a_partial_red_by_amount_and_sees_refusals_in_the_form(client, fiona, blue):
    inv = blue(booked=True)
    client.force_login(fiona)
    refused = client.post(reverse("admin:issuing_redletterform_add"),
                          {"blue_number": inv.number, "reason": "02", "amount_with_tax": "5000.00"})
    assert "超过蓝字发票可冲价税合计" in refused.content.decode()
    client.post(reverse("admin:issuing_redletterform_add"),
                {"blue_number": inv.number, "reason": "04", "lines": "1,100.00", "_submit_now": "1"})
    form = RedLetterForm.objects.get(blue_invoice=inv)
    assert form.status == "02" and form.total == Decimal("-106.00")


def test_lily_sees_none_of_yuntus_forms(client, lily, fiona, blue, channel):
    inv = blue()
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="01")
    client.force_login(lily)
    assert form.request_no not in client.get(reverse(LIST)).content.decode()
    assert client.post(reverse("admin:issuing_redletterform_act", args=[form.pk, "submit"])).status_code == 404
    client.post(reverse("admin:issuing_redletterform_add"), {"blue_number": inv.number, "reason": "01"})
    assert RedLetterForm.objects.count() == 1


def test_bulk_actions_end_with_a_counted_message(client, fiona, blue, channel):
    forms = [redletter_request(actor=fiona, blue_invoice=blue(), reason="01") for _ in range(2)]
    client.force_login(fiona)
    done = client.post(reverse(LIST), {"action": "submit_selected", "_selected_action": [f.pk for f in forms]},
                       follow=True)
    assert "已提交 2 张红字确认单" in done.content.decode()
    assert set(RedLetterForm.objects.values_list("status", flat=True)) == {"01"}


def test_the_queue_runs_a_fixed_number_of_queries(client, fiona, blue, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(fiona)
    redletter_request(actor=fiona, blue_invoice=blue(), reason="01")
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse(LIST)).status_code == 200
    for _ in range(3):
        redletter_request(actor=fiona, blue_invoice=blue(), reason="01")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(reverse(LIST)).status_code == 200


def test_finance_saves_the_red_flush_settings_and_the_change_is_recorded(client, fiona, seller):
    from invoicing.events import events_for
    from issuing.redletter.models import RedFlushPolicy

    client.force_login(fiona)
    response = client.post(reverse("admin:issuing_redflushpolicy_add"), {
        "taxpayer": seller.pk, "refund_policy": "full_and_reissue", "refund_reason": "02", "auto_submit": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = RedFlushPolicy.objects.get(taxpayer=seller)
    assert policy.refund_policy == "full_and_reissue" and policy.auto_submit
    [event] = events_for(policy).filter(action="policy_change")
    assert event.actor == fiona and event.data["refund_policy"] == "full_and_reissue"
