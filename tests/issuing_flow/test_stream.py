"""Single submissions on the grouped path: each one only waits for a drain, which starts and issues up to a batch.

``application_request_issue`` (the auto-trigger, the API) → a drain armed on commit (``issue_drain_task``) →
``issue_drain_claim`` (the waiting applications started together) → ``issue_batch``; the exactly-once rules are the
batch path's.
"""

from __future__ import annotations

import types

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from invoicing.channels.base import ChannelUnavailable
from invoicing.events import events_for
from issuing.applications import compliance as applications_compliance
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import services as platform_services
from issuing.platform import tasks as platform_tasks
from issuing.platform.models import Invoice
from sandbox.models import LedgerInvoice
from tests.issuing_flow.conftest import ScriptedChannel
from tests.threads import run_together

pytestmark = pytest.mark.django_db
S = ApplicationStatus


@pytest.fixture
def request_issue(django_capture_on_commit_callbacks):
    """One single submission in its own transaction, as an API call or a payment makes it: what it arms on commit
    is then armed."""

    def run(app, actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            return platform_services.application_request_issue(application=app, actor=actor)

    return run


@pytest.fixture
def batch_calls(monkeypatch):
    """The application ids of each ``issue_batch`` run (the drains' batch path), calls passed through."""
    calls = []
    real = platform_services.issue_batch

    def counting(*, application_ids, **kwargs):
        calls.append(sorted(application_ids))
        return real(application_ids=application_ids, **kwargs)

    monkeypatch.setattr(platform_services, "issue_batch", counting)
    return calls


def play_worker(queued_tasks):
    """Run every drain armed so far, and those they arm, as one worker would; returns how many ran."""
    ran = 0
    while queued_tasks.drains:
        queued_tasks.drains.pop(0)
        platform_tasks.issue_drain_task.run()
        ran += 1
    return ran


def fresh(apps):
    return list(InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps]).order_by("pk"))


def one_invoice_each(apps):
    for app in fresh(apps):
        assert app.status == S.ISSUED, app.number
        assert Invoice.objects.filter(application=app).count() == 1
        assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1


# --- the request ---------------------------------------------------------------------------------------------------


def test_a_request_is_one_cheap_statement_and_waits_for_a_drain(approved, fiona, queued_tasks, request_issue,
                                                                  django_assert_max_num_queries):
    app = approved()
    fiona.has_perm("issuing.issue_invoiceapplication")  # her permissions, loaded once per request by Django
    with django_assert_max_num_queries(1):  # one UPDATE (autocommitted alone): not the whole start of issuing
        assert request_issue(app, actor=fiona) is True

    app = fresh([app])[0]
    assert app.status == S.APPROVED and app.issue_requested_at is not None and app.issue_requested_by == fiona
    assert app.issue_serial is None  # the serial is fixed by the drain, committed before any call
    assert len(queued_tasks.drains) == 1


def test_requesting_twice_or_after_it_started_changes_nothing(approved, queued_tasks, request_issue):
    app = approved()
    assert request_issue(app) is True
    assert request_issue(app) is False
    first = fresh([app])[0].issue_requested_at
    assert len(queued_tasks.drains) == 1

    platform_services.issue_drain_claim()
    assert request_issue(app) is False
    app = fresh([app])[0]
    assert app.status == S.ISSUING and app.issue_attempts == 1 and first is not None


def test_only_an_application_to_issue_may_be_requested_and_only_by_someone_who_may_issue(approved, sam, lily,
                                                                                       request_issue):
    app = approved()
    with pytest.raises(PermissionDenied):
        request_issue(app, actor=sam)  # customer service
    with pytest.raises(PermissionDenied):
        request_issue(app, actor=lily)  # finance, for another entity
    application_services.application_withdraw(application=app, actor=None)
    with pytest.raises(ValidationError):
        request_issue(app)
    assert fresh([app])[0].issue_requested_at is None


# --- grouping and the maximum wait --------------------------------------------------------------------------------


def test_many_single_submissions_are_issued_by_a_few_batches(approved, fiona, settings, queued_tasks, request_issue,
                                                            batch_calls):
    settings.ISSUING_BATCH_SIZE = 4
    apps = approved(10)
    for app in apps:
        request_issue(app, actor=fiona)

    play_worker(queued_tasks)

    ids = [a.pk for a in apps]
    assert batch_calls == [ids[:4], ids[4:8], ids[8:]]  # three batch runs, not ten one-by-one attempts
    one_invoice_each(apps)
    for app in fresh(apps):
        [event] = [e for e in events_for(app) if e.action == "start_issuing"]
        assert event.actor == fiona and event.data["batch"] and event.data["waited_ms"] >= 0
        assert app.issue_attempts == 1 and app.issue_serial == app.number and app.issue_requested_at is None


def test_a_drain_reads_its_applications_and_their_lines_once(approved, settings, queued_tasks, request_issue):
    """The claim reads the waiting applications (with their lines, for the compliance check) and commits their
    start; issuing them then builds the requests from those rows, not from a second read of each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.ISSUING_BATCH_SIZE = 5
    apps = approved(5)
    for app in apps:
        request_issue(app)
    claim = platform_services.issue_drain_claim()
    assert claim.marked == [a.pk for a in apps] and [a.pk for a in claim.applications] == claim.marked
    for app in claim.applications:  # as committed: started, the serial fixed, no longer waiting
        assert app.status == S.ISSUING and app.issue_serial == app.number and app.issue_attempts == 1

    with CaptureQueriesContext(connection) as queries:
        report = platform_services.issue_claimed(claim)

    assert sorted(report.issued) == claim.marked
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in reads if '"issuing_applicationline"' in sql]  # the lines: read by the claim only
    # the applications: only the recording's read, which locks the rows (FOR UPDATE on PostgreSQL) before writing
    assert len([sql for sql in reads if 'FROM "issuing_invoiceapplication"' in sql]) == 1
    one_invoice_each(apps)
    for app in fresh(apps):
        assert app.status == S.ISSUED and app.issue_serial == app.number and app.issue_attempts == 1
        assert app.issue_requested_at is None and app.issue_requested_by is None and app.issued_at is not None


def test_a_full_batch_arms_the_next_drain_at_once(approved, settings, queued_tasks, request_issue):
    settings.ISSUING_BATCH_SIZE = 3
    apps = approved(5)
    for app in apps:
        request_issue(app)
    queued_tasks.drains.clear()

    platform_tasks.issue_drain_task.run()  # took 3 of 5: the next drain must not wait for a new request

    assert queued_tasks.drains == [None]
    platform_tasks.issue_drain_task.run()
    one_invoice_each(apps)


def test_the_first_request_arms_one_drain_for_the_maximum_wait_and_the_others_ride_on_it(
    approved, settings, queued_tasks, request_issue, monkeypatch
):
    monkeypatch.setattr(platform_services, "tasks_run_eagerly", lambda: False)  # a real broker
    settings.ISSUING_GROUP_MAX_WAIT = 30.5  # longer than these requests take, however slow the machine
    apps = approved(6)
    for app in apps[:3]:
        request_issue(app)
    assert queued_tasks.drains == [30.5]  # one drain, run when the first request has waited the maximum

    platform_services.issue_drain_disarm()  # that drain starts: whoever asks next arms the next one
    for app in apps[3:]:
        request_issue(app)
    assert queued_tasks.drains == [30.5, 30.5]


def test_without_a_maximum_wait_each_request_arms_a_drain_at_once(approved, settings, queued_tasks, request_issue,
                                                                   monkeypatch):
    monkeypatch.setattr(platform_services, "tasks_run_eagerly", lambda: False)
    settings.ISSUING_GROUP_MAX_WAIT = 0
    for app in approved(2):
        request_issue(app)
    assert queued_tasks.drains == [None, None]


def test_a_lone_application_is_issued_without_waiting_for_a_full_batch(approved, settings, request_issue):
    settings.ISSUING_BATCH_SIZE = 100
    app = approved()

    request_issue(app)  # eager tasks: the drain armed on commit runs at once

    one_invoice_each([app])


def test_a_request_left_waiting_gets_a_drain_from_the_poller(approved, queued_tasks, request_issue, settings):
    settings.ISSUING_GROUP_MAX_WAIT = 30  # "not yet stranded" holds however slow the machine
    app = approved()
    request_issue(app)
    queued_tasks.drains.clear()  # the drain's message was lost
    assert platform_services.issue_poll_pending().drains_armed == 0  # not stranded yet: within its wait

    InvoiceApplication.objects.filter(pk=app.pk).update(issue_requested_at=timezone.now() - timezone.timedelta(
        seconds=platform_services.group_max_wait() + platform_services.STRANDED_SECONDS + 1))
    assert platform_services.issue_poll_pending().drains_armed == 1
    assert play_worker(queued_tasks) == 1
    one_invoice_each([app])


# --- the checks at the drain ---------------------------------------------------------------------------------------


def test_an_application_the_rules_refuse_at_the_drain_stays_to_issue_and_says_why(approved, fiona, queued_tasks,
                                                                                request_issue, monkeypatch):
    apps = approved(3)
    for app in apps:
        request_issue(app, actor=fiona)
    real_check = applications_compliance.check

    def check(context):
        if context.application.pk == apps[1].pk:
            return [applications_compliance.RuleFailure("quota", "total", "超出本月授信额度")]
        return real_check(context)

    monkeypatch.setattr(applications_compliance, "check", check)
    play_worker(queued_tasks)

    refused = fresh([apps[1]])[0]
    assert refused.status == S.APPROVED and refused.issue_requested_at is None and refused.issue_serial is None
    [event] = [e for e in events_for(refused) if e.action == platform_services.REFUSED_ACTION]
    assert event.actor == fiona and "超出本月授信额度" in event.reason and event.data["rules"] == ["quota"]
    one_invoice_each([apps[0], apps[2]])


def test_an_application_withdrawn_while_waiting_is_not_issued(approved, queued_tasks, request_issue):
    app = approved()
    request_issue(app)
    application_services.application_withdraw(application=fresh([app])[0], actor=None)

    play_worker(queued_tasks)

    assert fresh([app])[0].status == S.WITHDRAWN
    assert not LedgerInvoice.objects.filter(serial=app.number).exists()


# --- faults: the batch path's exactly-once rules -------------------------------------------------------------------


def test_a_time_out_then_duplicate_on_the_grouped_path_gives_one_invoice(approved, channel, monkeypatch,
                                                                        request_issue):
    app = approved()
    # The platform processes the drain's call but the answer is lost and the query fails too: the retry (alone,
    # same serial) gets "duplicate serial" and queries.
    scripted = ScriptedChannel(channel, issue=["through_then_timeout"], query=[ChannelUnavailable(kind="timeout")])
    monkeypatch.setattr(platform_services, "get_channel", lambda taxpayer: scripted)

    request_issue(app)  # eager: the drain, then the retry it queues

    assert scripted.issue_calls == [app.number, app.number]
    assert scripted.query_calls == [app.number, app.number]
    one_invoice_each([app])


def test_a_drain_killed_after_its_claim_is_finished_by_the_poller_with_the_same_serial(approved, queued_tasks,
                                                                                     request_issue, seller):
    from invoicing.channels.sandbox import SandboxChannel

    apps = approved(3)
    for app in apps:
        request_issue(app)
    claim = platform_services.issue_drain_claim()  # committed; the worker dies before any call
    assert claim.marked == [a.pk for a in apps]
    # …except that one call got through before it died, its answer lost
    SandboxChannel(seller, transport="inprocess").issue_invoice(platform_services.build_issue_request(fresh(apps)[0]))
    queued_tasks.drains.clear()

    report = platform_services.issue_poll_pending(older_than_seconds=0)

    assert (report.issued, report.requeued) == (1, 2)
    for application_id in queued_tasks.issue:
        platform_services.issue_attempt(application_id=application_id)
    one_invoice_each(apps)
    assert [a.issue_serial for a in fresh(apps)] == [a.number for a in apps]


# --- PostgreSQL: drains side by side -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_drains_at_the_same_moment_never_start_the_same_application(approved, settings, queued_tasks, request_issue):
    settings.ISSUING_BATCH_SIZE = 5
    apps = approved(18)
    for app in apps:
        request_issue(app)

    claims, errors = run_together(4, platform_services.issue_drain_claim)

    assert errors == []
    taken = [pk for claim in claims for pk in claim.marked]
    assert len(taken) == len(set(taken)) == 18  # four drains, 5 + 5 + 5 + 3, none twice
    for app in fresh(apps):
        assert app.status == S.ISSUING and app.issue_attempts == 1
        assert [e.action for e in events_for(app)].count("start_issuing") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_drains_issuing_side_by_side_give_one_invoice_each(approved, settings, queued_tasks, request_issue):
    settings.ISSUING_BATCH_SIZE = 4
    apps = approved(20)
    for app in apps:
        request_issue(app)

    def drain_until_empty():
        runs = []
        while True:
            claim, report = platform_services.issue_drain()
            if not claim.marked:
                return runs
            runs.append(types.SimpleNamespace(claimed=claim.marked, issued=report.issued, errors=report.errors))

    results, errors = run_together(3, drain_until_empty)

    assert errors == []
    runs = [run for worker in results for run in worker]
    claimed = [pk for run in runs for pk in run.claimed]
    assert sorted(claimed) == sorted(a.pk for a in apps) and all(not run.errors for run in runs)
    one_invoice_each(apps)
