"""海关缴款书 (domain.md §14.8): selected only once its 稽核比对 is 相符; the workbench says why not; line 5 of
附列资料二 holds only those (figures by hand)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from deduction import services
from deduction.models import Selection, SelectionState
from deduction.selectors import schedule2_drilldown, schedule2_of
from deduction.services import SelectionInput, our_totals
from invoicing.channels.base import DeductionItemResult, DeductionSelectResult, DeductionStatistics
from invoicing.models import Event
from receiving import usage
from receiving.models import ReceivedInvoice, UseState

pytestmark = pytest.mark.django_db


class CustomsPlatform:
    """The platform's 海关缴款书 勾选 (the sandbox serves invoices only): every item accepted, the statistics are
    what was selected here (so they agree with ours)."""

    def __init__(self, period):
        self.period = period

    def deduction_select(self, request):
        return DeductionSelectResult(period=request.period, results=tuple(
            DeductionItemResult(number=x.number, ok=True, code="", message="") for x in request.items))

    def _stats(self, period, status):
        t = our_totals(self.period)
        return DeductionStatistics(period=period, status=status, count=t.count, amount=t.amount, tax=t.tax,
                                   not_deducted_count=t.not_deducted_count)

    def deduction_statistics_apply(self, period):
        return self._stats(period, "generated")

    def deduction_confirm(self, period):
        return self._stats(period, "confirmed")


def customs_form(taxpayer, number, amount, tax):
    return ReceivedInvoice.objects.create(
        taxpayer=taxpayer, kind="customs", number=number, issue_date=date(2026, 11, 3), seller_name="上海海关",
        buyer_name=taxpayer.name, buyer_tax_id=taxpayer.credit_code, amount=Decimal(amount), tax=Decimal(tax),
        total=Decimal(amount) + Decimal(tax), data_source="manual")


@pytest.fixture
def forms(world):
    return (customs_form(world, "220120261000000001", "10000.00", "1300.00"),
            customs_form(world, "220120261000000002", "5000.00", "650.00"))


def test_only_a_matched_customs_form_is_selected_and_line_5_counts_it(period, forms, fiona):
    matched, mismatched = forms
    platform = CustomsPlatform(period)
    with pytest.raises(ValidationError, match="稽核比对结果为「未比对」，相符后才能勾选"):
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=matched.pk)], actor=fiona,
                                  channel=platform)
    usage.received_customs_match_record(record=matched, status="matched", actor=fiona)
    usage.received_customs_match_record(record=mismatched, status="mismatched", actor=fiona, reason="税款金额不符")
    with pytest.raises(ValidationError) as exc:
        services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=matched.pk),
                                                            SelectionInput(invoice_id=mismatched.pk)],
                                  actor=fiona, channel=platform)
    assert "第 2 行" in str(exc.value) and "「不符」" in str(exc.value) and not Selection.objects.exists()
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=matched.pk)], actor=fiona,
                                      channel=platform)
    assert row.state == SelectionState.ACCEPTED and row.effective_tax == Decimal("1300.00")
    assert ReceivedInvoice.objects.get(pk=matched.pk).use_state == UseState.SELECTED
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=platform)
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=platform)
    lines = schedule2_of(period)
    assert (lines["5"].count, lines["5"].amount, lines["5"].tax) == (1, Decimal("10000.00"), Decimal("1300.00"))
    drill = schedule2_drilldown(period, "5", offset=0, limit=50)
    assert [i.invoice_id for i in drill.items] == [matched.pk] and drill.total == 1
    assert (lines["4"].tax, lines["12"].tax, lines["2"].count) == (Decimal("1300.00"), Decimal("1300.00"), 0)


def test_a_form_no_longer_matched_stops_the_statistics_until_it_is_unselected(period, forms, fiona):
    matched, _other = forms
    platform = CustomsPlatform(period)
    usage.received_customs_match_record(record=matched, status="matched", actor=fiona)
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=matched.pk)], actor=fiona,
                              channel=platform)
    usage.received_customs_match_record(record=matched, status="held", actor=fiona, reason="滞留待核查")
    with pytest.raises(ValidationError, match=f"稽核比对结果不是相符.*{matched.number}（滞留）"):
        services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=platform)


def test_the_match_status_service_checks_its_input_and_records_an_event(world, forms, fiona, make_invoice):
    matched, _other = forms
    with pytest.raises(ValidationError) as exc:
        usage.received_customs_match_record(record=matched, status="ok", actor=fiona)
    assert "customs_match" in exc.value.message_dict
    invoice = make_invoice()
    with pytest.raises(ValidationError, match="不是海关缴款书"):
        usage.received_customs_match_record(record=invoice, status="matched", actor=fiona)
    usage.received_customs_match_record(record=matched, status="missing", actor=fiona, reason="缺联")
    usage.received_customs_match_record(record=matched, status="missing", actor=fiona)  # the same: no event
    events = Event.objects.filter(action="customs_match", object_id=str(matched.pk))
    assert [(e.from_state, e.to_state) for e in events] == [("", "missing")]


def test_the_workbench_shows_why_a_customs_form_cannot_be_selected(client, fiona, period, forms):
    matched, mismatched = forms
    usage.received_customs_match_record(record=matched, status="matched", actor=fiona)
    usage.received_customs_match_record(record=mismatched, status="mismatched", actor=fiona)
    client.force_login(fiona)
    page = client.get(reverse("admin:deduction_taxperiod_change", args=[period.pk])).content.decode()
    assert "海关缴款书稽核比对结果为「不符」，相符后才能勾选" in page
    assert f'name="invoice" value="{matched.pk}"' in page
    assert f'name="invoice" value="{mismatched.pk}"' not in page
