"""Who sees what of the sandbox and the integration log in the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from invoicing.models import ChannelCall
from sandbox import clock
from sandbox import services as sandbox
from sandbox.models import FaultProfile, SandboxAccount


@pytest.fixture
def accounts(db):
    demo = sandbox.account_ensure(credit_code="91440101MA5CYUN00U", name="广州云途出行科技有限公司", app_key="demo-k",
                                  secret="demo-secret-value", is_demo=True)
    real = sandbox.account_ensure(credit_code="91440300MA5FM1NGYB", name="深圳明远信息技术有限公司", app_key="real-k",
                                  secret="real-secret-value")
    return demo, real


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


def test_finance_sees_and_switches_faults_of_demo_accounts_only(fiona, accounts):
    demo, real = accounts
    c = client_for(fiona)
    listing = c.get("/admin/sandbox/sandboxaccount/")
    assert listing.status_code == 200
    assert "广州云途" in listing.content.decode() and "深圳明远" not in listing.content.decode()
    page = c.get(f"/admin/sandbox/sandboxaccount/{demo.pk}/change/").content.decode()
    assert "demo-secret-value" not in page
    assert c.get(f"/admin/sandbox/sandboxaccount/{real.pk}/change/").status_code == 302  # not in her queryset

    response = c.post("/admin/sandbox/sandboxaccount/", {"action": "session_drop", "_selected_action": [demo.pk]})
    assert response.status_code == 302
    assert FaultProfile.objects.get(account=demo).session_dropped


def test_the_clock_can_be_advanced_from_the_admin(fiona, accounts):
    demo, _ = accounts
    before = clock.offset()
    client_for(fiona).post("/admin/sandbox/sandboxaccount/", {"action": "advance_clock_72h",
                                                               "_selected_action": [demo.pk]})
    assert (clock.offset() - before).total_seconds() == 72 * 3600


def test_customer_service_does_not_see_the_sandbox(sam, accounts):
    assert client_for(sam).get("/admin/sandbox/sandboxaccount/").status_code == 403


def test_the_integration_log_is_for_administrators_only(ada, fiona, sam, yuntu):
    call = ChannelCall.objects.create(taxpayer=yuntu, channel="sandbox", operation="issue", serial="S1",
                                      outcome="ok", request_body={"buyer": {"phone": "139****5678"}})
    admin_client = client_for(ada)
    assert admin_client.get("/admin/invoicing/channelcall/").status_code == 200
    detail = admin_client.get(f"/admin/invoicing/channelcall/{call.pk}/change/")
    assert detail.status_code == 200 and "139****5678" in detail.content.decode()
    for user in (fiona, sam):
        assert client_for(user).get("/admin/invoicing/channelcall/").status_code == 403
    index = client_for(fiona).get("/admin/").content.decode()
    assert "/admin/invoicing/channelcall/" not in index


def test_the_ledger_is_read_only(fiona, accounts):
    c = client_for(fiona)
    assert c.get("/admin/sandbox/ledgerinvoice/").status_code == 200
    assert c.get("/admin/sandbox/ledgerinvoice/add/").status_code == 403
    assert SandboxAccount.objects.count() == 2


def test_the_quota_list_shows_the_remaining_amount_as_money_under_a_chinese_heading(fiona, accounts):
    from decimal import Decimal

    demo, _real = accounts
    quota = sandbox.quota_get(account=demo)
    quota.used = Decimal("2078.90")
    quota.save()
    page = client_for(fiona).get("/admin/sandbox/ledgerquota/").content.decode()
    assert "9,997,921.10" in page and "9997921.10" not in page
    assert "剩余额度" in page and "Remaining" not in page and "REMAINING" not in page


def test_a_ledger_invoice_page_names_its_fields_and_lines_in_chinese(fiona, accounts):
    from decimal import Decimal

    from django.utils import timezone

    from sandbox.models import LedgerInvoice, LedgerLine

    demo, _real = accounts
    now = timezone.now()
    inv = LedgerInvoice.objects.create(
        account=demo, serial="S-1", number="26442000000000000099", kind="81", issue_state="2", accepted_at=now,
        complete_at=now, issued_at=now, seller_credit_code=demo.credit_code, seller_name=demo.name, buyer_name="明远",
        total_amount=Decimal("2000.00"), total_tax=Decimal("180.00"), total_with_tax=Decimal("2180.00"),
        buyer_usage="1")
    LedgerLine.objects.create(invoice=inv, line_no=1, item_name="网约车客运服务", amount=Decimal("2000.00"),
                              tax_rate=Decimal("0.09"), tax=Decimal("180.00"), tax_code="3010101020203000000")
    page = client_for(fiona).get(f"/admin/sandbox/ledgerinvoice/{inv.pk}/change/").content.decode()
    content = page.split('id="content"')[1]
    for english in ("Specific business", "Ledger lines", "Line no", "Item name", "Unit price", "Tax code"):
        assert english.lower() not in content.lower(), english
    assert "特定业务信息" in content and "台账发票明细" in content and "行号" in content and "项目名称" in content
    assert "数电专票" in content and "勾选抵扣" in content  # 票种 81 and 用途 1 in words


def test_the_clock_page_and_its_action_show_the_sandbox_time_in_china_time(ada, monkeypatch):
    from datetime import UTC, datetime

    from invoicing import roles

    roles.sync_role_permissions()
    at = datetime(2026, 12, 6, 21, 1, 26, 834077, tzinfo=UTC)  # 2026-12-07 05:01:26 in China
    monkeypatch.setattr(clock, "now", lambda: at)
    clock.reset()
    c = client_for(ada)
    for url in ("/admin/sandbox/sandboxclock/1/change/", "/admin/sandbox/sandboxclock/"):
        page = c.get(url).content.decode()
        assert "2026-12-07 05:01:26" in page, url
        assert "+00:00" not in page and "21:01" not in page, url
    response = c.post("/admin/sandbox/sandboxclock/", {"action": "advance_clock_1h", "_selected_action": [1]},
                      follow=True)
    assert "现在是 2026-12-07 05:01:26" in response.content.decode()
