"""Which invoices may be selected into which 所属期, and when (domain.md §14.4, §14.5): only the current 所属期 takes
勾选; a period past its filing deadline is closed, confirmed or not; an invoice goes into the period of its issue
date or a later one, never an earlier one; one issued before 2017 needs 逾期抵扣. The service refuses, the
workbench does not offer, the bulk selection does not start. The tests' day is 2026-11-25 (conftest)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from deduction import bulk, services
from deduction.models import PeriodState, Selection, SelectionState, TaxPeriod
from deduction.services import SelectionInput
from receiving.models import ReceivedInvoice

pytestmark = pytest.mark.django_db

CN = ZoneInfo("Asia/Shanghai")
OCT_20 = datetime(2026, 10, 20, 10, 0, tzinfo=CN)
DEC_7 = datetime(2026, 12, 7, 10, 0, tzinfo=CN)  # 202611's filing window (deadline 2026-12-15), 202610's is over


def _select(period, invoices, fiona, chan):
    return services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=i.pk) for i in invoices],
                                     actor=fiona, channel=chan)


def test_a_period_past_its_filing_deadline_takes_no_selection(world, fiona, chan, make_invoice):
    october = services.tax_period_ensure(taxpayer=world, period="202610", actor=fiona)  # open, never confirmed
    with time_machine.travel(OCT_20, tick=True):
        october_invoice = make_invoice()
    assert october_invoice.issue_date == date(2026, 10, 20)
    with time_machine.travel(DEC_7, tick=True):
        with pytest.raises(ValidationError, match="所属期 202610 的申报截止日 2026-11-16 已过，不能再勾选；"
                                                  "勾选只能进入当前所属期 202611"):
            _select(october, [october_invoice], fiona, chan)
        assert not Selection.objects.exists()
        assert list(bulk.selectable_invoices(october)) == []
        with pytest.raises(ValidationError, match="申报截止日 2026-11-16 已过"):
            bulk.deduction_bulk_select_start(tax_period=october, flt=bulk.BulkFilter(), purpose="1", actor=fiona,
                                             enqueue=False)
        # the current period takes it
        november = services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)
        [row] = _select(november, [october_invoice], fiona, chan)
        assert row.state == SelectionState.ACCEPTED


def test_an_invoice_issued_after_the_period_waits_for_a_later_one(world, fiona, chan, period, make_invoice):
    november = make_invoice()  # issued 2026-11-25
    with time_machine.travel(DEC_7, tick=True):
        december = make_invoice()  # issued 2026-12-07: 202611 is still the current period (not confirmed)
        assert december.issue_date == date(2026, 12, 7)
        assert [r.pk for r in bulk.selectable_invoices(period)] == [november.pk]
        with pytest.raises(ValidationError) as exc:
            _select(period, [november, december], fiona, chan)
        assert exc.value.messages == [f"第 2 行（发票 {december.number}）：开票日期 2026-12-07 晚于所属期 202611 的"
                                      "最后一天 2026-11-30，应在以后的所属期勾选"]
        assert not Selection.objects.exists()
        # 202612 opens only once 202611 is confirmed (or past its deadline)
        next_period = services.tax_period_ensure(taxpayer=world, period="202612", actor=fiona)
        with pytest.raises(ValidationError, match="上一所属期 202611 尚未确认且未过申报截止日 2026-12-15"):
            _select(next_period, [december], fiona, chan)
        assert list(bulk.selectable_invoices(next_period)) == []
        _select(period, [november], fiona, chan)
        period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
        services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
        assert [r.pk for r in bulk.selectable_invoices(next_period)] == [december.pk]
        [row] = _select(next_period, [december], fiona, chan)
        assert row.state == SelectionState.ACCEPTED
        with pytest.raises(ValidationError, match="所属期 202611 已确认，不能再勾选；勾选只能进入当前所属期 202612"):
            _select(period, [make_invoice()], fiona, chan)


def test_a_period_not_begun_takes_no_selection(world, fiona, chan, make_invoice):
    later = services.tax_period_ensure(taxpayer=world, period="202701", actor=fiona)
    with pytest.raises(ValidationError, match="所属期 202701 尚未开始，勾选只能进入当前所属期 202611"):
        _select(later, [make_invoice()], fiona, chan)


def test_an_invoice_issued_before_2017_needs_the_overdue_procedure(period, fiona, chan, make_invoice):
    old = make_invoice()
    ReceivedInvoice.objects.filter(pk=old.pk).update(issue_date=date(2016, 12, 31))
    assert list(bulk.selectable_invoices(period)) == []
    with pytest.raises(ValidationError, match="开票日期 2016-12-31 早于 2017-01-01，须申请逾期抵扣"):
        _select(period, [old], fiona, chan)


def test_the_workbench_of_a_closed_period_says_why_and_offers_nothing(client, world, fiona, make_invoice, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    october = services.tax_period_ensure(taxpayer=world, period="202610", actor=fiona)
    with time_machine.travel(OCT_20, tick=True):
        invoice = make_invoice()
    client.force_login(fiona)
    with time_machine.travel(DEC_7, tick=True):
        page = client.get(reverse("admin:deduction_taxperiod_change", args=[october.pk])).content.decode()
        assert "所属期 202610 的申报截止日 2026-11-16 已过，不能再勾选" in page
        assert "勾选并提交平台" not in page and invoice.number not in page and 'id="fapiao-bulk"' not in page
        resp = client.post(reverse("admin:deduction_taxperiod_select", args=[october.pk]),
                           {"invoice": [invoice.pk], "purpose": "1"}, follow=True)
        assert "申报截止日 2026-11-16 已过" in resp.content.decode() and "勾选成功" not in resp.content.decode()
    assert not Selection.objects.exists()
    assert TaxPeriod.objects.get(pk=october.pk).state == PeriodState.OPEN
