"""Messages already in hand read as a mailbox run reads fetched ones (``fetching.mailbox_read``): the demo files the
copy of a delivery e-mail into its mailbox so. No IMAP server is involved."""

from __future__ import annotations

import pytest

from receiving.mailbox import fetching, services
from receiving.mailbox.models import Mailbox, MailMessage, MessageState
from receiving.models import Method, ReceivedInvoice
from tests.receiving.conftest import as_xml, small_document
from tests.receiving.mail.conftest import mail

pytestmark = pytest.mark.django_db

DOC = small_document(number="25312000000000016101")
DOC2 = small_document(number="25312000000000016102")


@pytest.fixture
def disabled_box(pujiang) -> Mailbox:
    return services.mailbox_create(taxpayer=pujiang, name="演示邮箱", host="imap.example.invalid",
                                   username="invoice@pujiang.example.com", password="x", enabled=False, actor=None)


def test_messages_in_hand_go_into_the_pool_as_mail_and_are_counted_once(disabled_box):
    first = mail("发票一", text="见附件", attachments=(("发票一.xml", as_xml(DOC)),))
    second = mail("发票二", text="见附件", attachments=(("发票二.xml", as_xml(DOC2)),))

    result = fetching.mailbox_read(mailbox_id=disabled_box.pk, raws=[first, second])

    assert (result.status, result.messages, result.files, result.issues) == ("done", 2, 2, 0)
    records = ReceivedInvoice.objects.filter(taxpayer=disabled_box.taxpayer)
    assert set(records.values_list("number", flat=True)) == {DOC.number, DOC2.number}
    assert set(records.values_list("sources__method", flat=True)) == {Method.MAILBOX}
    box = Mailbox.objects.get(pk=disabled_box.pk)
    assert not box.enabled and (box.uidvalidity, box.last_uid, box.message_count, box.file_count) == (1, 2, 2, 2)
    assert list(MailMessage.objects.order_by("uid").values_list("uid", "state", "subject")) == [
        (1, MessageState.DONE, "发票一"), (2, MessageState.DONE, "发票二")]

    # the same message again (another copy of it) takes the next UID and adds no record to the pool
    again = fetching.mailbox_read(mailbox_id=disabled_box.pk, raws=[first])
    assert again.messages == 1
    assert records.count() == 2 and MailMessage.objects.get(uid=3).subject == "发票一"


def test_a_mailbox_read_from_a_server_keeps_its_folder_and_numbering(disabled_box):
    Mailbox.objects.filter(pk=disabled_box.pk).update(uidvalidity=77, last_uid=40)
    fetching.mailbox_read(mailbox_id=disabled_box.pk,
                          raws=[mail("发票", attachments=(("a.xml", as_xml(DOC)),))])
    box = Mailbox.objects.get(pk=disabled_box.pk)
    assert (box.uidvalidity, box.last_uid) == (77, 41)
    assert list(MailMessage.objects.values_list("uidvalidity", "uid")) == [(77, 41)]
