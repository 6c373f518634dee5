"""The deduction world: 云途 supplies 明远 through the sandbox platform; 明远 selects what it received."""

from __future__ import annotations

import pytest

from deduction import services
from tests.receiving.platform_world import channel_of, connect, supplied_invoice


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
