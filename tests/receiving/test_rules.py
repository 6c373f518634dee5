"""Receiving rules: each rule, all failures at once with the rule's version, severities, parameters refused when
saved, the blacklist and its Excel import, overrides that lapse when the invoice changes, and the run on arrival."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from invoicing.events import events_for
from receiving import corrections, rules, sellers, services
from receiving.control_models import InvoiceCheck, ReceivingRule, RuleOverride, RulesOutcome, SellerStatus
from receiving.models import PlatformStatus, ReceivedInvoice, RiskLevel, UseState
from tests.receiving.controls import XIHU, pool_invoice

pytestmark = pytest.mark.django_db

BLACK = ("上海黑石贸易有限公司", "91310000MA1FL0BK1X")


def run(entity, record=None, purpose="arrival"):
    report = rules.rules_run(taxpayer=entity, actor=None, invoice_ids=[record.pk] if record else None,
                             purpose=purpose, keep_verdicts=True)
    return report.verdicts[record.pk] if record else report


def failed(verdict):
    return {f["rule"]: f["severity"] for f in verdict.failures}


def set_rule(entity, code, severity=None, **params):
    return rules.receiving_rule_save(taxpayer=entity, code=code, severity=severity or rules.SPECS[code].severity,
                                     params=params, actor=None)


def test_a_clean_invoice_passes_every_rule(yuntu):
    verdict = run(yuntu, pool_invoice(yuntu))
    assert (verdict.outcome, verdict.failures, verdict.usable) == (RulesOutcome.PASS, [], True)


def test_the_buyer_name_is_compared_with_brackets_and_spaces_normalised(yuntu):
    yuntu.name = "广州云途出行科技(广东)有限公司"
    yuntu.save()
    assert run(yuntu, pool_invoice(yuntu, buyer=("广州云途出行科技（广东） 有限公司", yuntu.credit_code))).usable
    verdict = run(yuntu, pool_invoice(yuntu, buyer=("广州云途出行科技有限公司", yuntu.credit_code)))
    assert failed(verdict) == {"buyer_name": "block"}
    assert "广州云途出行科技有限公司" in verdict.failures[0]["message"]


def test_a_different_buyer_tax_id_fails(yuntu):
    verdict = run(yuntu, pool_invoice(yuntu, buyer=(yuntu.name, "91440300MA5FM1NGYB")))
    assert failed(verdict) == {"buyer_tax_id": "block"}


def test_all_failures_are_reported_at_once_each_with_its_rule_version(yuntu):
    set_rule(yuntu, "issue_date_age", days=30)
    set_rule(yuntu, "issue_date_age", days=20)  # version 2
    record = pool_invoice(yuntu, buyer=("别的公司", "91440300MA5FM1NGYB"), issue_date=services.timezone.localdate()
                          - timedelta(days=40), amount="20000.00", tax="1200.00",
                          lines=(("*礼品*月饼礼盒", "1030201000000000000"),))
    verdict = run(yuntu, record)
    assert failed(verdict) == {"buyer_name": "block", "buyer_tax_id": "block", "issue_date_age": "warn",
                               "second_approver": "warn", "not_reimbursable": "block"}
    versions = {f["rule"]: f["version"] for f in verdict.failures}
    assert versions["issue_date_age"] == 2 and versions["buyer_name"] == 0
    assert verdict.needs_second_approver
    check = InvoiceCheck.objects.get(invoice=record)
    assert (check.rules_outcome, check.needs_second_approver, len(check.rules_failures)) == (
        RulesOutcome.BLOCK, True, 5)


def test_a_blacklisted_seller_blocks_and_removal_clears_it(yuntu, fiona, django_capture_on_commit_callbacks):
    record = pool_invoice(yuntu, seller=BLACK)
    run(yuntu, record)
    with django_capture_on_commit_callbacks(execute=True):
        seller = sellers.seller_blacklist_add(taxpayer=yuntu, tax_id=BLACK[1], name=BLACK[0], reason="虚开发票",
                                              actor=fiona)
    check = InvoiceCheck.objects.get(invoice=record)
    assert check.rules_outcome == RulesOutcome.BLOCK
    assert "虚开发票" in check.rules_failures[0]["message"]
    assert events_for(seller).get(action="blacklist_add").reason == "虚开发票"
    with django_capture_on_commit_callbacks(execute=True):
        sellers.seller_blacklist_remove(seller=seller, reason="核实无误", actor=fiona)
    assert InvoiceCheck.objects.get(invoice=record).rules_outcome == RulesOutcome.PASS


def test_a_blacklist_needs_a_reason_and_a_valid_tax_id(yuntu, fiona):
    with pytest.raises(ValidationError, match="原因"):
        sellers.seller_blacklist_add(taxpayer=yuntu, tax_id=BLACK[1], reason=" ", actor=fiona)
    with pytest.raises(ValidationError, match="纳税人识别号"):
        sellers.seller_blacklist_add(taxpayer=yuntu, tax_id="12", reason="x", actor=fiona)


def test_customer_service_may_not_edit_the_blacklist(yuntu, sam):
    with pytest.raises(PermissionDenied):
        sellers.seller_blacklist_add(taxpayer=yuntu, tax_id=BLACK[1], reason="x", actor=sam)


def _workbook(tmp_path, rows, headers=("销售方纳税人识别号", "销售方名称", "列入原因")):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(headers))
    for row in rows:
        ws.append(list(row))
    path = tmp_path / "blacklist.xlsx"
    wb.save(path)
    return path


def test_the_blacklist_is_imported_from_excel(yuntu, fiona, tmp_path):
    path = _workbook(tmp_path, [(BLACK[1], BLACK[0], "虚开发票"), ("91330106MA2GL8XY7N", XIHU[0], "失信")])
    report = sellers.sellers_import(taxpayer=yuntu, path=path, filename="blacklist.xlsx", actor=fiona)
    assert (report.ok, report.added, report.updated) == (True, 2, 0)
    assert run(yuntu, pool_invoice(yuntu)).failures[0]["rule"] == "seller_blacklist"


def test_an_excel_import_with_a_bad_row_writes_nothing_and_names_the_row_and_column(yuntu, fiona, tmp_path):
    path = _workbook(tmp_path, [(BLACK[1], BLACK[0], "虚开发票"), ("123", "某公司", "原因"), ("91330106MA2GL8XY7N", "", "")])
    report = sellers.sellers_import(taxpayer=yuntu, path=path, filename="blacklist.xlsx", actor=fiona)
    assert not report.ok
    where = {(i.row, i.column, i.code) for i in report.issues}
    assert where == {(3, "销售方纳税人识别号", "tax_id.invalid"), (4, "列入原因", "cell.required")}
    assert not rules.Seller.objects.exists()


def test_an_excel_import_without_the_reason_column_is_refused(yuntu, fiona, tmp_path):
    path = _workbook(tmp_path, [(BLACK[1], BLACK[0])], headers=("销售方纳税人识别号", "销售方名称"))
    report = sellers.sellers_import(taxpayer=yuntu, path=path, filename="blacklist.xlsx", actor=fiona)
    assert [i.code for i in report.issues] == ["column.missing"]


def test_a_seller_not_verified_as_active_fails_when_the_rule_is_on(yuntu, fiona):
    record = pool_invoice(yuntu)
    assert run(yuntu, record).usable  # off by default
    set_rule(yuntu, "seller_not_active", "warn")
    assert failed(run(yuntu, record)) == {"seller_not_active": "warn"}
    sellers.seller_status_set(taxpayer=yuntu, tax_id=XIHU[1], status=SellerStatus.ACTIVE, actor=fiona)
    assert failed(run(yuntu, record)) == {}


def test_consecutive_numbers_from_one_seller_within_n_days(yuntu):
    day = services.timezone.localdate() - timedelta(days=5)
    a = pool_invoice(yuntu, number="25442000000000555001", issue_date=day)
    b = pool_invoice(yuntu, number="25442000000000555002", issue_date=day + timedelta(days=3))
    far = pool_invoice(yuntu, number="25442000000000555004", issue_date=day - timedelta(days=60))
    other = pool_invoice(yuntu, number="25442000000000555003", issue_date=day, seller=BLACK)
    verdicts = run(yuntu).verdicts
    assert failed(verdicts[a.pk]) == failed(verdicts[b.pk]) == {"consecutive_numbers": "warn"}
    assert "25442000000000555002" in verdicts[a.pk].failures[0]["message"]
    assert failed(verdicts[far.pk]) == {} and failed(verdicts[other.pk]) == {}
    assert failed(run(yuntu, b)) == {"consecutive_numbers": "warn"}  # one record: its neighbours are looked up
    set_rule(yuntu, "consecutive_numbers", days=1)
    assert failed(run(yuntu, b)) == {}


def test_an_invoice_used_by_another_entity_is_a_duplicate_use(yuntu, mingyuan):
    ours = pool_invoice(yuntu, number="25442000000000777001")
    theirs = pool_invoice(mingyuan, number="25442000000000777001", buyer=(yuntu.name, yuntu.credit_code))
    assert run(yuntu, ours).usable
    ReceivedInvoice.objects.filter(pk=theirs.pk).update(use_state=UseState.REIMBURSED)
    verdict = run(yuntu, ours)
    assert failed(verdict) == {"duplicate_use": "block"}
    assert mingyuan.name not in verdict.failures[0]["message"]  # another entity is never named


def test_before_a_use_an_invoice_already_used_here_fails(yuntu):
    record = pool_invoice(yuntu)
    ReceivedInvoice.objects.filter(pk=record.pk).update(use_state=UseState.BOOKED)
    assert run(yuntu, record).usable  # arrival: its own use is no news
    assert run(yuntu, record, purpose="asked").usable  # nor a re-run the pool asks for
    assert failed(run(yuntu, record, purpose="reimburse")) == {"duplicate_use": "block"}


@pytest.mark.parametrize(("status", "risk", "expected"), [
    (PlatformStatus.VOIDED, "", "block"),
    (PlatformStatus.RED_FULL, "", "block"),
    (PlatformStatus.OUT_OF_CONTROL, "", "block"),
    (PlatformStatus.NORMAL, RiskLevel.ABNORMAL, "block"),
    (PlatformStatus.NORMAL, RiskLevel.SUSPECT, "block"),
    (PlatformStatus.RED_PARTIAL, "", "warn"),
    (PlatformStatus.NORMAL, RiskLevel.NORMAL, None),
])
def test_the_platform_status(yuntu, status, risk, expected):
    record = pool_invoice(yuntu, platform_status=status, risk_level=risk)
    assert failed(run(yuntu, record)).get("platform_status") == expected


def test_a_partly_red_flushed_invoice_stays_usable(yuntu):
    verdict = run(yuntu, pool_invoice(yuntu, platform_status=PlatformStatus.RED_PARTIAL))
    assert verdict.usable and verdict.outcome == RulesOutcome.WARN


@pytest.mark.parametrize("code", ["01", "02", "03", "04"])
def test_a_failed_or_inconsistent_verification_blocks(yuntu, code):
    record = pool_invoice(yuntu)
    InvoiceCheck.objects.create(invoice=record, taxpayer=yuntu, verify_code=code)
    assert failed(run(yuntu, record)) == {"verification": "block"}


def test_an_unverified_invoice_fails_only_when_the_rule_requires_verification(yuntu):
    record = pool_invoice(yuntu)
    assert run(yuntu, record).usable
    set_rule(yuntu, "verification", require_verified="是")
    assert failed(run(yuntu, record)) == {"verification": "block"}


def test_a_ticket_without_a_passenger_name(yuntu):
    ticket = pool_invoice(yuntu, kind="51", lines=())
    assert failed(run(yuntu, ticket)) == {"ticket_passenger": "block"}
    named = pool_invoice(yuntu, kind="51", lines=(), passenger_name="张三")
    assert run(yuntu, named).usable


def test_items_on_the_not_reimbursable_list_by_tax_code(yuntu):
    set_rule(yuntu, "not_reimbursable", names=[], tax_codes="1030201")
    record = pool_invoice(yuntu, lines=(("*食品*月饼", "1030201000000000000"),))
    assert failed(run(yuntu, record)) == {"not_reimbursable": "block"}


def test_a_rule_that_is_off_is_not_run(yuntu):
    set_rule(yuntu, "buyer_name", "off")
    assert run(yuntu, pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code))).usable


# --- parameters -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "params", "words"), [
    ("issue_date_age", {"days": "abc"}, "整数"),
    ("issue_date_age", {"days": 0}, "1 到 3650"),
    ("second_approver", {"amount": "-5"}, "大于 0"),
    ("second_approver", {"amount": "NaN"}, "大于 0"),
    ("not_reimbursable", {"tax_codes": ["10302x"]}, "税收分类编码"),
    ("verification", {"require_verified": "maybe"}, "是"),
    ("buyer_name", {"days": 3}, "没有参数"),
])
def test_a_rule_with_a_bad_parameter_is_refused_when_saved(yuntu, code, params, words):
    with pytest.raises(ValidationError) as exc:
        rules.receiving_rule_save(taxpayer=yuntu, code=code, severity="warn", params=params, actor=None)
    assert words in " ".join(exc.value.messages)
    assert str(rules.SPECS[code].name) in " ".join(exc.value.messages)
    assert not ReceivingRule.objects.exists()


def test_a_bad_severity_or_an_unknown_rule_is_refused(yuntu):
    with pytest.raises(ValidationError):
        rules.receiving_rule_save(taxpayer=yuntu, code="issue_date_age", severity="loud", params={}, actor=None)
    with pytest.raises(ValidationError):
        rules.receiving_rule_save(taxpayer=yuntu, code="nonsense", severity="warn", params={}, actor=None)


def test_a_parameter_broken_in_the_database_does_not_break_a_run(yuntu):
    rule = set_rule(yuntu, "issue_date_age", days=10)
    ReceivingRule.objects.filter(pk=rule.pk).update(params={"days": "garbage"})
    record = pool_invoice(yuntu, issue_date=services.timezone.localdate() - timedelta(days=30))
    assert run(yuntu, record).usable  # the default (360 days) applies


def test_each_change_of_a_rule_bumps_its_version_and_is_an_event(yuntu, fiona):
    rule = rules.receiving_rule_save(taxpayer=yuntu, code="issue_date_age", severity="warn", params={"days": 30},
                                     actor=fiona)
    assert rule.version == 1
    same = rules.receiving_rule_save(taxpayer=yuntu, code="issue_date_age", severity="warn", params={"days": "30"},
                                     actor=fiona)
    assert same.version == 1
    rule = rules.receiving_rule_save(taxpayer=yuntu, code="issue_date_age", severity="block", params={"days": 30},
                                     actor=fiona)
    assert rule.version == 2
    assert list(events_for(rule).values_list("action", flat=True).order_by("pk")) == ["rule_create", "rule_change"]


def test_a_user_of_another_entity_may_not_change_its_rules(yuntu, lily):
    with pytest.raises(PermissionDenied):
        rules.receiving_rule_save(taxpayer=yuntu, code="issue_date_age", severity="warn", params={}, actor=lily)


# --- overrides ------------------------------------------------------------------------------------------------------


def test_finance_overrides_a_blocking_failure_and_the_override_lapses_when_the_invoice_changes(
        yuntu, fiona, django_capture_on_commit_callbacks):
    record = pool_invoice(yuntu, buyer=("广州云途出行", yuntu.credit_code))
    assert not run(yuntu, record).usable
    override = rules.received_invoice_rule_override(record=record, rule="buyer_name", reason="简称，已与业务核实",
                                                    actor=fiona)
    verdict = run(yuntu, record)
    assert verdict.usable and verdict.outcome == RulesOutcome.OVERRIDDEN
    assert verdict.failures[0]["overridden"] is True
    assert events_for(record).get(action="rule_override").reason == "简称，已与业务核实"
    with django_capture_on_commit_callbacks(execute=True):
        corrections.received_invoice_correct(record=record, changes={"amount": Decimal("900.00"),
                                                                     "total": Decimal("960.00")},
                                             note="更正金额", actor=fiona)
    override.refresh_from_db()
    assert not override.active
    check = InvoiceCheck.objects.get(invoice=record)
    assert check.rules_outcome == RulesOutcome.BLOCK
    assert events_for(record).filter(action="rule_override_lapse").count() == 1


def test_an_override_needs_a_reason_and_a_blocking_failure_of_that_rule(yuntu, fiona):
    record = pool_invoice(yuntu)
    with pytest.raises(ValidationError, match="原因"):
        rules.received_invoice_rule_override(record=record, rule="buyer_name", reason="", actor=fiona)
    with pytest.raises(ValidationError, match="没有阻止"):
        rules.received_invoice_rule_override(record=record, rule="buyer_name", reason="x", actor=fiona)
    assert not RuleOverride.objects.exists()


def test_customer_service_may_not_override(yuntu, sam):
    record = pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code))
    with pytest.raises(PermissionDenied):
        rules.received_invoice_rule_override(record=record, rule="buyer_name", reason="x", actor=sam)


# --- on arrival, events ---------------------------------------------------------------------------------------------


def test_rules_run_on_arrival_through_the_pool_services(yuntu, fiona, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        record = services.received_invoice_create_manual(
            taxpayer=yuntu, actor=fiona, kind="82", number="25442000000000888001",
            issue_date=services.timezone.localdate(), seller_name=XIHU[0], seller_tax_id=XIHU[1],
            buyer_name="广州云途出行科技", buyer_tax_id=yuntu.credit_code, amount="100.00", tax="6.00")
    check = InvoiceCheck.objects.get(invoice=record)
    assert check.rules_outcome == RulesOutcome.BLOCK
    assert [f["rule"] for f in check.rules_failures] == ["buyer_name"]
    event = events_for(record).get(action="rules_check")
    assert (event.from_state, event.to_state, event.actor_label) == ("", RulesOutcome.BLOCK, "rules")


def test_a_run_that_changes_nothing_records_nothing(yuntu):
    record = pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code))
    run(yuntu)
    assert events_for(record).filter(action="rules_check").count() == 1
    report = run(yuntu)
    assert (report.checked, report.changed) == (1, 0)
    assert events_for(record).filter(action="rules_check").count() == 1
