"""The pending queue's remedies: retry the link, upload by hand, ignore; each an event, each only once, each only
for those who may collect for the entity."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from invoicing import roles
from invoicing.models import Event
from receiving.mailbox import fetching, services
from receiving.mailbox.models import IssueState, Mailbox, MailIssue, Remedy
from receiving.models import ReceivedInvoice
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import as_pdf, as_xml, small_document
from tests.receiving.mail.conftest import mail

pytestmark = pytest.mark.django_db

DOC = small_document(number="25312000000000016501")


@pytest.fixture
def issue(mailbox, dovecot, imap_user, web) -> MailIssue:
    web.status("/fp", 503)
    dovecot.append(imap_user, mail("发票", html=f'<a href="{web.url("/fp")}">下载发票</a>'))
    fetching.mailbox_fetch(mailbox.pk)
    found = MailIssue.objects.get()
    assert (found.rule, found.remedy) == ("link_unavailable", Remedy.RETRY)
    return found


def test_retrying_a_link_that_works_again_takes_the_file_and_closes_the_issue(issue, web, fiona):
    web.file("/fp", as_pdf(DOC), "application/pdf")

    done = services.mail_issue_retry(issue=issue, actor=fiona)

    assert done.state == IssueState.RESOLVED and done.resolved_by == fiona and done.attempts == 2
    assert ReceivedInvoice.objects.get().number == DOC.number
    assert Mailbox.objects.get().pending_count == 0
    assert Event.objects.filter(action="mail_issue_retry", object_id=str(issue.pk)).count() == 1
    with pytest.raises(ValidationError):
        services.mail_issue_retry(issue=issue, actor=fiona)


def test_retrying_a_link_that_now_answers_404_changes_the_remedy(issue, web, fiona):
    web.status("/fp", 404)
    again = services.mail_issue_retry(issue=issue, actor=fiona)
    assert (again.state, again.rule, again.remedy) == (IssueState.OPEN, "link_expired", Remedy.ASK_SENDER)


def test_upload_by_hand_resolves_the_issue_and_a_wrong_file_does_not(issue, fiona):
    with pytest.raises(ValidationError, match="未能收取"):
        services.mail_issue_upload(issue=issue, files=[("x.pdf", b"not a pdf")], actor=fiona)
    assert MailIssue.objects.get().state == IssueState.OPEN

    done = services.mail_issue_upload(issue=issue, files=[("发票.xml", as_xml(DOC))], actor=fiona)

    assert done.state == IssueState.RESOLVED and done.collection is not None
    assert ReceivedInvoice.objects.get().number == DOC.number
    assert Event.objects.filter(action="mail_issue_upload").count() == 1


def test_ignore_needs_a_reason(issue, fiona):
    with pytest.raises(ValidationError):
        services.mail_issue_ignore(issue=issue, note=" ", actor=fiona)
    done = services.mail_issue_ignore(issue=issue, note="广告邮件", actor=fiona)
    assert (done.state, done.note) == (IssueState.IGNORED, "广告邮件")
    assert Event.objects.get(action="mail_issue_ignore").reason == "广告邮件"


def test_a_user_of_another_entity_may_not_act_on_the_issue(issue):
    other = UserFactory(username="oscar", role=roles.FINANCE, entities=[TaxpayerFactory()])
    for call in (lambda: services.mail_issue_ignore(issue=issue, note="x", actor=other),
                 lambda: services.mail_issue_retry(issue=issue, actor=other),
                 lambda: services.mail_issue_upload(issue=issue, files=[("a.xml", as_xml(DOC))], actor=other)):
        with pytest.raises(PermissionDenied):
            call()
    assert MailIssue.objects.get().state == IssueState.OPEN


def test_mailbox_settings_are_checked_and_the_password_is_kept_encrypted(pujiang, fiona):
    admin_user = UserFactory(username="ada", role=roles.ADMINISTRATOR, entities=None)
    with pytest.raises(ValidationError) as info:
        services.mailbox_create(taxpayer=pujiang, name="x", host="", username="", password="", port=0,
                                actor=admin_user)
    assert {"host", "port", "username"} <= set(info.value.message_dict)
    box = services.mailbox_create(taxpayer=pujiang, name="财务", host="imap.example.com", username="fp@example.com",
                                  password="授权码-123", actor=admin_user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM receiving_mailbox WHERE id = %s", [box.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and "授权码" not in stored
    services.mailbox_update(mailbox=box, password="", name="财务收票", actor=admin_user)
    box.refresh_from_db()
    assert box.password == "授权码-123" and box.name == "财务收票"
    event = Event.objects.filter(action="mailbox_update").get()
    assert "授权码" not in str(event.data) and event.data["changed"] == ["name"]
    with pytest.raises(PermissionDenied):
        services.mailbox_create(taxpayer=pujiang, name="y", host="h", username="u", password="p",
                                actor=UserFactory(username="cs", role=roles.CUSTOMER_SERVICE, entities=None))
