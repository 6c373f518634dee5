"""Issue 18: a period operation whose answer was lost (a time-out after the platform applied it, or a process that
died before our state changed) is completed from the platform's own state (``deduction_statistics_query``), never
asked of the platform twice; a refusal for a real reason still refuses."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from deduction import services
from deduction.models import PeriodState, TaxPeriod
from deduction.services import SelectionInput
from invoicing.channels.base import ChannelUnavailable
from invoicing.models import ChannelCall, Event
from sandbox.models import LedgerStatistics
from tests.receiving.platform_world import channel_of

pytestmark = pytest.mark.django_db

APPLY, UNDO = "deduction_statistics_apply", "deduction_statistics_undo"
CONFIRM, CONFIRM_UNDO = "deduction_confirm", "deduction_confirm_undo"


class QueryDown:
    """The platform applies the operation, its answer is lost, and the query is unavailable too: the process that
    called it learns nothing (as if it had died before writing the platform's answer)."""

    def __init__(self, world):
        self.inner = channel_of(world, "timeout_after")

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def deduction_statistics_query(self, period):
        raise ChannelUnavailable("gateway time-out", kind="timeout")


class TimeOutAfter:
    """The platform applies every change and its answer is lost on the way (``timeout_after``); reads answer."""

    def __init__(self, world):
        self.inner, self.reader = channel_of(world, "timeout_after"), channel_of(world)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def deduction_statistics_query(self, period):
        return self.reader.deduction_statistics_query(period)


def calls(operation: str) -> int:
    return ChannelCall.objects.filter(operation=operation).count()


def platform_status(world, period: str) -> str:
    row = LedgerStatistics.objects.filter(account__credit_code=world.credit_code, period=period).first()
    return "none" if row is None else row.status


def last_transition(period: TaxPeriod, action: str) -> Event:
    return Event.objects.filter(object_id=str(period.pk), action=action).latest("id")


@pytest.fixture
def selected(period, invoice, fiona, chan):
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona,
                              channel=chan)
    return period


@pytest.fixture
def applied(selected, fiona, chan):
    return services.tax_period_statistics_apply(tax_period=selected, actor=fiona, channel=chan)


@pytest.fixture
def confirmed(applied, fiona, chan):
    return services.tax_period_confirm(tax_period=applied, actor=fiona, channel=chan)


def _run(operation: str, period: TaxPeriod, fiona, channel) -> TaxPeriod:
    service = {APPLY: services.tax_period_statistics_apply, UNDO: services.tax_period_statistics_undo,
               CONFIRM: services.tax_period_confirm, CONFIRM_UNDO: services.tax_period_confirm_undo}[operation]
    return service(tax_period=TaxPeriod.objects.get(pk=period.pk), actor=fiona, channel=channel)


# (operation, the fixture of the state it starts from, our state after it, the platform's state after it)
CASES = [(APPLY, "selected", PeriodState.STATISTICS, "generated"), (UNDO, "applied", PeriodState.OPEN, "none"),
         (CONFIRM, "applied", PeriodState.CONFIRMED, "confirmed"),
         (CONFIRM_UNDO, "confirmed", PeriodState.STATISTICS, "generated")]
TRANSITION = {APPLY: "statistics_apply", UNDO: "statistics_undo", CONFIRM: "period_confirm",
              CONFIRM_UNDO: "period_confirm_undo"}


@pytest.mark.parametrize(("operation", "start", "state", "platform"), CASES, ids=[c[0] for c in CASES])
def test_a_time_out_after_the_platform_applied_it_is_recovered_by_the_service_itself(
        request, world, fiona, operation, start, state, platform):
    period = request.getfixturevalue(start)
    before = calls(operation)
    period = _run(operation, period, fiona, TimeOutAfter(world))
    assert period.state == state and platform_status(world, period.period) == platform
    assert calls(operation) == before + 1  # the platform saw the mutating call once
    event = last_transition(period, TRANSITION[operation])
    assert event.to_state == state and event.data["recovered_by_query"] is True
    if operation in (APPLY, CONFIRM):  # the platform's figures, read back
        assert period.platform_statistics["tax"] == "90.00" and period.platform_statistics["count"] == "1"
        assert period.platform_statistics["status"] == platform and period.differences == []
    if operation == CONFIRM:
        assert len(period.snapshot["selections"]) == 1


@pytest.mark.parametrize(("operation", "start", "state", "platform"), CASES, ids=[c[0] for c in CASES])
def test_a_retry_after_a_lost_answer_asks_the_platform_first_and_never_calls_twice(
        request, world, fiona, chan, operation, start, state, platform):
    period = request.getfixturevalue(start)
    old_state, before = period.state, calls(operation)
    with pytest.raises(ValidationError, match="平台暂不可用"):
        _run(operation, period, fiona, QueryDown(world))
    assert TaxPeriod.objects.get(pk=period.pk).state == old_state  # our side did not learn of it
    assert platform_status(world, period.period) == platform  # the platform did it
    period = _run(operation, period, fiona, chan)
    assert period.state == state
    assert calls(operation) == before + 1  # the retry found it done: not asked again
    assert last_transition(period, TRANSITION[operation]).data["recovered_by_query"] is True
    if operation == APPLY:
        assert period.platform_statistics["tax"] == "90.00" and period.differences == []


def test_a_refusal_because_it_was_done_already_completes_our_side(selected, world, fiona, chan):
    chan.deduction_statistics_apply(selected.period)  # done on the platform, nothing of it here
    period = _run(APPLY, selected, fiona, chan)  # refused ("本期已申请统计"), then read from the platform
    assert period.state == PeriodState.STATISTICS and period.platform_statistics["tax"] == "90.00"
    assert platform_status(world, period.period) == "generated"


def test_a_time_out_before_the_platform_processed_it_is_asked_again_once(selected, world, fiona, chan):
    with pytest.raises(ValidationError, match="平台暂不可用"):
        _run(APPLY, selected, fiona, channel_of(world, "timeout_before"))
    assert TaxPeriod.objects.get(pk=selected.pk).state == PeriodState.OPEN
    assert platform_status(world, selected.period) == "none"
    period = _run(APPLY, selected, fiona, chan)  # the query says not done: the operation is asked for
    assert period.state == PeriodState.STATISTICS and calls(APPLY) == 2
    assert "recovered_by_query" not in last_transition(period, "statistics_apply").data


def test_a_refusal_for_a_real_reason_still_refuses(applied, world, fiona, chan):
    chan.deduction_statistics_undo(applied.period)  # undone on the platform behind our back
    with pytest.raises(ValidationError, match="平台拒绝：.*尚未申请统计"):
        _run(CONFIRM, applied, fiona, chan)
    period = TaxPeriod.objects.get(pk=applied.pk)
    assert period.state == PeriodState.STATISTICS and platform_status(world, period.period) == "none"
    assert not Event.objects.filter(object_id=str(period.pk), action="period_confirm").exists()


def test_a_time_out_when_the_platform_is_elsewhere_still_refuses(confirmed, world, fiona, chan):
    # our side confirmed; the undo times out before the platform processes it: not recovered, not done
    with pytest.raises(ValidationError, match="平台暂不可用"):
        _run(CONFIRM_UNDO, confirmed, fiona, channel_of(world, "timeout_before"))
    assert TaxPeriod.objects.get(pk=confirmed.pk).state == PeriodState.CONFIRMED
    assert platform_status(world, confirmed.period) == "confirmed"


def test_a_recovered_confirmation_still_compares_the_statistics(applied, world, fiona):
    channel_of(world).deduction_confirm(applied.period)
    LedgerStatistics.objects.filter(period=applied.period).update(count=2)  # the platform's figures changed
    with pytest.raises(ValidationError, match="平台确认的统计与本系统不一致.*抵扣份数 1 ≠ 2"):
        _run(CONFIRM, applied, fiona, channel_of(world))
    period = TaxPeriod.objects.get(pk=applied.pk)
    assert period.state == PeriodState.STATISTICS and period.differences[0]["field"] == "count"
    with pytest.raises(ValidationError, match="平台统计与本系统不一致，不能确认"):  # refused before any call now
        _run(CONFIRM, period, fiona, channel_of(world))
    assert calls(CONFIRM) == 2
