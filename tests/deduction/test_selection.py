from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from deduction import services
from deduction.models import PeriodState, Selection, SelectionState
from deduction.services import SelectionInput
from invoicing.channels.base import DeductionItem, DeductionSelectRequest
from invoicing.models import Event
from tests.factories import UserFactory
from tests.receiving.platform_world import channel_of

pytestmark = pytest.mark.django_db


def test_select_deduct_accepted_by_the_platform(period, invoice, fiona, chan):
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=chan)
    assert row.state == SelectionState.ACCEPTED
    assert row.effective_tax == row.face_tax == invoice.tax == Decimal("90.00")
    assert Event.objects.filter(action="deduction_select", object_id=str(invoice.pk)).exists()


def test_never_selected_twice(period, invoice, fiona, chan):
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                              channel=chan)
    with pytest.raises(ValidationError, match="已于所属期 202611 勾选"):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                  channel=chan)
    assert Selection.objects.count() == 1


def test_effective_tax_may_be_lowered_never_raised(period, make_invoice, fiona, chan):
    a, b = make_invoice(), make_invoice()
    with pytest.raises(ValidationError, match="不能大于可抵扣税额"):
        services.deduction_select(tax_period=period, items=[
            SelectionInput(invoice_id=a.pk, effective_tax=Decimal("60.01"))], actor=fiona, channel=chan)
    assert not Selection.objects.exists()
    [row] = services.deduction_select(tax_period=period, items=[
        SelectionInput(invoice_id=b.pk, effective_tax=Decimal("10.00"))], actor=fiona, channel=chan)
    assert row.effective_tax == Decimal("10.00") and row.state == SelectionState.ACCEPTED


def test_not_deduct_needs_a_reason_and_text_at_most_300(period, invoice, fiona, chan):
    with pytest.raises(ValidationError) as exc:
        services.deduction_select(tax_period=period, items=[
            SelectionInput(invoice_id=invoice.pk, purpose="4", reason_text="x" * 301)], actor=fiona, channel=chan)
    text = " ".join(exc.value.messages)
    assert "不抵扣须选择原因" in text and "300" in text and "第 1 行" in text
    [row] = services.deduction_select(tax_period=period, items=[
        SelectionInput(invoice_id=invoice.pk, purpose="4", reason="3", reason_text="员工福利")], actor=fiona,
        channel=chan)
    assert row.state == SelectionState.ACCEPTED and row.reason == "3"


def test_an_ordinary_invoice_is_not_eligible(period, invoice, fiona, chan):
    type(invoice).objects.filter(pk=invoice.pk).update(kind="82")
    with pytest.raises(ValidationError, match="数电普票.*不能勾选抵扣"):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                  channel=chan)


def test_time_out_stays_pending_and_recovers_by_asking_again(period, invoice, fiona, world):
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=channel_of(world, "timeout_after"))
    assert row.state == SelectionState.PENDING
    [row] = services.deduction_selection_resend(tax_period=period, actor=fiona, channel=channel_of(world))
    assert row.state == SelectionState.ACCEPTED
    # the platform had processed it before the time-out: asking again still ends accepted, never twice
    assert Selection.objects.filter(invoice=invoice).count() == 1


def test_undo_before_statistics_and_refused_after(period, make_invoice, fiona, chan):
    a, b = make_invoice(), make_invoice()
    rows = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk),
                                                               SelectionInput(invoice_id=b.pk)], actor=fiona,
                                     channel=chan)
    [undone] = services.deduction_unselect(tax_period=period, selection_ids=[rows[0].pk], actor=fiona, channel=chan)
    assert undone.state == SelectionState.UNDONE
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    assert period.state == PeriodState.STATISTICS
    with pytest.raises(ValidationError, match="撤销统计"):
        services.deduction_unselect(tax_period=period, selection_ids=[rows[1].pk], actor=fiona, channel=chan)
    with pytest.raises(ValidationError, match="撤销统计"):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk)], actor=fiona,
                                  channel=chan)
    # undone, the invoice may be selected again once the period is open
    period = services.tax_period_statistics_undo(tax_period=period, actor=fiona, channel=chan)
    [again] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk)], actor=fiona,
                                        channel=chan)
    assert again.state == SelectionState.ACCEPTED


def test_other_entity_user_may_not_select(period, invoice, chan, yuntu):
    other = UserFactory(username="olga", role="财务", entities=[yuntu])
    with pytest.raises(PermissionDenied):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=other,
                                  channel=chan)


def test_time_out_before_the_platform_saw_it_recovers_too(period, invoice, fiona, world):
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=channel_of(world, "timeout_before"))
    assert row.state == SelectionState.PENDING
    [row] = services.deduction_selection_resend(tax_period=period, actor=fiona, channel=channel_of(world))
    assert row.state == SelectionState.ACCEPTED


def test_an_undo_that_timed_out_after_the_platform_did_it_recovers(period, invoice, fiona, world):
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=channel_of(world))
    [row] = services.deduction_unselect(tax_period=period, selection_ids=[row.pk], actor=fiona,
                                        channel=channel_of(world, "timeout_after"))
    assert row.state == SelectionState.UNDO_PENDING
    [row] = services.deduction_selection_resend(tax_period=period, actor=fiona, channel=channel_of(world))
    assert row.state == SelectionState.UNDONE


def test_selected_in_another_period_on_the_platform_is_refused_with_its_reason(period, invoice, fiona, world):
    # selected in 202610 on the platform, not through this system (202610 is closed here since its deadline)
    done = channel_of(world).deduction_select(DeductionSelectRequest(
        period="202610", items=(DeductionItem(number=invoice.number),)))
    assert done.accepted == (invoice.number,)
    [again] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)],
                                        actor=fiona, channel=channel_of(world))
    assert again.state == SelectionState.REFUSED and "202610" in again.platform_message


def test_a_request_number_given_again_resumes_instead_of_selecting_twice(period, make_invoice, fiona, world):
    a, b, c = make_invoice(), make_invoice(), make_invoice()
    items = [SelectionInput(invoice_id=a.pk), SelectionInput(invoice_id=b.pk)]
    [first, _] = services.deduction_select(tax_period=period, items=items, actor=fiona,
                                           channel=channel_of(world, "timeout_after"), request_no="GXAPI1")
    assert first.state == SelectionState.PENDING and first.request_no == "GXAPI1"
    # the same request again (its caller died before answering): sent again, not selected a second time
    rows = services.deduction_select(tax_period=period, items=items, actor=fiona, channel=channel_of(world),
                                     request_no="GXAPI1")
    assert [r.state for r in rows] == [SelectionState.ACCEPTED, SelectionState.ACCEPTED]
    assert Selection.objects.count() == 2
    again = services.deduction_select(tax_period=period, items=items, actor=fiona, channel=channel_of(world),
                                      request_no="GXAPI1")
    assert {r.pk for r in again} == {r.pk for r in rows}
    with pytest.raises(ValidationError, match="已用于另一批发票"):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=c.pk)], actor=fiona,
                                  channel=channel_of(world), request_no="GXAPI1")
    # undone since (under another number): the old number does not select them again
    services.deduction_unselect(tax_period=period, selection_ids=[r.pk for r in rows], actor=fiona,
                                channel=channel_of(world), request_no="GXAPI2")
    with pytest.raises(ValidationError, match="已处理"):
        services.deduction_select(tax_period=period, items=items, actor=fiona, channel=channel_of(world),
                                  request_no="GXAPI1")
    assert Selection.objects.filter(state__in=[SelectionState.PENDING, SelectionState.ACCEPTED]).count() == 0


def test_an_undo_request_number_given_again_is_not_undone_twice(period, invoice, fiona, world):
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=channel_of(world))
    [undo] = services.deduction_unselect(tax_period=period, selection_ids=[row.pk], actor=fiona,
                                         channel=channel_of(world, "timeout_before"), request_no="GXAPI3")
    assert undo.state == SelectionState.UNDO_PENDING
    [undo] = services.deduction_unselect(tax_period=period, selection_ids=[row.pk], actor=fiona,
                                         channel=channel_of(world), request_no="GXAPI3")
    assert undo.state == SelectionState.UNDONE
    [undo] = services.deduction_unselect(tax_period=period, selection_ids=[row.pk], actor=fiona,
                                         channel=channel_of(world), request_no="GXAPI3")
    assert undo.state == SelectionState.UNDONE and undo.attempts == 2
def test_the_pool_shows_the_selection_and_goes_back_when_it_is_undone(period, invoice, fiona, chan):
    from receiving.models import ReceivedInvoice, UseState

    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=chan)
    record = ReceivedInvoice.objects.get(pk=invoice.pk)
    assert (record.use_state, record.use_state_before_selection) == (UseState.SELECTED, UseState.IN_POOL)
    assert Event.objects.filter(action="received_use_selected", object_id=str(invoice.pk),
                                data__period="202611").count() == 1
    services.deduction_unselect(tax_period=period, selection_ids=[row.pk], actor=fiona, channel=chan)
    record = ReceivedInvoice.objects.get(pk=invoice.pk)
    assert (record.use_state, record.use_state_before_selection) == (UseState.IN_POOL, "")
    assert Event.objects.filter(action="received_use_unselected", object_id=str(invoice.pk)).count() == 1


def test_a_refused_selection_leaves_the_pool_as_it_was(period, invoice, fiona, world):
    from receiving.models import ReceivedInvoice, UseState

    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                                      channel=channel_of(world, "timeout_before"))
    assert row.state == SelectionState.PENDING
    assert ReceivedInvoice.objects.get(pk=invoice.pk).use_state == UseState.IN_POOL
