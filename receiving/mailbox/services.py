"""Writes for mailboxes, their messages and the pending queue: one keyword-only service per action.

The admin calls ``mailbox_create`` / ``mailbox_update`` / ``mailbox_fetch_request`` and the pending queue's
remedies (``mail_issue_retry`` / ``_upload`` / ``_ignore``); the fetch (``receiving.mailbox.fetching``) calls the
run's services (``mailbox_run_*``, ``mail_message_claim`` / ``_done``) as the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, SystemActor, actor_user
from invoicing.events import event_record
from invoicing.models import Taxpayer
from receiving import services as pool
from receiving.mailbox.models import (
    IssueState,
    Mailbox,
    MailIssue,
    MailMessage,
    MessageState,
    Security,
)
from receiving.models import Collection, CollectionItem, CollectionStatus, Method

MAILBOX = SystemActor("mailbox")
P_MANAGE = "receiving.change_mailbox"
P_COLLECT = pool.P_COLLECT
MAX_BACKOFF = timedelta(hours=6)
MAX_ATTEMPTS = 3  # a message that failed this many runs is closed with an issue instead of blocking its mailbox
EDITABLE = ("name", "host", "port", "security", "username", "folder", "enabled", "interval_minutes")


# --- mailboxes -----------------------------------------------------------------------------------------------------


def mailbox_settings_check(values: dict[str, Any]) -> None:
    """Raise one ValidationError naming each setting that is wrong (the admin's form asks before saving)."""
    errors: dict[str, list[str]] = {}
    if not str(values.get("host") or "").strip():
        errors["host"] = [gettext("请填写 IMAP 服务器")]
    port = values.get("port")
    if not isinstance(port, int) or not 0 < port < 65536:
        errors["port"] = [gettext("端口须为 1–65535 的整数")]
    if values.get("security") not in Security.values:
        errors["security"] = [gettext("请选择加密方式")]
    if not str(values.get("username") or "").strip():
        errors["username"] = [gettext("请填写用户名")]
    if not str(values.get("folder") or "").strip():
        errors["folder"] = [gettext("请填写文件夹")]
    interval = values.get("interval_minutes")
    if not isinstance(interval, int) or not 1 <= interval <= 1440:
        errors["interval_minutes"] = [gettext("收取间隔须为 1–1440 分钟")]
    if errors:
        raise ValidationError(errors)


def mailbox_create(*, taxpayer: Taxpayer, name: str, host: str, username: str, password: str, actor: Actor,
                   port: int = 993, security: str = Security.SSL, folder: str = "INBOX", enabled: bool = True,
                   interval_minutes: int = 10) -> Mailbox:
    """Add a mailbox to an entity. The password is stored encrypted and never shown again."""
    pool.authorize(actor, taxpayer.pk, P_MANAGE)
    values = {"name": (name or "").strip()[:100], "host": (host or "").strip(), "port": port, "security": security,
              "username": (username or "").strip(), "folder": (folder or "").strip() or "INBOX",
              "enabled": enabled, "interval_minutes": interval_minutes}
    mailbox_settings_check(values)
    if not password:
        raise ValidationError({"password": [gettext("请填写密码")]})
    with transaction.atomic():
        if Mailbox.objects.filter(taxpayer=taxpayer, host=values["host"], username=values["username"],
                                  folder=values["folder"]).exists():
            raise ValidationError(gettext("该主体已添加过这个邮箱文件夹"))
        mailbox = Mailbox.objects.create(taxpayer=taxpayer, password=password, next_run_at=timezone.now(), **values)
        event_record(obj=mailbox, action="mailbox_create", actor=actor, taxpayer=taxpayer,
                     data={k: values[k] for k in ("host", "port", "security", "username", "folder", "enabled")})
    return mailbox


def mailbox_update(*, mailbox: Mailbox, actor: Actor, password: str = "", **changes: Any) -> Mailbox:
    """Change a mailbox's settings; a blank ``password`` keeps the stored one. Moving it to another server, user or
    folder starts the reading over (the UIDs of one folder mean nothing in another)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(gettext("不能修改这些字段：%(f)s") % {"f": "、".join(sorted(unknown))})
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
        pool.authorize(actor, locked.taxpayer_id, P_MANAGE)
        values = {f: getattr(locked, f) for f in EDITABLE}
        for f, v in changes.items():
            values[f] = v.strip() if isinstance(v, str) and f != "name" else v
        mailbox_settings_check(values)
        changed = sorted(f for f in EDITABLE if values[f] != getattr(locked, f))
        if not changed and not password:
            return locked
        moved = any(f in changed for f in ("host", "username", "folder"))
        for f in changed:
            setattr(locked, f, values[f])
        if password:
            locked.password = password
        if moved:
            locked.uidvalidity = None
            locked.last_uid = 0
        if "enabled" in changed or moved or "interval_minutes" in changed:
            locked.next_run_at = timezone.now()
            locked.failures = 0
        locked.save()
        event_record(obj=locked, action="mailbox_update", actor=actor, taxpayer=locked.taxpayer,
                     data={"changed": changed + (["password"] if password else []),
                           **{f: values[f] for f in changed if f != "name"}})
    return locked


def mailbox_fetch_request(*, mailbox: Mailbox, actor: Actor) -> Mailbox:
    """'Fetch now': the mailbox is due at once (and its back-off, if any, is lifted)."""
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
        pool.authorize(actor, locked.taxpayer_id, P_COLLECT)
        if not locked.enabled:
            raise ValidationError(gettext("邮箱已停用，请先启用"))
        locked.next_run_at = timezone.now()
        locked.save(update_fields=["next_run_at", "updated_at"])
        event_record(obj=locked, action="mailbox_fetch_request", actor=actor, taxpayer=locked.taxpayer)
    return locked


def mailboxes_claim_due(*, now: datetime | None = None, actor: Actor = MAILBOX) -> list[int]:
    """The enabled mailboxes due now, each moved one interval on so that the next tick does not send it again while
    it runs (the run itself sets the real next time)."""
    now = now or timezone.now()
    due: list[int] = []
    with transaction.atomic():
        for box in (Mailbox.objects.select_for_update(skip_locked=True)
                    .filter(Q(next_run_at__lte=now) | Q(next_run_at__isnull=True), enabled=True)
                    .only("id", "interval_minutes")):
            Mailbox.objects.filter(pk=box.pk).update(next_run_at=now + timedelta(minutes=box.interval_minutes))
            due.append(box.pk)
    return due


# --- a run ---------------------------------------------------------------------------------------------------------


def mailbox_run_begin(*, mailbox: Mailbox, uidvalidity: int, actor: Actor = MAILBOX) -> Mailbox:
    """A run has reached the folder: close the batch a killed run left open, and start over when the server says
    the folder's UIDs are no longer what they were (UIDVALIDITY changed)."""
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update(of=("self",)).select_related("current_collection").get(pk=mailbox.pk)
        stale = locked.current_collection
        if stale is not None and stale.status in (CollectionStatus.OPEN, CollectionStatus.RUNNING):
            pool.collection_fail(collection=stale, actor=actor,
                                 message=gettext("上次收取中断：已处理的邮件保留，未完成的邮件本次重新处理"))
        locked.current_collection = None
        locked.last_run_at = timezone.now()
        if locked.uidvalidity != uidvalidity:
            if locked.uidvalidity is not None:
                event_record(obj=locked, action="mailbox_uidvalidity_reset", actor=actor, taxpayer=locked.taxpayer,
                             data={"from": locked.uidvalidity, "to": uidvalidity, "last_uid": locked.last_uid})
            locked.uidvalidity = uidvalidity
            locked.last_uid = 0
        locked.save(update_fields=["current_collection", "last_run_at", "uidvalidity", "last_uid", "updated_at"])
    return locked


def mailbox_run_collection(*, mailbox: Mailbox, actor: Actor = MAILBOX) -> Collection:
    """The batch this run's files go into, opened on the first message that has any."""
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update(of=("self",)).select_related("current_collection", "taxpayer").get(
            pk=mailbox.pk)
        current = locked.current_collection
        if current is not None and current.status == CollectionStatus.OPEN:
            return current
        collection = pool.collection_start(taxpayer=locked.taxpayer, method=Method.MAILBOX, actor=actor,
                                           note=gettext("邮箱 %(box)s") % {"box": locked})
        locked.current_collection = collection
        locked.save(update_fields=["current_collection", "updated_at"])
    return collection


@dataclass
class RunCounts:
    messages: int = 0
    files: int = 0
    issues: int = 0


def mailbox_run_succeeded(*, mailbox: Mailbox, counts: RunCounts, actor: Actor = MAILBOX) -> Mailbox:
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update(of=("self",)).select_related("current_collection").get(pk=mailbox.pk)
        if locked.current_collection is not None and locked.current_collection.status == CollectionStatus.OPEN:
            pool.collection_finish(collection=locked.current_collection, actor=actor)
        recovered = locked.failures > 0
        now = timezone.now()
        locked.current_collection = None
        locked.failures = 0
        locked.last_error = ""
        locked.last_success_at = now
        locked.next_run_at = now + timedelta(minutes=locked.interval_minutes)
        locked.pending_count = MailIssue.objects.filter(message__mailbox=locked, state=IssueState.OPEN).count()
        locked.save(update_fields=["current_collection", "failures", "last_error", "last_success_at", "next_run_at",
                                   "pending_count", "updated_at"])
        if counts.messages or recovered:
            event_record(obj=locked, action="mailbox_fetch", actor=actor, taxpayer=locked.taxpayer,
                         data={"messages": counts.messages, "files": counts.files, "issues": counts.issues,
                               "recovered": recovered})
    return locked


def backoff(failures: int, interval_minutes: int) -> timedelta:
    """How long a failing mailbox waits: its interval doubled per failure in a row, at most six hours."""
    return min(timedelta(minutes=max(interval_minutes, 1)) * (2 ** min(failures, 12)), MAX_BACKOFF)


def mailbox_run_failed(*, mailbox: Mailbox, rule: str, message: str, actor: Actor = MAILBOX) -> Mailbox:
    """The server could not be reached, refused the login or the folder: the mailbox shows it and backs off."""
    with transaction.atomic():
        locked = Mailbox.objects.select_for_update(of=("self",)).select_related("current_collection").get(pk=mailbox.pk)
        if locked.current_collection is not None and locked.current_collection.status == CollectionStatus.OPEN:
            pool.collection_finish(collection=locked.current_collection, actor=actor)
        now = timezone.now()
        locked.current_collection = None
        locked.failures += 1
        locked.last_run_at = now
        locked.last_error = message[:2000]
        locked.next_run_at = now + backoff(locked.failures, locked.interval_minutes)
        locked.save(update_fields=["current_collection", "failures", "last_run_at", "last_error", "next_run_at",
                                   "updated_at"])
        event_record(obj=locked, action="mailbox_fetch_failed", actor=actor, taxpayer=locked.taxpayer,
                     reason=message[:500], data={"rule": rule, "failures": locked.failures,
                                                 "next_run_at": locked.next_run_at.isoformat()})
    return locked


# --- messages ------------------------------------------------------------------------------------------------------


def mail_message_claim(*, mailbox: Mailbox, uidvalidity: int, uid: int, fingerprint: str, message_id: str = "",
                       subject: str = "", sender: str = "", sent_at: datetime | None = None, body_text: str = "",
                       attachments: list[dict[str, Any]] | None = None, links: list[dict[str, Any]] | None = None,
                       actor: Actor = MAILBOX) -> MailMessage | None:
    """Claim a message before its files are taken. Returns None when it is already done (another run, or an earlier
    pass of this one); a message claimed by a run that died is returned again, its attempts counted."""
    fields = {"fingerprint": fingerprint, "message_id": message_id[:300], "subject": subject[:300],
              "sender": sender[:300], "sent_at": sent_at, "body_text": body_text,
              "attachments": attachments or [], "links": links or []}
    with transaction.atomic():
        try:
            with transaction.atomic():
                return MailMessage.objects.create(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, **fields)
        except IntegrityError:
            pass
        row = MailMessage.objects.select_for_update().get(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
        if row.state == MessageState.DONE:
            return None
        row.attempts += 1
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
        return row


def mail_message_seen_before(*, message: MailMessage) -> MailMessage | None:
    """The same message taken earlier under another UIDVALIDITY (same Message-ID, or the same bytes)."""
    same = Q(fingerprint=message.fingerprint)
    if message.message_id:
        same |= Q(message_id=message.message_id)
    return (MailMessage.objects.filter(same, mailbox_id=message.mailbox_id, state=MessageState.DONE)
            .exclude(uidvalidity=message.uidvalidity).order_by("id").first())


@dataclass(frozen=True)
class IssueSpec:
    key: str
    remedy: str
    rule: str
    reason: str
    url: str = ""


def mail_message_done(*, message: MailMessage, collection: Collection | None, files: int, issues: list[IssueSpec],
                      seen_before: bool = False, actor: Actor = MAILBOX) -> MailMessage:
    """Close a message: its issues join the pending queue, the mailbox's last UID and counts move, in one
    transaction. A message already done is left as it is (exactly once)."""
    with transaction.atomic():
        row = MailMessage.objects.select_for_update(of=("self",)).select_related("mailbox__taxpayer").get(pk=message.pk)
        if row.state == MessageState.DONE:
            return row
        mailbox = row.mailbox
        opened = 0
        for spec in issues:
            issue, created = MailIssue.objects.get_or_create(
                message=row, key=spec.key[:64],
                defaults={"taxpayer": mailbox.taxpayer, "remedy": spec.remedy, "rule": spec.rule[:40],
                          "reason": spec.reason, "url": spec.url[:2000]})
            if created:
                opened += 1
                event_record(obj=issue, action="mail_issue_open", actor=actor, to_state=issue.state,
                             reason=spec.reason[:500], taxpayer=mailbox.taxpayer,
                             data={"rule": spec.rule, "remedy": spec.remedy, "message": row.pk})
        row.message_done(at=timezone.now())
        row.collection = collection
        row.file_count = files
        row.issue_count = len(issues)
        row.seen_before = seen_before
        row.save(update_fields=["state", "done_at", "collection", "file_count", "issue_count", "seen_before"])
        Mailbox.objects.filter(pk=mailbox.pk).update(
            message_count=F("message_count") + (0 if seen_before else 1), file_count=F("file_count") + files,
            pending_count=F("pending_count") + opened,
            last_uid=Greatest(F("last_uid"), row.uid) if mailbox.uidvalidity == row.uidvalidity else F("last_uid"))
    return row


def claimed_uids(*, mailbox: Mailbox, uidvalidity: int) -> list[int]:
    """Messages a run claimed and did not finish (the worker died): the next run takes them again."""
    return list(MailMessage.objects.filter(mailbox=mailbox, uidvalidity=uidvalidity, state=MessageState.CLAIMED)
                .values_list("uid", flat=True))


# --- the pending queue ---------------------------------------------------------------------------------------------


def _open_issue(issue: MailIssue, actor: Actor) -> MailIssue:
    locked = MailIssue.objects.select_for_update(of=("self",)).select_related("message__mailbox", "taxpayer").get(pk=issue.pk)
    pool.authorize(actor, locked.taxpayer_id, P_COLLECT)
    if locked.state != IssueState.OPEN:
        raise ValidationError(gettext("这条待处理已处理过"))
    return locked


def _issue_collection(issue: MailIssue, actor: Actor) -> Collection:
    return pool.collection_start(taxpayer=issue.taxpayer, method=Method.MAILBOX, actor=actor,
                                 note=gettext("邮件“%(subject)s”的待处理") % {"subject": issue.message.subject[:200]})


def _close(locked: MailIssue, *, action: str, actor: Actor, note: str = "", data: dict[str, Any] | None = None,
           ignore: bool = False) -> MailIssue:
    before = locked.state
    if ignore:
        locked.issue_ignore(at=timezone.now(), note=note[:300])
    else:
        locked.issue_resolve(at=timezone.now())
        locked.note = note[:300]
    locked.resolved_by = actor_user(actor)
    locked.save()
    Mailbox.objects.filter(pk=locked.message.mailbox_id, pending_count__gt=0).update(
        pending_count=F("pending_count") - 1)
    event_record(obj=locked, action=action, actor=actor, from_state=before, to_state=locked.state,
                 reason=note[:500], data=data or {}, taxpayer=locked.taxpayer)
    return locked


def _accepted(items: list[CollectionItem]) -> int:
    return sum(1 for item in items if item.outcome != "rejected")


def mail_issue_retry(*, issue: MailIssue, actor: Actor) -> MailIssue:
    """Follow the issue's link again. Files found go into a batch and close the issue; a new problem is the issue's
    new reason (and maybe a new remedy)."""
    # cycle: fetching calls these services
    from receiving.mailbox import fetching  # noqa: PLC0415

    with transaction.atomic():
        locked = _open_issue(issue, actor)
        if not locked.url:
            raise ValidationError(gettext("这条待处理没有链接可重试"))
    outcome = fetching.follow_link(url=locked.url)
    with transaction.atomic():
        locked = _open_issue(issue, actor)
        locked.attempts += 1
        if outcome.problem is not None and not outcome.files:
            locked.rule = outcome.problem.rule[:40]
            locked.remedy = outcome.problem.remedy
            locked.reason = outcome.problem.message
            locked.save()
            event_record(obj=locked, action="mail_issue_retry", actor=actor, from_state=locked.state,
                         to_state=locked.state, reason=locked.reason[:500], taxpayer=locked.taxpayer,
                         data={"rule": locked.rule, "files": 0})
            return locked
        collection = _issue_collection(locked, actor)
        locked.collection = collection
        locked.save(update_fields=["collection", "attempts", "updated_at"])
    items = [pool.collection_add_file(collection=collection, name=f.name, data=f.data, actor=actor)
             for f in outcome.files]
    pool.collection_finish(collection=collection, actor=actor)
    with transaction.atomic():
        locked = _open_issue(issue, actor)
        return _close(locked, action="mail_issue_retry", actor=actor,
                      note=gettext("重试取得 %(n)d 个文件") % {"n": _accepted(items)},
                      data={"files": len(items), "collection": collection.pk})


def mail_issue_upload(*, issue: MailIssue, files: list[tuple[str, bytes]], actor: Actor) -> MailIssue:
    """A person downloaded the invoice by hand: the files go into a batch and the issue is resolved when at least
    one was taken (a refused file leaves it open, with the batch saying why)."""
    if not files:
        raise ValidationError({"files": gettext("请选择要上传的文件")})
    with transaction.atomic():
        locked = _open_issue(issue, actor)
        collection = _issue_collection(locked, actor)
        locked.collection = collection
        locked.save(update_fields=["collection", "updated_at"])
    items = [pool.collection_add_file(collection=collection, name=name, data=data, actor=actor)
             for name, data in files]
    pool.collection_finish(collection=collection, actor=actor)
    if not _accepted(items):
        raise ValidationError(gettext("上传的文件都未能收取：%(why)s") % {
            "why": "；".join(item.reason for item in items)[:500]})
    with transaction.atomic():
        locked = _open_issue(issue, actor)
        return _close(locked, action="mail_issue_upload", actor=actor,
                      note=gettext("手工上传 %(n)d 个文件") % {"n": _accepted(items)},
                      data={"files": len(items), "collection": collection.pk})


def mail_issue_ignore(*, issue: MailIssue, note: str, actor: Actor) -> MailIssue:
    """Nothing to collect here (an advertisement, a duplicate sent by other means): closed with the reason."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": gettext("请填写忽略原因")})
    with transaction.atomic():
        locked = _open_issue(issue, actor)
        return _close(locked, action="mail_issue_ignore", actor=actor, note=note, ignore=True)


