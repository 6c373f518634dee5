"""API clients (one per upstream system) and the idempotency records of their create calls."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.actors import SystemActor
from invoicing.fields import EncryptedTextField
from invoicing.models import Taxpayer

TOKEN_PREFIX = "fpd_"
_RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


def validate_throttle_rate(value: str) -> None:
    if not _RATE.match(value or ""):
        raise ValidationError(_("格式应为 次数/周期，如 600/min、20/s、10000/day"))


def token_digest(token: str) -> str:
    """What we keep of a bearer token: its SHA-256. The token itself is shown once, at creation."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiClient(models.Model):
    """An upstream business system (the shop, the billing system, the ERP, the customer app)."""

    name = models.CharField(_("名称"), max_length=100, unique=True, help_text=_("如 shop、erp、app"))
    taxpayers = models.ManyToManyField(
        Taxpayer, related_name="api_clients", verbose_name=_("可操作主体"), help_text=_("客户端只能看到和操作这些主体的数据")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    token_hash = models.CharField(_("令牌摘要（SHA-256）"), max_length=64, unique=True, editable=False)
    token_hint = models.CharField(_("令牌前缀"), max_length=12, blank=True, editable=False)
    hmac_key_id = models.CharField(_("HMAC 密钥 ID"), max_length=40, unique=True, editable=False)
    # The HMAC secret must be readable to verify signatures: stored encrypted; the admin never shows it.
    hmac_secret = EncryptedTextField(_("HMAC 密钥"), editable=False)
    can_download_files = models.BooleanField(
        _("可下载发票文件"), default=False, help_text=_("与后台的“可下载发票文件”权限相同：未勾选时不能获取文件链接")
    )
    throttle_rate = models.CharField(
        _("限流"),
        max_length=20,
        default="600/min",
        validators=[validate_throttle_rate],
        help_text=_("每个客户端的请求上限，如 600/min、20/s、10000/day")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("接口客户端")
        verbose_name_plural = pgettext_lazy("plural", "接口客户端")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_label(self) -> str:
        """How events name this client (there is no user behind an API call)."""
        return f"api:{self.name}"

    @property
    def actor(self) -> SystemActor:
        """The client as the ``actor`` of a service call: trusted like the system, named by ``actor_label``."""
        return SystemActor(self.actor_label)

    def check_token(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, token_digest(token))

    def taxpayer_ids(self) -> set[int]:
        cached = getattr(self, "_taxpayer_ids", None)
        if cached is None:
            cached = set(self.taxpayers.values_list("id", flat=True))
            self._taxpayer_ids = cached
        return cached


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("处理中")
    COMPLETED = "completed", _("已完成")


class IdempotencyRecord(models.Model):
    """The first response to a create call made with an Idempotency-Key; a replay returns it unchanged.

    Calls that reach the tax platform claim the key first (``in_progress``, committed before the call) and store the
    response afterwards (``completed``); see ``api.idempotency.idempotent_call``."""

    client = models.ForeignKey(ApiClient, models.CASCADE, related_name="idempotency_records", verbose_name=_("客户端"))
    key = models.CharField(_("幂等键"), max_length=255)
    method = models.CharField(_("方法"), max_length=10)
    path = models.CharField(_("路径"), max_length=300)
    request_hash = models.CharField(_("请求摘要"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("应答状态"), null=True, blank=True)
    response_body = models.JSONField(_("应答内容"), null=True, blank=True)
    state = models.CharField(_("状态"), max_length=12, choices=IdempotencyState.choices,
                             default=IdempotencyState.COMPLETED)
    claimed_at = models.DateTimeField(_("认领时间"), null=True, blank=True,
                                      help_text=_("处理中的请求最近一次开始运行的时间；超过时限视为中断，可重新运行"))
    attempts = models.PositiveSmallIntegerField(_("运行次数"), default=1)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("幂等记录")
        verbose_name_plural = pgettext_lazy("plural", "幂等记录")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"


class WebhookSubscription(models.Model):
    """Which API client registered a webhook endpoint, so that each client sees and removes only its own."""

    client = models.ForeignKey(ApiClient, models.CASCADE, related_name="webhook_subscriptions", verbose_name=_("客户端"))
    endpoint = models.OneToOneField(
        "delivery.WebhookEndpoint", models.CASCADE, related_name="api_subscription", verbose_name=_("推送地址")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("推送订阅（接口）")
        verbose_name_plural = pgettext_lazy("plural", "推送订阅（接口）")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client} → {self.endpoint}"


class HmacNonce(models.Model):
    """A nonce (X-Nonce) an HMAC-signed request used: the same nonce again within the clock window is a replay."""

    client = models.ForeignKey(ApiClient, models.CASCADE, related_name="hmac_nonces", verbose_name=_("客户端"))
    nonce = models.CharField(_("随机串"), max_length=64)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("HMAC 随机串")
        verbose_name_plural = pgettext_lazy("plural", "HMAC 随机串")
        constraints = [models.UniqueConstraint(fields=["client", "nonce"], name="hmac_nonce_client_unique")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.nonce}"


class ClientDelivery(models.Model):
    """An invoice delivery a client asked for (POST /invoices/{id}/deliveries): what the per-day limits count."""

    client = models.ForeignKey(ApiClient, models.CASCADE, related_name="deliveries", verbose_name=_("客户端"))
    delivery = models.OneToOneField(
        "delivery.Delivery", models.CASCADE, related_name="api_request", verbose_name=_("交付记录")
    )
    invoice = models.ForeignKey("issuing.Invoice", models.CASCADE, related_name="+", verbose_name=_("发票"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("接口交付请求")
        verbose_name_plural = pgettext_lazy("plural", "接口交付请求")
        indexes = [models.Index(fields=["invoice", "created_at"], name="api_delivery_invoice_created")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.delivery_id}"
