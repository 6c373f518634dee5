"""One run over one mailbox: the new messages since the last UID, each taken exactly once.

For each message, in UID order:

1. it is *claimed* (``MailMessage`` keyed by mailbox, UIDVALIDITY and UID, unique): a message already done is
   skipped; one claimed by a run that died is taken again;
2. a message the mailbox already took under an earlier UIDVALIDITY (the server rebuilt the folder: same Message-ID
   or same bytes) is closed as seen before, nothing collected twice;
3. its PDF / OFD / XML / ZIP attachments go into the run's batch (ZIPs expanded within the upload limits by
   ``receiving.bundles``), then the links in its body that may lead to invoices are followed (``links``);
4. what could not be taken becomes issues of the pending queue, and the message is *done*, in the transaction that
   moves the mailbox's last UID.

A worker killed anywhere in this loses nothing (the message stays claimed, or is not claimed yet) and doubles
nothing (the next run takes a claimed message again and the pool keeps each file once by SHA-256; issues are unique
per message). Two runs of the same mailbox never overlap: a run holds a PostgreSQL advisory lock on the mailbox for
its whole length, released by the database if the worker dies.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection
from django.utils.translation import gettext

from receiving import bundles
from receiving import services as pool
from receiving.mailbox import imap, links, messages, services
from receiving.mailbox.models import Mailbox, MailMessage, Remedy
from receiving.models import Collection, CollectionItem, Outcome

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x6D61  # "ma": the first key of pg_try_advisory_lock(int, int), the mailbox's id the second
MAX_MESSAGE_BYTES = 60 * 1024 * 1024


@dataclass
class RunResult:
    mailbox: int
    status: str  # done | busy | failed | disabled
    messages: int = 0
    files: int = 0
    issues: int = 0
    error: str = ""


@contextmanager
def _mailbox_lock(mailbox_id: int) -> Iterator[bool]:
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, mailbox_id])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, mailbox_id])


def mailbox_fetch(mailbox_id: int) -> RunResult:
    """Run one mailbox now (the periodic task and 'fetch now' call this). Never raises for the server's faults:
    they are the mailbox's last error and its back-off."""
    with _mailbox_lock(mailbox_id) as got:
        if not got:
            return RunResult(mailbox_id, "busy")
        mailbox = Mailbox.objects.select_related("taxpayer").get(pk=mailbox_id)
        if not mailbox.enabled:
            return RunResult(mailbox_id, "disabled")
        run = _Run(mailbox)
        try:
            with imap.open_folder(mailbox) as folder:
                run.mailbox = services.mailbox_run_begin(mailbox=mailbox, uidvalidity=folder.uidvalidity)
                redo = services.claimed_uids(mailbox=run.mailbox, uidvalidity=folder.uidvalidity)
                uids = sorted(set(folder.uids_after(run.mailbox.last_uid)) | set(redo))
                for uid, raw, size in folder.fetch(uids, max_bytes=MAX_MESSAGE_BYTES):
                    run.message(folder.uidvalidity, uid, raw, size)
        except imap.MailboxUnavailableError as exc:
            services.mailbox_run_failed(mailbox=run.mailbox, rule=exc.rule, message=exc.message)
            return RunResult(mailbox_id, "failed", run.counts.messages, run.counts.files, run.counts.issues,
                             exc.message)
        except Exception:  # noqa: BLE001 - a fault of ours: the mailbox shows it, the message is retried next run
            logger.exception("mailbox %s: run failed", mailbox_id)
            message = gettext("收取时发生内部错误（已记录）：已处理的邮件保留，未完成的邮件下次重新处理")
            services.mailbox_run_failed(mailbox=run.mailbox, rule="internal_error", message=message)
            return RunResult(mailbox_id, "failed", run.counts.messages, run.counts.files, run.counts.issues, message)
        services.mailbox_run_succeeded(mailbox=run.mailbox, counts=run.counts)
        return RunResult(mailbox_id, "done", run.counts.messages, run.counts.files, run.counts.issues)


def mailbox_read(*, mailbox_id: int, raws: Sequence[bytes]) -> RunResult:
    """Read messages already in hand, as one run of the mailbox reads what it fetched (the same claims, files, pending
    items and counts): for mail that reached the mailbox another way than this server's IMAP, e.g. the copy of a
    delivery e-mail the demo files into its mailbox. The messages take the UIDs after the mailbox's last one (in its
    folder's UIDVALIDITY, or 1 for a mailbox never read)."""
    with _mailbox_lock(mailbox_id) as got:
        if not got:
            return RunResult(mailbox_id, "busy")
        mailbox = Mailbox.objects.select_related("taxpayer").get(pk=mailbox_id)
        uidvalidity = mailbox.uidvalidity or 1
        run = _Run(services.mailbox_run_begin(mailbox=mailbox, uidvalidity=uidvalidity))
        first = run.mailbox.last_uid + 1
        for uid, raw in enumerate(raws, start=first):
            run.message(uidvalidity, uid, raw, len(raw))
        services.mailbox_run_succeeded(mailbox=run.mailbox, counts=run.counts)
        return RunResult(mailbox_id, "done", run.counts.messages, run.counts.files, run.counts.issues)


class _Run:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.counts = services.RunCounts()
        self._collection: Collection | None = None

    def collection(self) -> Collection:
        if self._collection is None:
            self._collection = services.mailbox_run_collection(mailbox=self.mailbox)
        return self._collection

    def message(self, uidvalidity: int, uid: int, raw: bytes | None, size: int) -> None:
        parsed = messages.parse(raw) if raw is not None else messages.ParsedMessage(
            fingerprint=hashlib.sha256(f"{uidvalidity}:{uid}".encode()).hexdigest())
        row = services.mail_message_claim(
            mailbox=self.mailbox, uidvalidity=uidvalidity, uid=uid, fingerprint=parsed.fingerprint,
            message_id=parsed.message_id, subject=parsed.subject, sender=parsed.sender, sent_at=parsed.sent_at,
            body_text=parsed.text, attachments=[{"name": a.name, "size": len(a.data)} for a in parsed.attachments],
            links=[{"url": link.url, "text": link.text} for link in parsed.links])
        if row is None:
            return
        if services.mail_message_seen_before(message=row) is not None:
            services.mail_message_done(message=row, collection=None, files=0, issues=[], seen_before=True)
            return
        if raw is None:
            issues = [services.IssueSpec("message", Remedy.BY_HAND, "message_too_large", gettext(
                "邮件 %(size)s 字节，超过 %(limit)d MB，未下载；请在邮箱中打开后手工上传附件") % {
                "size": f"{size:,}", "limit": MAX_MESSAGE_BYTES // (1024 * 1024)})]
            self._done(row, None, 0, issues)
            return
        if row.attempts > services.MAX_ATTEMPTS:
            issues = [services.IssueSpec("message", Remedy.BY_HAND, "internal_error", gettext(
                "这封邮件已处理 %(n)d 次仍未完成（内部错误，已记录），请查看邮件后手工上传") % {"n": row.attempts - 1})]
            self._done(row, None, 0, issues)
            return
        taken = _Taken()
        for attachment in parsed.attachments:
            self._attachment(attachment, taken)
        for link in links.candidates(parsed.links):
            followed = links.follow(link)
            for got in followed.files:
                self._attachment(messages.Attachment(got.name, got.data), taken)  # a ZIP behind a link: expanded
            for problem in followed.problems:
                taken.issues.append(services.IssueSpec(_key(link.url, problem.rule), problem.remedy, problem.rule,
                                                       problem.message, link.url))
        if not taken.accepted and not taken.issues:
            if taken.items:
                reason = gettext("邮件中的文件都未能收取（原因见采集批次），请联系开票方重新发送")
                rule = "no_invoice_file"
            elif parsed.links:
                reason = gettext("邮件里没有发票附件，链接也不像发票下载地址；请查看邮件后手工处理")
                rule = "no_invoice_link"
            else:
                reason = gettext("邮件里没有发票附件，也没有链接")
                rule = "no_invoice"
            taken.issues.append(services.IssueSpec("message", Remedy.ASK_SENDER, rule, reason))
        self._done(row, self._collection if taken.items else None, taken.accepted, taken.issues)

    def _done(self, row: MailMessage, collection: Collection | None, files: int,
              issues: list[services.IssueSpec]) -> None:
        services.mail_message_done(message=row, collection=collection, files=files, issues=issues)
        self.counts.messages += 1
        self.counts.files += files
        self.counts.issues += len(issues)

    def _attachment(self, attachment: messages.Attachment, taken: _Taken) -> None:
        if attachment.data.startswith(b"PK\x03\x04") and not attachment.name.lower().endswith(".ofd"):
            for entry in _zip_entries(attachment):
                if entry.refused:
                    taken.add(pool.collection_item_reject(collection=self.collection(), name=entry.name,
                                                          rule=entry.rule, reason=entry.reason,
                                                          actor=services.MAILBOX))
                else:
                    assert entry.data is not None
                    self._file(entry.name, entry.data, taken)
            return
        self._file(attachment.name, attachment.data, taken)

    def _file(self, name: str, data: bytes, taken: _Taken) -> None:
        taken.add(pool.collection_add_file(collection=self.collection(), name=name, data=data,
                                           actor=services.MAILBOX))


@dataclass
class _Taken:
    items: list[CollectionItem] = field(default_factory=list)
    issues: list[services.IssueSpec] = field(default_factory=list)

    def add(self, item: CollectionItem) -> None:
        self.items.append(item)

    @property
    def accepted(self) -> int:
        return sum(1 for item in self.items if item.outcome != Outcome.REJECTED)


def _key(url: str, rule: str) -> str:
    return hashlib.sha256(f"{url}\n{rule}".encode()).hexdigest()[:64]


def _zip_entries(attachment: messages.Attachment) -> list[bundles.Entry]:
    """A ZIP attachment expanded by the upload's rules (limits, unsafe names, ZIP inside ZIP, OFDs kept whole)."""
    with tempfile.TemporaryDirectory(prefix="mail-zip-") as tmp:
        path = Path(tmp) / "attachment.zip"
        path.write_bytes(attachment.data)
        return list(bundles.entries([path], limits=bundles.Limits.from_settings(), names=[attachment.name]))


@dataclass
class LinkOutcome:
    files: list[links.Downloaded]
    problem: links.LinkProblemError | None


def follow_link(*, url: str) -> LinkOutcome:
    """Follow one link again (the pending queue's 'retry link')."""
    followed = links.follow(messages.Link(url))
    return LinkOutcome(followed.files, followed.problems[0] if followed.problems else None)
