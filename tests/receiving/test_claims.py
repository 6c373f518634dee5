"""报销 (receiving/claims.py): claims, their lines and amounts, the states, the rules before approval, booking."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_fsm import TransitionNotAllowed

from invoicing import roles
from invoicing.models import Event
from receiving import claims, rules, verification
from receiving.claims import LineInput
from receiving.claims_models import ClaimLine, ClaimState, ExpenseClaim
from receiving.models import PlatformStatus, ReceivedInvoice, UseState
from tests.factories import UserFactory
from tests.receiving.controls import FakeVerifier, pool_invoice
from tests.receiving.platform_world import channel_of, connect, supplied_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake(monkeypatch, settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    channel = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: channel)
    return channel


@pytest.fixture
def rita(yuntu):
    """An expense reviewer of 云途 only."""
    return UserFactory(username="rita", role=roles.EXPENSE_REVIEWER, entities=[yuntu])


def draft(entity, actor, *lines, **kw):
    return claims.claim_create(taxpayer=entity, claimant_name="张三", claimant_code="E001", department="研发部",
                               title="12月差旅", lines=[LineInput(invoice=r, amount=a) for r, a in lines],
                               actor=actor, **kw)


def actions(claim):
    return list(Event.objects.filter(object_id=str(claim.pk), content_type__model="expenseclaim")
                .order_by("id").values_list("action", flat=True))


def test_a_claim_goes_from_draft_to_paid_and_a_fully_claimed_invoice_is_reimbursed(yuntu, fiona):
    a, b = pool_invoice(yuntu), pool_invoice(yuntu, kind="51", amount="500.00", tax="45.00", passenger_name="张三")
    claim = draft(yuntu, fiona, (a, Decimal("1060.00")), (b, Decimal("200")))
    assert claim.state == ClaimState.DRAFT and claim.claim_no.startswith("BX")
    assert [x.amount for x in claim.lines.order_by("invoice_id")] == [Decimal("1060.00"), Decimal("200.00")]
    claims.claim_submit(claim=claim, actor=fiona)
    claims.claim_approve(claim=claim, actor=fiona)
    paid = claims.claim_mark_paid(claim=claim, actor=fiona)
    assert paid.state == ClaimState.PAID and paid.approved_by == fiona
    assert ReceivedInvoice.objects.get(pk=a.pk).use_state == UseState.REIMBURSED
    assert ReceivedInvoice.objects.get(pk=b.pk).use_state == UseState.IN_POOL  # 200 of 545 claimed
    assert actions(claim) == ["claim_create", "claim_line_add", "claim_line_add", "claim_submit", "claim_approve",
                              "claim_paid"]


def test_an_invoices_claimed_amounts_never_exceed_its_total_across_claims(yuntu, fiona):
    record = pool_invoice(yuntu)  # 1,060.00
    first = draft(yuntu, fiona, (record, Decimal("1000.00")))
    with pytest.raises(ValidationError, match="超过可报销余额 60.00"):
        draft(yuntu, fiona, (record, Decimal("60.01")))
    assert ExpenseClaim.objects.count() == 1  # nothing half-written
    second = draft(yuntu, fiona, (record, None))  # what is left
    assert second.lines.get().amount == Decimal("60.00")
    with pytest.raises(ValidationError, match="已无可报销余额"):
        draft(yuntu, fiona, (record, None))
    # a rejected claim gives its amounts back; so does a line taken off a draft
    claims.claim_submit(claim=first, actor=fiona)
    claims.claim_reject(claim=first, reason="缺少行程单", actor=fiona)
    assert claims.claimable(record) == Decimal("1000.00")
    claims.claim_line_remove(line=second.lines.get(), actor=fiona)
    assert claims.claimable(record) == Decimal("1060.00")


def test_a_partly_red_flushed_invoice_is_claimable_for_its_unflushed_part_only(yuntu, fiona):
    record = pool_invoice(yuntu)
    ReceivedInvoice.objects.filter(pk=record.pk).update(red_amount=Decimal("400.00"), red_tax=Decimal("24.00"),
                                                        platform_status=PlatformStatus.RED_PARTIAL)
    record = ReceivedInvoice.objects.get(pk=record.pk)
    with pytest.raises(ValidationError, match="可报销余额 636.00"):
        draft(yuntu, fiona, (record, Decimal("700.00")))
    assert draft(yuntu, fiona, (record, None)).lines.get().amount == Decimal("636.00")
    ReceivedInvoice.objects.filter(pk=record.pk).update(platform_status=PlatformStatus.RED_FULL)
    with pytest.raises(ValidationError, match="全额红冲"):
        draft(yuntu, fiona, (pool_invoice(yuntu, platform_status=PlatformStatus.RED_FULL), None))


def test_a_red_flush_after_the_claim_was_made_is_caught_at_approval(yuntu, fiona):
    record = pool_invoice(yuntu)
    claim = draft(yuntu, fiona, (record, Decimal("1060.00")))
    claims.claim_submit(claim=claim, actor=fiona)
    ReceivedInvoice.objects.filter(pk=record.pk).update(red_amount=Decimal("100.00"))
    with pytest.raises(ValidationError, match="超过可报销余额"):
        claims.claim_approve(claim=claim, actor=fiona)
    assert ExpenseClaim.objects.get(pk=claim.pk).state == ClaimState.SUBMITTED


def test_bad_input_names_the_field(yuntu, fiona, mingyuan):
    record = pool_invoice(yuntu)
    with pytest.raises(ValidationError) as err:
        claims.claim_create(taxpayer=yuntu, claimant_name=" ", actor=fiona)
    assert "报销人" in str(err.value)
    for amount, words in (("abc", "不是有效的金额"), ("-1", "必须大于 0"), ("0", "必须大于 0")):
        with pytest.raises(ValidationError, match=words):
            draft(yuntu, fiona, (record, amount))
    with pytest.raises(ValidationError, match="不属于报销单的主体"):
        draft(mingyuan, fiona, (record, None))
    with pytest.raises(ValidationError, match="重复出现"):
        draft(yuntu, fiona, (record, Decimal("1")), (record, Decimal("2")))
    assert not ExpenseClaim.objects.exists() and not ClaimLine.objects.exists()


def test_states_are_guarded(yuntu, fiona):
    claim = draft(yuntu, fiona)
    with pytest.raises(ValidationError, match="没有发票"):
        claims.claim_submit(claim=claim, actor=fiona)
    with pytest.raises(ValidationError, match="草稿"):
        claims.claim_approve(claim=claim, actor=fiona)
    with pytest.raises(ValidationError, match="原因"):
        claims.claim_reject(claim=claim, reason=" ", actor=fiona)
    with pytest.raises(ValidationError, match="草稿"):
        claims.claim_mark_paid(claim=claim, actor=fiona)
    with pytest.raises(TransitionNotAllowed):
        claim.mark_paid()
    with pytest.raises(AttributeError):
        claim.state = ClaimState.PAID  # protected: only transitions move it
    claims.claim_line_add(claim=claim, invoice=pool_invoice(yuntu), actor=fiona, amount=Decimal("10"))
    claims.claim_submit(claim=claim, actor=fiona)
    with pytest.raises(ValidationError, match="已提交"):
        claims.claim_line_add(claim=claim, invoice=pool_invoice(yuntu), actor=fiona)


def test_approval_requires_the_rules_to_pass_or_an_override(yuntu, fiona):
    record = pool_invoice(yuntu, buyer=("广州云途出行", yuntu.credit_code))
    claim = draft(yuntu, fiona, (record, None))
    claims.claim_submit(claim=claim, actor=fiona)
    with pytest.raises(ValidationError, match="购买方名称“广州云途出行”与本主体“广州云途出行科技有限公司”不一致"):
        claims.claim_approve(claim=claim, actor=fiona)
    assert ExpenseClaim.objects.get(pk=claim.pk).state == ClaimState.SUBMITTED
    rules.received_invoice_rule_override(record=record, rule="buyer_name", reason="简称，已核实", actor=fiona)
    assert claims.claim_approve(claim=claim, actor=fiona).state == ClaimState.APPROVED


def test_the_expense_reviewer_approves_claims_of_its_entities_only(yuntu, mingyuan, fiona, rita):
    claim = draft(yuntu, fiona, (pool_invoice(yuntu), None))
    other = draft(mingyuan, fiona, (pool_invoice(mingyuan), None))
    with pytest.raises(PermissionDenied):
        draft(yuntu, rita, (pool_invoice(yuntu), None))
    for c in (claim, other):
        claims.claim_submit(claim=c, actor=fiona)
    with pytest.raises(PermissionDenied):
        claims.claim_approve(claim=other, actor=rita)
    with pytest.raises(PermissionDenied):
        claims.claim_reject(claim=other, reason="x", actor=rita)
    assert claims.claim_approve(claim=claim, actor=rita).approved_by == rita
    with pytest.raises(PermissionDenied):
        claims.claim_mark_paid(claim=claim, actor=rita)
    with pytest.raises(PermissionDenied):
        claims.claim_book(claim=claim, voucher_no="记-1", booked_on=date(2026, 12, 6), actor=rita)


def test_customer_service_has_nothing_to_do_with_claims(yuntu, fiona, sam):
    with pytest.raises(PermissionDenied):
        draft(yuntu, sam, (pool_invoice(yuntu), None))
    claim = draft(yuntu, fiona, (pool_invoice(yuntu), None))
    claims.claim_submit(claim=claim, actor=fiona)
    with pytest.raises(PermissionDenied):
        claims.claim_approve(claim=claim, actor=sam)


def test_an_approved_claim_is_booked_in_one_step_with_its_number(mingyuan, yuntu, fiona, monkeypatch):
    supplier, entity = connect(yuntu), connect(mingyuan)
    held = [supplied_invoice(supplier, entity, actor=fiona), supplied_invoice(supplier, entity, actor=fiona)]
    claim = draft(entity, fiona, *((r, None) for r in held))
    claims.claim_submit(claim=claim, actor=fiona)
    monkeypatch.setattr(claims, "received_invoice_check_before_use",
                        lambda **kw: rules.Verdict(invoice_id=kw["record"].pk, outcome="pass", failures=[],
                                                   needs_second_approver=False))
    with pytest.raises(ValidationError, match="已提交"):
        claims.claim_book(claim=claim, voucher_no="记-1", booked_on=date(2026, 12, 6), actor=fiona)
    claims.claim_approve(claim=claim, actor=fiona)
    report = claims.claim_book(claim=claim, voucher_no="记-2026-12-0042", booked_on=date(2026, 12, 6),
                               account_code="6602.02", actor=fiona, channel=channel_of(entity))
    assert (report.booked, report.pending, report.skipped) == (2, 0, 0)
    for record in ReceivedInvoice.objects.filter(pk__in=[r.pk for r in held]):
        assert (record.use_state, record.claim_no, record.voucher_no) == (UseState.BOOKED, claim.claim_no,
                                                                         "记-2026-12-0042")
    with pytest.raises(ValidationError, match="已入账"):
        claims.claim_book(claim=claim, voucher_no="记-3", booked_on=date(2026, 12, 6), actor=fiona)
    with pytest.raises(ValidationError, match="已入账"):
        claims.claim_reject(claim=claim, reason="x", actor=fiona)
    assert claims.claim_mark_paid(claim=claim, actor=fiona).state == ClaimState.PAID


def test_a_blocking_rule_is_named_in_words_without_its_code(mingyuan, yuntu, fiona, monkeypatch):
    supplier, entity = connect(yuntu), connect(mingyuan)
    held = supplied_invoice(supplier, entity, actor=fiona)
    claim = draft(entity, fiona, (held, None))
    claims.claim_submit(claim=claim, actor=fiona)
    failure = {"rule": "seller_blacklisted", "severity": rules.Severity.BLOCK, "message": "销售方在黑名单"}
    monkeypatch.setattr(claims, "received_invoice_check_before_use",
                        lambda **kw: rules.Verdict(invoice_id=kw["record"].pk, outcome="block", failures=[failure],
                                                   needs_second_approver=False))
    with pytest.raises(ValidationError) as err:
        claims.claim_approve(claim=claim, actor=fiona)
    assert err.value.messages == [f"发票 {held}：销售方在黑名单"]
