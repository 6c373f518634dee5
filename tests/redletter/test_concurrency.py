"""Two partial reds racing for what is left of one blue invoice, on PostgreSQL: the red never exceeds the blue."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from issuing.billing import services as billing_services
from issuing.platform.models import Invoice
from issuing.redletter.forms import redletter_request, redletter_submit
from issuing.redletter.models import RESERVING, RedLetterForm, RedLetterFormLine
from issuing.redletter.refunds import refund_red_flush

D = Decimal


def _race(n, work):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_partial_reds_racing_for_the_remainder_never_exceed_the_blue(blue, fiona, channel):
    inv = blue(booked=True)  # line 1: 1000.00 + 60.00, line 2: 500.00 + 30.00
    results = _race(4, lambda i: redletter_request(
        actor=fiona, blue_invoice=Invoice.objects.get(pk=inv.pk), reason="02", submit=True, channel=channel,
        lines=[{"blue_line_no": 1, "amount": "600.00"}]))
    made = [r for r in results if isinstance(r, RedLetterForm)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(made) == 1 and len(refused) == 3, results
    held = RedLetterFormLine.objects.filter(form__blue_invoice=inv, form__status__in=RESERVING)
    assert -sum((ln.amount for ln in held), D("0")) <= D("1000.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_drafts_racing_to_be_submitted_leave_one_holding_the_blue(blue, fiona, channel):
    inv = blue(booked=True)
    drafts = [redletter_request(actor=fiona, blue_invoice=inv, reason="02",
                                          lines=[{"blue_line_no": 2, "amount": "400.00"}]) for _ in range(3)]
    results = _race(3, lambda i: redletter_submit(form=drafts[i], actor=fiona, channel=channel))
    assert sum(isinstance(r, RedLetterForm) for r in results) == 1, results
    held = RedLetterForm.objects.filter(blue_invoice=inv, status__in=RESERVING)
    assert held.count() == 1 and -sum((f.total for f in held), D("0")) <= inv.total


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_refund_racing_with_itself_opens_one_form(document_invoice, channel):


    doc, inv = document_invoice("1060.00")
    billing_services.billing_document_refund(document=doc, actor=None, amount="1060.00")
    _race(3, lambda i: refund_red_flush(document=doc, refund_key="race-1", channel=channel))
    assert RedLetterForm.objects.filter(refund_key__startswith="race-1:").count() == 1
    assert Invoice.objects.filter(blue_invoice=inv, is_red=True).count() == 1
