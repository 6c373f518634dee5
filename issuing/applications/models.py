"""Invoice applications (开票申请单) with their lines and sources, and the monthly quota (授信额度)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from invoicing.formatting import money
from invoicing.models import Counterparty, MoneyField, Taxpayer
from issuing.base import (
    SPECIAL_KINDS,
    ZERO,
    BuyerFieldsMixin,
    InvoiceKind,
    LineFieldsMixin,
    Source,
    SpecificBusiness,
    total_is_amount_plus_tax,
)
from issuing.billing.models import BillingDocument, BillingDocumentLine


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
    # A single submission waiting for the grouped path (issuing.platform.services.application_request_issue): the
    # next drain takes it with others into one batch and starts issuing on the requester's behalf.
    issue_requested_at = models.DateTimeField(_("排队开票时间"), null=True, blank=True, editable=False)
    issue_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", editable=False,
        verbose_name=_("排队开票人"),
    )
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
            models.Index(fields=["issue_requested_at", "id"], name="application_issue_requested",
                         condition=Q(issue_requested_at__isnull=False)),
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
        self.issue_requested_at = None
        self.issue_requested_by = None

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
        # the application page's 来源单据 rows are captioned with it: the document as people know it, the amount as money
        return f"{self.billing_document.external_no}: {money(self.amount)}"


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
