"""The deduction world: 云途 supplies 明远 through the sandbox platform; 明远 selects what it received."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from deduction import services
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

# A day in 202611's own month, past 202610's filing deadline (2026-11-16): 202611 is the current 所属期 and the
# invoices the tests issue "today" belong to it (domain.md §14.4, §14.5). The tests name their periods, so their day
# is fixed rather than the calendar's.
TODAY = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def in_november_2026():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def world(yuntu, mingyuan, fiona):
    connect(yuntu)
    connect(mingyuan)
    return mingyuan


@pytest.fixture
def chan(world):
    return channel_of(world)


@pytest.fixture
def period(world, fiona):
    return services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)


@pytest.fixture
def invoice(yuntu, world, fiona):
    return supplied_invoice(yuntu, world, actor=fiona)


@pytest.fixture
def make_invoice(yuntu, world, fiona):
    def make(amounts=("1000.00",)):
        return supplied_invoice(yuntu, world, actor=fiona, amounts=amounts)
    return make
