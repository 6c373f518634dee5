"""附列资料二 by hand: each line group computed on paper, and every line equals the sum of its drill-down."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from deduction import input_tax, schedule2, selectors, services
from deduction.models import PeriodState, Selection, TaxPeriod, TransferOut
from deduction.selectors import schedule2_of
from deduction.services import SelectionInput


def sel(inv, kind, amount, tax, purpose="1", extra="0"):
    return {"invoice_id": inv, "kind": kind, "purpose": purpose, "amount": amount, "tax": tax, "extra_tax": extra}


def ids(rows, transfers, line):
    return [i.invoice_id for i in schedule2.drill(rows, transfers, line)]


def test_special_and_toll_go_to_lines_1_2_and_35():
    rows = [sel(1, "81", "1000.00", "130.00"), sel(2, "01", "500.00", "65.00"),
            sel(3, "14", "100.00", "3.00"), sel(4, "81", "50.00", "6.50", purpose="4")]
    lines = schedule2.build(rows, [])
    assert (lines["2"].count, lines["2"].amount, lines["2"].tax) == (3, Decimal("1600.00"), Decimal("198.00"))
    assert lines["1"].as_dict() == lines["2"].as_dict()
    assert (lines["35"].count, lines["35"].tax) == (2, Decimal("195.00"))  # the toll invoice is no 专票
    assert lines["12"].tax == Decimal("198.00") and 4 not in ids(rows, [], "12")
    assert ids(rows, [], "35") == [1, 2]


def test_other_vouchers_go_to_line_4_and_its_parts():
    lines = schedule2.build([
        sel(1, "customs", "10000.00", "1300.00"),
        sel(2, "agri_purchase", "2000.00", "180.00", extra="20.00"),
        sel(3, "51", "109.00", "9.00"), sel(4, "air_paper", "1090.00", "90.00"),
    ], [])
    assert (lines["5"].count, lines["5"].tax) == (1, Decimal("1300.00"))
    assert (lines["6"].count, lines["6"].amount, lines["6"].tax) == (1, Decimal("2000.00"), Decimal("180.00"))
    assert (lines["8a"].count, lines["8a"].amount, lines["8a"].tax) == (0, Decimal("0.00"), Decimal("20.00"))
    assert (lines["8b"].count, lines["8b"].tax) == (2, Decimal("99.00"))
    assert lines["10"].as_dict() == lines["8b"].as_dict()
    assert (lines["4"].count, lines["4"].tax) == (4, Decimal("1599.00"))  # 1300 + 180 + 20 + 99
    assert lines["12"].tax == Decimal("1599.00")


def test_transfers_out_add_up_on_line_13():
    transfers = [{"line": "20", "tax": "30.00", "invoice_id": 7}, {"line": "23a", "tax": "13.00", "invoice_id": 8},
                 {"line": "15", "tax": "6.00", "invoice_id": None}]
    lines = schedule2.build([], transfers)
    assert lines["13"].tax == Decimal("49.00") and [i for i in ids([], transfers, "13") if i] == [7, 8]
    assert sum(i.tax for i in schedule2.drill([], transfers, "13")) == lines["13"].tax
    with pytest.raises(ValueError):
        schedule2.build([], [{"line": "5", "tax": "1", "invoice_id": None}])


def test_passenger_and_agricultural_arithmetic():
    assert input_tax.passenger_tax(kind="air_paper", total=Decimal("1000.00"), fuel=Decimal("90.00")) == Decimal("90.00")
    assert input_tax.passenger_tax(kind="rail_paper", total=Decimal("545.00")) == Decimal("45.00")
    assert input_tax.passenger_tax(kind="rail_paper", total=Decimal("103.00"), road_or_water=True) == Decimal("3.00")
    assert input_tax.passenger_tax(kind="61", total=Decimal("1000"), printed_tax=Decimal("82.57")) == Decimal("82.57")
    assert input_tax.agricultural_tax(Decimal("1234.56")) == Decimal("111.11")
    assert input_tax.agricultural_extra(Decimal("1234.56")) == Decimal("12.35")
    assert input_tax.face_tax(kind="81", amount=Decimal("100"), tax=Decimal("13.00"), total=None,
                              red_tax=Decimal("3.00")) == Decimal("10.00")


@pytest.mark.django_db
def test_confirmed_period_report_ties_out_and_is_reproduced(period, make_invoice, fiona, chan, world):
    a, b = make_invoice(), make_invoice(("200.00", "300.00"))
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk),
                                                        SelectionInput(invoice_id=b.pk)], actor=fiona, channel=chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    out = StringIO()
    call_command("schedule2", entity=world.credit_code, period="202611", json=True, stdout=out)
    data = json.loads(out.getvalue())["lines"]
    assert data["2"] == {"count": 2, "amount": "1500.00", "tax": "90.00", "drilldown": (
        f"manage.py schedule2 --entity {world.credit_code} --period 202611 --line 2 --json")}
    assert data["1"]["tax"] == data["12"]["tax"] == "90.00" and data["13"]["tax"] == "0.00"
    # each line equals the sum of its drill-down (the invoices' selections), read on its own
    drilled = {}
    for n in ("1", "2", "12", "35"):
        out_n = StringIO()
        call_command("schedule2", entity=world.credit_code, period="202611", json=True, line=n, stdout=out_n)
        drilled[n] = [i["invoice_id"] for i in json.loads(out_n.getvalue())["items"]]
        rows = Selection.objects.filter(invoice_id__in=drilled[n], tax_period=period)
        assert f"{sum(r.effective_tax for r in rows):.2f}" == data[n]["tax"]
    assert drilled["2"] == [a.pk, b.pk]
    # paged: one item per page, the pages together are the line
    pages = [json.loads(_drill_out(world, "2", offset=k, limit=1))["items"] for k in (0, 1, 2)]
    assert [len(p) for p in pages] == [1, 1, 0] and [p[0]["invoice_id"] for p in pages[:2]] == [a.pk, b.pk]
    # a later change to a selection row does not change the confirmed report
    Selection.objects.filter(invoice=a).update(effective_tax=Decimal("1.00"))
    out2 = StringIO()
    call_command("schedule2", entity=world.credit_code, period="202611", json=True, stdout=out2)
    assert json.loads(out2.getvalue())["lines"]["2"]["tax"] == "90.00"


def _drill_out(world, line, **kw):
    out = StringIO()
    call_command("schedule2", entity=world.credit_code, period="202611", json=True, line=line, stdout=out, **kw)
    return out.getvalue()


@pytest.mark.django_db
def test_automatic_transfers_out_red_form_line_20_and_abnormal_23a(period, make_invoice, fiona, chan, world):
    a, b = make_invoice(), make_invoice(("200.00",))
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=a.pk),
                                                        SelectionInput(invoice_id=b.pk)], actor=fiona, channel=chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    period = services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan)
    december = services.tax_period_ensure(taxpayer=world, period="202612", actor=fiona)
    type(a).objects.filter(pk=a.pk).update(red_tax=Decimal("30.00"), red_amount=Decimal("500.00"))
    type(b).objects.filter(pk=b.pk).update(risk_level="02")
    made = services.transfers_out_detect(tax_period=december, actor=fiona)
    assert sorted((t.line, t.tax, t.invoice_id) for t in made) == [("20", Decimal("30.00"), a.pk),
                                                                   ("23a", Decimal("12.00"), b.pk)]
    assert services.transfers_out_detect(tax_period=december, actor=fiona) == []  # once
    type(a).objects.filter(pk=a.pk).update(red_tax=Decimal("60.00"))
    [more] = services.transfers_out_detect(tax_period=december, actor=fiona)
    assert (more.line, more.tax) == ("20", Decimal("30.00"))
    manual = services.transfer_out_record(tax_period=december, line="15", tax=Decimal("8.00"), reason="职工食堂",
                                          actor=fiona)
    assert manual.reason == "职工食堂" and TransferOut.objects.filter(tax_period=december).count() == 4


@pytest.mark.django_db
def test_manual_transfer_out_names_each_bad_field(period, fiona):
    with pytest.raises(ValidationError) as exc:
        services.transfer_out_record(tax_period=period, line="5", tax=Decimal("-1"), reason="", actor=fiona)
    assert set(exc.value.message_dict) == {"line", "tax", "reason"}


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_database_sum_of_the_snapshot_is_the_same_report(mingyuan):
    """On PostgreSQL the report sums the snapshot in the database: every line, and the drill-down in its order, is
    what the row-by-row build gives."""
    rows = [sel(9, "81", "1000.00", "130.00"), sel(3, "agri_purchase", "2000.00", "180.00", extra="20.00"),
            sel(7, "14", "100.00", "3.00"), sel(5, "51", "109.00", "9.00"), sel(2, "85", "10.10", "1.31"),
            sel(4, "81", "50.00", "6.50", purpose="4"), sel(8, "agri_sales", "300.00", "27.00"),
            sel(1, "customs", "10000.00", "1300.00"), sel(6, "air_paper", "1090.00", "90.00"),
            sel(11, "81", "0.01", "0.00")]
    period = TaxPeriod.objects.create(taxpayer=mingyuan, period="202605")
    TaxPeriod.objects.filter(pk=period.pk).update(state=PeriodState.CONFIRMED, snapshot={"selections": rows})
    TransferOut.objects.create(tax_period=period, line="20", tax=Decimal("30.00"), reason="红冲")
    TransferOut.objects.create(tax_period=period, line="16", tax=Decimal("6.00"), reason="损失")
    transfers = [{"line": "20", "tax": "30.00", "invoice_id": None}, {"line": "16", "tax": "6.00", "invoice_id": None}]
    expected = schedule2.as_json(schedule2.build(rows, transfers))
    fresh = TaxPeriod.objects.get(pk=period.pk)
    assert schedule2.as_json(schedule2_of(fresh)) == expected
    # the totals kept at confirmation give the same figures without summing the snapshot
    TaxPeriod.objects.filter(pk=period.pk).update(snapshot_totals=services.snapshot_totals_of({"selections": rows}))
    with_totals = TaxPeriod.objects.defer("snapshot").get(pk=period.pk)
    assert schedule2.as_json(schedule2_of(with_totals)) == expected
    for n in schedule2.LINES:  # each line's drill-down, from the database, is the row-by-row one, and sums to it
        drilled = selectors.schedule2_drilldown(fresh, n, limit=1000)
        assert [i.as_dict() for i in drilled.items] == [i.as_dict() for i in schedule2.drill(rows, transfers, n)]
        assert drilled.total == len(drilled.items)
        figures = expected["lines"][n]
        assert (sum(i.count for i in drilled.items), f"{sum(i.amount for i in drilled.items):.2f}",
                f"{sum(i.tax for i in drilled.items):.2f}") == (figures["count"], figures["amount"], figures["tax"])
    assert [i.invoice_id for i in selectors.schedule2_drilldown(fresh, "12").items] == [9, 7, 2, 11, 1, 3, 8, 5, 6]
    page = selectors.schedule2_drilldown(fresh, "12", offset=3, limit=2)  # line 1, then line 4, a page of it
    assert (page.total, [i.invoice_id for i in page.items]) == (9, [11, 1])
