"""The server down, the password wrong, a worker killed in the middle of a mailbox."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from invoicing.models import Event
from receiving.mailbox import fetching, imap, services, tasks
from receiving.mailbox.models import Mailbox, MailMessage, MessageState
from receiving.models import ReceivedInvoice
from tests.receiving.conftest import as_pdf, as_xml, small_document
from tests.receiving.mail.conftest import mail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.django_db
def test_a_wrong_password_shows_on_the_mailbox_and_backs_off_without_stopping_the_others(pujiang, dovecot,
                                                                                         imap_user, mailbox):
    dovecot.append(imap_user, mail(attachments=(("a.xml", as_xml(small_document(number="25312000000000016101"))),)))
    wrong = services.mailbox_create(taxpayer=pujiang, name="密码错", host=dovecot.host, port=dovecot.port,
                                    security="plain", username=dovecot.new_user(), password="wrong", actor=None)
    down = services.mailbox_create(taxpayer=pujiang, name="服务器停了", host="127.0.0.1", port=_free_port(),
                                   security="plain", username="nobody", password="x", actor=None)
    Mailbox.objects.update(next_run_at=timezone.now() - timedelta(minutes=1))

    due = tasks.mailboxes_due_task.apply().get()  # eager: each due mailbox's fetch task runs here, in turn

    assert sorted(due) == sorted([mailbox.pk, wrong.pk, down.pk])
    wrong.refresh_from_db()
    down.refresh_from_db()
    mailbox.refresh_from_db()
    assert "拒绝登录" in wrong.last_error and wrong.failures == 1
    assert "无法连接" in down.last_error and down.failures == 1
    assert mailbox.failures == 0 and mailbox.last_error == "" and ReceivedInvoice.objects.count() == 1
    first_wait = wrong.next_run_at - wrong.last_run_at
    assert first_wait >= timedelta(minutes=wrong.interval_minutes)

    # The next failures wait longer, up to six hours; nothing is due in between.
    assert tasks.mailboxes_due_task.apply().get() == []
    fetching.mailbox_fetch(wrong.pk)
    wrong.refresh_from_db()
    assert wrong.failures == 2 and wrong.next_run_at - wrong.last_run_at > first_wait
    assert services.backoff(30, 10) == timedelta(hours=6)
    assert Event.objects.filter(action="mailbox_fetch_failed", object_id=str(wrong.pk)).count() == 2

    # Fixed: the next run clears the error.
    services.mailbox_update(mailbox=wrong, password="secret", actor=None)
    assert fetching.mailbox_fetch(wrong.pk).status == "done"
    wrong.refresh_from_db()
    assert (wrong.failures, wrong.last_error) == (0, "")


@pytest.mark.django_db
def test_a_missing_folder_is_named(pujiang, dovecot, imap_user):
    box = services.mailbox_create(taxpayer=pujiang, name="x", host=dovecot.host, port=dovecot.port, security="plain",
                                  username=imap_user, password="secret", folder="NoSuchFolder", actor=None)
    result = fetching.mailbox_fetch(box.pk)
    assert result.status == "failed" and "NoSuchFolder" in result.error


def _database_url() -> str:
    s = connection.settings_dict
    auth = (s.get("USER") or "") + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth + '@' if auth else ''}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _fetch_process(mailbox_id: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=_database_url(), MEDIA_ROOT=str(settings.MEDIA_ROOT),
               SECRET_KEY=settings.SECRET_KEY, DJANGO_SETTINGS_MODULE="invoicing.settings", DEBUG="1",
               FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS), PGAPPNAME="fapiao-mailbox-test")
    return subprocess.Popen([sys.executable, "manage.py", "fetch_mailboxes", "--mailbox", str(mailbox_id)],
                            cwd=str(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_mailbox_loses_no_message_and_doubles_none(mailbox, dovecot, imap_user):
    count = 24
    numbers = [f"2531200000000001{6200 + i:04d}" for i in range(count)]
    dovecot.append(imap_user, *[
        mail(f"发票 {i}", attachments=((f"{n}.pdf", as_pdf(small_document(number=n))),
                                       (f"{n}.xml", as_xml(small_document(number=n)))))
        for i, n in enumerate(numbers)])

    process = _fetch_process(mailbox.pk)
    deadline = time.monotonic() + 120
    while MailMessage.objects.filter(mailbox=mailbox, state=MessageState.DONE).count() < 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = MailMessage.objects.filter(mailbox=mailbox, state=MessageState.DONE).count()
    assert killed_at < count  # in the middle, not after the end

    rerun = _fetch_process(mailbox.pk)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()

    rows = list(MailMessage.objects.filter(mailbox=mailbox).values_list("uid", "state"))
    assert sorted(rows) == [(uid, MessageState.DONE) for uid in range(1, count + 1)]
    assert sorted(ReceivedInvoice.objects.values_list("number", flat=True)) == numbers
    assert all(ReceivedInvoice.objects.get(number=n).carriers.count() == 2 for n in numbers)
    mailbox.refresh_from_db()
    assert (mailbox.last_uid, mailbox.message_count, mailbox.file_count) == (count, count, 2 * count)


@pytest.mark.django_db
def test_the_wrong_security_is_named_in_words_not_a_class_name(pujiang, dovecot, imap_user, settings):
    settings.RECEIVING_IMAP_TIMEOUT = 5
    starttls = services.mailbox_create(taxpayer=pujiang, name="starttls", host=dovecot.host, port=dovecot.port,
                                       security="starttls", username=imap_user, password="secret", actor=None)
    result = fetching.mailbox_fetch(starttls.pk)
    assert result.status == "failed" and "不支持 STARTTLS" in result.error and "Error" not in result.error
    starttls.refresh_from_db()
    assert "不支持 STARTTLS" in starttls.last_error
    ssl = services.mailbox_create(taxpayer=pujiang, name="ssl", host=dovecot.host, port=dovecot.port, security="ssl",
                                  username=imap_user, password="secret", folder="Other", actor=None)
    assert "TLS 握手失败" in fetching.mailbox_fetch(ssl.pk).error


def test_a_fault_without_words_of_its_own_is_named_in_words():
    assert imap._broken(ConnectionResetError()).message == "与邮件服务器的连接中断（连接被服务器断开）"
    assert "IMAPClientError" not in imap._broken(imap.IMAPClientError("bad")).message
