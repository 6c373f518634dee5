"""Automatic transfers-out (deduction/transfers.py): the receiving side's signals make a line-20 entry for a
red-letter form against a deducted invoice, and line-23a entries for an abnormal voucher and its clearing; each
cause once, whichever path sees it (signal, catch-up task, button). 附列资料二 figures computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deduction import services, transfers
from deduction.models import PeriodState, TaxPeriod, TransferOut
from deduction.selectors import schedule2_drilldown, schedule2_of
from deduction.services import SelectionInput
from deduction.tasks import transfers_out_catch_up_task
from invoicing.channels.base import RedFormLine, RedFormRequest
from invoicing.models import Event
from receiving import redforms, signals, usage
from tests.receiving.platform_world import channel_of

pytestmark = pytest.mark.django_db


def deduct_and_confirm(period, invoices, actor, chan):
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=i.pk) for i in invoices],
                              actor=actor, channel=chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=actor, channel=chan)
    return services.tax_period_confirm(tax_period=period, actor=actor, channel=chan)


def confirm(period, actor, chan):
    period = services.tax_period_statistics_apply(tax_period=period, actor=actor, channel=chan)
    return services.tax_period_confirm(tax_period=period, actor=actor, channel=chan)


def supplier_red_line_2(yuntu, record, request_no):
    """云途 red-flushes line 2 of ``record`` (500.00 + 30.00) by 100.00 + 6.00."""
    return channel_of(yuntu).red_form_apply(RedFormRequest(request_no, record.number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal("-100.00"), tax=Decimal("-6.00")),)))


def test_a_red_form_confirmed_against_an_invoice_deducted_earlier_makes_one_line_20_entry(
        period, make_invoice, fiona, chan, world, yuntu, django_capture_on_commit_callbacks):
    a = make_invoice(("1000.00", "500.00"))  # tax 60.00 + 30.00 = 90.00
    november = deduct_and_confirm(period, [a], fiona, chan)
    assert schedule2_of(november)["2"].tax == Decimal("90.00")
    supplier_red_line_2(yuntu, a, "HZ-S-AUTO-1")
    redforms.received_red_forms_pull(taxpayer=world, channel=chan)
    form = a.red_forms.get()
    with django_capture_on_commit_callbacks(execute=True):
        form = redforms.received_red_form_confirm(form=form, actor=fiona, channel=chan)
    assert form.applied
    [row] = TransferOut.objects.filter(invoice=a)
    assert (row.line, row.tax, row.automatic, row.source_key) == ("20", Decimal("6.00"), True, f"red-form:{form.pk}")
    assert row.tax_period.period > "202611" and row.tax_period.state == PeriodState.OPEN
    assert form.form_no in row.reason and "202611" in row.reason
    assert Event.objects.filter(action="transfer_out", object_id=str(row.tax_period_id),
                                data__source=f"red-form:{form.pk}").count() == 1
    # the same cause again, by every path: nothing more
    with django_capture_on_commit_callbacks(execute=True):
        signals.red_form_applied.send(sender=None, form_id=form.pk, invoice_id=a.pk, taxpayer_id=world.pk)
    assert transfers.transfer_out_red_form(form_id=form.pk) is None
    assert transfers_out_catch_up_task() == {"made": 0}
    assert services.transfers_out_detect(tax_period=row.tax_period, actor=fiona) == []
    assert TransferOut.objects.filter(invoice=a).count() == 1
    # 附列资料二 of the period it went into: line 20 = 6.00 (30.00 × 100/500), line 13 = 6.00; nothing deducted
    later = confirm(row.tax_period, fiona, chan)
    lines = schedule2_of(later)
    assert (lines["20"].tax, _ids(later, "20")) == (Decimal("6.00"), [a.pk])
    assert lines["13"].tax == Decimal("6.00") and lines["12"].tax == Decimal("0.00")


def test_a_red_form_before_the_deduction_is_confirmed_makes_nothing_until_then(
        period, make_invoice, fiona, chan, world, yuntu, django_capture_on_commit_callbacks):
    a = make_invoice(("1000.00", "500.00"))
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk)], actor=fiona, channel=chan)
    supplier_red_line_2(yuntu, a, "HZ-S-AUTO-2")
    redforms.received_red_forms_pull(taxpayer=world, channel=chan)
    with django_capture_on_commit_callbacks(execute=True):
        redforms.received_red_form_confirm(form=a.red_forms.get(), actor=fiona, channel=chan)
    assert not TransferOut.objects.exists()  # deducted in no confirmed period yet
    confirm(period, fiona, chan)  # 202611 confirmed with the whole 90.00 (selected before the red invoice)
    assert transfers_out_catch_up_task() == {"made": 1}  # the hourly catch-up sees it
    [row] = TransferOut.objects.all()
    assert (row.line, row.tax, row.invoice_id) == ("20", Decimal("6.00"), a.pk)
    assert transfers.transfers_out_catch_up() == []


def test_an_abnormal_voucher_goes_to_23a_and_its_clearing_comes_back_negative(
        period, make_invoice, fiona, chan, world, django_capture_on_commit_callbacks):
    b = make_invoice(("200.00",))  # tax 12.00
    deduct_and_confirm(period, [b], fiona, chan)
    with django_capture_on_commit_callbacks(execute=True):
        usage.received_invoice_risk_level_record(record=b, risk_level="02", actor=fiona, reason="税务机关异常凭证通知")
    [raised] = TransferOut.objects.filter(invoice=b)
    assert (raised.line, raised.tax, raised.source_key) == ("23a", Decimal("12.00"), f"abnormal:{b.pk}:1")
    with django_capture_on_commit_callbacks(execute=True):  # the same status again, and every other path
        usage.received_invoice_risk_level_record(record=b, risk_level="02", actor=fiona, reason="再次通知")
        signals.risk_level_changed.send(sender=None, invoice_id=b.pk, before="01", after="02")
    assert transfers.transfers_out_catch_up() == []
    assert services.transfers_out_detect(tax_period=raised.tax_period, actor=fiona) == []
    assert TransferOut.objects.filter(invoice=b).count() == 1
    first = confirm(raised.tax_period, fiona, chan)
    lines = schedule2_of(first)
    assert (lines["23a"].tax, lines["13"].tax, _ids(first, "23a")) == (Decimal("12.00"), Decimal("12.00"), [b.pk])
    # cleared: a negative 23a entry, in the next period still open (the first one is confirmed)
    with django_capture_on_commit_callbacks(execute=True):
        usage.received_invoice_risk_level_record(record=b, risk_level="01", actor=fiona, reason="异常凭证已解除")
    back = TransferOut.objects.get(invoice=b, tax__lt=0)
    assert (back.line, back.tax, back.source_key) == ("23a", Decimal("-12.00"), f"abnormal-cleared:{b.pk}:1")
    assert back.tax_period.period > first.period
    assert transfers.transfers_out_catch_up() == []
    second = confirm(back.tax_period, fiona, chan)
    lines = schedule2_of(second)
    assert (lines["23a"].tax, lines["13"].tax) == (Decimal("-12.00"), Decimal("-12.00"))
    # abnormal once more: a new episode, a new entry
    with django_capture_on_commit_callbacks(execute=True):
        usage.received_invoice_risk_level_record(record=b, risk_level="02", actor=fiona, reason="再次列为异常凭证")
    assert sorted(TransferOut.objects.filter(invoice=b).values_list("tax", flat=True)) == [
        Decimal("-12.00"), Decimal("12.00"), Decimal("12.00")]


def test_the_catch_up_finds_a_cause_whose_signal_was_lost(period, make_invoice, fiona, chan, world):
    b = make_invoice(("200.00",))
    deduct_and_confirm(period, [b], fiona, chan)
    # the transaction's on-commit work never runs here: as if the worker had died
    usage.received_invoice_risk_level_record(record=b, risk_level="02", actor=fiona, reason="税务机关异常凭证通知")
    assert not TransferOut.objects.exists()
    assert transfers_out_catch_up_task(taxpayer_id=world.pk) == {"made": 1}
    assert transfers_out_catch_up_task(taxpayer_id=world.pk) == {"made": 0}
    row = TransferOut.objects.get()
    assert (row.line, row.tax, row.invoice_id, row.automatic) == ("23a", Decimal("12.00"), b.pk, True)


def test_the_transfer_goes_past_confirmed_periods_and_never_into_a_filed_one(period, make_invoice, fiona, chan,
                                                                           world):
    b = make_invoice(("200.00",))
    november = deduct_and_confirm(period, [b], fiona, chan)
    target = transfers.target_period(taxpayer_id=world.pk, after=november.period)
    TaxPeriod.objects.filter(pk=target.pk).update(state=PeriodState.FILED)
    later = transfers.target_period(taxpayer_id=world.pk, after=november.period)
    assert later.period > target.period and later.state == PeriodState.OPEN
    assert transfers.transfer_out_abnormal(invoice_id=b.pk) is None  # not abnormal: nothing


def _ids(period, line):
    """The invoices behind a line of the period's report: its drill-down."""
    return [item.invoice_id for item in schedule2_drilldown(period, line, offset=0, limit=500).items]
