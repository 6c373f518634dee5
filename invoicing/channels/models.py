"""What a provider's client keeps between calls: its access token and its handles on the invoices it has seen.

Both tables belong to the ``invoicing`` app (registered by the import at the end of ``invoicing/models.py``); only
the channel clients write them, through ``invoicing.channels.tokens`` and ``invoicing.channels.nuonuo``.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.fields import EncryptedTextField


class ChannelToken(models.Model):
    """One provider access token per entity and channel, encrypted at rest.

    ``fetches`` lists when tokens were fetched (ISO timestamps, the last 30 days), so the client stays under the
    provider's cap on fetches; ``last_error`` says why the last fetch failed.
    """

    taxpayer = models.ForeignKey(
        "invoicing.Taxpayer", models.CASCADE, related_name="+", verbose_name=_("主体")
    )
    channel = models.CharField(_("通道"), max_length=20)
    access_token = EncryptedTextField(_("访问令牌"), blank=True)
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    fetched_at = models.DateTimeField(_("获取时间"), null=True, blank=True)
    fetches = models.JSONField(_("近30天获取记录"), default=list, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("通道访问令牌")
        verbose_name_plural = pgettext_lazy("plural", "通道访问令牌")
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "channel"], name="channeltoken_one_per_entity_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.taxpayer_id}"


class ChannelInvoiceRef(models.Model):
    """A provider's handles on one invoice we issued through it, by the invoice's number (which the contract uses):
    our order number (the serial), the provider's own serial, the paper code and number of a 数电纸票, the buyer
    (a red-letter form names it), and the addresses of its files as last returned."""

    taxpayer = models.ForeignKey(
        "invoicing.Taxpayer", models.CASCADE, related_name="+", verbose_name=_("主体")
    )
    channel = models.CharField(_("通道"), max_length=20)
    number = models.CharField(_("发票号码"), max_length=20)
    order_no = models.CharField(_("开票流水号"), max_length=64)
    provider_serial = models.CharField(_("通道发票流水号"), max_length=64, blank=True)
    paper_code = models.CharField(_("纸质发票代码"), max_length=12, blank=True)
    paper_number = models.CharField(_("纸质发票号码"), max_length=8, blank=True)
    kind = models.CharField(_("票种"), max_length=2, blank=True)
    buyer_name = models.CharField(_("购买方名称"), max_length=150, blank=True)
    buyer_tax_id = models.CharField(_("购买方纳税人识别号"), max_length=20, blank=True)
    file_urls = models.JSONField(_("文件地址"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("通道发票索引")
        verbose_name_plural = pgettext_lazy("plural", "通道发票索引")
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "channel", "number"], name="channelinvoiceref_unique"),
        ]
        indexes = [models.Index(fields=["taxpayer", "channel", "order_no"], name="channelinvoiceref_order")]

    def __str__(self) -> str:
        return self.number
