"""Duplicated tasks running at the same moment (PostgreSQL, real threads): one render, one e-mail."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from delivery import rendering, services
from delivery.models import Delivery, DeliveryStatus, InvoiceFile, RenderStatus
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_copies_of_a_render_task_render_once(invoice, monkeypatch):
    file = InvoiceFile.objects.create(invoice=invoice, format="xml")
    calls = []
    real = rendering.render_invoice_bytes

    def slow(inv, fmt):
        calls.append(fmt)
        time.sleep(0.2)
        return real(inv, fmt)

    monkeypatch.setattr(rendering, "render_invoice_bytes", slow)
    results, errors = run_together(8, lambda: rendering.invoice_file_render(file.pk))
    assert errors == []
    assert calls == ["xml"]
    assert sum(1 for r in results if r is not None) == 1
    file.refresh_from_db()
    assert file.status == RenderStatus.DONE and file.attempts == 1


def test_eight_copies_of_a_send_task_send_one_email(invoice, monkeypatch):
    monkeypatch.setattr(services, "invoice_file_bytes", lambda inv, fmt: b"file " + fmt.encode())
    delivery = Delivery.objects.create(invoice=invoice, channel="email", target="ap@bailu.example.com")
    mail.outbox = []
    results, errors = run_together(8, lambda: services.delivery_attempt(delivery.pk))
    assert errors == []
    assert len(mail.outbox) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
