"""Reconciliation: platform invoices unknown locally are bound by serial; local ones unknown remotely are flagged."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from invoicing.events import events_for
from issuing.applications.models import ApplicationStatus
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice, InvoiceLine
from issuing.platform.reconcile import reconcile_entity

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def today():
    return timezone.localdate()


def test_an_invoice_the_platform_issued_but_we_never_recorded_is_bound_to_its_application(
    approved, seller, channel, django_capture_on_commit_callbacks
):
    app = approved()
    with django_capture_on_commit_callbacks(execute=False):  # our side stops after the commit (worker lost)
        platform_services.application_submit_issue(application=app)
    app.refresh_from_db()
    issued = channel.issue_invoice(platform_services.build_issue_request(app))  # …but the platform did issue it

    report = reconcile_entity(taxpayer=seller, day=today(), channel=channel)

    app.refresh_from_db()
    assert report.bound == [{"serial": app.number, "number": issued.invoice_number, "application": app.number}]
    assert app.status == S.ISSUED
    assert Invoice.objects.get(application=app).number == issued.invoice_number
    assert "reconcile_bound" in [e.action for e in events_for(app)]
    assert reconcile_entity(taxpayer=seller, day=today(), channel=channel).bound == []  # idempotent


def test_a_lost_local_invoice_row_is_written_again_from_the_platform(
    approved, seller, channel, django_capture_on_commit_callbacks
):
    app = approved()
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=app)
    number = Invoice.objects.get(application=app).number
    InvoiceLine.objects.filter(invoice__application=app).delete()
    Invoice.objects.filter(application=app).delete()  # bypassing every service: the local write is gone

    report = reconcile_entity(taxpayer=seller, day=today(), channel=channel)

    assert [b["number"] for b in report.bound] == [number]
    app.refresh_from_db()
    assert app.status == S.ISSUED and Invoice.objects.get(application=app).number == number


def test_a_local_invoice_the_platform_does_not_know_is_flagged(
    approved, seller, channel, django_capture_on_commit_callbacks
):
    good = approved()
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=good)
    ghost_app = approved()
    ghost = Invoice.objects.create(
        taxpayer=seller, application=ghost_app, number="26440200000099999999", kind="82", issue_date=today(),
        issued_at=timezone.now(), seller_name=seller.name, seller_tax_id=seller.credit_code,
        buyer_name=ghost_app.buyer_name, amount=ghost_app.amount, tax=ghost_app.tax, total=ghost_app.total,
        channel_serial="NEVER-SENT-1",
    )

    report = reconcile_entity(taxpayer=seller, day=today(), channel=channel)

    assert report.matched == 1
    assert report.unknown_remote == [{"number": ghost.number, "serial": "NEVER-SENT-1"}]
    assert not report.clean
    ghost_app.refresh_from_db()
    assert ghost_app.needs_attention and "对账" in ghost_app.last_error
    assert [e.action for e in events_for(ghost)] == ["reconcile_flagged"]
    reconcile_entity(taxpayer=seller, day=today(), channel=channel)
    assert events_for(ghost).count() == 1  # flagged once, however often it runs


def test_a_local_invoice_whose_number_differs_from_the_ledger_is_flagged(
    approved, seller, channel, django_capture_on_commit_callbacks
):
    app = approved()
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=app)
    Invoice.objects.filter(application=app).update(number="26440200000088888888")
    report = reconcile_entity(taxpayer=seller, day=today(), channel=channel)
    assert [m["number"] for m in report.mismatched] == ["26440200000088888888"]


def test_the_command_reports_for_an_entity_and_a_day(approved, seller, channel, django_capture_on_commit_callbacks):
    app = approved()
    with django_capture_on_commit_callbacks(execute=False):
        platform_services.application_submit_issue(application=app)
    app.refresh_from_db()
    channel.issue_invoice(platform_services.build_issue_request(app))
    out = StringIO()
    call_command("reconcile_issuing", "--entity", seller.credit_code, "--date", today().isoformat(), stdout=out)
    assert "bound 1" in out.getvalue() and app.number in out.getvalue()
    out = StringIO()
    call_command("reconcile_issuing", "--entity", str(seller.pk), "--date", today().isoformat(), "--strict",
                 stdout=out)
    assert "local 1, matched 1" in out.getvalue()


def test_the_daily_task_reconciles_every_connected_entity(approved, seller, django_capture_on_commit_callbacks):
    from issuing.platform.tasks import reconcile_issuing_task

    app = approved()
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_submit_issue(application=app)
    reports = reconcile_issuing_task.delay(today().isoformat()).get()
    mine = [r for r in reports if r["taxpayer"] == seller.credit_code]
    assert mine and mine[0]["matched"] == 1 and mine[0]["clean"]
