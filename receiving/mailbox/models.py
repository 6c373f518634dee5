"""Mailboxes (per entity), the messages read from them (exactly once each) and the pending queue.

- ``Mailbox``: where to read (IMAP host, port, security, user, folder), the password encrypted at rest, and how
  the reading goes (the folder's UIDVALIDITY and the last UID taken, last and next run, counts, the last error).
- ``MailMessage``: one message of one mailbox, keyed by (mailbox, UIDVALIDITY, UID) with a unique constraint. It is
  *claimed* before its files are collected and *done* after, in the transaction that moves the mailbox's last UID:
  a worker killed in between leaves it claimed and the next run takes it again (the pool keeps each file once by
  its SHA-256, so taking it again adds nothing twice).
- ``MailIssue``: what could not be taken from a message (an expired link, a page the system does not read, no
  invoice at all), grouped by what a person should do about it, until someone retries, uploads by hand or ignores.

Every row is written by ``receiving/mailbox/services.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import FSMField, transition

from invoicing.fields import EncryptedTextField
from invoicing.models import Taxpayer


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS（993）")
    STARTTLS = "starttls", _("STARTTLS（143）")
    PLAIN = "plain", _("不加密（仅限内网测试）")


class Mailbox(models.Model):
    """One IMAP folder an entity's invoices are sent to."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    name = models.CharField(_("名称"), max_length=100)
    host = models.CharField(_("IMAP 服务器"), max_length=255)
    port = models.PositiveIntegerField(_("端口"), default=993)
    security = models.CharField(_("加密方式"), max_length=10, choices=Security.choices, default=Security.SSL)
    username = models.CharField(_("用户名"), max_length=255)
    password = EncryptedTextField(_("密码"), help_text=_("加密保存；保存后不再显示，留空则不修改"))
    folder = models.CharField(_("文件夹"), max_length=255, default="INBOX")
    enabled = models.BooleanField(_("启用"), default=True)
    interval_minutes = models.PositiveIntegerField(_("收取间隔（分钟）"), default=10)
    # where the reading is
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.BigIntegerField(_("已读到的 UID"), default=0)
    last_run_at = models.DateTimeField(_("上次收取"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("上次成功"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("下次收取"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("连续失败次数"), default=0)
    last_error = models.TextField(_("最近错误"), blank=True)
    message_count = models.PositiveIntegerField(_("已收邮件"), default=0)
    file_count = models.PositiveIntegerField(_("已收文件"), default=0)
    pending_count = models.PositiveIntegerField(_("待处理"), default=0)
    current_collection = models.ForeignKey(
        "receiving.Collection", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("当前批次"),
        help_text=_("正在收取的批次；收取中断时由下一次收取关闭"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("收票邮箱")
        verbose_name_plural = pgettext_lazy("plural", "收票邮箱")
        ordering = ["taxpayer_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "host", "username", "folder"], name="mailbox_once_per_entity"),
        ]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="mailbox_due")]

    def __str__(self) -> str:
        return self.name or f"{self.username}@{self.host}"


class MessageState(models.TextChoices):
    CLAIMED = "claimed", _("处理中")
    DONE = "done", _("已处理")


class MailMessage(models.Model):
    """One message of a mailbox, processed exactly once."""

    mailbox = models.ForeignKey(Mailbox, models.CASCADE, related_name="messages", verbose_name=_("收票邮箱"))
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"))
    uid = models.BigIntegerField(_("UID"))
    state = FSMField(_("状态"), max_length=10, choices=MessageState.choices, default=MessageState.CLAIMED,
                     protected=True)
    message_id = models.CharField(_("Message-ID"), max_length=300, blank=True)
    fingerprint = models.CharField(_("内容指纹"), max_length=64, help_text=_("整封邮件的 SHA-256"))
    subject = models.CharField(_("主题"), max_length=300, blank=True)
    sender = models.CharField(_("发件人"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    body_text = models.TextField(_("正文"), blank=True)
    attachments = models.JSONField(_("附件"), default=list, blank=True)
    links = models.JSONField(_("链接"), default=list, blank=True)
    file_count = models.PositiveIntegerField(_("取得文件"), default=0)
    issue_count = models.PositiveIntegerField(_("待处理"), default=0)
    seen_before = models.BooleanField(_("此前已收过"), default=False,
                                      help_text=_("服务器重建了文件夹（UIDVALIDITY 变化）后再次读到的同一封邮件"))
    collection = models.ForeignKey("receiving.Collection", models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("采集批次"))
    attempts = models.PositiveIntegerField(_("处理次数"), default=1)
    claimed_at = models.DateTimeField(_("开始处理"), auto_now_add=True)
    done_at = models.DateTimeField(_("处理完成"), null=True, blank=True)

    class Meta:
        verbose_name = _("收票邮件")
        verbose_name_plural = pgettext_lazy("plural", "收票邮件")
        ordering = ["mailbox_id", "-uidvalidity", "-uid"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "uidvalidity", "uid"], name="mailmessage_once"),
        ]
        indexes = [
            models.Index(fields=["mailbox", "state"], name="mailmessage_state"),
            models.Index(fields=["mailbox", "fingerprint"], name="mailmessage_fingerprint"),
            models.Index(fields=["mailbox", "message_id"], name="mailmessage_message_id"),
        ]

    def __str__(self) -> str:
        return self.subject or f"UID {self.uid}"

    @transition(field=state, source=MessageState.CLAIMED, target=MessageState.DONE)
    def message_done(self, *, at) -> None:
        self.done_at = at


class Remedy(models.TextChoices):
    """What a person should do about what a message did not give (the pending queue's groups)."""

    RETRY = "retry", _("稍后重试链接")
    BY_HAND = "by_hand", _("手工下载后上传")
    ASK_SENDER = "ask_sender", _("联系开票方重新发送")


class IssueState(models.TextChoices):
    OPEN = "open", _("待处理")
    RESOLVED = "resolved", _("已解决")
    IGNORED = "ignored", _("已忽略")


class MailIssue(models.Model):
    """One thing a message could not give: a link, a page, or the message as a whole (no invoice in it)."""

    message = models.ForeignKey(MailMessage, models.CASCADE, related_name="issues", verbose_name=_("邮件"))
    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    key = models.CharField(_("标识"), max_length=64, help_text=_("同一封邮件里同一问题只记一次"))
    remedy = models.CharField(_("处理方式"), max_length=12, choices=Remedy.choices)
    rule = models.CharField(_("规则"), max_length=40)
    reason = models.TextField(_("原因"))
    url = models.URLField(_("链接"), max_length=2000, blank=True)
    state = FSMField(_("状态"), max_length=10, choices=IssueState.choices, default=IssueState.OPEN, protected=True)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=1)
    note = models.CharField(_("处理说明"), max_length=300, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("处理人"))
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    collection = models.ForeignKey("receiving.Collection", models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("采集批次"), help_text=_("重试或手工上传所得文件所在的批次"))
    created_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("邮件待处理")
        verbose_name_plural = pgettext_lazy("plural", "邮件待处理")
        ordering = ["remedy", "-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["message", "key"], name="mailissue_once_per_message")]
        indexes = [models.Index(fields=["taxpayer", "state", "remedy"], name="mailissue_queue")]

    def __str__(self) -> str:
        return f"{self.get_remedy_display()}: {self.rule}"

    @transition(field=state, source=IssueState.OPEN, target=IssueState.RESOLVED)
    def issue_resolve(self, *, at) -> None:
        self.resolved_at = at

    @transition(field=state, source=IssueState.OPEN, target=IssueState.IGNORED)
    def issue_ignore(self, *, at, note: str) -> None:
        self.resolved_at = at
        self.note = note
