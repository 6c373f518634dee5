"""Deduction periods through the API: the client's entities only, and a confirmed period's 附列资料二."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from deduction import services
from deduction.services import SelectionInput
from tests.deduction.conftest import TODAY as DEDUCTION_TODAY
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_november_2026():
    """The periods named here are the current ones on the deduction tests' day (tests/deduction/conftest.py)."""
    with time_machine.travel(DEDUCTION_TODAY, tick=True):
        yield


@pytest.fixture
def confirmed(yuntu, mingyuan, fiona):
    connect(yuntu)
    connect(mingyuan)
    invoice = supplied_invoice(yuntu, mingyuan, actor=fiona)
    chan = channel_of(mingyuan)
    period = services.tax_period_ensure(taxpayer=mingyuan, period="202611", actor=fiona)
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                              channel=chan)
    period = services.tax_period_statistics_apply(tax_period=period, actor=fiona, channel=chan)
    return services.tax_period_confirm(tax_period=period, actor=fiona, channel=chan), invoice


def test_periods_and_schedule2(erp, shop, confirmed, fiona, yuntu):
    period, invoice = confirmed
    listed = erp.get("deduction/periods/")
    assert listed.status_code == 200
    assert [p["period"] for p in listed.json()["results"]] == ["202611"]
    assert listed.json()["results"][0]["state"] == "confirmed"
    report = erp.get(f"deduction/periods/{period.pk}/schedule2/").json()
    lines = {x["line"]: x for x in report["lines"]}
    assert {k: v for k, v in lines["2"].items() if k != "drilldown"} == {"line": "2", "count": 1,
                                                                         "amount": "1500.00", "tax": "90.00"}
    assert lines["2"]["drilldown"].endswith(f"/api/v1/deduction/periods/{period.pk}/schedule2/2/")
    drill = erp.get(f"deduction/periods/{period.pk}/schedule2/2/").json()
    assert [i["invoice_id"] for i in drill["results"]] == [invoice.pk]
    assert (drill["total"], drill["count"], drill["tax"]) == (1, 1, "90.00")
    assert sum(Decimal(i["tax"]) for i in drill["results"]) == Decimal(lines["2"]["tax"])  # the line ties out
    assert erp.get(f"deduction/periods/{period.pk}/schedule2/99/").status_code == 404
    assert shop.get(f"deduction/periods/{period.pk}/schedule2/2/").status_code == 404
    # another entity's client sees nothing of it
    assert shop.get("deduction/periods/").json()["results"] == []
    assert shop.get(f"deduction/periods/{period.pk}/schedule2/").status_code == 404


def test_schedule2_of_an_open_period_is_a_conflict(erp, mingyuan, fiona):
    open_period = services.tax_period_ensure(taxpayer=mingyuan, period="202612", actor=fiona)
    resp = erp.get(f"deduction/periods/{open_period.pk}/schedule2/")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "invalid_state"
