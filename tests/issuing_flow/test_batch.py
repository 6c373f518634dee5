"""Batch issuing (a bulk 发起开票): the same exactly-once rules as one by one, in a few statements per batch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from delivery.models import WebhookDelivery, WebhookEndpoint
from invoicing.events import events_for
from issuing.applications import selectors as application_selectors
from issuing.applications.models import ApplicationStatus, InvoiceApplication, QuotaPeriod
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from issuing.platform.rollup import rollup_differences
from sandbox.models import LedgerInvoice

pytestmark = pytest.mark.django_db
S = ApplicationStatus


@pytest.fixture
def batches(queued_tasks):
    """The ids of each batch task queued on commit (recorded, not run: the tests run them by hand)."""
    return queued_tasks.batches


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """A bulk 发起开票 that commits: what it queued for after the commit (its batch tasks) is then queued."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return platform_services.applications_submit_issue(**kwargs)

    return run


def fresh(apps):
    return list(InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps]).order_by("pk"))


def test_a_bulk_submit_marks_all_in_one_go_and_queues_batches_of_the_configured_size(
    approved, batches, submit, settings, fiona, django_assert_max_num_queries
):
    settings.ISSUING_BATCH_SIZE = 4
    apps = approved(10)
    with django_assert_max_num_queries(20):  # a constant number of statements, not a few per application
        result = submit(applications=apps, actor=fiona)

    assert result.refused == {} and len(result.marked) == 10
    assert batches == [[a.pk for a in apps[:4]], [a.pk for a in apps[4:8]], [a.pk for a in apps[8:]]]
    for app in fresh(apps):
        assert app.status == S.ISSUING and app.issue_serial == app.number and app.issue_attempts == 1
        [event] = [e for e in events_for(app) if e.action == "start_issuing"]
        assert (event.from_state, event.to_state, event.actor) == (S.APPROVED, S.ISSUING, fiona)


def test_issue_batch_gives_each_application_exactly_one_invoice_and_records_like_one_by_one(approved, batches, submit):
    apps = approved(7)
    submit(applications=apps)
    [ids] = batches

    report = platform_services.issue_batch(application_ids=ids, record_every=3)

    assert sorted(report.issued) == ids and report.retry == [] and report.errors == []
    for app in fresh(apps):
        assert app.status == S.ISSUED and app.issued_at is not None
        invoice = Invoice.objects.get(application=app)
        assert len(invoice.number) == 20 and invoice.channel_serial == app.issue_serial
        assert (invoice.amount, invoice.tax, invoice.total) == (app.amount, app.tax, app.total)
        assert [(ln.line_no, ln.amount, ln.tax) for ln in invoice.lines.order_by("line_no")] == [
            (ln.line_no, ln.amount, ln.tax) for ln in app.lines.order_by("line_no")
        ]
        issued = [e for e in events_for(app) if e.action == "issued"]
        assert [(e.from_state, e.to_state, e.data["number"]) for e in issued] == [(S.ISSUING, S.ISSUED,
                                                                                  invoice.number)]
    numbers = list(Invoice.objects.filter(application__in=apps).values_list("number", flat=True))
    assert len(set(numbers)) == 7
    assert LedgerInvoice.objects.filter(serial__in=[a.number for a in apps]).count() == 7
    assert rollup_differences() == []  # the 发票汇总表's rollup moved with the invoices

    again = platform_services.issue_batch(application_ids=ids)  # a redelivered batch message
    assert sorted(again.skipped) == ids and Invoice.objects.filter(application__in=apps).count() == 7


def test_a_bulk_submit_leaves_issued_ones_alone_and_refuses_what_may_not_start(approved, batches, submit, fiona):
    done, waiting, other = approved(3)
    submit(applications=[done])
    platform_services.issue_batch(application_ids=batches.pop())
    InvoiceApplication.objects.filter(pk=other.pk).update(status=S.PENDING_REVIEW)

    result = submit(applications=[done, waiting, other], actor=fiona)

    assert [a.pk for a in result.already] == [done.pk]
    assert [a.pk for a in result.marked] == [waiting.pk]
    assert list(result.refused) == [other.number] and "待审核" in result.refused[other.number][0].message
    assert batches == [[waiting.pk]]
    assert InvoiceApplication.objects.get(pk=other.pk).status == S.PENDING_REVIEW


@pytest.mark.parametrize("short", [Decimal("0.01"), Decimal("0.00")])
def test_a_bulk_submit_checks_quota_again_as_one_by_one_would(approved, batches, submit, seller, short):
    apps = approved(3)
    month = application_selectors.quota_month()
    # All three are approved, so each already holds its amount of the quota; one fen short and none may start.
    QuotaPeriod.objects.create(taxpayer=seller, month=month, total=sum(a.amount for a in apps) - short,
                               used=Decimal("0.00"))
    one_by_one = {a.number: {f.code for f in application_selectors.application_failures(a)} for a in fresh(apps)}

    result = submit(applications=apps)

    assert {n: {f.code for f in fs} for n, fs in result.refused.items()} == {n: c for n, c in one_by_one.items() if c}
    if short:
        assert result.marked == [] and all("quota" in codes for codes in one_by_one.values())
    else:
        assert len(result.marked) == 3 and batches == [[a.pk for a in apps]]


def test_issued_invoices_consume_quota_with_one_event_each(approved, batches, submit, seller):
    apps = approved(4)
    month = application_selectors.quota_month()
    period = QuotaPeriod.objects.create(taxpayer=seller, month=month, total=Decimal("100000000.00"),
                                        used=Decimal("10.00"))
    submit(applications=apps)
    platform_services.issue_batch(application_ids=batches.pop())

    period.refresh_from_db()
    assert period.used == Decimal("10.00") + sum(a.amount for a in apps)
    consumed = [e for e in events_for(period) if e.action == "quota_consume"]
    assert sorted(e.data["reference"] for e in consumed) == sorted(
        Invoice.objects.filter(application__in=apps).values_list("number", flat=True))


def test_faults_in_a_batch_still_end_with_one_invoice_per_application(approved, batches, submit, faults, account):
    apps = approved(24)
    submit(applications=apps)
    faults(error_rate=Decimal("0.2"), timeout_before_rate=Decimal("0.1"), timeout_after_rate=Decimal("0.2"),
           duplicate_reply_rate=Decimal("0.2"), seed=7)

    report = platform_services.issue_batch(application_ids=batches.pop(), record_every=5)
    assert report.retry, "the fault profile should have made some calls unavailable"
    assert report.issued, "and let others through"
    for _ in range(20):  # the retries, one by one, as issue_application_task would make them
        left = list(InvoiceApplication.objects.filter(pk__in=[a.pk for a in apps], status=S.ISSUING)
                    .values_list("pk", flat=True))
        if not left:
            break
        for pk in left:
            try:
                platform_services.issue_attempt(application_id=pk)
            except platform_services.ChannelUnavailable:
                pass
    faults()
    platform_services.issue_poll_pending(older_than_seconds=0)

    for app in fresh(apps):
        assert app.status == S.ISSUED, (app.number, app.last_error)
        assert Invoice.objects.filter(application=app).count() == 1
        assert LedgerInvoice.objects.filter(serial=app.issue_serial).count() == 1
    local = set(Invoice.objects.filter(application__in=apps).values_list("number", flat=True))
    remote = set(LedgerInvoice.objects.filter(account=account, serial__in=[a.number for a in apps])
                 .values_list("number", flat=True))
    assert local == remote and len(local) == 24


class Killed(BaseException):
    """A worker killed after its calls and before it recorded them (no ``except Exception`` catches it)."""


def test_a_batch_killed_between_the_calls_and_the_record_is_recovered_by_serial(approved, batches, submit, monkeypatch):
    apps = approved(6)
    submit(applications=apps)
    [ids] = batches
    real = platform_services.invoices_record_issued

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(platform_services, "invoices_record_issued", die)
    with pytest.raises(Killed):
        platform_services.issue_batch(application_ids=ids)
    assert LedgerInvoice.objects.filter(serial__in=[a.number for a in apps]).count() == 6  # the platform has them
    assert not Invoice.objects.filter(application__in=apps).exists()  # we lost the answers

    monkeypatch.setattr(platform_services, "invoices_record_issued", real)
    report = platform_services.issue_batch(application_ids=ids)  # the redelivered message: duplicate → query → record

    assert sorted(report.issued) == ids
    assert Invoice.objects.filter(application__in=apps).count() == 6
    assert LedgerInvoice.objects.filter(serial__in=[a.number for a in apps]).count() == 6


def test_a_failed_batch_record_falls_back_to_one_by_one(approved, batches, submit, monkeypatch):
    apps = approved(3)
    submit(applications=apps)

    def broken(*args, **kwargs):
        raise RuntimeError("bulk insert failed")

    monkeypatch.setattr(platform_services, "invoices_record_issued", broken)
    report = platform_services.issue_batch(application_ids=batches.pop())

    assert len(report.issued) == 3
    assert all(app.status == S.ISSUED for app in fresh(apps))


def test_a_rejected_application_in_a_batch_fails_alone(approved, batches, submit, monkeypatch):
    apps = approved(3)
    submit(applications=apps)
    bad = apps[1]
    real = platform_services.build_issue_request

    def request(app, lines=None):
        built = real(app, lines)
        if app.pk == bad.pk:  # a buyer tax id the platform refuses
            from dataclasses import replace

            return replace(built, buyer=replace(built.buyer, tax_id="91310000MA1K0BA10X"))
        return built

    monkeypatch.setattr(platform_services, "build_issue_request", request)
    report = platform_services.issue_batch(application_ids=batches.pop())

    assert report.failed == [bad.pk] and sorted(report.issued) == sorted([apps[0].pk, apps[2].pk])
    failed = InvoiceApplication.objects.get(pk=bad.pk)
    assert failed.status == S.FAILED and "3105" in failed.fail_reason


def test_webhooks_are_announced_for_a_batch_as_for_one_by_one(approved, batches, submit, seller,
                                                             django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(taxpayer=seller, url="https://shop.example.com/hooks", events=["*"])
    apps = approved(3)
    submit(applications=apps)
    with django_capture_on_commit_callbacks(execute=False):
        platform_services.issue_batch(application_ids=batches.pop())

    issued = WebhookDelivery.objects.filter(event="invoice.issued")
    assert sorted(d.payload["invoice"]["number"] for d in issued) == sorted(
        Invoice.objects.filter(application__in=apps).values_list("number", flat=True))
