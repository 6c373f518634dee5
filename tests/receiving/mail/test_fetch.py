"""Reading a mailbox on a real IMAP server: new messages since the last UID, each once, their invoice attachments
into the pool."""

from __future__ import annotations

import io
import zipfile

import pytest

from invoicing.models import Event
from receiving import services as pool
from receiving.mailbox import fetching, services
from receiving.mailbox.models import IssueState, MailIssue, MailMessage, MessageState, Remedy
from receiving.models import Carrier, Collection, CollectionItem, Method, Outcome, ReceivedInvoice
from tests.receiving.conftest import as_ofd, as_pdf, as_xml, small_document
from tests.receiving.mail.conftest import mail

pytestmark = pytest.mark.django_db

DOC = small_document(number="25312000000000016001")
DOC2 = small_document(number="25312000000000016002")


def test_new_messages_are_read_once_and_their_attachments_go_into_the_pool(mailbox, dovecot, imap_user):
    dovecot.append(imap_user, mail("发票一", text="见附件", attachments=(("发票一.xml", as_xml(DOC)),)),
                   mail("发票二", text="见附件", attachments=(("发票二.xml", as_xml(DOC2)),)))

    result = fetching.mailbox_fetch(mailbox.pk)

    assert (result.status, result.messages, result.files, result.issues) == ("done", 2, 2, 0)
    assert set(ReceivedInvoice.objects.values_list("number", flat=True)) == {DOC.number, DOC2.number}
    mailbox.refresh_from_db()
    assert mailbox.uidvalidity == dovecot.uidvalidity(imap_user)
    assert (mailbox.last_uid, mailbox.message_count, mailbox.file_count, mailbox.failures) == (2, 2, 2, 0)
    assert mailbox.last_success_at is not None and mailbox.next_run_at > mailbox.last_success_at
    batch = Collection.objects.get(method=Method.MAILBOX)
    assert batch.status == "done" and batch.created_count == 2
    assert list(MailMessage.objects.order_by("uid").values_list("uid", "state", "subject", "file_count")) == [
        (1, MessageState.DONE, "发票一", 1), (2, MessageState.DONE, "发票二", 1)]

    # The next run finds nothing new; a new message is read alone.
    assert fetching.mailbox_fetch(mailbox.pk).messages == 0
    dovecot.append(imap_user, mail("发票三", attachments=(("c.ofd", as_ofd(small_document(
        number="25312000000000016003"))),)))
    assert fetching.mailbox_fetch(mailbox.pk).messages == 1
    assert MailMessage.objects.count() == 3 and ReceivedInvoice.objects.count() == 3
    assert Event.objects.filter(action="mailbox_fetch").count() == 2  # the empty run records nothing


def test_the_same_invoice_as_pdf_and_ofd_in_one_message_is_one_record(mailbox, dovecot, imap_user):
    dovecot.append(imap_user, mail(attachments=(("fp.pdf", as_pdf(DOC)), ("fp.ofd", as_ofd(DOC)))))

    fetching.mailbox_fetch(mailbox.pk)

    assert ReceivedInvoice.objects.count() == 1
    assert Carrier.objects.filter(invoice__number=DOC.number).count() == 2
    assert sorted(CollectionItem.objects.values_list("outcome", flat=True)) == [Outcome.ATTACHED, Outcome.CREATED]


def _zip(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_is_expanded_and_a_zip_inside_it_is_refused_with_the_rule(mailbox, dovecot, imap_user):
    inner = _zip(("b.xml", as_xml(DOC2)))
    dovecot.append(imap_user, mail(attachments=(("发票.zip", _zip(("a.xml", as_xml(DOC)), ("more.zip", inner))),)))

    fetching.mailbox_fetch(mailbox.pk)

    assert list(ReceivedInvoice.objects.values_list("number", flat=True)) == [DOC.number]
    refused = CollectionItem.objects.get(outcome=Outcome.REJECTED)
    assert (refused.name, refused.rule) == ("发票.zip/more.zip", "zip_in_zip")
    message = MailMessage.objects.get()
    assert message.file_count == 1 and message.issue_count == 0


def test_a_message_without_invoice_goes_to_the_pending_queue_with_the_message(mailbox, dovecot, imap_user):
    dovecot.append(imap_user, mail("会议通知", text="周五下午三点开会。"),
                   mail("附件不是发票", attachments=(("readme.pdf", b"%PDF-1.4 not really a pdf"),)))

    fetching.mailbox_fetch(mailbox.pk)

    issues = {i.message.subject: i for i in MailIssue.objects.select_related("message")}
    assert issues["会议通知"].rule == "no_invoice" and issues["会议通知"].remedy == Remedy.ASK_SENDER
    assert issues["会议通知"].message.body_text.strip() == "周五下午三点开会。"
    assert issues["附件不是发票"].rule == "no_invoice_file"
    assert all(i.state == IssueState.OPEN for i in issues.values())
    mailbox.refresh_from_db()
    assert mailbox.pending_count == 2 and mailbox.last_uid == 2
    assert Event.objects.filter(action="mail_issue_open").count() == 2


def test_a_message_claimed_by_a_run_that_died_is_taken_again_and_only_once(mailbox, dovecot, imap_user):
    dovecot.append(imap_user, mail(attachments=(("a.xml", as_xml(DOC)),)), mail(attachments=(("b.xml", as_xml(DOC2)),)))
    uidvalidity = dovecot.uidvalidity(imap_user)
    services.mailbox_run_begin(mailbox=mailbox, uidvalidity=uidvalidity)
    # a run claimed message 1, collected its file, and was killed before closing it
    row = services.mail_message_claim(mailbox=mailbox, uidvalidity=uidvalidity, uid=1, fingerprint="x")
    batch = services.mailbox_run_collection(mailbox=mailbox)
    pool.collection_add_file(collection=batch, name="a.xml", data=as_xml(DOC), actor=None)
    assert row is not None and row.state == MessageState.CLAIMED

    result = fetching.mailbox_fetch(mailbox.pk)

    assert result.messages == 2
    assert list(MailMessage.objects.order_by("uid").values_list("uid", "state", "attempts")) == [
        (1, MessageState.DONE, 2), (2, MessageState.DONE, 1)]
    assert ReceivedInvoice.objects.count() == 2
    batch = Collection.objects.get(pk=batch.pk)
    assert batch.status == "failed" and "中断" in batch.message  # the killed run's batch says so


def test_a_changed_uidvalidity_rescans_the_folder_without_doubles(pujiang, dovecot, imap_user):
    box = services.mailbox_create(taxpayer=pujiang, name="发票夹", host=dovecot.host, port=dovecot.port,
                                  security="plain", username=imap_user, password="secret", folder="Invoices",
                                  actor=None)
    first = mail("发票一", attachments=(("a.xml", as_xml(DOC)),))
    empty = mail("无附件", text="稍后补发")
    dovecot.append(imap_user, first, empty, folder="Invoices")
    fetching.mailbox_fetch(box.pk)
    old = dovecot.uidvalidity(imap_user, "Invoices")

    second = mail("发票二", attachments=(("b.xml", as_xml(DOC2)),))
    dovecot.recreate_folder(imap_user, "Invoices", first, empty, second)
    new = dovecot.uidvalidity(imap_user, "Invoices")
    assert new != old

    result = fetching.mailbox_fetch(box.pk)

    assert result.messages == 1  # only the new one counts
    assert ReceivedInvoice.objects.count() == 2
    assert MailIssue.objects.count() == 1  # the message without invoice is not queued twice
    seen = MailMessage.objects.filter(uidvalidity=new).order_by("uid")
    assert [(m.subject, m.seen_before) for m in seen] == [("发票一", True), ("无附件", True), ("发票二", False)]
    box.refresh_from_db()
    assert (box.uidvalidity, box.message_count, box.last_uid) == (new, 3, 3)
    assert Event.objects.filter(action="mailbox_uidvalidity_reset").count() == 1


def test_messages_in_another_folder_are_read_from_that_folder_only(pujiang, dovecot, imap_user):
    box = services.mailbox_create(taxpayer=pujiang, name="发票夹", host=dovecot.host, port=dovecot.port,
                                  security="plain", username=imap_user, password="secret", folder="发票", actor=None)
    dovecot.append(imap_user, mail(attachments=(("a.xml", as_xml(DOC)),)))
    dovecot.append(imap_user, mail(attachments=(("b.xml", as_xml(DOC2)),)), folder="发票")

    fetching.mailbox_fetch(box.pk)

    assert list(ReceivedInvoice.objects.values_list("number", flat=True)) == [DOC2.number]
