"""The mailbox pages: settings with a write-only password, last and next run, counts and errors, 'fetch now'; the
pending queue grouped by remedy with the message shown and its remedies; scoped to the user's entities, constant
queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing import roles
from invoicing.models import Event
from receiving.mailbox import fetching, services
from receiving.mailbox.models import IssueState, Mailbox, MailIssue, Remedy
from receiving.models import ReceivedInvoice
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import as_xml, small_document
from tests.receiving.mail.conftest import mail

pytestmark = pytest.mark.django_db

BOXES = "admin:receiving_mailbox_changelist"
QUEUE = "admin:receiving_mailissue_changelist"


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_a_mailbox_is_added_with_a_password_that_is_never_shown_again(client, pujiang, fiona):
    client.force_login(fiona)
    response = client.post(reverse("admin:receiving_mailbox_add"), {
        "taxpayer": pujiang.pk, "name": "财务收票", "host": "imap.example.com", "port": 993, "security": "ssl",
        "username": "fp@pujiang.example.com", "password": "授权码-9f8e", "folder": "INBOX", "enabled": "on",
        "interval_minutes": 10})
    assert response.status_code == 302, response.content.decode()[:3000]
    box = Mailbox.objects.get()
    assert box.password == "授权码-9f8e"
    assert Event.objects.filter(action="mailbox_create", object_id=str(box.pk)).exists()
    page = client.get(reverse("admin:receiving_mailbox_change", args=[box.pk])).content.decode()
    assert "授权码-9f8e" not in page and "******" in page
    assert "立即收取" in page

    # saved again with a blank password: kept; a wrong port is named
    data = {"name": "财务收票", "host": "imap.example.com", "port": 993, "security": "ssl",
            "username": "fp@pujiang.example.com", "password": "", "folder": "INBOX", "enabled": "on",
            "interval_minutes": 10}
    assert client.post(reverse("admin:receiving_mailbox_change", args=[box.pk]), data).status_code == 302
    assert Mailbox.objects.get().password == "授权码-9f8e"
    wrong = client.post(reverse("admin:receiving_mailbox_change", args=[box.pk]), {**data, "interval_minutes": 0})
    assert wrong.status_code == 200 and "收取间隔须为 1–1440 分钟" in wrong.content.decode()


def test_fetch_now_reads_the_mailbox_and_the_list_shows_runs_counts_and_errors(
        client, fiona, mailbox, dovecot, imap_user, pujiang, django_capture_on_commit_callbacks):
    dovecot.append(imap_user, mail(attachments=(("a.xml", as_xml(small_document(number="25312000000000016601"))),)))
    broken = services.mailbox_create(taxpayer=pujiang, name="坏邮箱", host=dovecot.host, port=dovecot.port,
                                     security="plain", username="x", password="wrong", actor=None)
    fetching.mailbox_fetch(broken.pk)
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:receiving_mailbox_fetch", args=[mailbox.pk]))
    assert response.status_code == 302
    assert ReceivedInvoice.objects.count() == 1
    assert Event.objects.filter(action="mailbox_fetch_request").count() == 1
    page = client.get(reverse(BOXES)).content.decode()
    assert "财务收票" in page and "坏邮箱" in page
    assert "连续失败 1 次" in page and "拒绝登录" in page
    assert "正常" in page


def test_the_lists_are_scoped_and_cost_constant_queries(client, fiona, pujiang, mailbox, dovecot, imap_user):
    other_entity = TaxpayerFactory(name="别家公司")
    services.mailbox_create(taxpayer=other_entity, name="别家邮箱", host="imap.example.com", username="o",
                            password="p", actor=None)
    elsewhere = UserFactory(username="elsewhere", role=roles.FINANCE, entities=[other_entity])
    dovecot.append(imap_user, mail("广告一"), mail("广告二"))
    fetching.mailbox_fetch(mailbox.pk)
    client.force_login(elsewhere)
    assert "财务收票" not in client.get(reverse(BOXES)).content.decode()
    queue = client.get(reverse(QUEUE)).content.decode()
    assert "广告一" not in queue and "财务收票" not in queue and "别家邮箱" in queue  # the mailbox filter too
    issue = MailIssue.objects.first()
    assert client.get(reverse("admin:receiving_mailissue_change", args=[issue.pk])).status_code == 404

    client.force_login(fiona)
    few = (_count(client, reverse(BOXES)), _count(client, reverse(QUEUE)))
    for i in range(8):
        services.mailbox_create(taxpayer=pujiang, name=f"邮箱{i}", host="imap.example.com", username=f"u{i}",
                                password="p", actor=None)
    dovecot.append(imap_user, *[mail(f"通知{i}") for i in range(8)])
    fetching.mailbox_fetch(mailbox.pk)
    assert MailIssue.objects.filter(taxpayer=pujiang).count() == 10
    assert (_count(client, reverse(BOXES)), _count(client, reverse(QUEUE))) == few


def test_the_queue_shows_the_message_and_its_remedies_work(client, fiona, mailbox, dovecot, imap_user, web):
    web.status("/fp", 404)
    dovecot.append(imap_user, mail("您的电子发票已开具", html=f'<p>尊敬的客户</p><a href="{web.url("/fp")}">下载发票</a>'))
    fetching.mailbox_fetch(mailbox.pk)
    issue = MailIssue.objects.get()
    client.force_login(fiona)
    queue = client.get(reverse(QUEUE)).content.decode()
    assert "您的电子发票已开具" in queue and str(Remedy.ASK_SENDER.label) in queue
    url = reverse("admin:receiving_mailissue_change", args=[issue.pk])
    page = client.get(url).content.decode()
    assert "尊敬的客户" in page and "链接已失效" in page
    assert 'id="retry-link"' in page and 'id="upload-by-hand"' in page and 'id="ignore"' in page

    web.file("/fp", as_xml(small_document(number="25312000000000016602")), "application/xml")
    assert client.post(url, {"do": "retry"}).status_code == 302
    assert MailIssue.objects.get().state == IssueState.RESOLVED
    assert ReceivedInvoice.objects.get().number == "25312000000000016602"
    assert 'id="retry-link"' not in client.get(url).content.decode()
    assert "您的电子发票已开具" not in client.get(reverse(QUEUE)).content.decode()  # the queue shows open ones
    assert "您的电子发票已开具" in client.get(reverse(QUEUE), {"state__exact": "all"}).content.decode()


def test_ignore_from_the_page(client, fiona, mailbox, dovecot, imap_user):
    dovecot.append(imap_user, mail("周报"))
    fetching.mailbox_fetch(mailbox.pk)
    issue = MailIssue.objects.get()
    client.force_login(fiona)
    url = reverse("admin:receiving_mailissue_change", args=[issue.pk])
    assert client.post(url, {"do": "ignore", "note": "不是发票邮件"}).status_code == 302
    assert MailIssue.objects.get().state == IssueState.IGNORED
    assert Mailbox.objects.get(pk=mailbox.pk).pending_count == 0


def test_a_role_without_the_mailbox_pages_is_refused_not_sent_round_in_circles(client, pujiang):
    box = services.mailbox_create(taxpayer=pujiang, name="财务收票", host="imap.example.com", username="fp",
                                  password="p", actor=None)
    client.force_login(UserFactory(username="kefu", role=roles.CUSTOMER_SERVICE, entities=None))
    for url in (reverse(BOXES), reverse("admin:receiving_mailbox_change", args=[box.pk]),
                reverse("admin:receiving_mailbox_add"), reverse(QUEUE)):
        assert client.get(url).status_code == 403, url
    refused = client.post(reverse("admin:receiving_mailbox_change", args=[box.pk]), {"name": "改名"})
    assert refused.status_code in (302, 403) and Mailbox.objects.get().name == "财务收票"


def test_the_pages_words_and_punctuation_are_english_in_english(client, fiona, mailbox, dovecot, imap_user, web):
    web.status("/fp", 404)
    dovecot.append(imap_user, mail("Notice", html=f'<p>Dear customer</p><a href="{web.url("/fp")}">download</a>'))
    fetching.mailbox_fetch(mailbox.pk)
    issue = MailIssue.objects.get()
    client.force_login(fiona)
    boxed = client.get(reverse("admin:receiving_mailbox_change", args=[mailbox.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Pending (1)" in boxed.content.decode()
    page = client.get(reverse("admin:receiving_mailissue_change", args=[issue.pk]),
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"(rule {issue.rule})" in page and "(UID 1)" in page
    page = page.replace(issue.reason, "").replace(str(mailbox), "")  # what the run wrote is kept as written
    assert not any(mark in page for mark in ("（", "）", "：", "规则")), [m for m in ("（", "）", "：", "规则") if m in page]
