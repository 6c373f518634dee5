"""The small named test world.

Two entities: 云途 (``yuntu``) and 明远 (``mingyuan``). Users: Fiona (finance, all entities), Sam (customer service,
all entities), Lily (finance, only 明远), Ada (system administrator). Tests name these people rather than build
ad-hoc users.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db import connection

from invoicing import roles
from tests.factories import CounterpartyFactory, PersonFactory, TaxpayerFactory, UserFactory
from tests.issuing.factories import paper_stock

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_itemcollected(item):
    """Give each test that schemathesis generates per API operation (``@schema.parametrize()``) its operation in its
    node id, as a parametrized test has: ``test_x[GET /api/v1/invoices/]``.

    schemathesis names the item so but passes neither ``callspec`` nor a node id, and pytest 9 builds an item's id
    from ``originalname`` and ``callspec``: every operation's item would get the bare ``test_x``. Items that share
    an id are reported as one (pytest-xdist keeps one result per id), so most of them would go uncounted.
    """
    base = getattr(item, "originalname", None)
    if (base and item.name.startswith(f"{base}[") and item.name.endswith("]") and item.nodeid.endswith(f"::{base}")
            and hasattr(item, "_id")):
        item._id = item._id.with_params(item.name[len(base) + 1:-1])


def pytest_collection_modifyitems(config, items):
    """Every test has a node id of its own (or it would be counted as another); PostgreSQL-only and browser tests
    skip on a developer's SQLite run, but never in CI."""
    from django.conf import settings

    shared = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if shared:
        raise pytest.UsageError(f"{len(shared)} node ids are shared by several tests (each would be reported as one "
                                f"test): {shared[:5]}")

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if IN_CI:
                raise pytest.UsageError("CI=true but DATABASE_URL is not PostgreSQL: postgres tests would not run")
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); runs in CI"))


@pytest.fixture
def yuntu(db):
    return TaxpayerFactory(name="广州云途出行科技有限公司", short_name="云途", credit_code="91440101MA5CYUN00U")


@pytest.fixture
def mingyuan(db):
    return TaxpayerFactory(name="深圳明远信息技术有限公司", short_name="明远", credit_code="91440300MA5FM1NGYB",
                           region_code="4403")


@pytest.fixture
def yuntu_paper(yuntu):
    """云途 with blank 数电纸票 of both paper kinds in its 票仓 (1000 sheets each): tests that issue a paper invoice
    for 云途 need it, since issuing one without stock is a compliance failure."""
    paper_stock(yuntu)
    return yuntu


@pytest.fixture
def buyer(yuntu):
    return CounterpartyFactory(taxpayer=yuntu, name="上海白鹭文化传媒有限公司", tax_id="91310000MA1K0BA10F")


@pytest.fixture
def person(yuntu):
    return PersonFactory(taxpayer=yuntu, name="张伟", email="zhangwei@example.com")


@pytest.fixture
def fiona(db):
    return UserFactory(username="fiona", role=roles.FINANCE, entities=None)


@pytest.fixture
def sam(db):
    return UserFactory(username="sam", role=roles.CUSTOMER_SERVICE, entities=None)


@pytest.fixture
def lily(mingyuan):
    return UserFactory(username="lily", role=roles.FINANCE, entities=[mingyuan])


@pytest.fixture
def ada(db):
    return UserFactory(username="ada", role=roles.ADMINISTRATOR, entities=None)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language (Chinese): a test-client request in English leaves its language
    active in the thread, and services called afterwards would answer in English."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


# The test database must be dropped at the end: the run fails if anything still holds it (tests/db_teardown.py).
from tests.db_teardown import django_db_setup, pytest_sessionfinish, pytest_testnodedown  # noqa: E402,F401
