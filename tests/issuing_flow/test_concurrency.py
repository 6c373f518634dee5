"""Two workers, two clicks at the same moment: still one invoice (PostgreSQL: real row locks, real threads)."""

from __future__ import annotations

import pytest

from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from sandbox.models import LedgerInvoice
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
S = ApplicationStatus


def test_two_workers_issuing_the_same_application_at_once_make_one_invoice(approved, monkeypatch):
    # the "workers" are these threads
    monkeypatch.setattr(platform_services, "application_issue_queue", lambda application_id: None)
    app = approved()
    platform_services.application_submit_issue(application=app)

    results, errors = run_together(4, lambda: platform_services.issue_attempt(application_id=app.pk))

    assert errors == []
    assert results.count(platform_services.Outcome.ISSUED) >= 1
    app.refresh_from_db()
    assert app.status == S.ISSUED
    assert Invoice.objects.filter(application=app).count() == 1
    assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1


def test_two_clicks_at_once_queue_one_task(approved, monkeypatch):
    queued = []
    monkeypatch.setattr(platform_services, "application_issue_queue", queued.append)
    app = approved()

    results, errors = run_together(4, lambda: platform_services.application_submit_issue(application=app).status)

    assert errors == [] and results == [S.ISSUING] * 4
    assert queued == [app.pk]
    assert InvoiceApplication.objects.get(pk=app.pk).issue_attempts == 1


def test_a_worker_recording_while_the_poller_records_makes_one_invoice(approved, channel, monkeypatch):
    monkeypatch.setattr(platform_services, "application_issue_queue", lambda application_id: None)
    app = approved()
    platform_services.application_submit_issue(application=app)
    app.refresh_from_db()
    result = channel.issue_invoice(platform_services.build_issue_request(app))

    results, errors = run_together(
        4, lambda: platform_services.invoice_record_issued(application_id=app.pk, result=result).number
    )

    assert errors == [] and set(results) == {result.invoice_number}
    assert Invoice.objects.filter(application=app).count() == 1


def test_two_workers_running_the_same_batch_at_once_make_one_invoice_each(approved, monkeypatch):
    batches = []
    monkeypatch.setattr(platform_services, "applications_issue_queue", batches.append)
    apps = approved(8)
    platform_services.applications_submit_issue(applications=apps)
    [ids] = batches

    results, errors = run_together(3, lambda: platform_services.issue_batch(application_ids=ids, record_every=3))

    assert errors == []
    assert all(r.errors == [] for r in results)
    for app in InvoiceApplication.objects.filter(pk__in=ids):
        assert app.status == S.ISSUED
        assert Invoice.objects.filter(application=app).count() == 1
        assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1
