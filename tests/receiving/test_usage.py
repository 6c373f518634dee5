"""What other apps report about a pool record (receiving/usage.py): the use state of a selection, the 稽核比对 of a
海关缴款书, the 风险等级; and the signals the receiving side sends after the commit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from invoicing.models import Event
from receiving import signals, usage
from receiving.models import ReceivedInvoice, UseState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(mingyuan):
    return ReceivedInvoice.objects.create(
        taxpayer=mingyuan, kind="81", number="26442000000000009901", issue_date=date(2026, 11, 3), seller_name="云途",
        amount=Decimal("100.00"), tax=Decimal("6.00"), total=Decimal("106.00"), data_source="manual")


def test_selected_and_back_to_the_state_it_left(record):
    usage.received_invoice_selection_record(record=record, selected=True, actor=None, period="202611")
    usage.received_invoice_selection_record(record=record, selected=True, actor=None)  # a repeated answer
    fresh = ReceivedInvoice.objects.get(pk=record.pk)
    assert (fresh.use_state, fresh.use_state_before_selection) == (UseState.SELECTED, UseState.IN_POOL)
    usage.received_invoice_selection_record(record=fresh, selected=False, actor=None)
    assert ReceivedInvoice.objects.get(pk=record.pk).use_state == UseState.IN_POOL
    events = Event.objects.filter(object_id=str(record.pk), action__startswith="received_use_").order_by("pk")
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("received_use_selected", "in_pool", "selected"), ("received_use_unselected", "selected", "in_pool")]


def test_a_booked_invoice_goes_back_to_booked(record):
    ReceivedInvoice.objects.filter(pk=record.pk).update(use_state=UseState.BOOKED)
    usage.received_invoice_selection_record(record=record, selected=True, actor=None)
    usage.received_invoice_selection_record(record=record, selected=False, actor=None)
    assert ReceivedInvoice.objects.get(pk=record.pk).use_state == UseState.BOOKED


def test_the_risk_level_service_checks_input_and_signals_after_the_commit(record, fiona, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationError) as exc:
        usage.received_invoice_risk_level_record(record=record, risk_level="09", actor=fiona, reason="")
    assert set(exc.value.message_dict) == {"risk_level"}
    with pytest.raises(ValidationError) as exc:
        usage.received_invoice_risk_level_record(record=record, risk_level="02", actor=fiona, reason=" ")
    assert set(exc.value.message_dict) == {"reason"}
    seen = []

    def listen(sender, **kwargs):
        seen.append((kwargs["invoice_id"], kwargs["before"], kwargs["after"]))

    signals.risk_level_changed.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            usage.received_invoice_risk_level_record(record=record, risk_level="02", actor=fiona, reason="通知")
        assert seen == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert seen == [(record.pk, "", "02")]
    finally:
        signals.risk_level_changed.disconnect(listen)
    assert ReceivedInvoice.objects.get(pk=record.pk).risk_level == "02"
    assert Event.objects.filter(action="risk_level", object_id=str(record.pk), to_state="02").exists()


def test_another_entitys_user_may_not_set_the_risk_level_or_the_match(record, yuntu):
    other = UserFactory(username="olga", role="财务", entities=[yuntu])
    with pytest.raises(PermissionDenied):
        usage.received_invoice_risk_level_record(record=record, risk_level="02", actor=other, reason="通知")
    customs = ReceivedInvoice.objects.create(
        taxpayer=record.taxpayer, kind="customs", number="220120261000000009", issue_date=date(2026, 11, 3),
        seller_name="上海海关", amount=Decimal("100.00"), tax=Decimal("13.00"), total=Decimal("113.00"),
        data_source="manual")
    with pytest.raises(PermissionDenied):
        usage.received_customs_match_record(record=customs, status="matched", actor=other)
