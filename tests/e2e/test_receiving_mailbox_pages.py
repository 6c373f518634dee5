"""The mailbox as a finance user limited to its entity meets it in the browser: the mailbox is added pointing at a
real IMAP server (the password never shown after saving), 'fetch now' reads a message with an invoice attachment
and one with only a link that cannot be fetched, the list shows the counts and the last run, the pool has the new
record, the pending queue has the link with its remedies and it is ignored with a reason. Customer service cannot
reach the mailbox pages; a user of another entity does not see this mailbox."""

from __future__ import annotations

import pytest

from invoicing.demo import DEMO_PASSWORD
from tests.receiving.conftest import as_xml, small_document
from tests.receiving.mail.conftest import dovecot, mail, web  # noqa: F401 - the IMAP server and the web fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MINGYUAN = "91440300MA5FM1NGYB"
YUNTU = "91440101MA5CYUN00U"
NUMBER = "25312000000000016901"
PASSWORD = "secret"  # the private dovecot's password for any user (bench/dovecot.py)
TRACEBACK_WORDS = ("Traceback", "Exception", "Error", "errno", "NoneType")


def _no_raw_errors(page) -> None:
    text = page.inner_text("body")
    assert not any(w in text for w in TRACEBACK_WORDS), text[:2000]
    assert PASSWORD not in page.content()


def test_a_finance_user_adds_a_mailbox_fetches_it_and_works_the_pending_queue(
        login, live_server, demo_world, shots, dovecot, web):  # noqa: F811 - the fixtures imported above
    from receiving.mailbox.models import IssueState, Mailbox, MailIssue
    from receiving.models import ReceivedInvoice

    user = dovecot.new_user()
    doc = small_document(number=NUMBER, buyer=("深圳明远信息技术有限公司", MINGYUAN))
    web.status("/fp/expired", 404)
    dovecot.append(
        user,
        mail("电子发票（附件）", text="您好，发票见附件。", attachments=((f"{NUMBER}.xml", as_xml(doc)),)),
        mail("您的电子发票已开具", html=f'<p>尊敬的客户，请点击</p><a href="{web.url("/fp/expired")}">下载发票</a>'),
    )

    page = login("finance_sz")
    page.goto(f"{live_server.url}/admin/receiving/mailbox/")
    shots(page, "mailboxes-empty")
    page.click(".object-tools a.addlink")
    page.wait_for_selector("#id_host")
    assert page.locator("#id_taxpayer option").all_inner_texts()[1:] == ["深圳明远"] or \
        all("云途" not in t for t in page.locator("#id_taxpayer option").all_inner_texts())
    page.select_option("#id_taxpayer", label=page.locator("#id_taxpayer option").nth(1).inner_text())
    page.fill("#id_name", "财务收票")
    page.fill("#id_host", dovecot.host)
    page.fill("#id_port", str(dovecot.port))
    page.select_option("#id_security", "plain")
    page.fill("#id_username", user)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_interval_minutes", "30")
    shots(page, "mailbox-add")
    page.click("input[name=_continue]")
    page.wait_for_selector("#fetch-now")
    shots(page, "mailbox-saved")
    box = Mailbox.objects.get(username=user)
    assert box.taxpayer.credit_code == MINGYUAN and box.password == PASSWORD
    assert page.input_value("#id_password") == ""
    _no_raw_errors(page)

    page.click("#fetch-now")
    page.wait_for_selector(".messagelist .success")
    shots(page, "mailbox-fetched")
    _no_raw_errors(page)
    box.refresh_from_db()
    assert (box.message_count, box.file_count, box.pending_count, box.failures) == (2, 1, 1, 0)

    page.goto(f"{live_server.url}/admin/receiving/mailbox/")
    shots(page, "mailboxes-after-run")
    row = page.locator("#result_list tbody tr", has_text="财务收票").inner_text()
    cells = row.split("\t")
    assert "正常" in row and "2" in cells and "1" in cells
    assert "上次收取" in page.inner_text("#result_list thead")
    assert str(box.last_run_at.year) in row
    _no_raw_errors(page)

    invoice = ReceivedInvoice.objects.get(number=NUMBER)
    assert invoice.taxpayer.credit_code == MINGYUAN
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/?q={NUMBER}")
    page.wait_for_selector(f"#result_list >> text={NUMBER}")
    shots(page, "pool-record")

    page.goto(f"{live_server.url}/admin/receiving/mailbox/")
    page.click("#result_list tbody tr >> td.field-pending_link a")
    page.wait_for_selector("#result_list")
    shots(page, "queue")
    queued = page.locator("#result_list tbody tr").all_inner_texts()
    assert len(queued) == 1 and "您的电子发票已开具" in queued[0]
    fits, figures = page.evaluate("""() => {
        const th = document.querySelector('#result_list thead th.column-state');
        const subject = document.querySelector('#result_list thead th.column-subject');
        const results = document.querySelector('#changelist .results');
        const right = Math.min(window.innerWidth, results.getBoundingClientRect().right);
        const box = th.getBoundingClientRect();
        return [box.right <= right + 0.5 && results.scrollWidth <= results.clientWidth + 1
                && subject.offsetWidth >= 80, {state_right: box.right, right, subject: subject.offsetWidth}];
    }""")
    assert fits, figures  # the state column on screen, the subject not wrapped a character a line
    _no_raw_errors(page)
    page.click("#result_list tbody tr th a, #result_list tbody tr td.field-reason_short a")
    page.wait_for_selector("#issue-reason")
    shots(page, "issue")
    assert page.locator("#retry-link").count() == 1 and page.locator("#upload-by-hand").count() == 1
    assert "尊敬的客户" in page.inner_text("#mail-message")
    _no_raw_errors(page)

    page.fill("#id_note", "供应商已改为附件重发")
    page.click("#ignore")
    page.wait_for_selector(".messagelist .success")
    shots(page, "issue-ignored")
    issue = MailIssue.objects.get(message__mailbox=box)
    assert issue.state == IssueState.IGNORED and issue.note == "供应商已改为附件重发"
    assert page.locator("#ignore").count() == 0 and "供应商已改为附件重发" in page.inner_text("#content")
    assert page.inner_text("#issue-resolved-by") == "陈会计（仅深圳明远）"  # the person, not the login name
    assert "用票" in page.inner_text(".breadcrumbs")
    box.refresh_from_db()
    assert box.pending_count == 0

    # A wrong setting saved with the new-password field left blank: the password is kept, the list names the fault
    # in words, and fetching with the right setting again clears it.
    page.goto(f"{live_server.url}/admin/receiving/mailbox/{box.pk}/change/")
    page.select_option("#id_security", "starttls")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    page.click("#fetch-now")
    page.wait_for_selector(".messagelist .success")
    page.goto(f"{live_server.url}/admin/receiving/mailbox/")
    shots(page, "mailboxes-failed")
    row = page.locator("#result_list tbody tr", has_text="财务收票").inner_text()
    assert "连续失败 1 次" in row and "不支持 STARTTLS" in row, row
    badge = page.locator("#result_list .mailbox-error").bounding_box()
    results = page.locator("#changelist .results").bounding_box()
    assert badge["x"] + badge["width"] <= results["x"] + results["width"] + 0.5  # one box, inside the list
    _no_raw_errors(page)
    box.refresh_from_db()
    assert box.password == PASSWORD and box.failures == 1


def test_customer_service_cannot_reach_the_mailbox_pages_and_another_entity_does_not_see_the_mailbox(
        login, live_server, demo_world, shots):
    from invoicing import roles
    from invoicing.models import Taxpayer
    from receiving.mailbox import services
    from tests.factories import UserFactory

    mingyuan = Taxpayer.objects.get(credit_code=MINGYUAN)
    box = services.mailbox_create(taxpayer=mingyuan, name="明远财务收票", host="imap.example.invalid",
                                  username="fp@mingyuan.example.com", password="授权码-1234", enabled=False,
                                  actor=None)
    UserFactory(username="finance_yt", role=roles.FINANCE, entities=[Taxpayer.objects.get(credit_code=YUNTU)],
                password=DEMO_PASSWORD)

    page = login("service")
    assert "收票邮箱" not in page.inner_text("#content")
    for url in ("/admin/receiving/mailbox/", f"/admin/receiving/mailbox/{box.pk}/change/",
                "/admin/receiving/mailissue/"):
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 403 or "/login/" in page.url, (url, response.status, page.url)
    shots(page, "service-forbidden")

    page = login("finance_yt")
    page.goto(f"{live_server.url}/admin/receiving/mailbox/")
    shots(page, "other-entity-list")
    assert "明远财务收票" not in page.inner_text("#content")
    page.goto(f"{live_server.url}/admin/receiving/mailbox/{box.pk}/change/")
    assert page.url.removeprefix(live_server.url) == "/admin/"  # as if there were no such mailbox
    assert "明远财务收票" not in page.inner_text("body")
    shots(page, "other-entity-change")
