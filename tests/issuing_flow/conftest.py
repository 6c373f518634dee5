"""The issuing-flow world: 云途 connected to its sandbox account, approved applications, the in-process channel."""

from __future__ import annotations

import types

import pytest

from bench.soak import make_approved_applications
from invoicing.channels import get_channel
from issuing.applications.models import InvoiceApplication
from sandbox import services as sandbox
from sandbox.faults import profile_set


def connect(taxpayer, **account):
    taxpayer.channel_app_key = f"{taxpayer.credit_code}-flow-key"
    taxpayer.channel_secret = f"{taxpayer.credit_code}-flow-secret"
    taxpayer.drawer = "赵敏"
    taxpayer.save()
    sandbox.account_ensure(
        credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
        secret=taxpayer.channel_secret, region_code=taxpayer.region_code, **account,
    )
    return taxpayer


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    settings.ISSUING_RETRY_BASE_SECONDS = 0
    settings.ISSUING_MAX_ATTEMPTS = 4
    settings.ISSUING_QUEUE_FILES = 0


@pytest.fixture
def seller(yuntu):
    return connect(yuntu)


@pytest.fixture
def account(seller):
    from sandbox.models import SandboxAccount

    return SandboxAccount.objects.get(credit_code=seller.credit_code)


@pytest.fixture
def channel(seller):
    return get_channel(seller, transport="inprocess")


@pytest.fixture
def approved(seller):
    """A factory of approved applications for 云途."""

    def make(n: int = 1):
        ids = make_approved_applications(seller, n)
        apps = list(InvoiceApplication.objects.filter(pk__in=ids).order_by("id"))
        return apps[0] if n == 1 else apps

    return make


@pytest.fixture
def queued_tasks(monkeypatch):
    """The issuing tasks handed to Celery, recorded instead of run: the test plays the worker.

    The code under test queues them with ``transaction.on_commit``: in a test inside a transaction they are handed
    over when ``django_capture_on_commit_callbacks(execute=True)`` runs the callbacks, in a transactional test at
    the commit. ``.issue``: the application id of each one-by-one task; ``.batches``: the ids of each batch task;
    ``.drains``: the countdown of each drain armed for single submissions (None: at once, as with eager tasks).
    """
    from django.core.cache import cache

    from issuing.platform import services as platform_services
    from issuing.platform.tasks import issue_application_task, issue_batch_task, issue_drain_task

    queued = types.SimpleNamespace(issue=[], batches=[], drains=[])
    monkeypatch.setattr(issue_application_task, "delay", queued.issue.append)
    monkeypatch.setattr(issue_batch_task, "delay", queued.batches.append)
    monkeypatch.setattr(issue_drain_task, "apply_async",
                        lambda args=None, kwargs=None, countdown=None, **options: queued.drains.append(countdown))
    cache.delete(platform_services.DRAIN_ARMED_KEY)
    return queued


@pytest.fixture
def faults(account):
    """Switch the account's fault profile: ``faults(error_rate=1)``; ``faults()`` switches it off."""

    def switch(**values):
        if not values:
            return profile_set(account=account, enabled=False, error_rate=0, timeout_before_rate=0,
                               timeout_after_rate=0, duplicate_reply_rate=0, session_dropped=False)
        return profile_set(account=account, enabled=True, **values)

    return switch


@pytest.fixture
def issuer(django_user_model, fiona):
    return fiona


class ScriptedChannel:
    """Wraps the real in-process channel; raises the scripted errors first, then calls through."""

    def __init__(self, inner, *, issue=(), query=()):
        self.inner = inner
        self.issue_script = list(issue)
        self.query_script = list(query)
        self.issue_calls = []
        self.query_calls = []

    def issue_invoice(self, request):
        self.issue_calls.append(request.serial)
        if self.issue_script:
            step = self.issue_script.pop(0)
            if step == "through_then_timeout":
                self.inner.issue_invoice(request)
                from invoicing.channels.base import ChannelUnavailable

                raise ChannelUnavailable("read time-out", kind="timeout")
            if isinstance(step, Exception):
                raise step
        return self.inner.issue_invoice(request)

    def query_issue(self, serial):
        self.query_calls.append(serial)
        if self.query_script:
            step = self.query_script.pop(0)
            if isinstance(step, Exception):
                raise step
        return self.inner.query_issue(serial)
