"""The small named test world.

Two entities: 云途 (``yuntu``) and 明远 (``mingyuan``). Users: Fiona (finance, all entities), Sam (customer service,
all entities), Lily (finance, only 明远), Ada (system administrator). Tests name these people rather than build
ad-hoc users.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

from invoicing import roles
from tests.factories import CounterpartyFactory, PersonFactory, TaxpayerFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only and browser tests skip on a developer's SQLite run, but never in CI."""
    from django.conf import settings

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
from tests.db_teardown import django_db_setup, pytest_sessionfinish  # noqa: E402,F401
