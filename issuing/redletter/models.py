"""红字确认单 (red-letter confirmation forms, domain.md §11.1) and the per-entity red-flush policy.

The form's status mirrors the bureau's ``hzqrxxztDm`` codes "01".."13", preceded by three local pre-states: a draft
(customer service may raise one for finance), ``submitting`` (the intent is committed with a stable ``request_no``
and the platform is being asked) and ``submit_failed`` (the platform refused the application). Transitions change
the instance in memory only; the services (``issuing/redletter/forms.py``, ``sync.py``) lock, call them, save and
record events.

Amounts on a form and its lines are negative, as on the red invoice (§8.3); unit prices stay positive.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from invoicing.channels.base import RedFormStatus
from invoicing.models import MoneyField, Taxpayer
from invoicing.validators import SafeTextModelMixin

ZERO = Decimal("0.00")


class RedFormState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTING = "submitting", _("提交中")
    SUBMIT_FAILED = "submit_failed", _("提交失败")
    NO_CONFIRMATION = "01", _("01 无需确认")
    SELLER_ENTERED = "02", _("02 销方录入待购方确认")
    BUYER_ENTERED = "03", _("03 购方录入待销方确认")
    CONFIRMED = "04", _("04 购销双方已确认")
    VOID_BUYER_DENIED = "05", _("05 作废（销方录入购方否认）")
    VOID_SELLER_DENIED = "06", _("06 作废（购方录入销方否认）")
    VOID_EXPIRED = "07", _("07 作废（超72小时未确认）")
    VOID_REVOKED = "08", _("08 作废（发起方已撤销）")
    VOID_REVOKED_AFTER_CONFIRM = "09", _("09 作废（确认后撤销）")
    VOID_ABNORMAL_VOUCHER = "10", _("10 作废（异常凭证）")
    VOID_TAXPAYER_BLOCKED = "11", _("11 作废（纳税人状态异常阻断）")
    VOID_PERSON_REFUSED = "12", _("12 作废（自然人拒收）")
    VOID_REFUND_FORM = "13", _("13 作废（已开具退税申请单）")


F = RedFormState
BUREAU_CODES = tuple(s.value for s in RedFormStatus)  # the bureau's codes, as the channel contract lists them
WAITING = (F.SELLER_ENTERED, F.BUYER_ENTERED)
EFFECTIVE = (F.NO_CONFIRMATION, F.CONFIRMED)
VOID_CODES = tuple(f"{n:02d}" for n in range(5, 14))
# States in which a form holds part of the blue invoice (its lines count against what may still be red-flushed).
RESERVING = (F.SUBMITTING, *WAITING, *EFFECTIVE)
# States in which the platform may still change the form (polled by the periodic task).
OPEN_REMOTE = (F.SUBMITTING, *WAITING)
DUE_SOON = timedelta(hours=24)


def red_form_due_soon_q(now: datetime) -> Q:
    """Forms waiting for a confirmation whose 72-hour window closes within 24 hours (the admin home's card)."""
    return Q(status__in=WAITING, expires_at__gt=now, expires_at__lte=now + DUE_SOON)


class RedReasonCode(models.TextChoices):
    """冲红原因 chyyDm, bureau codes (domain.md §11.1)."""

    ISSUED_IN_ERROR = "01", _("01 开票有误")
    SALES_RETURN = "02", _("02 销货退回")
    SERVICE_STOPPED = "03", _("03 服务中止")
    SALES_ALLOWANCE = "04", _("04 销售折让")


class Initiator(models.TextChoices):
    SELLER = "seller", _("销方（我方）发起")
    BUYER = "buyer", _("购方发起")


class RefundPolicy(models.TextChoices):
    PARTIAL_WHERE_ALLOWED = "partial_where_allowed", _("部分退款部分红冲（原因允许时），否则全额红冲并重开")
    FULL_AND_REISSUE = "full_and_reissue", _("全额红冲并就剩余金额重新申请开票")


class RedFlushPolicy(models.Model):
    """How refunds red-flush an entity's invoices. Kept apart from IssuingPolicy; defaults apply when absent."""

    taxpayer = models.OneToOneField(
        Taxpayer, models.CASCADE, related_name="red_flush_policy", verbose_name=_("主体")
    )
    refund_policy = models.CharField(
        _("退款红冲方式"), max_length=30, choices=RefundPolicy.choices, default=RefundPolicy.PARTIAL_WHERE_ALLOWED
    )
    refund_reason = models.CharField(
        _("退款红冲原因"), max_length=2, choices=RedReasonCode.choices, default=RedReasonCode.SALES_RETURN
    )
    service_stop_allows_partial = models.BooleanField(
        _("服务中止允许部分红冲"),
        default=False,
        help_text=_("因服务中止红冲时，是否允许只冲一部分。开票有误只能全额红冲，销货退回、销售折让可以部分红冲；服务中止默认只能全额"),
    )
    auto_submit = models.BooleanField(
        _("退款自动提交红字确认单"), default=True, help_text=_("关闭时退款只生成草稿，由财务提交")
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("红冲设置")
        verbose_name_plural = pgettext_lazy("plural", "红冲设置")

    def __str__(self) -> str:
        return str(self.taxpayer)


class RedLetterForm(SafeTextModelMixin, ConcurrentTransitionMixin, models.Model):
    """红字发票信息确认单: ours (seller-initiated) or our buyer's against our blue invoice (buyer-initiated)."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="red_letter_forms", verbose_name=_("主体"))
    blue_invoice = models.ForeignKey(
        "issuing.Invoice", models.PROTECT, related_name="red_letter_forms", verbose_name=_("蓝字发票")
    )
    initiator = models.CharField(_("录入方"), max_length=6, choices=Initiator.choices, default=Initiator.SELLER)
    reason = models.CharField(_("冲红原因"), max_length=2, choices=RedReasonCode.choices)
    is_full = models.BooleanField(_("全额红冲"), default=True)
    status = FSMField(_("状态"), max_length=20, choices=RedFormState.choices, default=F.DRAFT, protected=True)
    form_no = models.CharField(_("确认单编号"), max_length=20, unique=True, null=True, blank=True)
    form_uuid = models.CharField(_("确认单UUID"), max_length=32, blank=True)
    request_no = models.CharField(
        _("申请流水号"), max_length=64, unique=True, help_text=_("我方稳定流水号：重试沿用，平台对重复流水号返回同一确认单")
    )
    amount = MoneyField(_("红冲金额"), default=ZERO)
    tax = MoneyField(_("红冲税额"), default=ZERO)
    total = MoneyField(_("红冲价税合计"), default=ZERO)
    expires_at = models.DateTimeField(_("确认截止（平台时钟）"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    decided_at = models.DateTimeField(_("作废/撤销时间"), null=True, blank=True)
    red_invoice = models.OneToOneField(
        "issuing.Invoice", models.PROTECT, null=True, blank=True, related_name="red_letter_form",
        verbose_name=_("红字发票"),
    )
    red_invoice_serial = models.CharField(_("红字发票流水号"), max_length=64, blank=True)
    refund_key = models.CharField(
        _("退款键"), max_length=100, unique=True, null=True, blank=True, help_text=_("由退款生成时：每笔退款只生成一次")
    )
    billing_document = models.ForeignKey(
        "issuing.BillingDocument", models.PROTECT, null=True, blank=True, related_name="red_letter_forms",
        verbose_name=_("退款业务单据"),
    )
    reissue_amount = MoneyField(
        _("红冲后重开金额"), null=True, blank=True, help_text=_("全额红冲后按此价税合计就业务单据剩余金额重新申请开票")
    )
    reissue_application = models.ForeignKey(
        "issuing.InvoiceApplication", models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("重开申请单"),
    )
    submit_attempts = models.PositiveIntegerField(_("提交次数"), default=0)
    last_error = models.TextField(_("最近错误"), blank=True)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("申请人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("红字确认单")
        verbose_name_plural = pgettext_lazy("plural", "红字确认单")
        ordering = ["-created_at", "-id"]
        permissions = [("confirm_redletterform", "可确认红字确认单")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__lte=0) & Q(tax__lte=0), name="redform_amounts_not_positive"),
            # No CHECK total = amount + tax: SQLite compares it in floating point and refuses exact cents. The
            # services write the three together.
            models.CheckConstraint(condition=~Q(reason="01") | Q(is_full=True), name="redform_in_error_is_full"),
        ]
        indexes = [
            models.Index(fields=["taxpayer", "status", "created_at"], name="redform_entity_status"),
            models.Index(fields=["status", "updated_at"], name="redform_status_updated"),
        ]

    def __str__(self) -> str:
        return self.form_no or self.request_no

    @property
    def is_waiting(self) -> bool:
        return self.status in WAITING

    @property
    def is_effective(self) -> bool:
        return self.status in EFFECTIVE

    @property
    def is_void(self) -> bool:
        return self.status in VOID_CODES

    @property
    def waits_for_us(self) -> bool:
        """购方录入待销方确认: our confirm / reject decides it."""
        return self.status == F.BUYER_ENTERED and self.initiator == Initiator.BUYER

    # --- transitions (in memory only) -------------------------------------------------------------------------

    @transition(field=status, source=[F.DRAFT, F.SUBMIT_FAILED], target=F.SUBMITTING)
    def submit(self) -> None:
        self.submit_attempts += 1
        self.last_error = ""

    @transition(field=status, source=F.SUBMITTING, target=F.SUBMIT_FAILED)
    def mark_submit_failed(self, *, reason: str) -> None:
        self.last_error = reason

    @transition(field=status, source=F.SUBMITTING, target=RETURN_VALUE(*BUREAU_CODES))
    def mark_registered(self, *, code: str) -> str:
        """The platform registered the application and answered its status (usually 01 or 02)."""
        self.last_error = ""
        return code

    @transition(field=status, source=WAITING, target=F.CONFIRMED)
    def confirm(self, *, at) -> None:
        self.confirmed_at = at

    @transition(field=status, source=WAITING, target=RETURN_VALUE(F.VOID_BUYER_DENIED, F.VOID_SELLER_DENIED))
    def reject(self, *, at) -> str:
        self.decided_at = at
        return F.VOID_BUYER_DENIED if self.status == F.SELLER_ENTERED else F.VOID_SELLER_DENIED

    @transition(field=status, source=WAITING, target=F.VOID_EXPIRED)
    def expire(self, *, at) -> None:
        self.decided_at = at

    @transition(
        field=status, source=[*WAITING, *EFFECTIVE], target=RETURN_VALUE(F.VOID_REVOKED, F.VOID_REVOKED_AFTER_CONFIRM)
    )
    def revoke(self, *, at) -> str:
        self.decided_at = at
        return F.VOID_REVOKED_AFTER_CONFIRM if self.status == F.CONFIRMED else F.VOID_REVOKED

    @transition(
        field=status, source=[*WAITING, *EFFECTIVE],
        target=RETURN_VALUE(F.VOID_ABNORMAL_VOUCHER, F.VOID_TAXPAYER_BLOCKED, F.VOID_PERSON_REFUSED,
                            F.VOID_REFUND_FORM),
    )
    def void_by_platform(self, *, code: str, at) -> str:
        self.decided_at = at
        return code


class RedLetterFormLine(models.Model):
    """One red line: the blue invoice's line number (被折扣行 for a discounted pair, §8.4) and negative figures."""

    form = models.ForeignKey(RedLetterForm, models.CASCADE, related_name="lines", verbose_name=_("红字确认单"))
    blue_line_no = models.PositiveIntegerField(_("蓝字明细序号"))
    blue_line = models.ForeignKey(
        "issuing.InvoiceLine", models.PROTECT, null=True, blank=True, related_name="red_form_lines",
        verbose_name=_("蓝字明细"),
    )
    item_name = models.CharField(_("项目名称"), max_length=300, blank=True)
    quantity = models.DecimalField(_("数量"), max_digits=25, decimal_places=13, null=True, blank=True)
    unit_price = models.DecimalField(_("单价"), max_digits=25, decimal_places=13, null=True, blank=True)
    tax_rate = models.DecimalField(_("税率"), max_digits=7, decimal_places=4, default=Decimal("0"))
    amount = MoneyField(_("金额"))
    tax = MoneyField(_("税额"))

    class Meta:
        verbose_name = _("红字确认单明细")
        verbose_name_plural = pgettext_lazy("plural", "红字确认单明细")
        ordering = ["form_id", "blue_line_no"]
        constraints = [
            models.UniqueConstraint(fields=["form", "blue_line_no"], name="redformline_blue_line_unique"),
            models.CheckConstraint(condition=Q(amount__lte=0) & Q(tax__lte=0), name="redformline_not_positive"),
            models.CheckConstraint(condition=Q(quantity__isnull=True) | Q(quantity__lt=0),
                                   name="redformline_quantity_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.form_id}#{self.blue_line_no}"

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax
