"""The ERP's deduction writes through the API: open a period, select and undo, statistics, confirmation. They reach the
tax platform (the sandbox here), so their Idempotency-Key is claimed and committed first and the platform is never
called inside a transaction; a replay returns the stored answer, a request still running is 409."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from api.models import IdempotencyRecord, IdempotencyState
from deduction import services
from deduction.models import PeriodState, Selection, SelectionState, TaxPeriod
from invoicing.channels.sandbox import InProcessTransport
from sandbox import services as sandbox_services
from sandbox.models import SandboxAccount
from tests.api.conftest import Api, assert_error
from tests.deduction.conftest import TODAY as DEDUCTION_TODAY
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_november_2026():
    """The periods named here are the current ones on the deduction tests' day (tests/deduction/conftest.py)."""
    with time_machine.travel(DEDUCTION_TODAY, tick=True):
        yield


@pytest.fixture
def world(yuntu, mingyuan):
    connect(yuntu)
    connect(mingyuan)
    return mingyuan


@pytest.fixture
def make_invoice(yuntu, world, fiona):
    def make(amounts=("1000.00",)):
        return supplied_invoice(yuntu, world, actor=fiona, amounts=amounts)
    return make


@pytest.fixture
def period(world, fiona):
    return services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)


class PlatformCalls:
    """Every request the channel sends to the sandbox, with whether a transaction was open at that moment."""

    def __init__(self):
        self.calls: list[tuple[str, bool]] = []

    def paths(self, word: str) -> list[str]:
        return [p for p, _ in self.calls if word in p]


@pytest.fixture
def platform_calls(monkeypatch):
    seen = PlatformCalls()
    send = InProcessTransport.send

    def spy(self, path, body, headers):
        seen.calls.append((path, connection.in_atomic_block))
        return send(self, path, body, headers)

    monkeypatch.setattr(InProcessTransport, "send", spy)
    return seen


def select_body(*items):
    return {"items": list(items)}


# --- opening a period --------------------------------------------------------------------------------------------------


def test_a_period_is_opened_once(erp, world):
    created = erp.post("deduction/periods/", {"period": "202612"})
    assert created.status_code == 201, created.content
    assert (created.json()["period"], created.json()["state"], created.json()["taxpayer"]) == (
        "202612", "open", world.credit_code)
    again = erp.post("deduction/periods/", {"period": "202612"})
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert TaxPeriod.objects.filter(taxpayer=world, period="202612").count() == 1
    error = assert_error(erp.post("deduction/periods/", {"period": "202613"}), 400, "validation_error")
    assert error["fields"]["period"] == ["所属期格式应为 YYYYMM"]


def test_a_period_of_another_entity_cannot_be_opened(shop, world):
    error = assert_error(shop.post("deduction/periods/", {"taxpayer": world.credit_code, "period": "202612"}), 400,
                         "validation_error")
    assert "taxpayer" in error["fields"]
    assert not TaxPeriod.objects.filter(taxpayer=world).exists()


# --- the whole month through the API -------------------------------------------------------------------------------


def test_select_statistics_confirm_and_back(erp, period, make_invoice, platform_calls):
    a, b = make_invoice(), make_invoice(("2000.00",))
    answer = erp.post(f"deduction/periods/{period.pk}/select/", select_body(
        {"invoice": a.pk, "effective_tax": "50.00"},
        {"number": b.number, "purpose": "4", "reason": "3", "reason_text": "员工福利"}), key="sel-1")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["accepted"], body["refused"], body["pending"]) == (2, 0, 0)
    assert [(x["index"], x["invoice"], x["outcome"], x["state"], x["purpose"]) for x in body["items"]] == [
        (1, a.pk, "accepted", "accepted", "1"), (2, b.pk, "accepted", "accepted", "4")]
    assert body["items"][0]["effective_tax"] == "50.00"
    assert body["period"]["state"] == "open"
    assert Selection.objects.get(invoice=b).reason == "3"

    stats = erp.post(f"deduction/periods/{period.pk}/statistics/", key="stat-1")
    assert stats.status_code == 200, stats.content
    assert stats.json()["state"] == "statistics"
    assert stats.json()["platform_statistics"]["tax"] == "50.00" and stats.json()["differences"] == []
    confirmed = erp.post(f"deduction/periods/{period.pk}/confirm/", key="conf-1")
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    assert erp.get(f"deduction/periods/{period.pk}/schedule2/").status_code == 200

    undone = erp.post(f"deduction/periods/{period.pk}/confirm-undo/", {"reason": "补录发票"}, key="conf-undo-1")
    assert undone.status_code == 200 and undone.json()["state"] == "statistics"
    reopened = erp.post(f"deduction/periods/{period.pk}/statistics-undo/", key="stat-undo-1")
    assert reopened.status_code == 200 and reopened.json()["state"] == "open"
    unselected = erp.post(f"deduction/periods/{period.pk}/unselect/", select_body({"invoice": a.pk}), key="uns-1")
    assert unselected.status_code == 200, unselected.content
    [item] = unselected.json()["items"]
    assert (item["invoice"], item["outcome"], item["state"]) == (a.pk, "accepted", "undone")
    assert len(platform_calls.paths("deduction/")) == 6


def test_the_platform_refuses_some_items_with_its_reason(erp, world, period, make_invoice):
    a, b = make_invoice(), make_invoice()
    # the platform already has ``a`` selected in 202610 (done elsewhere, e.g. on the platform's own site)
    account = SandboxAccount.objects.get(credit_code=world.credit_code)
    sandbox_services.deduction_select(account=account, payload={"period": "202610", "items": [{"number": a.number}]})
    answer = erp.post(f"deduction/periods/{period.pk}/select/", select_body({"invoice": a.pk}, {"invoice": b.pk}))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["accepted"], body["refused"], body["pending"]) == (1, 1, 0)
    refused, accepted = body["items"]
    assert (refused["invoice"], refused["outcome"], refused["state"], refused["platform_code"]) == (
        a.pk, "refused", "refused", "3504")
    assert "202610" in refused["platform_message"]
    assert (accepted["invoice"], accepted["outcome"]) == (b.pk, "accepted")


def test_our_rules_refuse_the_whole_request_naming_item_and_rule(erp, period, make_invoice, platform_calls):
    a, b = make_invoice(), make_invoice()
    answer = erp.post(f"deduction/periods/{period.pk}/select/", select_body(
        {"invoice": a.pk}, {"invoice": b.pk, "effective_tax": "60.01"}), key="sel-bad")
    error = assert_error(answer, 400, "validation_error")
    assert error["message"] == f"第 2 行（发票 {b}）：有效抵扣税额 60.01 不能大于可抵扣税额 60.00"
    assert not Selection.objects.exists()
    assert not platform_calls.paths("deduction/")
    # a 4xx releases the key: the corrected request may use it again
    assert not IdempotencyRecord.objects.filter(key="sel-bad").exists()
    fixed = erp.post(f"deduction/periods/{period.pk}/select/", select_body(
        {"invoice": a.pk}, {"invoice": b.pk, "effective_tax": "60.00"}), key="sel-bad")
    assert fixed.status_code == 200 and fixed.json()["accepted"] == 2


def test_input_rules_name_the_field(erp, period, make_invoice):
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/select/"
    error = assert_error(erp.post(url, select_body({"invoice": a.pk, "purpose": "4"})), 400, "validation_error")
    assert error["fields"] == {"items[1].reason": ["不抵扣须选择原因（1–5）"]}
    error = assert_error(erp.post(url, select_body({"invoice": a.pk, "purpose": "4", "reason": "5",
                                                    "reason_text": "x" * 301})), 400, "validation_error")
    assert list(error["fields"]) == ["items[1].reason_text"]
    error = assert_error(erp.post(url, select_body({"invoice": a.pk, "reason": "1"})), 400, "validation_error")
    assert error["fields"] == {"items[1].reason": ["只有不抵扣才填写原因"]}
    error = assert_error(erp.post(url, select_body({"invoice": a.pk, "effective_tax": "-1.00"})), 400,
                         "validation_error")
    assert list(error["fields"]) == ["items[1].effective_tax"]
    assert_error(erp.post(url, select_body()), 400, "validation_error")
    english = assert_error(Api(erp.token, language="en").post(url, select_body({"invoice": a.pk, "purpose": "4"})),
                           400, "validation_error")
    assert english["fields"] == {"items[1].reason": ["Not deducting needs a reason (1–5)"]}
    assert not Selection.objects.exists()


def test_undo_of_an_invoice_not_selected_and_a_state_refusal(erp, period, make_invoice):
    a = make_invoice()
    error = assert_error(erp.post(f"deduction/periods/{period.pk}/unselect/", select_body({"invoice": a.pk})), 400,
                         "validation_error")
    assert error["fields"] == {"items[1]": ["该发票未在所属期 202611 勾选"]}
    assert erp.post(f"deduction/periods/{period.pk}/statistics/").status_code == 200
    error = assert_error(erp.post(f"deduction/periods/{period.pk}/statistics/"), 409, "invalid_state")
    assert error["message"] == "所属期 202611 状态为「已申请统计」，不能申请统计"
    error = assert_error(erp.post(f"deduction/periods/{period.pk}/select/", select_body({"invoice": a.pk})), 409,
                         "invalid_state")
    assert "撤销统计" in error["message"]


def test_pending_items_are_sent_again(erp, world, period, make_invoice, monkeypatch):
    a = make_invoice()
    # the platform did it but the answer was lost (a time-out): the selection stays pending
    monkeypatch.setattr(services, "get_channel", lambda taxpayer: channel_of(taxpayer, "timeout_after"))
    first = erp.post(f"deduction/periods/{period.pk}/select/", select_body({"invoice": a.pk}))
    monkeypatch.undo()
    assert first.status_code == 200, first.content
    assert first.json()["pending"] == 1 and first.json()["items"][0]["state"] == "pending"
    again = erp.post(f"deduction/periods/{period.pk}/resend/", key="resend-1")
    assert again.status_code == 200, again.content
    [item] = again.json()["items"]
    assert (item["invoice"], item["outcome"], item["state"]) == (a.pk, "accepted", "accepted")
    assert Selection.objects.filter(invoice=a).count() == 1


# --- scope ------------------------------------------------------------------------------------------------------------


def test_other_entities_periods_and_invoices_are_404(erp, shop, yuntu, world, period, make_invoice, fiona):
    a = make_invoice()
    for path, body in (("select/", select_body({"invoice": a.pk})), ("unselect/", select_body({"invoice": a.pk})),
                       ("resend/", None), ("statistics/", None), ("statistics-undo/", None), ("confirm/", None),
                       ("confirm-undo/", None)):
        assert_error(shop.post(f"deduction/periods/{period.pk}/{path}", body), 404, "not_found")
    assert not Selection.objects.exists()
    assert TaxPeriod.objects.get(pk=period.pk).state == PeriodState.OPEN
    # an invoice of another entity, named in a request on one's own period, is not found either
    theirs = supplied_invoice(world, yuntu, actor=fiona, amounts=("300.00",))
    error = assert_error(erp.post(f"deduction/periods/{period.pk}/select/", select_body(
        {"invoice": a.pk}, {"invoice": theirs.pk}, {"number": theirs.number})), 404, "not_found")
    assert set(error["fields"]) == {"items[2].invoice", "items[3].number"}
    assert not Selection.objects.exists()


# --- Idempotency-Key -----------------------------------------------------------------------------------------------


def test_a_replay_returns_the_stored_answer_without_calling_the_platform(erp, period, make_invoice, platform_calls):
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/select/"
    first = erp.post(url, select_body({"invoice": a.pk}), key="replay-1")
    calls = len(platform_calls.calls)
    again = erp.post(url, select_body({"invoice": a.pk}), key="replay-1")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(platform_calls.calls) == calls
    record = IdempotencyRecord.objects.get(key="replay-1")
    assert (record.state, record.response_status) == (IdempotencyState.COMPLETED, 200)
    assert Selection.objects.get().request_no == f"GXAPI{record.pk:017d}"
    assert_error(erp.post(url, select_body({"invoice": a.pk, "effective_tax": "1.00"}), key="replay-1"), 422,
                 "idempotency_key_reused")
    stats = erp.post(f"deduction/periods/{period.pk}/statistics/", key="replay-2")
    assert erp.post(f"deduction/periods/{period.pk}/statistics/", key="replay-2").json() == stats.json()
    assert len(platform_calls.paths("statistics")) == 1


def test_the_same_key_while_the_first_request_runs_is_409(erp, period, make_invoice, monkeypatch):
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/select/"
    during: list = []
    send = deduction_send = services.deduction_selection_send

    def meanwhile(**kwargs):
        during.append(erp.post(url, select_body({"invoice": a.pk}), key="busy-1"))
        return deduction_send(**kwargs)

    monkeypatch.setattr(services, "deduction_selection_send", meanwhile)
    first = erp.post(url, select_body({"invoice": a.pk}), key="busy-1")
    monkeypatch.setattr(services, "deduction_selection_send", send)
    assert first.status_code == 200 and first.json()["accepted"] == 1
    [second] = during
    error = assert_error(second, 409, "idempotency_in_progress")
    assert error["message"] == "使用该幂等键的请求正在处理中，请稍后用同一个键重试"
    assert 1 <= int(second["Retry-After"]) <= 5
    # once the first is done, the same request is its replay
    assert erp.post(url, select_body({"invoice": a.pk}), key="busy-1")["Idempotent-Replayed"] == "true"


class ProcessDied(BaseException):
    """The worker is killed: nothing of ours runs after it (no except Exception clause catches it)."""


def test_a_stale_claim_is_run_again_with_the_same_request_number(erp, period, make_invoice, monkeypatch, settings,
                                                                 platform_calls):
    settings.API_IDEMPOTENCY_STALE_SECONDS = 60
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/select/"
    send = services.deduction_selection_send

    def die(**kwargs):
        send(**kwargs)  # the platform selected it...
        raise ProcessDied  # ...and the process died before it answered or stored anything

    monkeypatch.setattr(services, "deduction_selection_send", die)
    with pytest.raises(ProcessDied):
        erp.post(url, select_body({"invoice": a.pk}), key="died-1")
    monkeypatch.setattr(services, "deduction_selection_send", send)
    record = IdempotencyRecord.objects.get(key="died-1")
    assert record.state == IdempotencyState.IN_PROGRESS
    # while the claim is fresh, another try is told to wait
    assert_error(erp.post(url, select_body({"invoice": a.pk}), key="died-1"), 409, "idempotency_in_progress")
    IdempotencyRecord.objects.filter(pk=record.pk).update(claimed_at=timezone.now() - timedelta(seconds=61))
    resumed = erp.post(url, select_body({"invoice": a.pk}), key="died-1")
    assert resumed.status_code == 200, resumed.content
    assert [(x["invoice"], x["outcome"]) for x in resumed.json()["items"]] == [(a.pk, "accepted")]
    row = Selection.objects.get(invoice=a)  # selected once, under the claim's number
    assert row.request_no == f"GXAPI{record.pk:017d}" and row.state == SelectionState.ACCEPTED
    record.refresh_from_db()
    assert (record.state, record.attempts) == (IdempotencyState.COMPLETED, 2)
    # the platform was asked once: the resumed run found the committed, accepted selection
    assert len(platform_calls.paths("deduction/select")) == 1


def test_a_stale_claim_that_died_before_the_platform_answered_is_sent_again(erp, period, make_invoice,
                                                                            monkeypatch, platform_calls):
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/unselect/"
    erp.post(f"deduction/periods/{period.pk}/select/", select_body({"invoice": a.pk}))

    def die(**kwargs):
        raise ProcessDied  # the undo is committed (undo pending); the platform never heard of it

    monkeypatch.setattr(services, "deduction_selection_send", die)
    with pytest.raises(ProcessDied):
        erp.post(url, select_body({"invoice": a.pk}), key="died-2")
    monkeypatch.undo()
    assert Selection.objects.get(invoice=a).state == SelectionState.UNDO_PENDING
    IdempotencyRecord.objects.filter(key="died-2").update(claimed_at=timezone.now() - timedelta(hours=1))
    resumed = erp.post(url, select_body({"invoice": a.pk}), key="died-2")
    assert resumed.status_code == 200, resumed.content
    [item] = resumed.json()["items"]
    assert (item["outcome"], item["state"]) == ("accepted", "undone")
    assert Selection.objects.filter(invoice=a).count() == 1


def test_a_resumed_period_call_that_had_got_there_answers_the_period(erp, period, make_invoice, monkeypatch,
                                                                     platform_calls):
    make_invoice()
    real = services.tax_period_statistics_apply

    def die(**kwargs):
        real(**kwargs)
        raise ProcessDied

    monkeypatch.setattr(services, "tax_period_statistics_apply", die)
    with pytest.raises(ProcessDied):
        erp.post(f"deduction/periods/{period.pk}/statistics/", key="died-3")
    monkeypatch.undo()
    IdempotencyRecord.objects.filter(key="died-3").update(claimed_at=timezone.now() - timedelta(hours=1))
    resumed = erp.post(f"deduction/periods/{period.pk}/statistics/", key="died-3")
    assert resumed.status_code == 200 and resumed.json()["state"] == "statistics"
    assert len(platform_calls.paths("statistics")) == 1


def test_a_bug_leaves_the_claim_resumable_at_once(erp, period, make_invoice, monkeypatch):
    a = make_invoice()
    url = f"deduction/periods/{period.pk}/select/"

    def bug(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "deduction_selection_send", bug)
    with pytest.raises(RuntimeError):
        erp.post(url, select_body({"invoice": a.pk}), key="bug-1")
    monkeypatch.undo()
    assert IdempotencyRecord.objects.get(key="bug-1").claimed_at is None
    again = erp.post(url, select_body({"invoice": a.pk}), key="bug-1")
    assert again.status_code == 200 and again.json()["accepted"] == 1
    assert Selection.objects.filter(invoice=a).count() == 1


# --- never inside a transaction ------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_platform_is_never_called_inside_a_transaction(erp, period, make_invoice, platform_calls):
    """With real commits (no test transaction around the requests), every call the channel sends while the API runs
    a deduction write finds no transaction open, and the Idempotency-Key claim already committed."""
    a, b = make_invoice(), make_invoice()
    platform_calls.calls.clear()
    claims: list[str] = []
    send = InProcessTransport.send

    def check(self, path, body, headers):
        claims.extend(IdempotencyRecord.objects.filter(state=IdempotencyState.IN_PROGRESS)
                      .values_list("key", flat=True))
        return send(self, path, body, headers)

    InProcessTransport.send = check
    try:
        steps = [("select/", select_body({"invoice": a.pk}, {"invoice": b.pk}), "t-1"),
                 ("unselect/", select_body({"invoice": b.pk}), "t-2"), ("statistics/", None, "t-3"),
                 ("confirm/", None, "t-4"), ("confirm-undo/", None, "t-5"), ("statistics-undo/", None, "t-6"),
                 ("resend/", None, "t-7")]
        for path, body, key in steps:
            response = erp.post(f"deduction/periods/{period.pk}/{path}", body, key=key)
            assert response.status_code == 200, (path, response.content)
    finally:
        InProcessTransport.send = send
    assert len(platform_calls.paths("deduction/")) == 6
    assert platform_calls.calls and not [p for p, atomic in platform_calls.calls if atomic]
    assert {"t-1", "t-2", "t-3", "t-4", "t-5", "t-6"} <= set(claims)


def test_the_schema_declares_the_writes_their_key_and_the_409(client):
    import json

    openapi = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    writes = [p for p in openapi["paths"] if p.startswith("/api/v1/deduction/periods/{id}/")
              and p.rsplit("/", 2)[-2] != "{id}" and "/schedule2/" not in p]  # the report and its drill-down read
    assert len(writes) == 7
    for path in writes:
        operation = openapi["paths"][path]["post"]
        [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert "409 idempotency_in_progress" in key["description"]
        assert "Retry-After" in operation["responses"]["409"]["headers"], path
        assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"], path
        assert {"400", "404", "422"} <= set(operation["responses"]), path
    assert openapi["info"]["version"] == "1.4.0"
