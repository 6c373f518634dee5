"""Billing documents (业务单据: orders, statements) with their lines, and each entity's issuing policy."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from invoicing.models import Counterparty, Item, MoneyField, TaxCategory, Taxpayer
from invoicing.validators import SafeTextModelMixin
from issuing.base import ZERO, BuyerFieldsMixin, QtyPriceField, RateField, Source


class InvoicingBasis(models.TextChoices):
    """What a billing document may be invoiced for (product.md: 先款后票 / 先票后款)."""

    PAID = "paid", _("先款后票（按实收）")
    ORDER = "order", _("先票后款（按订单金额）")


class ApplicationTrigger(models.TextChoices):
    MANUAL = "manual", _("客户申请")
    ON_PAYMENT = "on_payment", _("付款后自动申请")
    ON_DELIVERY = "on_delivery", _("交付后申请")


class IssuingPolicy(models.Model):
    """An entity's issuing settings that the kernel's Taxpayer does not carry."""

    taxpayer = models.OneToOneField(
        Taxpayer, models.CASCADE, related_name="issuing_policy", verbose_name=_("主体")
    )
    invoicing_basis = models.CharField(
        _("可开票金额口径"), max_length=10, choices=InvoicingBasis.choices, default=InvoicingBasis.PAID
    )
    application_trigger = models.CharField(
        _("申请时机"), max_length=20, choices=ApplicationTrigger.choices, default=ApplicationTrigger.MANUAL
    )
    auto_approve = models.BooleanField(_("启用自动审核"), default=False)
    auto_issue = models.BooleanField(
        _("自动审核通过后直接开票"),
        default=False,
        help_text=_("开启后，按自动审核规则通过的申请单不在待开票等待，立即发起开票"),
    )
    auto_approve_person_limit = MoneyField(
        _("个人普票自动审核上限（价税合计）"),
        null=True,
        blank=True,
        help_text=_("数电普票开给个人、价税合计不超过此金额时直接进入待开票；为空表示不自动审核"),
    )
    auto_approve_company_limit = MoneyField(
        _("企业普票自动审核上限（价税合计）"),
        null=True,
        blank=True,
        help_text=_("数电普票开给企业、价税合计不超过此金额时直接进入待开票；专票始终人工审核"),
    )
    enforce_quota = models.BooleanField(_("开票前检查授信额度"), default=True)
    red_restores_quota = models.BooleanField(
        _("红冲恢复额度"),
        default=False,
        help_text=_("开具红字发票后，是否把红冲金额退回当月已用额度；默认不退回"),
    )
    remark_max_chars = models.PositiveIntegerField(
        _("备注最多字符"), default=150, help_text=_("发票备注栏最多能写的字数；数电发票备注栏有长度上限，默认按 150 个汉字控制")
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("开票设置")
        verbose_name_plural = pgettext_lazy("plural", "开票设置")

    def __str__(self) -> str:
        return str(self.taxpayer)


class BillingDocumentStatus(models.TextChoices):
    """How much of a document live applications take: none, some, or all it may be invoiced for. A closed
    document is out of invoicing: no transition leads out of it (nor, today, into it)."""

    OPEN = "open", _("未开票")
    PARTLY = "partly", _("部分开票")
    FULLY = "fully", _("已全部申请")
    CLOSED = "closed", _("已关闭")


DS = BillingDocumentStatus


class BillingDocument(ConcurrentTransitionMixin, BuyerFieldsMixin, models.Model):
    """业务单据 / 订单 / 流水单: what a customer bought and paid, the basis of invoice applications (1:N)."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="billing_documents", verbose_name=_("主体"))
    counterparty = models.ForeignKey(
        Counterparty, models.PROTECT, null=True, blank=True, related_name="billing_documents", verbose_name=_("购买方")
    )
    source = models.CharField(_("来源"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    source_system = models.CharField(
        _("来源系统"), max_length=50, blank=True, help_text=_("如 shop、erp；与外部单号一起在主体内唯一")
    )
    external_no = models.CharField(_("外部单号"), max_length=64)
    business_date = models.DateField(_("业务日期"), null=True, blank=True)
    invoicing_basis = models.CharField(
        _("可开票金额口径"),
        max_length=10,
        choices=InvoicingBasis.choices,
        blank=True,
        help_text=_("为空时使用主体设置"),
    )
    order_amount = MoneyField(_("订单金额（含税）"), default=ZERO)
    paid_amount = MoneyField(_("实收金额"), default=ZERO)
    refunded_amount = MoneyField(_("退款金额"), default=ZERO)
    buyer_email = models.EmailField(_("收票邮箱"), blank=True)
    buyer_mobile = models.CharField(_("收票手机"), max_length=20, blank=True)
    remark = models.CharField(_("备注"), max_length=450, blank=True)
    delivered_on = models.DateField(
        _("交付日期"), null=True, blank=True, help_text=_("商品或服务交付客户的日期；为空表示尚未交付")
    )
    # Moved only by its transitions below, in ``issuing.applications.services.billing_document_refresh_status``.
    status = FSMField(_("状态"), max_length=10, choices=DS.choices, default=DS.OPEN, protected=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    # What live applications take from the document; not a column. Set by the applied-amount annotation
    # (``issuing.applications.selectors.billing_documents_with_applied``) and, after a payment or a refund, by
    # applications' listener of ``issuing.billing.signals.billing_document_changed``.
    applied: Decimal

    class Meta:
        verbose_name = _("业务单据")
        verbose_name_plural = pgettext_lazy("plural", "业务单据")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["taxpayer", "source_system", "external_no"], name="billingdoc_external_no_unique"
            ),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="billingdoc_paid_not_negative"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="billingdoc_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("paid_amount")), name="billingdoc_refund_within_paid"
            ),
        ]
        indexes = [models.Index(fields=["taxpayer", "status", "created_at"], name="billingdoc_entity_status")]

    def __str__(self) -> str:
        return f"{self.external_no} {self.buyer_name}"

    # --- transitions: the status follows what live applications take (no side effects here) -----------------------

    @transition(field=status, source=[DS.PARTLY, DS.FULLY], target=DS.OPEN)
    def mark_open(self) -> None:
        """No live application takes anything from the document any more (withdrawn, rejected, red-flushed)."""

    @transition(field=status, source=[DS.OPEN, DS.FULLY], target=DS.PARTLY)
    def mark_partly_applied(self) -> None:
        """Live applications take part of what the document may be invoiced for."""

    @transition(field=status, source=[DS.OPEN, DS.PARTLY], target=DS.FULLY)
    def mark_fully_applied(self) -> None:
        """Live applications take all the document may be invoiced for (after a refund, possibly more)."""

    def effective_basis(self, policy: IssuingPolicy | None) -> str:
        if self.invoicing_basis:
            return self.invoicing_basis
        return policy.invoicing_basis if policy is not None else InvoicingBasis.PAID

    def ceiling(self, basis: str) -> Decimal:
        """The most this document may ever be invoiced for, before subtracting applications."""
        base = self.order_amount if basis == InvoicingBasis.ORDER else self.paid_amount
        return base - self.refunded_amount


class BillingDocumentLine(SafeTextModelMixin, models.Model):
    document = models.ForeignKey(BillingDocument, models.CASCADE, related_name="lines", verbose_name=_("业务单据"))
    line_no = models.PositiveIntegerField(_("行号"))
    item = models.ForeignKey(Item, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("商品"))
    item_name = models.CharField(_("项目名称"), max_length=300)
    spec = models.CharField(_("规格型号"), max_length=150, blank=True)
    unit = models.CharField(_("单位"), max_length=300, blank=True)
    quantity = QtyPriceField(_("数量"))
    unit_price = QtyPriceField(_("单价"))
    amount = MoneyField(_("金额"), help_text=_("按含税标志口径；折扣前"))
    tax_inclusive = models.BooleanField(_("含税"), default=True)
    discount = MoneyField(_("折扣金额"), default=ZERO, help_text=_("按含税标志口径，正数"))
    tax_category = models.ForeignKey(TaxCategory, models.PROTECT, related_name="+", verbose_name=_("税收分类编码"))
    tax_rate = RateField(_("税率/征收率"))
    total = MoneyField(_("价税合计（折后）"), default=ZERO, help_text=_("由服务计算"))

    class Meta:
        verbose_name = _("业务单据明细")
        verbose_name_plural = pgettext_lazy("plural", "业务单据明细")
        ordering = ["document_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["document", "line_no"], name="billingdocline_no_unique"),
            models.CheckConstraint(condition=Q(discount__gte=0), name="billingdocline_discount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.line_no}. {self.item_name}"
