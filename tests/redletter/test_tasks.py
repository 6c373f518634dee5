"""The periodic red-letter tasks: registered on beat, and doing the demo's work on their own."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.celery import app as celery_app
from invoicing.channels.base import RedFormRequest
from issuing.billing import services as billing_services
from issuing.platform.models import InvoiceStatus
from issuing.redletter import tasks
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RedLetterForm
from sandbox import clock

pytestmark = pytest.mark.django_db


def test_the_beat_schedule_has_the_red_letter_entries():
    for name, entry in tasks.BEAT_SCHEDULE.items():
        assert celery_app.conf.beat_schedule[name]["task"] == entry["task"]
        assert entry["task"] in celery_app.tasks


def test_the_poll_task_expires_an_unconfirmed_form_after_72_sandbox_hours(blue, fiona, channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    clock.advance(hours=72)
    report = tasks.redletter_poll_task.delay().get()
    assert report["expired"] == 1
    form.refresh_from_db()
    assert form.status == "07"
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.NORMAL


def test_the_expire_task_asks_the_platform_about_forms_past_their_deadline(blue, fiona, channel):
    inv = blue(booked=True)
    form = redletter_request(actor=fiona, blue_invoice=inv, reason="02", submit=True, channel=channel)
    clock.advance(hours=73)
    RedLetterForm.objects.filter(pk=form.pk).update(expires_at=form.expires_at - clock.offset())
    assert tasks.redletter_expire_due_task.delay().get()["expired"] == 1


def test_the_inbound_task_pulls_buyer_forms_for_every_entity(blue, seller, buyer_channel):
    inv = blue(booked=True)
    remote = buyer_channel.red_form_apply(RedFormRequest("B1", inv.number, "02", initiator="buyer"))
    totals = tasks.redletter_pull_inbound_task.delay().get()
    assert totals["created"] == 1
    assert RedLetterForm.objects.get(form_no=remote.form_no).status == "03"


def test_the_refund_task_red_flushes_a_refund_on_its_own(document_invoice):
    doc, inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    assert tasks.redletter_refunds_task.delay().get() == {"refunds": 1, "forms": 1}
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.RED_FULL and inv.red_amount_total == Decimal("1060.00")
    assert tasks.redletter_refunds_task.delay().get() == {"refunds": 0, "forms": 0}
