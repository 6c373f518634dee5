"""Exactly-once issuing with the in-process sandbox channel and eager Celery."""

from __future__ import annotations

import types
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from delivery.models import InvoiceFile
from invoicing.celery import app as celery_app
from invoicing.channels.base import ChannelRejected, ChannelUnavailable
from invoicing.events import events_for
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import services as platform_services
from issuing.platform import tasks as platform_tasks
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.platform.signals import invoice_recorded
from sandbox.models import LedgerInvoice
from tests.issuing_flow.conftest import ScriptedChannel

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def submit(app, capture, actor=None):
    with capture(execute=True) as callbacks:
        platform_services.application_submit_issue(application=app, actor=actor)
    app.refresh_from_db()
    return callbacks


def script(monkeypatch, channel, **steps):
    scripted = ScriptedChannel(channel, **steps)
    monkeypatch.setattr(platform_services, "get_channel", lambda taxpayer: scripted)
    return scripted


def queued(callbacks):
    """The issuing-task callbacks among those captured (others: file rendering queued after the invoice commits)."""
    return [c for c in callbacks if "application_issue_queue" in c.__qualname__]


def actions(app):
    return [e.action for e in events_for(app).order_by("id")]


def test_approving_then_submitting_gives_one_issued_invoice_with_a_20_digit_number(
    approved, django_capture_on_commit_callbacks
):
    app = approved()
    callbacks = submit(app, django_capture_on_commit_callbacks)

    assert len(queued(callbacks)) == 1
    assert app.status == S.ISSUED and app.issued_at is not None
    assert app.issue_serial == app.number and app.issue_attempts == 1
    invoice = Invoice.objects.get(application=app)
    assert len(invoice.number) == 20 and invoice.number.isdigit()
    assert invoice.status == InvoiceStatus.NORMAL and invoice.channel_serial == app.issue_serial
    assert (invoice.amount, invoice.tax, invoice.total) == (app.amount, app.tax, app.total)
    assert [ln.amount for ln in invoice.lines.all()] == [app.amount]
    assert invoice.seller_tax_id == app.taxpayer.credit_code and invoice.buyer_name == app.buyer_name
    assert actions(app)[-2:] == ["start_issuing", "issued"]
    assert LedgerInvoice.objects.get(serial=app.issue_serial).number == invoice.number


def test_unavailable_then_success_retries_with_the_same_serial(
    approved, channel, monkeypatch, django_capture_on_commit_callbacks
):
    app = approved()
    scripted = script(monkeypatch, channel, issue=[ChannelUnavailable(kind="server"), ChannelUnavailable(kind="session")])
    submit(app, django_capture_on_commit_callbacks)

    assert scripted.issue_calls == [app.number] * 3
    assert app.status == S.ISSUED and app.issue_serial == app.number and app.issue_attempts == 3
    assert Invoice.objects.filter(application=app).count() == 1


def test_timeout_after_processing_is_resolved_by_duplicate_and_query_into_one_invoice(
    approved, channel, monkeypatch, django_capture_on_commit_callbacks
):
    app = approved()
    # The platform processes the first call but the answer is lost; the immediate query fails too, so the retry
    # sends again, gets "duplicate serial", and queries.
    scripted = script(monkeypatch, channel, issue=["through_then_timeout"], query=[ChannelUnavailable(kind="timeout")])
    submit(app, django_capture_on_commit_callbacks)

    assert scripted.issue_calls == [app.number, app.number]
    assert scripted.query_calls == [app.number, app.number]
    assert app.status == S.ISSUED
    assert Invoice.objects.filter(application=app).count() == 1
    assert LedgerInvoice.objects.filter(serial=app.number).count() == 1


def test_sandbox_timeout_after_and_duplicate_faults_still_give_one_invoice(
    approved, seller, monkeypatch, django_capture_on_commit_callbacks
):
    from invoicing.channels.sandbox import SandboxChannel

    for fault in ("timeout_after", "duplicate"):
        app = approved()
        faulty = SandboxChannel(seller, transport="inprocess", fault=fault)
        plain = SandboxChannel(seller, transport="inprocess")
        # the issue call carries the fault; the query that follows does not
        monkeypatch.setattr(platform_services, "get_channel", lambda taxpayer, f=faulty, p=plain: types.SimpleNamespace(
            issue_invoice=f.issue_invoice, query_issue=p.query_issue))
        submit(app, django_capture_on_commit_callbacks)
        assert app.status == S.ISSUED, fault
        assert Invoice.objects.filter(application=app).count() == 1
        assert LedgerInvoice.objects.filter(serial=app.number).count() == 1


def test_double_submit_queues_one_task_and_gives_one_invoice(approved, django_capture_on_commit_callbacks):
    app = approved()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        platform_services.application_submit_issue(application=app)
        platform_services.application_submit_issue(application=app)
    assert len(queued(callbacks)) == 1
    for callback in callbacks:
        callback()
    again = submit(app, django_capture_on_commit_callbacks)  # a third click after it was issued
    assert queued(again) == []
    assert app.status == S.ISSUED and app.issue_attempts == 1
    assert Invoice.objects.filter(application=app).count() == 1


def test_a_repeated_task_and_a_stale_result_do_not_make_a_second_invoice(approved, channel,
                                                                         django_capture_on_commit_callbacks):
    app = approved()
    submit(app, django_capture_on_commit_callbacks)
    assert platform_services.issue_attempt(application_id=app.pk) == platform_services.Outcome.SKIPPED  # a redelivered message
    result = channel.query_issue(app.issue_serial)
    first = Invoice.objects.get(application=app)
    assert platform_services.invoice_record_issued(application_id=app.pk, result=result) == first
    assert Invoice.objects.filter(application=app).count() == 1


def test_rejected_application_fails_with_the_platform_code_and_message(
    approved, seller, account, django_capture_on_commit_callbacks
):
    account.monthly_quota = Decimal("1.00")
    account.save()
    app = approved()
    submit(app, django_capture_on_commit_callbacks)

    assert app.status == S.FAILED
    assert app.fail_reason.startswith("[3201]") and "额度不足" in app.fail_reason
    assert "issue_failed" in actions(app)
    assert not Invoice.objects.filter(application=app).exists()


def test_after_n_unavailable_attempts_it_needs_attention_and_stays_issuing(
    approved, faults, settings, django_capture_on_commit_callbacks
):
    settings.ISSUING_MAX_ATTEMPTS = 4
    faults(error_rate=1)
    app = approved()
    submit(app, django_capture_on_commit_callbacks)

    assert app.status == S.ISSUING
    assert app.needs_attention and app.issue_attempts == 4
    assert "server" in app.last_error and not app.fail_reason
    assert actions(app).count("issue_needs_attention") == 1
    assert platform_services.issue_attempt(application_id=app.pk) == platform_services.Outcome.NEEDS_ATTENTION
    assert app.issue_serial == app.number


def test_reissue_with_a_new_serial_needs_attention_a_person_and_an_unknown_serial(
    approved, faults, issuer, django_capture_on_commit_callbacks
):
    ready = approved()
    with pytest.raises(ValidationError):  # not needs_attention: nobody may change its serial
        platform_services.application_reissue_with_new_serial(application=ready, actor=issuer, reason="x")

    faults(error_rate=1)
    app = approved()
    submit(app, django_capture_on_commit_callbacks)
    assert app.needs_attention
    with pytest.raises(PermissionDenied):
        platform_services.application_reissue_with_new_serial(application=app, actor=None, reason="平台故障")
    with pytest.raises(ValidationError):
        platform_services.application_reissue_with_new_serial(application=app, actor=issuer, reason=" ")

    faults()  # the platform is back; it never saw the old serial
    with django_capture_on_commit_callbacks(execute=True):
        platform_services.application_reissue_with_new_serial(application=app, actor=issuer, reason="平台确认未受理，换流水号重开")
    app.refresh_from_db()
    assert app.status == S.ISSUED and app.issue_serial == f"{app.number}-R1"
    assert Invoice.objects.get(application=app).channel_serial == f"{app.number}-R1"
    event = events_for(app).get(action="issue_reissued_new_serial")
    assert event.actor == issuer and event.data == {"old_serial": app.number, "new_serial": f"{app.number}-R1"}


def test_reissue_records_the_invoice_when_the_platform_knows_the_serial(
    approved, channel, issuer, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.ISSUING_MAX_ATTEMPTS = 1
    app = approved()
    script(monkeypatch, channel, issue=["through_then_timeout"], query=[ChannelUnavailable(kind="timeout")])
    submit(app, django_capture_on_commit_callbacks)
    assert app.status == S.ISSUING and app.needs_attention  # issued on the platform, unknown to us

    monkeypatch.setattr(platform_services, "get_channel", lambda taxpayer: channel)
    platform_services.application_reissue_with_new_serial(application=app, actor=issuer, reason="换号重开")
    app.refresh_from_db()
    assert app.status == S.ISSUED and app.issue_serial == app.number  # no new serial: it was already issued
    assert Invoice.objects.filter(application=app).count() == 1


def test_the_poller_records_pending_issues_once_the_platform_completes_them(
    approved, account, django_capture_on_commit_callbacks
):
    from sandbox import clock

    account.issue_delay_seconds = 60
    account.save()
    app = approved()
    submit(app, django_capture_on_commit_callbacks)
    assert app.status == S.ISSUING and not app.needs_attention  # pending on the platform

    report = platform_services.issue_poll_pending(older_than_seconds=0)
    assert report.pending == 1 and report.issued == 0
    clock.advance(seconds=120)
    with django_capture_on_commit_callbacks(execute=True):
        report = platform_services.issue_poll_pending(older_than_seconds=0)
    app.refresh_from_db()
    assert report.issued == 1 and app.status == S.ISSUED
    assert Invoice.objects.filter(application=app).count() == 1
    assert platform_services.issue_poll_pending(older_than_seconds=0).checked == 0


def test_the_poller_requeues_with_the_same_serial_what_the_platform_never_saw(
    approved, monkeypatch, django_capture_on_commit_callbacks
):
    app = approved()
    with django_capture_on_commit_callbacks(execute=False):  # the worker died before it made the call
        platform_services.application_submit_issue(application=app)
    report = platform_services.issue_poll_pending(older_than_seconds=0)  # eager: the re-queued task runs now
    app.refresh_from_db()
    assert report.requeued == 1
    assert app.status == S.ISSUED and app.issue_serial == app.number


def test_the_poller_leaves_unknown_needs_attention_applications_to_a_person(
    approved, faults, django_capture_on_commit_callbacks
):
    faults(error_rate=1)
    app = approved()
    submit(app, django_capture_on_commit_callbacks)
    faults()
    report = platform_services.issue_poll_pending(older_than_seconds=0)
    app.refresh_from_db()
    assert report.left_for_person == 1 and app.status == S.ISSUING and app.needs_attention


def test_files_are_queued_with_the_invoice(approved, settings, django_capture_on_commit_callbacks):
    settings.ISSUING_QUEUE_FILES = 1
    queued = []

    def listener(sender, *, invoice, **kwargs):
        queued.append(invoice.number)

    invoice_recorded.connect(listener, dispatch_uid="test-listener")
    try:
        app = approved()
        submit(app, django_capture_on_commit_callbacks)
    finally:
        invoice_recorded.disconnect(dispatch_uid="test-listener")
    number = Invoice.objects.get(application=app).number
    assert queued == [number]
    # the delivery app listens too: the new invoice's file jobs were written in the issuing transaction
    assert InvoiceFile.objects.filter(invoice__number=number).count() == 3


def test_a_listener_that_fails_never_undoes_the_invoice(approved, settings, django_capture_on_commit_callbacks,
                                                        caplog):
    settings.ISSUING_QUEUE_FILES = 1

    def broken(sender, *, invoice, **kwargs):
        raise RuntimeError("listener down")

    invoice_recorded.connect(broken, dispatch_uid="test-broken")
    try:
        app = approved()
        submit(app, django_capture_on_commit_callbacks)
    finally:
        invoice_recorded.disconnect(dispatch_uid="test-broken")
    app.refresh_from_db()
    assert app.status == S.ISSUED and Invoice.objects.filter(application=app).exists()
    assert "could not queue files" in caplog.text


def test_a_query_that_says_failed_marks_the_application_failed(approved, channel, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    app = approved()
    script(monkeypatch, channel, issue=[ChannelUnavailable(kind="timeout")],
           query=[ChannelRejected("3103", "购买方纳税人识别号不能为空")])
    submit(app, django_capture_on_commit_callbacks)
    # an unexpected rejection of the *query* is not a verdict on the invoice: it is retried, then issued
    assert app.status == S.ISSUED


def test_the_beat_schedule_has_the_poller_and_the_daily_reconciliation():
    schedule = celery_app.conf.beat_schedule
    assert schedule["issuing-poll-pending"]["task"] == "issuing.poll_pending_issues"
    assert schedule["issuing-reconcile-daily"]["task"] == "issuing.reconcile_issuing"
    assert {"issuing.issue_application", "issuing.poll_pending_issues", "issuing.reconcile_issuing"} <= set(
        celery_app.tasks.keys()
    )


def test_an_application_not_approved_cannot_be_submitted(approved):
    app = approved()
    InvoiceApplication.objects.filter(pk=app.pk).update(status=S.PENDING_REVIEW)
    app.refresh_from_db()
    with pytest.raises(ValidationError):
        platform_services.application_submit_issue(application=app)


def test_the_delivery_file_jobs_are_created_with_the_invoice(approved, settings, django_capture_on_commit_callbacks):
    pytest.importorskip("delivery.rendering")
    from delivery.models import InvoiceFile

    settings.ISSUING_QUEUE_FILES = 1
    app = approved()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        platform_services.application_submit_issue(application=app)
    platform_services.issue_attempt(application_id=app.pk)  # rendering is queued on commit, which this test never reaches
    invoice = Invoice.objects.get(application=app)
    assert InvoiceFile.objects.filter(invoice=invoice).exists()
    assert queued(callbacks)


def test_a_pending_issue_is_looked_at_again_shortly_not_only_by_the_periodic_poller(
    approved, account, monkeypatch
):

    from sandbox import clock

    account.issue_delay_seconds = 60
    account.save()
    app = approved()
    scheduled = []
    monkeypatch.setattr(platform_tasks.check_issue_result_task, "apply_async",
                        lambda args, countdown: scheduled.append((args, countdown)))
    platform_services.application_submit_issue(application=app)  # no on-commit capture: the task is run directly below
    # a worker's run (not eager): the platform accepted it and finishes later → a follow-up check is scheduled
    monkeypatch.setattr(platform_tasks.issue_application_task.request, "is_eager", False, raising=False)
    outcome = platform_tasks.issue_application_task.run(app.pk)
    assert outcome == platform_services.Outcome.PENDING
    assert scheduled == [((app.pk, 1), platform_tasks.FOLLOW_UP_SECONDS)]

    # the follow-up check: still pending → scheduled again with a longer wait; once done → recorded, nothing more
    platform_tasks.check_issue_result_task.run(app.pk, 1)
    assert scheduled[-1] == ((app.pk, 2), platform_tasks.FOLLOW_UP_SECONDS)
    clock.advance(seconds=120)
    platform_tasks.check_issue_result_task.run(app.pk, 2)
    app.refresh_from_db()
    assert app.status == S.ISSUED and len(scheduled) == 2
