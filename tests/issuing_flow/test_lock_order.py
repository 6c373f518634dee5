"""The lock order of the transactions that write invoices (PostgreSQL: real row locks, real threads).

A transaction that writes an invoice takes the day's rollup row (``issuing_invoicedailyrate``) and, at COMMIT, the
deferred foreign-key checks of its new rows take KEY SHARE on the entity's ``Taxpayer`` row. So no transaction
that writes invoices may lock the entity row FOR UPDATE before its rollup: the one-by-one recording did (its
``select_for_update().select_related("taxpayer")`` locked both rows), and met the batch recording in a deadlock
that the soak's retries hid.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from issuing.platform import services as platform_services
from issuing.platform.models import Invoice, InvoiceDailyRate
from issuing.redletter.voids import invoice_void_record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _issued(channel, apps):
    """Submit ``apps`` (their tasks queued, not run: ``queued_tasks``) and have the platform issue each; returns
    their results."""
    results = []
    for app in apps:
        platform_services.application_submit_issue(application=app)
        app = type(app).objects.get(pk=app.pk)
        results.append(channel.issue_invoice(platform_services.build_issue_request(app)))
    return results


def _wait_until_blocked(pid: int, timeout: float = 15.0) -> bool:
    """True once the backend ``pid`` waits for a lock (asked from this thread's own connection)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as c:
        while time.monotonic() < deadline:
            c.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = c.fetchone()
            if row and row[0] == "Lock":
                return True
            time.sleep(0.05)
    return False


def _against_a_batch(second, first_app_result):
    """Run the batch recording of ``first_app_result`` up to just before its COMMIT (it then holds the rollup
    row), start ``second`` in another thread, wait until ``second`` waits for a lock, then commit the batch.
    Returns the errors of both."""
    errors: list[BaseException] = []
    batch_holds_rollup, second_blocked = threading.Event(), threading.Event()
    pid: list[int] = []

    def batch():
        try:
            with transaction.atomic():
                platform_services.invoices_record_issued([first_app_result])
                batch_holds_rollup.set()
                second_blocked.wait(20)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)
        finally:
            batch_holds_rollup.set()
            connection.close()

    def other():
        try:
            with connection.cursor() as c:
                c.execute("SELECT pg_backend_pid()")
                pid.append(c.fetchone()[0])
            second()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    t1 = threading.Thread(target=batch)
    t1.start()
    assert batch_holds_rollup.wait(20)
    t2 = threading.Thread(target=other)
    t2.start()
    while not pid and t2.is_alive():
        time.sleep(0.01)
    blocked = bool(pid) and _wait_until_blocked(pid[0])
    second_blocked.set()
    t1.join(30)
    t2.join(30)
    assert not t1.is_alive() and not t2.is_alive()
    return blocked, errors


def test_one_by_one_recording_against_a_batch_on_the_same_rollup_row_does_not_deadlock(approved, channel,
                                                                                       queued_tasks):
    first, second = approved(2)
    r1, r2 = _issued(channel, [first, second])

    blocked, errors = _against_a_batch(
        lambda: platform_services.invoice_record_issued(application_id=second.pk, result=r2), (first.pk, r1)
    )

    assert blocked  # the one-by-one recording really waited for the batch's rollup row
    assert errors == []
    assert Invoice.objects.filter(application__in=[first, second], is_red=False).count() == 2
    bucket = InvoiceDailyRate.objects.get(taxpayer=first.taxpayer, tax_rate=Decimal("0.06"), is_red=False)
    assert bucket.invoice_count == 2


def test_a_void_against_a_batch_on_the_same_day_does_not_deadlock(approved, channel, queued_tasks, fiona):
    """The void (and the red-letter paths) lock the blue invoice; they must not lock its entity with it."""
    first, second = approved(2)
    r1, r2 = _issued(channel, [first, second])
    platform_services.invoice_record_issued(application_id=second.pk, result=r2)
    blue = Invoice.objects.get(application=second, is_red=False)

    blocked, errors = _against_a_batch(lambda: invoice_void_record(invoice=blue, actor=fiona, reason="开错了"),
                                       (first.pk, r1))

    assert blocked
    assert errors == []
    bucket = InvoiceDailyRate.objects.get(taxpayer=first.taxpayer, tax_rate=Decimal("0.06"), is_red=False)
    assert bucket.invoice_count == 1
