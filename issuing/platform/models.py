"""Issued invoices (蓝字 / 红字) with their lines, and the daily rollup written with them.

``InvoiceDailyRate`` is the rollup behind the 发票汇总表: per entity, issue date, tax rate and colour (blue / red),
how many invoices carry that rate and the sums of their lines' amount and tax. Voided invoices (作废) are not in it.
It is maintained in the same transaction as the invoice rows (``issuing/platform/rollup.py``): every place an
invoice is recorded or voided calls ``rollup_invoice``. ``manage.py rebuild_invoice_rollup`` recomputes it from the
lines, for upgrades and after bulk loads that bypass the services. The reports read it.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from invoicing.models import MoneyField, Taxpayer
from issuing.applications.models import InvoiceApplication
from issuing.base import (
    ZERO,
    BuyerFieldsMixin,
    InvoiceKind,
    LineFieldsMixin,
    SpecificBusiness,
    total_is_amount_plus_tax,
)


class InvoiceStatus(models.TextChoices):
    NORMAL = "normal", _("正常")
    RED_FULL = "red_full", _("已全额红冲")
    RED_PARTIAL = "red_partial", _("部分红冲")
    VOIDED = "voided", _("已作废")


S = InvoiceStatus


class Invoice(ConcurrentTransitionMixin, BuyerFieldsMixin, models.Model):
    """An invoice issued by one of our entities, blue or red. Never deleted.

    Its status moves only through the transitions below (in memory; the red-letter services lock the row, call
    them, save and record the Event): a blue invoice is red-flushed in part or in full, and a 数电纸票 may be voided
    in the month it was issued.
    """

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="issued_invoices", verbose_name=_("主体"))
    application = models.ForeignKey(
        InvoiceApplication, models.PROTECT, null=True, blank=True, related_name="invoices", verbose_name=_("开票申请")
    )
    number = models.CharField(_("发票号码"), max_length=20, unique=True)
    paper_code = models.CharField(_("纸质发票代码"), max_length=12, blank=True)
    paper_number = models.CharField(_("纸质发票号码"), max_length=20, blank=True)
    kind = models.CharField(_("发票种类"), max_length=2, choices=InvoiceKind.choices)
    is_red = models.BooleanField(_("红字发票"), default=False)
    blue_invoice = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="red_invoices", verbose_name=_("对应蓝字发票")
    )
    issue_date = models.DateField(_("开票日期"))
    issued_at = models.DateTimeField(_("开票时间"))
    seller_name = models.CharField(_("销售方名称"), max_length=150)
    seller_tax_id = models.CharField(_("销售方纳税人识别号"), max_length=20)
    seller_address = models.CharField(_("销售方地址"), max_length=250, blank=True)
    seller_phone = models.CharField(_("销售方电话"), max_length=60, blank=True)
    seller_bank_name = models.CharField(_("销售方开户行"), max_length=120, blank=True)
    seller_bank_account = models.CharField(_("销售方银行账号"), max_length=100, blank=True)
    amount = MoneyField(_("合计金额"))
    tax = MoneyField(_("合计税额"))
    total = MoneyField(_("价税合计"))
    remark = models.TextField(_("备注"), blank=True)
    drawer = models.CharField(_("开票人"), max_length=50, blank=True)
    specific_business = models.CharField(
        _("特定业务"), max_length=2, choices=SpecificBusiness.choices, blank=True, default=""
    )
    specific_business_data = models.JSONField(_("特定业务要素"), default=dict, blank=True)
    status = FSMField(_("状态"), max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.NORMAL,
                      protected=True)
    red_amount_total = MoneyField(
        _("累计红冲价税合计"), default=ZERO, help_text=_("蓝票：已红冲的价税合计（正数）累计")
    )
    quota_month = models.CharField(_("占用额度月份"), max_length=7, blank=True, help_text=_("年-月，如 2026-05"))
    channel_serial = models.CharField(_("通道流水号"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("入库时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("发票")
        verbose_name_plural = pgettext_lazy("plural", "发票")
        ordering = ["-issued_at", "-id"]
        permissions = [
            ("download_invoice_file", "可下载发票文件"),
            ("request_red_flush", "可申请红冲"),
        ]
        constraints = [
            models.CheckConstraint(condition=total_is_amount_plus_tax(), name="invoice_total_is_amount_plus_tax"),
            models.CheckConstraint(
                condition=Q(is_red=False) | Q(blue_invoice__isnull=False), name="invoice_red_has_blue"
            ),
            models.CheckConstraint(condition=Q(red_amount_total__gte=0), name="invoice_red_total_not_negative"),
        ]
        indexes = [
            models.Index(fields=["taxpayer", "issue_date"], name="invoice_entity_date"),
            # the invoice changelist's order (newest first): served by the index, no sort over the whole table
            models.Index(fields=["-issued_at", "-id"], name="invoice_newest_first"),
            models.Index(fields=["buyer_tax_id"], name="invoice_buyer_tax_id"),
        ]

    def __str__(self) -> str:
        return self.number

    # --- transitions (in memory only) -------------------------------------------------------------------------

    @transition(field=status, source=[S.NORMAL, S.RED_PARTIAL], target=RETURN_VALUE(S.RED_FULL, S.RED_PARTIAL))
    def red_flush(self, *, red_total: Decimal) -> str:
        """A red invoice of ``red_total`` (价税合计, positive) recorded against this blue one: 部分红冲 until the red
        invoices cover its whole total, then 已全额红冲."""
        self.red_amount_total += red_total
        return S.RED_FULL if self.red_amount_total >= self.total else S.RED_PARTIAL

    @transition(field=status, source=S.NORMAL, target=S.VOIDED)
    def void(self) -> None:
        """作废: only a 数电纸票 with nothing red-flushed (the service checks the kind, the month and the forms)."""


class InvoiceLine(LineFieldsMixin):
    invoice = models.ForeignKey(Invoice, models.CASCADE, related_name="lines", verbose_name=_("发票"))
    blue_line = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="red_lines", verbose_name=_("对应蓝票明细")
    )

    class Meta:
        verbose_name = _("发票明细")
        verbose_name_plural = pgettext_lazy("plural", "发票明细")
        ordering = ["invoice_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["invoice", "line_no"], name="invoiceline_no_unique")]

    def __str__(self) -> str:
        return f"{self.line_no}. {self.item_name}"


class InvoiceDailyRate(models.Model):
    # no index of its own: the unique constraint below starts with it
    taxpayer = models.ForeignKey(
        Taxpayer, models.PROTECT, related_name="+", db_index=False, verbose_name=_("主体")
    )
    issue_date = models.DateField(_("开票日期"))
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4)
    is_red = models.BooleanField(_("红字发票"))
    invoice_count = models.IntegerField(_("张数"), default=0, help_text=_("带有该税率明细的发票张数"))
    amount = MoneyField(_("金额（不含税）"), default=ZERO)
    tax = MoneyField(_("税额"), default=ZERO)

    class Meta:
        verbose_name = _("发票日汇总")
        verbose_name_plural = pgettext_lazy("plural", "发票日汇总")
        ordering = ["taxpayer_id", "issue_date", "-tax_rate", "is_red"]
        constraints = [
            # the upsert's conflict target, and the index the report reads by entity and date
            models.UniqueConstraint(
                fields=["taxpayer", "issue_date", "tax_rate", "is_red"], name="invoicedailyrate_unique"
            ),
        ]

    def __str__(self) -> str:
        colour = "红" if self.is_red else "蓝"
        return f"{self.taxpayer_id} {self.issue_date} {self.tax_rate} {colour}: {self.invoice_count}"


class InvoiceBuyerMonth(models.Model):
    """Per entity, month of issue, buyer and colour: how many invoices, their amount and tax (the dashboard's top
    buyers). Kept with ``InvoiceDailyRate`` by ``issuing/platform/rollup.py``, in the same statements' transaction."""

    # no index of its own: the unique constraint below starts with it
    taxpayer = models.ForeignKey(
        Taxpayer, models.PROTECT, related_name="+", db_index=False, verbose_name=_("主体")
    )
    month = models.DateField(_("月份"), help_text=_("开票日期所在月的第一天"))
    buyer_tax_id = models.CharField(_("购买方纳税人识别号"), max_length=20, blank=True)
    buyer_name = models.CharField(_("购买方名称"), max_length=150)
    is_red = models.BooleanField(_("红字发票"))
    invoice_count = models.IntegerField(_("张数"), default=0)
    amount = MoneyField(_("金额（不含税）"), default=ZERO)
    tax = MoneyField(_("税额"), default=ZERO)

    class Meta:
        verbose_name = _("购买方月汇总")
        verbose_name_plural = pgettext_lazy("plural", "购买方月汇总")
        ordering = ["taxpayer_id", "month", "buyer_tax_id", "buyer_name", "is_red"]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "month", "buyer_tax_id", "buyer_name", "is_red"],
                                    name="invoicebuyermonth_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.taxpayer_id} {self.month:%Y-%m} {self.buyer_name}: {self.invoice_count}"
