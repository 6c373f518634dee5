from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from deduction import services
from deduction.models import FilingHoliday, PeriodState, Selection, SelectionState
from deduction.periods import current_period, filing_deadline, period_after, period_before
from deduction.services import SelectionInput
from tests.receiving.platform_world import channel_of

pytestmark = pytest.mark.django_db


def test_period_arithmetic():
    assert period_after("202612") == "202701" and period_before("202701") == "202612"


def test_deadline_is_the_15th_moved_past_weekends_and_holidays():
    # 2026-11-15 is a Sunday → Monday 16th
    assert filing_deadline("202610", closed=set(), working=set()) == date(2026, 11, 16)
    assert filing_deadline("202611", closed=set(), working=set()) == date(2026, 12, 15)
    FilingHoliday.objects.create(day=date(2026, 12, 15), name="假日")
    FilingHoliday.objects.create(day=date(2026, 12, 16), name="假日")
    assert filing_deadline("202611") == date(2026, 12, 17)


def test_current_period_is_the_previous_month_until_confirmed_or_past_deadline(world, fiona):
    assert current_period(taxpayer_id=world.pk, today=date(2026, 12, 10)) == "202611"
    assert current_period(taxpayer_id=world.pk, today=date(2026, 12, 16)) == "202612"
    row = services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)
    type(row).objects.filter(pk=row.pk).update(state=PeriodState.CONFIRMED)
    assert current_period(taxpayer_id=world.pk, today=date(2026, 12, 10)) == "202612"


def test_bad_period_is_refused(world, fiona):
    with pytest.raises(ValidationError, match="YYYYMM"):
        services.tax_period_ensure(taxpayer=world, period="202613", actor=fiona)


def _select(period, invoices, fiona, chan, **kw):
    return services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=i.pk, **kw)
                                                               for i in invoices], actor=fiona, channel=chan)


def test_statistics_confirm_snapshot_undo_and_file(period, make_invoice, fiona, chan):
    a, b = make_invoice(), make_invoice(("200.00",))
    _select(period, [a, b], fiona, chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    assert period.differences == [] and period.platform_statistics["tax"] == "72.00"
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    assert period.state == PeriodState.CONFIRMED
    assert [s["invoice_id"] for s in period.snapshot["selections"]] == [a.pk, b.pk]
    period = services.tax_period_confirm_undo(tax_period=period, actor=fiona, channel=chan)
    assert period.state == PeriodState.STATISTICS and period.snapshot == {}
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    period = services.tax_period_file(tax_period=period, actor=fiona)
    assert period.state == PeriodState.FILED
    with pytest.raises(ValidationError, match="已申报"):
        services.tax_period_confirm_undo(tax_period=period, actor=fiona, channel=chan)


def test_confirm_undo_may_be_switched_off(period, invoice, fiona, chan):
    _select(period, [invoice], fiona, chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    with override_settings(DEDUCTION_ALLOW_CONFIRM_UNDO=False), pytest.raises(ValidationError, match="不能撤销"):
        services.tax_period_confirm_undo(tax_period=period, actor=fiona, channel=chan)


def test_refund_purpose_cannot_be_undone_once_confirmed(period, invoice, fiona, chan):
    _select(period, [invoice], fiona, chan, purpose="2")
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    with pytest.raises(ValidationError, match="出口退税或代办退税"):
        services.tax_period_confirm_undo(tax_period=period, actor=fiona, channel=chan)


def test_a_difference_blocks_confirmation_and_names_the_invoices(period, invoice, fiona, chan):
    [row] = _select(period, [invoice], fiona, chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    # our side changes behind the platform's back (e.g. a record corrected afterwards)
    Selection.objects.filter(pk=row.pk).update(effective_tax=Decimal("1.00"))
    period.differences = services.statistics_differences(period, period.platform_statistics)
    period.save()
    with pytest.raises(ValidationError) as exc:
        services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    text = " ".join(exc.value.messages)
    assert "抵扣税额 1.00 ≠ 90.00" in text and str(invoice.pk) in text
    assert type(period).objects.get(pk=period.pk).state == PeriodState.STATISTICS


def test_statistics_refused_while_a_selection_is_pending(period, invoice, fiona, world):
    _select(period, [invoice], fiona, channel_of(world, "timeout_before"))
    assert Selection.objects.get().state == SelectionState.PENDING
    with pytest.raises(ValidationError, match="等待平台确认"):
        services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=channel_of(world))
