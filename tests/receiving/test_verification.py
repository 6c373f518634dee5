"""查验 of pool records: key fields per kind (domain.md §14.2), results kept, the cache, the budget, bulk jobs, and
a platform that is unavailable, slow, rate-limiting or answering 02 / 03."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from invoicing.events import events_for
from receiving import corrections, verification
from receiving.control_models import (
    InvoiceCheck,
    JobStatus,
    Verification,
    VerificationUsage,
    VerifyState,
)
from receiving.models import PlatformStatus, ReceivedInvoice
from tests.receiving.controls import FakeVerifier, pool_invoice, unavailable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000


@pytest.fixture
def fake(monkeypatch):
    channel = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: channel)
    return channel


class Clock:
    def __init__(self):
        self.at = timezone.now()

    def __call__(self):
        return self.at

    def sleep(self, seconds):
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(verification, "now", c)
    monkeypatch.setattr(verification, "sleep", c.sleep)
    return c


def verify(record, actor=None, **kw):
    return verification.received_invoice_verify(record=record, actor=actor, **kw)


# --- key fields -----------------------------------------------------------------------------------------------------


def test_shudian_is_verified_by_number_date_and_total(yuntu):
    record = pool_invoice(yuntu, kind="81")
    request = verification.verify_request(record)
    assert (request.kind, request.number, request.issue_date, request.amount, request.code, request.check_code) == (
        "81", record.number, record.issue_date, Decimal("1060.00"), "", "")


def test_legacy_special_is_verified_by_code_number_date_and_amount_excluding_tax(yuntu):
    record = pool_invoice(yuntu, kind="01", code="4400231130", number="00012345")
    request = verification.verify_request(record)
    assert (request.code, request.number, request.amount, request.check_code) == (
        "4400231130", "00012345", Decimal("1000.00"), "")


def test_legacy_normal_is_verified_by_the_last_six_of_the_check_code(yuntu):
    record = pool_invoice(yuntu, kind="04", code="044002300111", number="00012346",
                          check_code="12345678901234567890")
    request = verification.verify_request(record)
    assert (request.code, request.check_code) == ("044002300111", "567890")


def test_a_legacy_normal_invoice_without_its_check_code_cannot_be_verified(yuntu, fake):
    record = pool_invoice(yuntu, kind="04", code="044002300111", number="00012347")
    with pytest.raises(verification.NotVerifiable, match="校验码"):
        verify(record)
    assert fake.calls == []


def test_a_paper_rail_ticket_has_no_verification(yuntu):
    record = pool_invoice(yuntu, kind="rail_paper", number="E123456789")
    with pytest.raises(verification.NotVerifiable):
        verification.verify_request(record)


# --- results --------------------------------------------------------------------------------------------------------


def test_a_result_is_kept_with_status_risk_when_and_by_whom(yuntu, fiona, fake):
    fake.status, fake.risk = "04", "03"
    record = pool_invoice(yuntu)
    outcome = verify(record, fiona)
    assert outcome.called and outcome.verification.state == VerifyState.DONE
    v = outcome.verification
    assert (v.code, v.status_code, v.risk_level, v.requested_by) == ("00", "04", "03", fiona)
    check = InvoiceCheck.objects.get(invoice=record)
    assert (check.verify_code, check.verified_by, check.verify_pending) == ("00", fiona, False)
    assert check.verified_at is not None
    record = ReceivedInvoice.objects.get(pk=record.pk)
    assert (record.platform_status, record.platform_status_code, record.risk_level) == (
        PlatformStatus.RED_PARTIAL, "04", "03")
    event = events_for(record).get(action="verify")
    assert (event.to_state, event.actor, event.data["status"]) == ("00", fiona, "04")


def test_not_found_02_is_a_result(yuntu, fake):
    record = pool_invoice(yuntu)
    fake.answers[record.number] = "02"
    v = verify(record).verification
    assert (v.state, v.code) == (VerifyState.DONE, "02")
    assert InvoiceCheck.objects.get(invoice=record).verify_code == "02"


def test_an_inconsistent_03_shows_which_fields_differ(yuntu, fake):
    record = pool_invoice(yuntu)
    fake.answers[record.number] = "03"
    v = verify(record).verification
    assert v.code == "03"
    assert [d["field"] for d in v.differences] == ["total"]
    assert v.differences[0]["record"] == "1,060.00"


def test_a_success_whose_data_disagree_with_the_record_is_kept_as_inconsistent_with_both_values(yuntu, fake):
    record = pool_invoice(yuntu)
    fake.platform[record.number] = {"seller_tax_id": "91110000MA00000000", "total_tax": Decimal("70.00")}
    v = verify(record).verification
    assert v.code == "03"
    shown = {d["field"]: (d["record"], d["platform"]) for d in v.differences}
    assert shown == {"seller_tax_id": ("91330106MA2GL8XY7N", "91110000MA00000000"), "tax": ("60.00", "70.00")}


def test_customer_service_may_not_verify(yuntu, sam, fake):
    with pytest.raises(PermissionDenied):
        verify(pool_invoice(yuntu), sam)


def test_a_user_of_another_entity_may_not_verify(yuntu, lily, fake):
    with pytest.raises(PermissionDenied):
        verify(pool_invoice(yuntu), lily)


# --- the cache ------------------------------------------------------------------------------------------------------


def test_a_result_is_reused_and_a_new_call_made_only_when_asked(yuntu, fake):
    record = pool_invoice(yuntu)
    verify(record)
    again = verify(record)
    assert not again.called and again.verification.state == VerifyState.REUSED and again.verification.code == "00"
    assert len(fake.calls) == 1
    assert verify(record, force=True).called
    assert len(fake.calls) == 2


def test_a_status_change_the_platform_reports_makes_the_cache_stale(yuntu, fake):
    record = pool_invoice(yuntu)
    verify(record)
    ReceivedInvoice.objects.filter(pk=record.pk).update(platform_status_code="03",
                                                        platform_status=PlatformStatus.RED_FULL)
    record = ReceivedInvoice.objects.get(pk=record.pk)
    fake.status = "03"
    assert verify(record).called
    assert len(fake.calls) == 2


def test_before_a_use_an_old_result_is_verified_again_and_a_fresh_one_reused(yuntu, fake, clock, settings):
    settings.RECEIVING_VERIFY_MAX_AGE_HOURS = 24
    record = pool_invoice(yuntu)
    verify(record)
    clock.at += timedelta(hours=2)
    assert not verify(record, purpose="reimburse").called
    clock.at += timedelta(hours=23)
    assert not verify(record).called  # not a use: the cached result stands
    assert verify(record, purpose="deduct").called
    assert len(fake.calls) == 2


def test_a_failed_result_is_verified_again_once_the_record_is_corrected(yuntu, fiona, fake):
    record = pool_invoice(yuntu)
    fake.answers[record.number] = "03"
    assert verify(record, fiona).verification.code == "03"
    assert not verify(record, fiona).called  # the same record: the same answer, no second call
    corrections.received_invoice_correct(record=record, changes={"amount": Decimal("1100.00"),
                                                                 "total": Decimal("1160.00")},
                                         note="按发票原件更正金额", actor=fiona)
    record = ReceivedInvoice.objects.get(pk=record.pk)
    fake.answers.pop(record.number)
    again = verify(record, fiona)
    assert again.called and again.verification.code == "00"
    assert fake.calls[-1].amount == Decimal("1160.00")


# --- the platform cannot answer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["network", "timeout", "rate_limited", "server"])
def test_an_unavailable_slow_or_rate_limiting_platform_leaves_the_result_pending_never_failed(yuntu, fake, kind):
    record = pool_invoice(yuntu)
    fake.answers[record.number] = unavailable(kind)
    outcome = verify(record)
    assert outcome.pending and outcome.verification.wait_reason == kind
    assert outcome.verification.next_try_at is not None
    check = InvoiceCheck.objects.get(invoice=record)
    assert (check.verify_code, check.verify_pending) == ("", True)
    assert not events_for(record).filter(action="verify").exists()


def test_a_pending_request_is_retried_when_due_and_then_answered(yuntu, fake, clock):
    record = pool_invoice(yuntu)
    fake.answers[record.number] = unavailable()
    verify(record)
    assert verification.verification_retry_due(actor=None) == 0  # not due yet
    assert len(fake.calls) == 1
    fake.answers.pop(record.number)
    clock.at += verification.retry_after() + timedelta(seconds=1)
    verification.verification_retry_due(actor=None)
    v = Verification.objects.get(invoice=record)
    assert (v.state, v.code, v.attempts) == (VerifyState.DONE, "00", 2)


# --- the budget -----------------------------------------------------------------------------------------------------


def test_an_invoice_is_verified_at_most_n_times_a_day(yuntu, fake, clock, settings):
    settings.RECEIVING_VERIFY_PER_INVOICE_DAILY = 5
    record = pool_invoice(yuntu)
    outcomes = [verify(record, force=True) for _ in range(7)]
    assert len(fake.calls) == 5
    assert [o.called for o in outcomes] == [True] * 5 + [False] * 2
    assert outcomes[-1].verification.wait_reason == "budget"
    assert VerificationUsage.objects.get(invoice=record).calls == 5
    clock.at += timedelta(days=1)
    verification.verification_retry_due(actor=None)
    assert len(fake.calls) == 7  # the two waiting requests ran the next day
    assert not Verification.objects.filter(state=VerifyState.PENDING).exists()


def test_the_entity_makes_at_most_m_calls_a_second(yuntu, fake, clock, settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 2
    times = []
    fake.default = lambda request: (times.append(int(clock.at.timestamp())), "00")[1]
    records = [pool_invoice(yuntu) for _ in range(7)]
    job = verification.verification_job_start(taxpayer=yuntu, invoice_ids=[r.pk for r in records], actor=None)
    verification.verification_job_run(job=job, actor=None, channel=fake)
    assert len(times) == 7
    assert max(times.count(second) for second in set(times)) == 2


# --- bulk -----------------------------------------------------------------------------------------------------------


def test_a_bulk_job_reports_progress_and_reuses_standing_results(yuntu, fake, django_capture_on_commit_callbacks):
    records = [pool_invoice(yuntu) for _ in range(4)]
    verify(records[0])
    with django_capture_on_commit_callbacks(execute=False):
        job = verification.verification_job_start(taxpayer=yuntu, invoice_ids=[r.pk for r in records], actor=None)
    assert (job.total, job.done, job.status) == (4, 0, JobStatus.RUNNING)
    job = verification.verification_job_run(job=job, actor=None, channel=fake)
    assert (job.done, job.waiting, job.status, job.percent) == (4, 0, JobStatus.DONE, 100)
    assert len(fake.calls) == 4  # one for the first single verification, three in the job
    states = sorted(Verification.objects.filter(job=job).values_list("state", flat=True))
    assert states == [VerifyState.DONE] * 3 + [VerifyState.REUSED]


def test_a_budget_exhausted_half_way_through_a_bulk_job_leaves_the_rest_waiting(yuntu, fake, clock, settings):
    settings.RECEIVING_VERIFY_PER_INVOICE_DAILY = 2
    records = [pool_invoice(yuntu) for _ in range(6)]
    today = verification.china_day(clock())
    for record in records[3:]:  # already verified twice today elsewhere
        VerificationUsage.objects.create(invoice=record, day=today, calls=2)
    job = verification.verification_job_start(taxpayer=yuntu, invoice_ids=[r.pk for r in records], actor=None,
                                              force=True)
    job = verification.verification_job_run(job=job, actor=None, channel=fake)
    assert (job.done, job.waiting, job.status) == (3, 3, JobStatus.WAITING)
    assert len(fake.calls) == 3
    waiting = Verification.objects.filter(job=job, state=VerifyState.PENDING)
    assert set(waiting.values_list("wait_reason", flat=True)) == {"budget"}
    assert not InvoiceCheck.objects.filter(invoice__in=records[3:]).exclude(verify_code="").exists()
    clock.at += timedelta(days=1)
    verification.verification_retry_due(actor=None, channel_factory=lambda t: fake)
    job.refresh_from_db()
    assert (job.done, job.waiting, job.status) == (6, 0, JobStatus.DONE)


def test_an_unavailable_platform_stops_a_bulk_run_and_the_rest_wait(yuntu, fake, clock):
    records = [pool_invoice(yuntu) for _ in range(5)]
    fake.answers[records[1].number] = unavailable("timeout")
    job = verification.verification_job_start(taxpayer=yuntu, invoice_ids=[r.pk for r in records], actor=None)
    job = verification.verification_job_run(job=job, actor=None, channel=fake)
    assert (job.done, job.waiting, job.status) == (1, 4, JobStatus.WAITING)
    assert len(fake.calls) == 2
    assert not InvoiceCheck.objects.filter(verify_code__in=["01", "02", "03", "04"]).exists()
    fake.answers.clear()
    clock.at += verification.retry_after() + timedelta(seconds=1)
    verification.verification_retry_due(actor=None, channel_factory=lambda t: fake)
    job.refresh_from_db()
    assert (job.done, job.status) == (5, JobStatus.DONE)


# --- before a use, status reports -----------------------------------------------------------------------------------


def test_before_a_use_a_stale_result_is_verified_again_and_the_rules_answer(yuntu, fiona, fake, clock):
    record = pool_invoice(yuntu)
    verify(record)
    clock.at += timedelta(hours=30)
    fake.status = "03"  # fully red-flushed since
    verdict = verification.received_invoice_check_before_use(record=record, actor=fiona, purpose="reimburse")
    assert len(fake.calls) == 2
    assert not verdict.usable and verdict.blocking[0]["rule"] == "platform_status"


def test_before_a_use_a_platform_that_cannot_answer_leaves_the_last_result_standing(yuntu, fiona, fake, clock):
    record = pool_invoice(yuntu)
    verify(record)
    clock.at += timedelta(hours=30)
    fake.answers[record.number] = unavailable()
    verdict = verification.received_invoice_check_before_use(record=record, actor=fiona, purpose="deduct")
    assert verdict.usable
    assert InvoiceCheck.objects.get(invoice=record).verify_code == "00"


def test_a_status_the_platform_reports_is_kept_and_makes_the_next_use_verify(yuntu, fiona, fake,
                                                                              django_capture_on_commit_callbacks):
    record = pool_invoice(yuntu)
    verify(record)
    with django_capture_on_commit_callbacks(execute=True):
        verification.received_invoice_platform_status_record(record=record, status_code="02", actor=None)
    record = ReceivedInvoice.objects.get(pk=record.pk)
    assert record.platform_status == PlatformStatus.VOIDED
    assert InvoiceCheck.objects.get(invoice=record).rules_outcome == "block"
    assert events_for(record).filter(action="platform_status").exists()
    fake.status = "02"
    verification.received_invoice_check_before_use(record=record, actor=fiona, purpose="reimburse")
    assert len(fake.calls) == 2


def test_a_bulk_job_runs_the_rules_of_what_it_verified(yuntu, fake):
    records = [pool_invoice(yuntu) for _ in range(3)]
    fake.answers[records[1].number] = "02"
    job = verification.verification_job_start(taxpayer=yuntu, invoice_ids=[r.pk for r in records], actor=None)
    verification.verification_job_run(job=job, actor=None, channel=fake)
    outcomes = dict(InvoiceCheck.objects.values_list("invoice_id", "rules_outcome"))
    assert outcomes == {records[0].pk: "pass", records[1].pk: "block", records[2].pk: "pass"}
