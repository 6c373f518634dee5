"""The channel world: 云途 and 明远 with sandbox accounts, and helpers to build issue requests."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from invoicing.channels import get_channel
from invoicing.channels.base import IssueLine, IssueRequest, Party
from sandbox import services as sandbox

_serials = itertools.count(1)


def connect(taxpayer, **account):
    taxpayer.channel_app_key = f"{taxpayer.credit_code}-key"
    taxpayer.channel_secret = f"{taxpayer.credit_code}-secret-value"
    taxpayer.save()
    sandbox.account_ensure(
        credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
        secret=taxpayer.channel_secret, region_code=taxpayer.region_code, **account,
    )
    return taxpayer


@pytest.fixture
def seller(yuntu):
    return connect(yuntu)


@pytest.fixture
def buyer_entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def channel(seller):
    return get_channel(seller, transport="inprocess")


@pytest.fixture
def buyer_channel(buyer_entity):
    return get_channel(buyer_entity, transport="inprocess")


def line(no=1, amount="1000.00", rate="0.06", tax=None, **kw):
    amount = Decimal(amount)
    rate = Decimal(rate)
    tax = Decimal(tax) if tax is not None else (amount * rate).quantize(Decimal("0.01"))
    values = dict(line_no=no, item_name="软件技术服务费", short_name="信息技术服务", amount=amount, tax_rate=rate,
                  tax=tax, tax_code="3040201000000000000", quantity=Decimal(1), unit_price=amount, unit="项")
    values.update(kw)
    return IssueLine(**values)


def issue_request(seller, *, buyer=None, kind="81", lines=None, serial=None, **kw):
    lines = tuple(lines or (line(1), line(2, "500.00")))
    amount = sum((ln.amount for ln in lines), Decimal("0.00"))
    tax = sum((ln.tax for ln in lines), Decimal("0.00"))
    values = dict(
        serial=serial or f"S{next(_serials):08d}", seller_credit_code=seller.credit_code, kind=kind,
        buyer=buyer or Party(name="深圳明远信息技术有限公司", tax_id="91440300MA5FM1NGYB", phone="0755-86660000",
                             bank_name="中国银行", bank_account="7560301234567890"),
        lines=lines, total_amount=amount, total_tax=tax, total_with_tax=amount + tax, drawer="赵敏",
    )
    values.update(kw)
    return IssueRequest(**values)


# --- the fake Nuonuo open platform --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nuonuo_server():
    from tests.channels.fake_nuonuo import FakeNuonuo

    server = FakeNuonuo().start()
    yield server
    server.stop()


@pytest.fixture
def fake_nuonuo(nuonuo_server, settings):
    """The fake platform, empty, with the client pointed at it (short read time-out: the fake's time-outs are
    real ones)."""
    nuonuo_server.reset()
    settings.NUONUO_API_URL = nuonuo_server.api_url
    settings.NUONUO_TOKEN_URL = nuonuo_server.token_url
    settings.NUONUO_FILE_HOSTS = ["127.0.0.1"]
    settings.NUONUO_CONNECT_TIMEOUT = 2
    settings.NUONUO_READ_TIMEOUT = 1.5
    settings.NUONUO_CALLBACK_URL = ""
    yield nuonuo_server
    nuonuo_server.reset()


def connect_nuonuo(fake, taxpayer):
    taxpayer.channel = "nuonuo"
    taxpayer.channel_app_key = f"nn-{taxpayer.credit_code}"
    taxpayer.channel_secret = f"nn-secret-{taxpayer.credit_code}"
    taxpayer.save()
    fake.add_app(app_key=taxpayer.channel_app_key, secret=taxpayer.channel_secret, tax_no=taxpayer.credit_code,
                 name=taxpayer.name)
    return taxpayer


@pytest.fixture
def nn_seller(fake_nuonuo, yuntu):
    return connect_nuonuo(fake_nuonuo, yuntu)


@pytest.fixture
def nn_buyer(fake_nuonuo, mingyuan):
    return connect_nuonuo(fake_nuonuo, mingyuan)


@pytest.fixture
def nn_channel(nn_seller):
    return get_channel(nn_seller)


@pytest.fixture
def nn_buyer_channel(nn_buyer):
    return get_channel(nn_buyer)
