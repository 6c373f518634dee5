"""The 发票汇总表's daily rollup stays equal to the live aggregate over the lines: invoices issued through the
services, red invoices (full and partial), paper voids; a rebuild reproduces it; scope and day filters hold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issuing.platform.models import Invoice, InvoiceBuyerMonth, InvoiceDailyRate, InvoiceStatus
from issuing.platform.rollup import (
    buyer_rollup_differences,
    rebuild_rollup,
    rollup_differences,
    rollup_invoice,
    rollup_invoices,
)
from issuing.redletter.forms import redletter_request
from issuing.redletter.sync import redletter_sync
from issuing.redletter.voids import paper_invoice_void
from issuing.reports import summary
from issuing.reports.summary import ReportFilters
from tests.exporting.conftest import make_invoice
from tests.redletter.conftest import (  # noqa: F401 - fixtures
    blue,
    buyer_channel,
    buyer_confirms,
    buyer_entity,
    channel,
    fast_retries,
    line,
    seller,
)

pytestmark = pytest.mark.django_db
CONSTRUCTION = "3050100000000000000"  # 工程服务, 9%


def construction(amount: str) -> dict:
    return line(amount, quantity="1", rate="0.09") | {"item_name": "工程服务", "tax_category": CONSTRUCTION}


def rollup_rows():
    return sorted(InvoiceDailyRate.objects.values_list("taxpayer_id", "issue_date", "tax_rate", "is_red",
                                                       "invoice_count", "amount", "tax"))


def assert_rollup_is_live(user, filters=None):
    filters = filters or ReportFilters()
    assert rollup_differences() == []
    assert buyer_rollup_differences() == []  # the buyers' monthly rollup follows the same calls
    assert summary.summary_rows(user, filters) == summary.summary_rows_live(user, filters)


# --- through the services ----------------------------------------------------------------------------------------


def test_issuing_red_flushing_and_voiding_keep_the_rollup_equal_to_the_lines(blue, fiona, channel):  # noqa: F811
    mixed = blue(lines=[line("1000.00"), construction("500.00"), line("200.00", quantity="2")])
    assert_rollup_is_live(fiona)
    six = InvoiceDailyRate.objects.get(tax_rate=Decimal("0.06"), is_red=False)
    assert (six.invoice_count, six.amount, six.tax) == (1, Decimal("1200.00"), Decimal("72.00"))
    redletter_request(actor=fiona, blue_invoice=mixed, reason="01", submit=True, channel=channel)
    assert InvoiceDailyRate.objects.filter(is_red=True).count() == 2
    assert_rollup_is_live(fiona)
    paper = blue(kind="86")
    assert InvoiceDailyRate.objects.get(tax_rate=Decimal("0.06"), is_red=False).invoice_count == 2
    outcome = paper_invoice_void(invoice=paper, actor=fiona, reason="开错抬头", channel=channel)
    assert outcome.voided
    assert InvoiceDailyRate.objects.get(tax_rate=Decimal("0.06"), is_red=False).invoice_count == 1
    assert_rollup_is_live(fiona)
    maintained = rollup_rows()
    rebuild_rollup()
    assert rollup_rows() == maintained


def test_a_void_that_empties_a_bucket_removes_it(blue, fiona, channel):  # noqa: F811
    paper = blue(kind="86", lines=[construction("300.00")])
    assert InvoiceDailyRate.objects.filter(tax_rate=Decimal("0.09")).exists()
    paper_invoice_void(invoice=paper, actor=fiona, reason="开错抬头", channel=channel)
    assert not InvoiceDailyRate.objects.exists()
    assert not InvoiceBuyerMonth.objects.exists()
    assert summary.summary_rows(fiona) == summary.summary_rows_live(fiona) == []


_blue_lines = st.lists(st.tuples(st.integers(1, 500_000), st.sampled_from(["0.06", "0.09"])), min_size=1, max_size=3)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("blue"), st.sampled_from(["82", "86"]), _blue_lines, st.booleans()),
        st.tuples(st.just("red"), st.integers(0, 9), st.one_of(st.none(), st.integers(1, 99))),
        st.tuples(st.just("void"), st.integers(0, 9)),
    ),
    min_size=1, max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_steps)
def test_any_sequence_of_blue_red_and_void_keeps_the_rollup_right(steps, blue, fiona, channel,  # noqa: F811
                                                                  buyer_channel):  # noqa: F811
    """Random sequences of blue invoices (6% / 9% lines, electronic or paper), full or partial reds and voids;
    steps the rules refuse are skipped. Each example runs in a savepoint that is rolled back."""
    with transaction.atomic():
        blues: list[Invoice] = []
        for step in steps:
            if step[0] == "blue":
                _, kind, raw, booked = step
                lines = [line(f"{cents / 100:.2f}", quantity="1") if rate == "0.06"
                         else construction(f"{cents / 100:.2f}") for cents, rate in raw]
                blues.append(blue(lines=lines, kind=kind, booked=booked))
                continue
            if not blues:
                continue
            inv = Invoice.objects.get(pk=blues[step[1] % len(blues)].pk)
            try:
                if step[0] == "void":
                    paper_invoice_void(invoice=inv, actor=fiona, reason="开错", channel=channel)
                elif step[2] is None:
                    redletter_request(actor=fiona, blue_invoice=inv, reason="01", submit=True,
                                                channel=channel)
                else:
                    left = inv.total - inv.red_amount_total
                    part = (left * step[2] / 100).quantize(Decimal("0.01"))
                    form = redletter_request(actor=fiona, blue_invoice=inv, reason="04", submit=True,
                                                       channel=channel, amount_with_tax=part)
                    if form.status == "02":
                        buyer_confirms(buyer_channel, form)
                        redletter_sync(form=form, channel=channel)
            except ValidationError:
                pass  # not allowed in this state (already voided, fully flushed, an open form, ...)
            assert_rollup_is_live(fiona)
        assert_rollup_is_live(fiona)
        maintained = rollup_rows()
        rebuild_rollup()
        assert rollup_rows() == maintained
        transaction.set_rollback(True)


# --- factories, scope, filters, rebuild ----------------------------------------------------------------------------


def test_the_rollup_equals_the_live_aggregate_for_the_report_world(invoices, fiona):
    assert_rollup_is_live(fiona)
    assert len(summary.summary_rows(fiona)) == 5


def test_a_user_limited_to_one_entity_sees_only_its_rows(invoices, lily, mingyuan):
    rows = summary.summary_rows(lily)
    assert {r["taxpayer_id"] for r in rows} == {mingyuan.pk}
    assert rows == summary.summary_rows_live(lily)
    assert summary.summary_rows(lily, ReportFilters(taxpayer_ids=(invoices.taxpayer_id,))) == []


@pytest.mark.parametrize(("date_from", "date_to", "blue_amounts"), [
    (dt.date(2026, 10, 16), dt.date(2026, 10, 20), {("2026-10", "0.0600"): Decimal("500.00")}),
    (None, dt.date(2026, 10, 15), {("2026-10", "0.0600"): Decimal("1000.00"), ("2026-10", "0.1300"): Decimal("200.00")}),
    (dt.date(2026, 10, 21), dt.date(2026, 10, 21), {("2026-10", "0.0600"): Decimal("0.00")}),
    (dt.date(2026, 10, 22), dt.date(2026, 11, 1), {}),
])
def test_date_filters_cut_at_the_day(invoices, fiona, yuntu, date_from, date_to, blue_amounts):
    filters = ReportFilters(taxpayer_ids=(yuntu.pk,), date_from=date_from, date_to=date_to)
    rows = summary.summary_rows(fiona, filters)
    assert {(r["period"], str(r["rate"])): r["blue_amount"] for r in rows} == blue_amounts
    assert rows == summary.summary_rows_live(fiona, filters)


def test_many_invoices_roll_up_in_one_call_as_one_by_one(invoices, yuntu, mingyuan):
    extra = [make_invoice(tp, [("10.00", rate, "0.60"), ("5.00", "0.09", "0.45"), ("1.00", rate, "0.06")],
                          day=dt.date(2026, 10, day))
             for tp, rate, day in [(yuntu, "0.06", 15), (mingyuan, "0.13", 15), (yuntu, "0.13", 3)]]
    maintained = rollup_rows()
    live = Invoice.objects.exclude(status=InvoiceStatus.VOIDED)
    InvoiceDailyRate.objects.all().delete()
    rollup_invoices(list(live) + [extra[0].pk])  # an invoice given twice counts once
    assert rollup_rows() == maintained
    rollup_invoices(extra, sign=-1)
    for inv in extra:
        rollup_invoice(inv)
    assert rollup_rows() == maintained
    rollup_invoices(live.values_list("pk", flat=True), sign=-1)
    assert not InvoiceDailyRate.objects.exists()
    with pytest.raises(ValueError, match="sign"):
        rollup_invoices(extra, sign=2)


def test_a_partial_rebuild_touches_only_its_entities_and_days(invoices, yuntu, mingyuan):
    InvoiceDailyRate.objects.update(invoice_count=99)
    InvoiceBuyerMonth.objects.update(invoice_count=99)
    rebuild_rollup([yuntu.pk], dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert {(k[0], k[1]) for k, _, _ in buyer_rollup_differences()} == {
        (yuntu.pk, dt.date(2026, 11, 1)), (mingyuan.pk, dt.date(2026, 10, 1)), (mingyuan.pk, dt.date(2026, 11, 1))}
    diffs = rollup_differences()
    assert {(k[0], k[1]) for k, _, _ in diffs} == {(yuntu.pk, dt.date(2026, 11, 2)), (mingyuan.pk, dt.date(2026, 10, 15)),
                                                   (mingyuan.pk, dt.date(2026, 11, 5))}
    rebuild_rollup()
    assert rollup_differences() == [] and buyer_rollup_differences() == []


def test_the_command_checks_and_rebuilds(invoices, yuntu, capsys):
    call_command("rebuild_invoice_rollup", "--check")
    InvoiceDailyRate.objects.filter(taxpayer=yuntu).delete()
    make_invoice(yuntu, [("1.00", "0.03", "0.03")], day=dt.date(2026, 12, 1))  # a bucket only the lines lack now
    InvoiceDailyRate.objects.filter(tax_rate=Decimal("0.03")).update(amount=Decimal("2.00"))
    with pytest.raises(CommandError, match="differ"):
        call_command("rebuild_invoice_rollup", "--check", "--entity", yuntu.credit_code)
    call_command("rebuild_invoice_rollup", "--entity", yuntu.credit_code, "--from", "2026-10-01")
    assert "rollup rebuilt" in capsys.readouterr().out
    call_command("rebuild_invoice_rollup", "--check")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("rebuild_invoice_rollup", "--from", "1 Oct")


def test_voided_invoices_stay_out_and_empty_months_do_not_appear(invoices, fiona):
    voided = Invoice.objects.get(status=InvoiceStatus.VOIDED)
    assert not InvoiceDailyRate.objects.filter(issue_date=voided.issue_date, amount=Decimal("999.00")).exists()
    assert all(r["net_count"] > 0 for r in summary.summary_rows(fiona))
