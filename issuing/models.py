"""开票 (issuing): billing documents, invoice applications (an FSM), issued invoices and the monthly quota.

Models hold fields, constraints, FSM transitions and small derived properties. Every write that changes a state goes
through ``issuing/services.py``, which locks the row, calls the transition, saves and records an ``Event``.
Transitions here change the instance in memory only.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from invoicing.models import Counterparty, CounterpartyKind, Item, MoneyField, TaxCategory, Taxpayer
from invoicing.validators import SafeTextModelMixin

ZERO = Decimal("0.00")


def QtyPriceField(verbose_name: str, **kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """数量 / 单价: up to 13 decimals, 25 characters (domain.md §5.4)."""
    kwargs.setdefault("max_digits", 25)
    kwargs.setdefault("decimal_places", 13)
    kwargs.setdefault("null", True)
    kwargs.setdefault("blank", True)
    return models.DecimalField(verbose_name, **kwargs)


def RateField(verbose_name: str, **kwargs) -> models.DecimalField:  # noqa: N802
    kwargs.setdefault("max_digits", 7)
    kwargs.setdefault("decimal_places", 4)
    return models.DecimalField(verbose_name, **kwargs)


# --- code tables -------------------------------------------------------------------------------------------------


class InvoiceKind(models.TextChoices):
    """Invoice kinds in the 查验 fplx code set (domain.md §1.2a). Only the 数电 kinds can be issued here."""

    SHUDIAN_SPECIAL = "81", _("数电专票")
    SHUDIAN_NORMAL = "82", _("数电普票")
    PAPER_SPECIAL = "85", _("数电纸票（专票）")
    PAPER_NORMAL = "86", _("数电纸票（普票）")
    # Legacy 税控 kinds: kept as data (received or historical), never issued by this system.
    LEGACY_SPECIAL = "01", _("增值税专用发票（税控）")
    LEGACY_PAPER_NORMAL = "04", _("增值税普通发票（税控）")
    LEGACY_E_SPECIAL = "08", _("增值税电子专用发票（税控）")
    LEGACY_E_NORMAL = "10", _("增值税电子普通发票（税控）")
    LEGACY_ROLL = "11", _("增值税普通发票（卷式）")
    LEGACY_TOLL = "14", _("通行费电子普通发票")


ISSUABLE_KINDS = frozenset({"81", "82", "85", "86"})
SPECIAL_KINDS = frozenset({"81", "85", "01", "08"})  # 专票: buyer tax id, address and bank required
PAPER_KINDS = frozenset({"85", "86"})


class SpecificBusiness(models.TextChoices):
    """特定要素类型代码 tdyslxDm (domain.md §13.1); the common ones. Empty = 普通发票."""

    NONE = "", _("无（普通发票）")
    REFINED_OIL = "01", _("成品油")
    CONSTRUCTION = "03", _("建筑服务")
    FREIGHT = "04", _("货物运输服务")
    REAL_ESTATE_SALE = "05", _("不动产销售")
    REAL_ESTATE_LEASE = "06", _("不动产经营租赁")
    PASSENGER = "09", _("旅客运输服务")


class Source(models.TextChoices):
    MANUAL = "manual", _("手工录入")
    IMPORT = "import", _("Excel 导入")
    API = "api", _("接口")
    AUTO = "auto", _("自动申请")


class InvoicingBasis(models.TextChoices):
    """What a billing document may be invoiced for (product.md: 先款后票 / 先票后款)."""

    PAID = "paid", _("先款后票（按实收）")
    ORDER = "order", _("先票后款（按订单金额）")


class ApplicationTrigger(models.TextChoices):
    MANUAL = "manual", _("客户申请")
    ON_PAYMENT = "on_payment", _("付款后自动申请")
    ON_DELIVERY = "on_delivery", _("交付后申请")


# --- per-entity settings ---------------------------------------------------------------------------------------


def total_is_amount_plus_tax() -> Q:
    """价税合计 = 金额 + 税额 (domain.md §8.3), checked by the database.

    Written as "within a tenth of a fen" rather than "=": SQLite compares these columns as floating point
    (1.10 + 2.20 ≠ 3.30 there), while on PostgreSQL's exact numerics, with two decimal places, it means equality.
    """
    total, tolerance = models.F("amount") + models.F("tax"), models.Value(Decimal("0.001"))
    return Q(total__gte=total - tolerance) & Q(total__lte=total + tolerance)


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


# --- billing documents -------------------------------------------------------------------------------------------


class BillingDocumentStatus(models.TextChoices):
    OPEN = "open", _("未开票")
    PARTLY = "partly", _("部分开票")
    FULLY = "fully", _("已全部申请")
    CLOSED = "closed", _("已关闭")


class BuyerFieldsMixin(SafeTextModelMixin, models.Model):
    """A buyer title (抬头) snapshot: a copy, so that later edits of the Counterparty do not change history."""

    buyer_kind = models.CharField(
        _("购买方类型"), max_length=10, choices=CounterpartyKind.choices, default=CounterpartyKind.COMPANY
    )
    buyer_name = models.CharField(_("购买方名称"), max_length=150)
    buyer_tax_id = models.CharField(_("购买方纳税人识别号"), max_length=20, blank=True)
    buyer_address = models.CharField(_("购买方地址"), max_length=300, blank=True)
    buyer_phone = models.CharField(_("购买方电话"), max_length=60, blank=True)
    buyer_bank_name = models.CharField(_("购买方开户行"), max_length=120, blank=True)
    buyer_bank_account = models.CharField(_("购买方银行账号"), max_length=100, blank=True)

    class Meta:
        abstract = True

    BUYER_FIELDS = (
        "buyer_kind",
        "buyer_name",
        "buyer_tax_id",
        "buyer_address",
        "buyer_phone",
        "buyer_bank_name",
        "buyer_bank_account",
    )

    def buyer_snapshot(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.BUYER_FIELDS}

    @property
    def buyer_is_person(self) -> bool:
        return self.buyer_kind == CounterpartyKind.PERSON


class BillingDocument(BuyerFieldsMixin, models.Model):
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
    status = models.CharField(
        _("状态"), max_length=10, choices=BillingDocumentStatus.choices, default=BillingDocumentStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

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


# --- invoice applications ----------------------------------------------------------------------------------------


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PENDING_REVIEW = "pending_review", _("待审核")
    IN_REVIEW = "in_review", _("审核中")
    APPROVED = "approved", _("待开票")
    REJECTED = "rejected", _("驳回")
    ISSUING = "issuing", _("开票中")
    ISSUED = "issued", _("已开票")
    FAILED = "failed", _("开票失败")
    WITHDRAWN = "withdrawn", _("已撤销")
    RED_PENDING = "red_pending", _("红冲中")
    RED_FLUSHED = "red_flushed", _("已红冲")
    PARTLY_RED = "partly_red", _("部分红冲")
    VOIDED = "voided", _("已作废")  # its paper invoice (数电纸票) was voided within the month (domain.md §11.2)


S = ApplicationStatus
# Applications in these states no longer take anything from their billing documents.
INACTIVE_STATUSES = frozenset({S.REJECTED, S.WITHDRAWN, S.RED_FLUSHED, S.VOIDED})
# Applications that may still be edited or deleted.
EDITABLE_STATUSES = frozenset({S.DRAFT})
REVIEW_QUEUE_ORDER = [S.PENDING_REVIEW, S.IN_REVIEW, S.DRAFT, S.APPROVED, S.FAILED, S.ISSUING]


class InvoiceApplication(ConcurrentTransitionMixin, BuyerFieldsMixin, models.Model):
    """开票申请单: one invoice to be issued, with the buyer title, lines and totals frozen at application time."""

    number = models.CharField(_("申请单号"), max_length=24, unique=True, help_text=_('"SQ" + 日期 + 序号'))
    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="applications", verbose_name=_("主体"))
    counterparty = models.ForeignKey(
        Counterparty, models.PROTECT, null=True, blank=True, related_name="applications", verbose_name=_("购买方")
    )
    kind = models.CharField(_("发票种类"), max_length=2, choices=InvoiceKind.choices, default=InvoiceKind.SHUDIAN_NORMAL)
    status = FSMField(
        _("状态"), max_length=20, choices=ApplicationStatus.choices, default=S.PENDING_REVIEW, protected=True
    )
    source = models.CharField(_("来源"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    trigger_key = models.CharField(
        _("自动申请依据"), max_length=40, null=True, blank=True, unique=True, editable=False,
        help_text=_("按开票设置自动生成时的业务单据事件（付款或交付），每个事件只生成一张"),
    )
    delivery_email = models.EmailField(_("交付邮箱"), blank=True)
    delivery_mobile = models.CharField(_("交付手机"), max_length=20, blank=True)
    remark = models.TextField(_("备注"), blank=True, help_text=_("打印在发票备注栏；最多字数见开票设置"))
    specific_business = models.CharField(
        _("特定业务"), max_length=2, choices=SpecificBusiness.choices, blank=True, default=""
    )
    specific_business_data = models.JSONField(
        _("特定业务要素"),
        default=dict,
        blank=True,
        help_text=_("特定业务要在发票上填写的信息，如建筑服务的发生地和项目名称、不动产租赁的房屋地址"),
    )
    amount = MoneyField(_("合计金额"), default=ZERO)
    tax = MoneyField(_("合计税额"), default=ZERO)
    total = MoneyField(_("价税合计"), default=ZERO)
    auto_approved = models.BooleanField(_("自动审核通过"), default=False)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("审核人")
    )
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    reject_reason = models.TextField(_("驳回原因"), blank=True)
    fail_reason = models.TextField(_("失败原因"), blank=True)
    # Exactly-once issuing (used by the channel): one stable serial per issue request, reused on retry.
    issue_serial = models.CharField(_("开票流水号"), max_length=64, unique=True, null=True, blank=True)
    issue_attempts = models.PositiveIntegerField(_("开票尝试次数"), default=0)
    needs_attention = models.BooleanField(_("需人工处理"), default=False)
    last_error = models.TextField(_("最近错误"), blank=True)
    issued_at = models.DateTimeField(_("开票时间"), null=True, blank=True)
    split_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="split_parts", verbose_name=_("拆分自")
    )
    reapplication_of = models.OneToOneField(
        "self", models.SET_NULL, null=True, blank=True, related_name="reapplication", verbose_name=_("重新申请自"),
        help_text=_("被驳回后按更正的抬头重新提交时，指向被驳回的申请"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    billing_documents = models.ManyToManyField(
        BillingDocument,
        through="ApplicationSource",
        related_name="applications",
        verbose_name=_("业务单据"),
    )

    class Meta:
        verbose_name = _("开票申请")
        verbose_name_plural = pgettext_lazy("plural", "开票申请")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("review_invoiceapplication", "可审核开票申请"),
            ("approve_invoiceapplication", "可批准开票申请"),
            ("issue_invoiceapplication", "可发起开票"),
        ]
        constraints = [
            models.CheckConstraint(condition=total_is_amount_plus_tax(), name="application_total_is_amount_plus_tax"),
        ]
        indexes = [
            models.Index(fields=["taxpayer", "status", "created_at"], name="application_entity_status"),
            models.Index(fields=["status", "created_at"], name="application_status_created"),
            models.Index(fields=["buyer_tax_id"], name="application_buyer_tax_id"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.buyer_name}"

    @property
    def is_special(self) -> bool:
        return self.kind in SPECIAL_KINDS

    @property
    def customer_status(self) -> str:
        return customer_status(self.status)[1]

    # --- transitions (in memory only; services lock, save and record events) -------------------------------------

    @transition(field=status, source=S.DRAFT, target=S.PENDING_REVIEW)
    def submit(self) -> None:
        pass

    @transition(field=status, source=[S.DRAFT, S.PENDING_REVIEW], target=S.APPROVED)
    def auto_approve(self, *, at) -> None:
        self.auto_approved = True
        self.reviewed_at = at

    @transition(field=status, source=S.PENDING_REVIEW, target=S.IN_REVIEW)
    def claim(self, *, by, at) -> None:
        self.reviewer = by
        self.claimed_at = at

    @transition(field=status, source=S.IN_REVIEW, target=S.PENDING_REVIEW)
    def release(self) -> None:
        self.reviewer = None
        self.claimed_at = None

    @transition(field=status, source=[S.PENDING_REVIEW, S.IN_REVIEW], target=S.APPROVED)
    def approve(self, *, by, at) -> None:
        self.reviewer = by
        self.reviewed_at = at
        self.reject_reason = ""

    @transition(field=status, source=[S.PENDING_REVIEW, S.IN_REVIEW], target=S.REJECTED)
    def reject(self, *, by, at, reason: str) -> None:
        self.reviewer = by
        self.reviewed_at = at
        self.reject_reason = reason

    @transition(
        field=status, source=[S.DRAFT, S.PENDING_REVIEW, S.IN_REVIEW, S.APPROVED, S.FAILED], target=S.WITHDRAWN
    )
    def withdraw(self) -> None:
        pass

    @transition(field=status, source=S.APPROVED, target=S.ISSUING)
    def start_issuing(self, *, serial: str) -> None:
        if not self.issue_serial:
            self.issue_serial = serial
        self.issue_attempts += 1
        self.fail_reason = ""

    @transition(field=status, source=S.ISSUING, target=S.ISSUED)
    def mark_issued(self, *, at) -> None:
        self.issued_at = at
        self.needs_attention = False
        self.last_error = ""

    @transition(field=status, source=S.ISSUING, target=S.FAILED)
    def mark_failed(self, *, reason: str) -> None:
        self.fail_reason = reason
        self.last_error = reason

    @transition(field=status, source=S.FAILED, target=S.APPROVED)
    def retry(self) -> None:
        pass

    @transition(field=status, source=S.ISSUED, target=S.VOIDED)
    def void(self) -> None:
        pass

    @transition(field=status, source=[S.ISSUED, S.PARTLY_RED], target=S.RED_PENDING)
    def start_red(self) -> None:
        pass

    @transition(field=status, source=S.RED_PENDING, target=RETURN_VALUE(S.RED_FLUSHED, S.PARTLY_RED))
    def finish_red(self, *, full: bool) -> str:
        return S.RED_FLUSHED if full else S.PARTLY_RED

    @transition(field=status, source=S.RED_PENDING, target=RETURN_VALUE(S.ISSUED, S.PARTLY_RED))
    def cancel_red(self, *, partly_red_before: bool) -> str:
        return S.PARTLY_RED if partly_red_before else S.ISSUED


# Customer-facing statuses: what the API and notifications show. 审核中 and 开票中 read the same to a customer.
CUSTOMER_STATUS: dict[str, tuple[str, str]] = {
    S.DRAFT: ("draft", gettext_noop("草稿")),
    S.PENDING_REVIEW: ("processing", gettext_noop("开票中")),
    S.IN_REVIEW: ("processing", gettext_noop("开票中")),
    S.APPROVED: ("processing", gettext_noop("开票中")),
    S.ISSUING: ("processing", gettext_noop("开票中")),
    S.FAILED: ("processing", gettext_noop("开票中")),
    S.ISSUED: ("issued", gettext_noop("已开票")),
    S.REJECTED: ("rejected", gettext_noop("已驳回")),
    S.WITHDRAWN: ("withdrawn", gettext_noop("已撤销")),
    S.RED_PENDING: ("issued", gettext_noop("已开票")),
    S.RED_FLUSHED: ("red_flushed", gettext_noop("已红冲")),
    S.PARTLY_RED: ("partly_red", gettext_noop("部分红冲")),
    S.VOIDED: ("voided", gettext_noop("已作废")),
}


def customer_status(status: str) -> tuple[str, str]:
    """(code, Chinese label) shown to customers for an application status. One function for API and notifications.

    The labels are plain Chinese strings (the API and webhooks send them as they are), marked for the catalogue so
    the admin can show them translated with ``gettext(label)``.

    Internal steps (待审核, 审核中, 待开票, 开票中, and a failure we will retry) all read 开票中 to a customer.
    """
    return CUSTOMER_STATUS[ApplicationStatus(status)]


class LineProperty(models.IntegerChoices):
    """发票行性质 in Nuonuo's numbering (invoicing.tax.LineProperty, domain.md §8.4)."""

    NORMAL = 0, _("正常行")
    DISCOUNT = 1, _("折扣行")
    DISCOUNTED = 2, _("被折扣行")


class LineFieldsMixin(SafeTextModelMixin, models.Model):
    """An invoice line as printed: net amount, rate and tax (domain.md §5.1)."""

    line_no = models.PositiveIntegerField(_("行号"))
    item_name = models.CharField(_("项目名称"), max_length=300)
    short_name = models.CharField(_("商品服务简称"), max_length=120, blank=True)
    spec = models.CharField(_("规格型号"), max_length=150, blank=True)
    unit = models.CharField(_("单位"), max_length=300, blank=True)
    quantity = QtyPriceField(_("数量"))
    unit_price = QtyPriceField(_("单价（不含税）"))
    amount = MoneyField(_("金额（不含税）"))
    tax_rate = RateField(_("税率/征收率"))
    tax = MoneyField(_("税额"))
    tax_category = models.ForeignKey(TaxCategory, models.PROTECT, related_name="+", verbose_name=_("税收分类编码"))
    line_property = models.PositiveSmallIntegerField(
        _("发票行性质"), choices=LineProperty.choices, default=LineProperty.NORMAL
    )
    favoured_policy = models.CharField(_("优惠政策标识"), max_length=2, blank=True)

    class Meta:
        abstract = True

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax

    @property
    def face_name(self) -> str:
        """项目名称 on the face: *简称*名称 (domain.md §5.1)."""
        return f"*{self.short_name}*{self.item_name}" if self.short_name else self.item_name


class ApplicationLine(LineFieldsMixin):
    application = models.ForeignKey(
        InvoiceApplication, models.CASCADE, related_name="lines", verbose_name=_("开票申请")
    )
    source_line = models.ForeignKey(
        BillingDocumentLine,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="application_lines",
        verbose_name=_("来源单据明细"),
    )

    class Meta:
        verbose_name = _("申请明细")
        verbose_name_plural = pgettext_lazy("plural", "申请明细")
        ordering = ["application_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["application", "line_no"], name="applicationline_no_unique")]

    def __str__(self) -> str:
        return f"{self.line_no}. {self.item_name}"


class ApplicationSource(models.Model):
    """Which billing documents an application covers, and how much (价税合计) it takes from each."""

    application = models.ForeignKey(
        InvoiceApplication, models.CASCADE, related_name="sources", verbose_name=_("开票申请")
    )
    billing_document = models.ForeignKey(
        BillingDocument, models.PROTECT, related_name="application_sources", verbose_name=_("业务单据")
    )
    amount = MoneyField(_("占用金额（价税合计）"))
    released_amount = MoneyField(
        _("已释放金额"), default=ZERO, help_text=_("部分红冲后退回单据的金额（由红冲流程写入）")
    )

    class Meta:
        verbose_name = _("申请来源单据")
        verbose_name_plural = pgettext_lazy("plural", "申请来源单据")
        constraints = [
            models.UniqueConstraint(fields=["application", "billing_document"], name="applicationsource_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="applicationsource_amount_positive"),
            models.CheckConstraint(
                condition=Q(released_amount__gte=0) & Q(released_amount__lte=models.F("amount")),
                name="applicationsource_released_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id} ← {self.billing_document_id}: {self.amount}"


class NumberSequence(models.Model):
    """Daily counters for document numbers (SQ20261122000001). Incremented under a row lock."""

    prefix = models.CharField(_("前缀"), max_length=10)
    day = models.DateField(_("日期"))
    last_value = models.PositiveIntegerField(_("当日最后序号"), default=0)

    class Meta:
        verbose_name = _("编号序列")
        verbose_name_plural = pgettext_lazy("plural", "编号序列")
        constraints = [models.UniqueConstraint(fields=["prefix", "day"], name="numbersequence_unique")]

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d}:{self.last_value}"


# --- issued invoices ---------------------------------------------------------------------------------------------


class InvoiceStatus(models.TextChoices):
    NORMAL = "normal", _("正常")
    RED_FULL = "red_full", _("已全额红冲")
    RED_PARTIAL = "red_partial", _("部分红冲")
    VOIDED = "voided", _("已作废")


class Invoice(BuyerFieldsMixin, models.Model):
    """An invoice issued by one of our entities, blue or red. Never deleted."""

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
    status = models.CharField(_("状态"), max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.NORMAL)
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


# --- quota -------------------------------------------------------------------------------------------------------


class QuotaPeriod(models.Model):
    """授信额度 (domain.md §12.1): one entity's monthly cap and what has been used. The platform's figure rules."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="quota_periods", verbose_name=_("主体"))
    month = models.CharField(_("月份"), max_length=7, help_text=_("年-月，如 2026-05"))
    total = MoneyField(_("总额度"))
    used = MoneyField(_("已用额度"), default=ZERO)
    synced_at = models.DateTimeField(_("同步时间"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("授信额度")
        verbose_name_plural = pgettext_lazy("plural", "授信额度")
        ordering = ["-month", "taxpayer_id"]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "month"], name="quotaperiod_unique_month"),
            models.CheckConstraint(condition=Q(total__gte=0), name="quotaperiod_total_not_negative"),
            models.CheckConstraint(condition=Q(used__gte=0), name="quotaperiod_used_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.taxpayer} {self.month}"

    @property
    def remaining(self) -> Decimal:
        return self.total - self.used
