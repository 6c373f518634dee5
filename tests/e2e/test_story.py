"""The whole story of one ride, in Debian's Chromium, on the world ``make run`` seeds.

云途's ride-hailing app sends an order through the REST API and asks for a 数电普票 with 明远's title (an employee's
business ride) and a 数电专票 for 明远's company account; finance of 云途 approves both in the admin and they are
issued on the in-process sandbox; the product's delivery e-mails them over SMTP to 明远's collection address, where a
local SMTP server run by this test puts the message into a real IMAP mailbox (dovecot, as in the mailbox tests);
明远's finance points its mailbox at that server and collects the invoices into the pool; the expense system claims
the 普票 through the API; the expense reviewer approves the claim and finance books it in the admin; finance of 明远
selects the 专票 for deduction, applies for the statistics, confirms, and 附列资料（二） line 2 shows it with a link
to the invoice. Every step asserts what the page shows and leaves a screenshot under ``var/screenshots/``.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.utils import timezone

from tests.receiving.mail.conftest import dovecot  # noqa: F401 - the IMAP server fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"
MINGYUAN = "91440300MA5FM1NGYB"
MINGYUAN_NAME = "深圳明远信息技术有限公司"
COLLECTION_ADDRESS = "finance@mingyuan.example.com"  # 明远's address in 云途's customer list (invoicing/demo.py)
RIDE = "3010101020203000000"
PASSWORD = "secret"  # the private dovecot's password for any user (bench/dovecot.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailDrop:
    """An SMTP server that files every message for the collection address into one IMAP user's INBOX."""

    def __init__(self, server, user: str):
        self.server, self.user = server, user
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address.lower() != COLLECTION_ADDRESS:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        raw = envelope.original_content or envelope.content
        self.server.append(self.user, raw)
        self.received.append(raw)
        return "250 Message accepted for delivery"


@pytest.fixture
def story_world(settings, monkeypatch, transactional_db, dovecot):  # noqa: F811 - the fixture imported above
    """``make run``'s seed (less the story's finished copy) on the in-process sandbox; an SMTP server that drops 明远's mail into dovecot; the product
    sending e-mail through it; one API client for 云途's app and one for 明远's expense system."""
    from api import demo as story_demo
    from api.services import api_client_create
    from invoicing.models import Taxpayer
    from sandbox.models import SandboxAccount

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    # the seed's finished copy of this very story (api/demo.py) is left out: this test plays it from the start
    monkeypatch.setattr(story_demo, "seed", lambda stdout=None: None)
    with open("/dev/null", "w") as devnull:
        call_command("seed_demo", force=True, stdout=devnull, stderr=devnull)  # tests run with DEBUG off
    SandboxAccount.objects.update(issue_delay_seconds=0)
    user = dovecot.new_user()
    drop = MailDrop(dovecot, user)
    port = free_port()
    controller = Controller(drop, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    yuntu = Taxpayer.objects.get(credit_code=YUNTU)
    mingyuan = Taxpayer.objects.get(credit_code=MINGYUAN)
    app = api_client_create(name="ride-app", taxpayers=[yuntu])
    expense = api_client_create(name="expense", taxpayers=[mingyuan])
    try:
        yield {"yuntu": yuntu, "mingyuan": mingyuan, "app": app.token, "expense": expense.token, "drop": drop,
               "imap_user": user, "dovecot": dovecot}
    finally:
        controller.stop()


def api(live_server, token: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/{path}", method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept-Language": "zh-hans"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _reload_until(page, check, *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check(page):
        assert time.monotonic() < deadline, "the page never showed the expected state"
        time.sleep(0.5)
        page.reload()


def _messages(page) -> str:
    return page.inner_text("ul.messagelist") if page.query_selector("ul.messagelist") else ""


def test_a_ride_from_order_to_schedule_two(story_world, login, live_server, shots):
    from delivery.models import Delivery
    from issuing.platform.models import Invoice
    from receiving.claims_models import ClaimState, ExpenseClaim
    from receiving.mailbox.models import Mailbox
    from receiving.models import ReceivedInvoice

    w = story_world
    mingyuan_title = {"kind": "company", "name": MINGYUAN_NAME, "tax_id": MINGYUAN,
                      "address": "深圳市南山区科技园科苑路15号", "phone": "0755-86660000",
                      "bank_name": "中国银行深圳科技园支行", "bank_account": "7560301234567890"}

    # 1. 云途's app: a business ride of 明远's employee (数电普票) and the month's company rides (数电专票).
    ride = api(live_server, w["app"], "billing-documents/", {
        "external_no": "RIDE-20261206-0001", "buyer": mingyuan_title, "buyer_email": COLLECTION_ADDRESS,
        "paid_amount": "86.00",
        "lines": [{"item_name": "网约车客运服务", "tax_category": RIDE, "tax_rate": "0.09", "amount": "86.00"}]})
    monthly = api(live_server, w["app"], "billing-documents/", {
        "external_no": "CORP-202612-MY", "buyer": mingyuan_title, "buyer_email": COLLECTION_ADDRESS,
        "paid_amount": "2180.00",
        "lines": [{"item_name": "网约车客运服务", "tax_category": RIDE, "tax_rate": "0.09", "amount": "2180.00"}]})
    normal_app = api(live_server, w["app"], "applications/", {
        "kind": "82", "billing_documents": [{"id": ride["id"]}], "delivery_email": COLLECTION_ADDRESS})
    special_app = api(live_server, w["app"], "applications/", {
        "kind": "81", "billing_documents": [{"id": monthly["id"]}], "delivery_email": COLLECTION_ADDRESS})
    assert (normal_app["total"], special_app["total"]) == ("86.00", "2180.00")

    # 2. 云途's finance approves both in the admin; they are issued at once (the in-process sandbox).
    page = login("finance")
    for application in (normal_app, special_app):
        page.goto(f"{live_server.url}/admin/issuing/invoiceapplication/?q={application['number']}")
        page.click(f"#result_list a:text-is('{application['number']}')")
        page.wait_for_selector(".field-status")
        assert MINGYUAN_NAME in page.content()
        page.click("button[data-transition=approve]")
        assert f"已批准 1 张申请单：{application['number']}" in page.inner_text("ul.messagelist li.success")
        _reload_until(page, lambda p: p.inner_text(".field-status .readonly").strip() == "已开票")
        shots(page, f"issued-{application['number']}")
    normal = Invoice.objects.get(application__number=normal_app["number"])
    special = Invoice.objects.get(application__number=special_app["number"])
    assert (normal.kind, special.kind) == ("82", "81")
    assert normal.total == Decimal("86.00") and special.total == Decimal("2180.00")

    # 3. Delivery sent both by e-mail; the SMTP server filed them into 明远's mailbox.
    page.goto(f"{live_server.url}/admin/delivery/delivery/?q={normal.number}")
    listed = page.inner_text("#result_list")
    assert normal.number in listed and COLLECTION_ADDRESS in listed
    shots(page, "delivery-sent")
    assert Delivery.objects.filter(invoice__in=[normal, special], channel="email", status="sent").count() == 2
    assert len(w["drop"].received) == 2
    for raw in w["drop"].received:
        assert b".xml" in raw and b".pdf" in raw

    # 4. 明远's finance points the collection mailbox at the server and collects it now.
    box = Mailbox.objects.get(taxpayer=w["mingyuan"])
    page = login("finance_sz")
    page.goto(f"{live_server.url}/admin/receiving/mailbox/{box.pk}/change/")
    page.fill("#id_host", w["dovecot"].host)
    page.fill("#id_port", str(w["dovecot"].port))
    page.select_option("#id_security", "plain")
    page.fill("#id_username", w["imap_user"])
    page.fill("#id_password", PASSWORD)
    page.check("#id_enabled")
    shots(page, "mailbox-settings")
    page.click("input[name=_continue]")
    page.wait_for_selector("#fetch-now")
    page.click("#fetch-now")
    page.wait_for_selector(".messagelist .success")
    shots(page, "mailbox-fetched")
    box.refresh_from_db()
    assert (box.message_count, box.pending_count, box.failures) == (2, 0, 0)
    received = {r.number: r for r in ReceivedInvoice.objects.filter(taxpayer=w["mingyuan"],
                                                                  number__in=[normal.number, special.number])}
    assert set(received) == {normal.number, special.number}
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/?q={normal.number}")
    listed = page.inner_text("#result_list")
    assert normal.number in listed and "广州云途出行科技有限公司" in listed and "86.00" in listed
    shots(page, "pool")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/{received[normal.number].pk}/change/")
    content = page.inner_text("#content")
    assert "邮箱" in content and "广州云途出行科技有限公司" in content
    shots(page, "pool-record")

    # 5. 明远's expense system claims the ride for the employee through the API.
    claim = api(live_server, w["expense"], "claims/", {
        "claimant_name": "韩梅", "claimant_code": "MY-0042", "department": "销售部", "title": "12 月客户拜访用车",
        "external_ref": "EXP-2026-1206", "lines": [{"number": normal.number}], "submit": True})
    assert claim["state"] == "submitted" and claim["claimed_total"] == "86.00"

    # 6. The expense reviewer approves it.
    page = login("reviewer")
    page.goto(f"{live_server.url}/admin/receiving/expenseclaim/")
    assert claim["claim_no"] in page.inner_text("#result_list")
    page.click(f"text={claim['claim_no']}")
    page.wait_for_selector("button.fapiao-claim-approve")
    content = page.inner_text("#content")
    assert "韩梅" in content and normal.number in content
    shots(page, "claim-submitted")
    page.click("button.fapiao-claim-approve")
    page.wait_for_selector(".messagelist")
    assert f"报销单 {claim['claim_no']} 已审批" in page.inner_text(".messagelist")
    shots(page, "claim-approved")

    # 7. Finance books it.
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/expenseclaim/{claim['id']}/change/")
    page.fill("input[name=voucher_no]", "记-2026-12-0086")
    page.click("button.fapiao-claim-book")
    page.wait_for_selector(".messagelist")
    assert "已入账 1 张" in page.inner_text(".messagelist")
    shots(page, "claim-booked")
    booked = ExpenseClaim.objects.get(pk=claim["id"])
    assert booked.state == ClaimState.APPROVED and booked.booked_at is not None
    assert "记-2026-12-0086" in page.inner_text("#content")

    # 8. 明远's finance selects the 专票 for deduction, applies for the statistics and confirms.
    record = received[special.number]
    page = login("finance_sz")
    page.goto(f"{live_server.url}/admin/deduction/taxperiod/")
    page.select_option("#fapiao-open-period select[name=taxpayer]", str(w["mingyuan"].pk))
    page.fill("#fapiao-open-period input[name=period]", timezone.localdate().strftime("%Y%m"))
    page.click("#fapiao-open-period button[type=submit]")
    page.wait_for_selector("#fapiao-workbench")
    page.check(f"#fapiao-selectable input[value='{record.pk}']")
    shots(page, "selectable")
    page.click("button[form=fapiao-select]")
    page.wait_for_selector(".messagelist")
    assert "平台已接受 1 张" in page.inner_text(".messagelist")
    page.click("button[form=fapiao-step-statistics_apply]")
    page.wait_for_load_state()
    assert "已申请统计" in page.inner_text(".messagelist")
    shots(page, "statistics")
    page.click("button[form=fapiao-step-confirm]")
    page.wait_for_selector(".messagelist")
    assert "已确认" in page.inner_text(".messagelist")
    shots(page, "confirmed")

    # 9. 附列资料（二） line 2: the 专票's tax, with a link to it in the pool.
    page.click("text=附列资料（二）")
    page.wait_for_selector("#fapiao-schedule2")
    shots(page, "schedule-2")
    row = page.locator("#fapiao-schedule2 tr", has=page.locator("td:text-is('2')")).first
    assert "2,000.00" in row.inner_text() or "2000.00" in row.inner_text()
    assert "180.00" in row.inner_text()
    row.locator("a").last.click()  # the tax figure: the invoices behind line 2
    page.wait_for_selector("#fapiao-drilldown")
    shots(page, "schedule-2-line-2")
    assert "180.00" in page.inner_text("#fapiao-drilldown")
    page.locator(f"#fapiao-drilldown a:text-is('{record.pk}')").click()
    page.wait_for_selector("#content")
    assert special.number in page.inner_text("#content")
    shots(page, "schedule-2-invoice")
