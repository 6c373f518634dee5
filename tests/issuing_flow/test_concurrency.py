"""Two workers, two clicks at the same moment: still one invoice (PostgreSQL: real row locks, real threads)."""

from __future__ import annotations

import pytest

from issuing import issuing
from issuing.models import ApplicationStatus, Invoice, InvoiceApplication
from sandbox.models import LedgerInvoice
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
S = ApplicationStatus


def test_two_workers_issuing_the_same_application_at_once_make_one_invoice(approved, queued_tasks):
    app = approved()  # the issuing task queued on commit is not run: the "workers" are these threads
    issuing.application_submit_issue(application=app)

    results, errors = run_together(4, lambda: issuing.issue_attempt(application_id=app.pk))

    assert errors == []
    assert results.count(issuing.Outcome.ISSUED) >= 1
    app.refresh_from_db()
    assert app.status == S.ISSUED
    assert Invoice.objects.filter(application=app).count() == 1
    assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1


def test_two_clicks_at_once_queue_one_task(approved, queued_tasks):
    app = approved()

    results, errors = run_together(4, lambda: issuing.application_submit_issue(application=app).status)

    assert errors == [] and results == [S.ISSUING] * 4
    assert queued_tasks.issue == [app.pk]
    assert InvoiceApplication.objects.get(pk=app.pk).issue_attempts == 1


def test_a_worker_recording_while_the_poller_records_makes_one_invoice(approved, channel, queued_tasks):
    app = approved()
    issuing.application_submit_issue(application=app)
    app.refresh_from_db()
    result = channel.issue_invoice(issuing.build_issue_request(app))

    results, errors = run_together(
        4, lambda: issuing.invoice_record_issued(application_id=app.pk, result=result).number
    )

    assert errors == [] and set(results) == {result.invoice_number}
    assert Invoice.objects.filter(application=app).count() == 1


def test_two_workers_running_the_same_batch_at_once_make_one_invoice_each(approved, queued_tasks):
    apps = approved(8)
    issuing.applications_submit_issue(applications=apps)
    [ids] = queued_tasks.batches

    results, errors = run_together(3, lambda: issuing.issue_batch(application_ids=ids, record_every=3))

    assert errors == []
    assert all(r.errors == [] for r in results)
    for app in InvoiceApplication.objects.filter(pk__in=ids):
        assert app.status == S.ISSUED
        assert Invoice.objects.filter(application=app).count() == 1
        assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1
