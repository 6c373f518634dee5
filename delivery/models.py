"""发票文件与交付 (issue #6): rendered invoice files as jobs, per-channel deliveries, webhooks and customer links.

Every row that moves between states is moved by ``delivery/services.py`` (or ``delivery/rendering.py``) with a
conditional UPDATE, so a duplicated or retried Celery task does nothing. Models hold fields, constraints and small
derived properties only.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from delivery.webhooks import webhook_url_problem
from invoicing.fields import EncryptedTextField
from invoicing.models import Taxpayer
from issuing.platform.models import Invoice

# --- rendered files ----------------------------------------------------------------------------------------------


class FileFormat(models.TextChoices):
    PDF = "pdf", _("PDF")
    OFD = "ofd", _("OFD")
    XML = "xml", _("XML")
    PDF_A4 = "pdf_a4", _("打印版 PDF（A4）")
    PDF_A5 = "pdf_a5", _("打印版 PDF（A5）")


# Rendered for every issued invoice; the print variants only when someone asks for them.
DELIVERED_FORMATS: tuple[str, ...] = (FileFormat.PDF, FileFormat.OFD, FileFormat.XML)
PRINT_FORMATS: tuple[str, ...] = (FileFormat.PDF_A4, FileFormat.PDF_A5)
FILE_EXTENSIONS = {"pdf": "pdf", "ofd": "ofd", "xml": "xml", "pdf_a4": "A4.pdf", "pdf_a5": "A5.pdf"}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "ofd": "application/ofd",
    "xml": "application/xml",
    "pdf_a4": "application/pdf",
    "pdf_a5": "application/pdf",
}


class RenderStatus(models.TextChoices):
    PENDING = "pending", _("待生成")
    RENDERING = "rendering", _("生成中")
    DONE = "done", _("已生成")
    FAILED = "failed", _("生成失败")


class InvoiceFileQuerySet(models.QuerySet):
    def ready(self) -> InvoiceFileQuerySet:
        return self.filter(status=RenderStatus.DONE)


class InvoiceFile(models.Model):
    """One file of one invoice in one format: a rendering job with a status, and the stored file once done.

    A failed render never blocks issuing: the invoice exists, the row says why its file does not (yet).
    """

    invoice = models.ForeignKey(Invoice, models.PROTECT, related_name="files", verbose_name=_("发票"))
    format = models.CharField(_("格式"), max_length=10, choices=FileFormat.choices)
    status = models.CharField(_("状态"), max_length=10, choices=RenderStatus.choices, default=RenderStatus.PENDING)
    message = models.TextField(_("说明"), blank=True, help_text=_("失败原因"))
    attempts = models.PositiveIntegerField(_("生成次数"), default=0)
    file = models.FileField(_("文件"), max_length=255, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("大小（字节）"), null=True, blank=True)
    rendered_at = models.DateTimeField(_("生成时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    objects = InvoiceFileQuerySet.as_manager()

    class Meta:
        verbose_name = _("发票文件")
        verbose_name_plural = pgettext_lazy("plural", "发票文件")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "format"], name="invoicefile_one_per_format")]
        indexes = [
            models.Index(
                fields=["status", "updated_at"],
                name="invoicefile_unfinished",
                condition=Q(status__in=["pending", "rendering", "failed"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}.{self.format}"

    @property
    def download_name(self) -> str:
        return f"{self.invoice.number}.{FILE_EXTENSIONS[self.format]}"


# Brief names from the issue; one row is both the job and the file (a Saleor-style Job with its file).
RenderJob = InvoiceFile


# --- deliveries --------------------------------------------------------------------------------------------------


class Channel(models.TextChoices):
    EMAIL = "email", _("电子邮件")
    SMS = "sms", _("短信")
    WEBHOOK = "webhook", _("接口推送")
    QR = "qr", _("二维码/短链接")
    PRINT = "print", _("打印")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    BOUNCED = "bounced", _("被退回")


class Delivery(models.Model):
    """One attempt to get one invoice to someone over one channel. A resend is a new row pointing at the old one."""

    invoice = models.ForeignKey(Invoice, models.PROTECT, related_name="deliveries", verbose_name=_("发票"))
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    target = models.CharField(_("发送目标"), max_length=300, help_text=_("邮箱、手机号、接口地址或纸张"))
    status = models.CharField(_("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    last_error = models.TextField(_("最近错误"), blank=True)
    provider_message_id = models.CharField(_("服务商消息ID"), max_length=120, blank=True)
    link = models.ForeignKey(
        "InvoiceLink", models.PROTECT, null=True, blank=True, related_name="deliveries", verbose_name=_("客户链接"),
        help_text=_("短信、二维码和接口推送带给客户的链接；重试时沿用同一个"),
    )
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("发起人")
    )
    resend_of = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="resends", verbose_name=_("重发自")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("交付记录")
        verbose_name_plural = pgettext_lazy("plural", "交付记录")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_delivery", "可重发交付")]
        indexes = [
            models.Index(fields=["invoice", "created_at"], name="delivery_invoice"),
            models.Index(fields=["status", "created_at"], name="delivery_status_created"),
        ]

    def __str__(self) -> str:
        # No target: a QR delivery's target is the customer link, which customer service must not see.
        return f"{self.invoice} {self.get_channel_display()}"

    @property
    def taxpayer(self) -> Taxpayer:
        return self.invoice.taxpayer


FAILED_STATES = (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)


def failed_not_resent_q() -> Q:
    """Deliveries that failed or bounced and were not resent: what someone still has to act on."""
    return Q(status__in=FAILED_STATES) & ~Exists(Delivery.objects.filter(resend_of=OuterRef("pk")))


# --- webhooks ----------------------------------------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    APPLICATION_STATUS_CHANGED = "application.status_changed", _("申请状态变更")
    INVOICE_ISSUED = "invoice.issued", _("发票已开具")
    INVOICE_RED_FLUSHED = "invoice.red_flushed", _("发票已红冲")
    INVOICE_DELIVERED = "invoice.delivered", _("发票已交付")
    DELIVERY_FAILED = "delivery.failed", _("交付失败")


def _webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """An upstream system's URL that receives signed event POSTs for one entity (also used by API subscriptions).

    ``events`` lists event names (``WebhookEvent`` values); ``["*"]`` means every event.
    """

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="webhook_endpoints", verbose_name=_("主体"))
    name = models.CharField(_("名称"), max_length=100, blank=True, help_text=_("如 商城、ERP"))
    url = models.URLField(_("接收地址"), max_length=500)
    secret = EncryptedTextField(_("签名密钥"), default=_webhook_secret,
                                help_text=_("留空则自动生成；保存后不再显示，需要时重新设置"))
    events = models.JSONField(_("订阅事件"), default=list, blank=True, help_text=_('要推送的事件名称列表，如 ["invoice.issued"] 表示发票开具后推送；["*"] 表示全部事件'))
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("推送地址")
        verbose_name_plural = pgettext_lazy("plural", "推送地址")
        ordering = ["taxpayer_id", "id"]

    def __str__(self) -> str:
        return self.name or self.url

    def clean(self) -> None:
        problem = webhook_url_problem(self.url, resolve=False)
        if problem:
            raise ValidationError({"url": problem})
        known = set(WebhookEvent.values) | {"*"}
        if not isinstance(self.events, list) or not all(isinstance(e, str) for e in self.events):
            raise ValidationError({"events": _("订阅事件应为事件名称的列表")})
        unknown = [e for e in self.events if e not in known]
        if unknown:
            raise ValidationError({"events": _("未知事件：%(names)s") % {"names": ", ".join(unknown)}})

    def wants(self, event: str) -> bool:
        return self.is_active and ("*" in self.events or event in self.events)


class WebhookDelivery(models.Model):
    """One event POSTed (or to be POSTed) to one endpoint, with its retries."""

    endpoint = models.ForeignKey(WebhookEndpoint, models.PROTECT, related_name="deliveries", verbose_name=_("推送地址"))
    event = models.CharField(_("事件"), max_length=60)
    payload = models.JSONField(_("内容"), default=dict)
    status = models.CharField(_("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    response_status = models.PositiveIntegerField(_("响应状态码"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    sent_at = models.DateTimeField(_("送达时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("推送记录")
        verbose_name_plural = pgettext_lazy("plural", "推送记录")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="webhookdelivery_status")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


# --- customer links ----------------------------------------------------------------------------------------------


def _link_token() -> str:
    return secrets.token_urlsafe(24)


class InvoiceLink(models.Model):
    """A customer's link (short link or QR) to one invoice: its face summary and its PDF/OFD/XML, nothing else."""

    token = models.CharField(_("令牌"), max_length=64, unique=True, default=_link_token, editable=False)
    invoice = models.ForeignKey(Invoice, models.PROTECT, related_name="links", verbose_name=_("发票"))
    expires_at = models.DateTimeField(_("失效时间"))
    max_views = models.PositiveIntegerField(_("最多打开次数"), null=True, blank=True, help_text=_("为空表示不限"))
    views = models.PositiveIntegerField(_("已打开次数"), default=0)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("发票链接")
        verbose_name_plural = pgettext_lazy("plural", "发票链接")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.invoice} /i/{self.token[:6]}…"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None or self.expires_at <= now:
            return False
        return self.max_views is None or self.views < self.max_views


# --- batch printing ----------------------------------------------------------------------------------------------


class PrintJob(models.Model):
    """A large batch print rendered by a worker, with progress, instead of inside the request."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("发起人"))
    paper = models.CharField(_("纸张"), max_length=2, default="A4")
    invoice_ids = models.JSONField(_("发票"), default=list)
    status = models.CharField(_("状态"), max_length=10, choices=RenderStatus.choices, default=RenderStatus.PENDING)
    message = models.TextField(_("说明"), blank=True)
    total = models.PositiveIntegerField(_("发票数"), default=0)
    done_count = models.PositiveIntegerField(_("已完成"), default=0)
    file = models.FileField(_("文件"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("大小（字节）"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("批量打印任务")
        verbose_name_plural = pgettext_lazy("plural", "批量打印任务")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.paper} × {self.total}"

    @property
    def percent(self) -> int:
        return 100 if self.status == RenderStatus.DONE else int(100 * self.done_count / self.total) if self.total else 0
