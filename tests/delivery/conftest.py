from __future__ import annotations

import pytest
from django.core.cache import cache

from invoicing import roles
from tests.delivery.factories import make_invoice


@pytest.fixture(autouse=True)
def delivery_roles(db):
    roles.sync_role_permissions()


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def invoice(yuntu):
    return make_invoice(yuntu)


@pytest.fixture
def mingyuan_invoice(mingyuan):
    return make_invoice(mingyuan)


@pytest.fixture
def eager_retries():
    """Let eager tasks run their retries in-line (with propagation on, an eager ``self.retry`` raises instead)."""
    from invoicing.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


@pytest.fixture(autouse=True)
def _local_webhook_receivers(settings):
    """The webhook receivers in these tests are HTTP servers on 127.0.0.1, which production refuses
    (``WEBHOOK_ALLOW_PRIVATE_HOSTS``); tests/delivery/test_webhook_guard.py tests the refusal itself."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
