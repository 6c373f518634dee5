"""Approving an expense claim in the browser: the expense reviewer (limited to 云途 and 明远) opens the claim waiting
for approval, sees its invoices and approves it with the button; a claim of another entity is not in its list."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def claims_world(demo_world, monkeypatch, settings):
    from decimal import Decimal

    from invoicing.models import Taxpayer
    from receiving import claims, verification
    from receiving.claims import LineInput
    from tests.receiving.controls import FakeVerifier, pool_invoice

    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    fake = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: fake)
    from tests.factories import TaxpayerFactory

    yuntu = Taxpayer.objects.get(credit_code="91440101MA5CYUN00U")
    other = TaxpayerFactory(name="杭州西湖云计算服务有限公司", short_name="西湖云")  # not in the reviewer's scope

    def submitted(entity, **kw):
        claim = claims.claim_create(taxpayer=entity, claimant_name="林小华", department="市场部",
                                    lines=[LineInput(invoice=pool_invoice(entity), amount=Decimal("800.00")),
                                           LineInput(invoice=pool_invoice(entity))], actor=None, **kw)
        return claims.claim_submit(claim=claim, actor=None)

    return submitted(yuntu, title="客户拜访"), submitted(other, title="杭州差旅")


def test_the_reviewer_approves_a_claim_with_the_button(login, live_server, claims_world, shots):
    from receiving.claims_models import ClaimState, ExpenseClaim

    ours, theirs = claims_world
    page = login("reviewer")
    page.goto(f"{live_server.url}/admin/receiving/expenseclaim/")
    listing = page.inner_text("#result_list")
    assert ours.claim_no in listing and theirs.claim_no not in listing
    assert "1,860.00" in listing  # 800.00 + 1,060.00
    shots(page, "list")
    page.click(f"text={ours.claim_no}")
    page.wait_for_selector("button.fapiao-claim-approve")
    assert page.locator("#lines-group tbody tr.form-row").count() == 2
    assert page.locator("#claim-book").count() == 0  # booking is finance's
    shots(page, "claim")
    page.click("button.fapiao-claim-approve")
    page.wait_for_selector(".messagelist")
    shots(page, "approved")
    assert f"报销单 {ours.claim_no} 已审批" in page.inner_text(".messagelist")
    assert ExpenseClaim.objects.get(pk=ours.pk).state == ClaimState.APPROVED
    assert page.locator("button.fapiao-claim-approve").count() == 0
    # finance rejects the other entity's claim with a reason typed below the claim
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/expenseclaim/{theirs.pk}/change/")
    page.fill("#id_reject_reason_input", "缺少行程单")
    page.click("button.fapiao-claim-reject")
    page.wait_for_selector(".messagelist")
    shots(page, "rejected")
    assert ExpenseClaim.objects.get(pk=theirs.pk).reject_reason == "缺少行程单"
