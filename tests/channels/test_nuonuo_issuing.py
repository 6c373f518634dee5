"""Exactly-once issuing on the Nuonuo client: the product's own issuing services (attempts, duplicates, the poller)
against the fake Nuonuo server with injected faults and several workers at once, and a callback next to the poller."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from bench.soak import make_approved_applications
from invoicing.channels import get_channel
from invoicing.channels.base import ChannelUnavailable
from invoicing.channels.nuonuo_callback import callback_result
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import services as platform_services
from issuing.platform import tasks as platform_tasks
from issuing.platform.models import Invoice
from tests.channels.fake_nuonuo import Faults

S = ApplicationStatus


@pytest.fixture
def quiet_queue(monkeypatch, settings):
    """Nothing is queued: the test plays the workers (attempts, retries, the poller) itself."""
    monkeypatch.setattr(platform_tasks.issue_application_task, "delay", lambda *a, **k: None)
    monkeypatch.setattr(platform_tasks.issue_batch_task, "delay", lambda *a, **k: None)
    settings.ISSUING_MAX_ATTEMPTS = 1000
    settings.ISSUING_RETRY_BASE_SECONDS = 0
    settings.ISSUING_QUEUE_FILES = 0


def submitted(seller, n):
    ids = make_approved_applications(seller, n)
    platform_services.applications_submit_issue(applications=ids, actor=None)
    assert InvoiceApplication.objects.filter(pk__in=ids, status=S.ISSUING).count() == n
    return ids


def worker_round(ids, seed):
    """One worker: an attempt at every application still 开票中 (in its own order), then a poll."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    for pk in order:
        try:
            platform_services.issue_attempt(application_id=pk)
        except ChannelUnavailable:
            pass  # the task would retry later with the same serial
    platform_services.issue_poll_pending(older_than_seconds=0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_applications_with_faults_and_three_workers_give_one_invoice_each(fake_nuonuo, nn_seller, quiet_queue):
    ids = submitted(nn_seller, 24)
    fake_nuonuo.faults = Faults(enabled=True, error_rate=0.1, timeout_before_rate=0.04, timeout_after_rate=0.06,
                                duplicate_reply_rate=0.1, rate_limit_rate=0.05, seed=11)
    for round_no in range(8):
        pending = list(InvoiceApplication.objects.filter(pk__in=ids, status=S.ISSUING).values_list("pk", flat=True))
        if not pending:
            break
        threads = [threading.Thread(target=_run, args=(pending, seed))
                   for seed in range(round_no * 3, round_no * 3 + 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    fake_nuonuo.faults = Faults()
    platform_services.issue_poll_pending(older_than_seconds=0)

    statuses = Counter(InvoiceApplication.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {S.ISSUED: 24}
    per_app = Counter(Invoice.objects.filter(application_id__in=ids, is_red=False).values_list("application_id",
                                                                                               flat=True))
    assert set(per_app.values()) == {1} and len(per_app) == 24
    local = set(Invoice.objects.filter(application_id__in=ids).values_list("channel_serial", "number", "total"))
    remote = {(i.order_no, i.number, i.amount + i.tax) for i in fake_nuonuo.invoices.values()}
    assert local == remote
    assert all(fake_nuonuo.count(nn_seller.credit_code, serial) == 1 for serial, _, _ in local)
    drawn = Counter(fake_nuonuo.fault_log)
    assert all(drawn[kind] > 0 for kind in ("error", "timeout_after", "duplicate", "rate_limit")), drawn


def _run(ids, seed):
    try:
        worker_round(ids, seed)
    finally:
        connection.close()


@pytest.mark.django_db
def test_a_callback_and_the_poller_for_the_same_invoice_make_one_invoice(fake_nuonuo, nn_seller, quiet_queue,
                                                                         settings):
    settings.NUONUO_CALLBACK_URL = "https://fapiao.example.com/channels/nuonuo/callback"
    (pk,) = submitted(nn_seller, 1)
    fake_nuonuo.issue_delay = timedelta(seconds=30)
    assert platform_services.issue_attempt(application_id=pk) == platform_services.Outcome.PENDING
    fake_nuonuo.advance(seconds=31)
    ((url, form),) = fake_nuonuo.callbacks
    token = url.rstrip("/").rsplit("/", 1)[-1]
    channel = get_channel(nn_seller)

    # what the endpoint will do: check the request, ask the platform, record through the poller's function
    result = callback_result(taxpayer=nn_seller, token=token, form=form, channel=channel)
    app = InvoiceApplication.objects.get(pk=pk)
    assert result.serial == app.issue_serial
    assert platform_services.apply_result(application_id=pk, result=result) == platform_services.Outcome.ISSUED
    # the same callback again (Nuonuo repeats unanswered callbacks), and the poller's round
    platform_services.apply_result(application_id=pk,
                                   result=callback_result(taxpayer=nn_seller, token=token, form=form,
                                                          channel=channel))
    platform_services.issue_poll_pending(older_than_seconds=0)
    assert Invoice.objects.filter(application_id=pk).count() == 1
    assert InvoiceApplication.objects.get(pk=pk).status == S.ISSUED


@pytest.mark.django_db
def test_the_poller_first_then_a_late_callback_still_make_one_invoice(fake_nuonuo, nn_seller, quiet_queue,
                                                                      settings):
    settings.NUONUO_CALLBACK_URL = "https://fapiao.example.com/channels/nuonuo/callback"
    (pk,) = submitted(nn_seller, 1)
    platform_services.issue_attempt(application_id=pk)
    platform_services.issue_poll_pending(older_than_seconds=0)
    invoice = Invoice.objects.get(application_id=pk)
    ((url, form),) = fake_nuonuo.callbacks
    result = callback_result(taxpayer=nn_seller, token=url.rstrip("/").rsplit("/", 1)[-1], form=form,
                             channel=get_channel(nn_seller))
    platform_services.apply_result(application_id=pk, result=result)
    assert list(Invoice.objects.filter(application_id=pk)) == [invoice]
