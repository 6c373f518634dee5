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
