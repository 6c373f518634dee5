"""抵扣: tax periods (所属期) per entity, the selections (勾选) of pool invoices into them, transfers-out (进项税额转出),
and the filing holidays that move a deadline (domain.md §14.4, §14.5, §15).

Every row here is written by ``deduction/services.py``; the models hold fields, constraints and transitions only.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from invoicing.models import MoneyField, Taxpayer
from receiving.models import ReceivedInvoice, ReceivedKind


class PeriodState(models.TextChoices):
    OPEN = "open", _("可勾选")
    STATISTICS = "statistics", _("已申请统计")
    CONFIRMED = "confirmed", _("已确认")
    FILED = "filed", _("已申报")


class TaxPeriod(models.Model):
    """One entity's 所属期 (``YYYYMM``): open for 勾选 → 已申请统计 → 已确认 → filed."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="tax_periods", verbose_name=_("主体"))
    period = models.CharField(_("所属期"), max_length=6)
    state = FSMField(_("状态"), max_length=12, choices=PeriodState.choices, default=PeriodState.OPEN, protected=True)
    platform_statistics = models.JSONField(_("平台统计"), default=dict, blank=True)
    differences = models.JSONField(_("统计差异"), default=list, blank=True)
    snapshot = models.JSONField(_("确认快照"), default=dict, blank=True,
                                help_text=_("确认时的勾选明细：过去所属期的报表由它重现"))
    snapshot_totals = models.JSONField(_("确认快照合计"), default=dict, blank=True,
                                       help_text=_("确认快照按票种和用途的合计：报表直接读取，不必逐张汇总"))
    statistics_at = models.DateTimeField(_("申请统计时间"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    filed_at = models.DateTimeField(_("申报时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("所属期")
        verbose_name_plural = _("所属期")
        ordering = ["taxpayer", "-period"]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "period"], name="taxperiod_once_per_entity"),
            models.CheckConstraint(condition=Q(period__regex=r"^[0-9]{4}(0[1-9]|1[0-2])$"), name="taxperiod_yyyymm"),
        ]

    def __str__(self) -> str:
        return f"{self.period}"

    @transition(field=state, source=PeriodState.OPEN, target=PeriodState.STATISTICS)
    def statistics_apply(self) -> None:
        """申请统计: the platform has generated the 抵扣统计表."""

    @transition(field=state, source=PeriodState.STATISTICS, target=PeriodState.OPEN)
    def statistics_undo(self) -> None:
        """撤销统计: back to editable 勾选."""

    @transition(field=state, source=PeriodState.STATISTICS, target=PeriodState.CONFIRMED)
    def period_confirm(self) -> None:
        """确认: the period's deduction is locked."""

    @transition(field=state, source=PeriodState.CONFIRMED, target=PeriodState.STATISTICS)
    def period_confirm_undo(self) -> None:
        """撤销确认 (before filing, when the setting allows it)."""

    @transition(field=state, source=PeriodState.CONFIRMED, target=PeriodState.FILED)
    def period_file(self) -> None:
        """The VAT return of the period was filed."""


class Purpose(models.TextChoices):
    """用途 (domain.md §14.4, ``vatUsage``)."""

    DEDUCT = "1", _("抵扣")
    EXPORT_REFUND = "2", _("出口退税")
    AGENT_REFUND = "3", _("代办退税")
    NOT_DEDUCT = "4", _("不抵扣")


REFUND_PURPOSES = frozenset({Purpose.EXPORT_REFUND.value, Purpose.AGENT_REFUND.value})


class NotDeductReason(models.TextChoices):
    """不抵扣原因 (domain.md §14.4)."""

    NON_TAXABLE = "1", _("用于非应税项目")
    EXEMPT = "2", _("用于免税项目")
    WELFARE = "3", _("用于集体福利或者个人消费")
    LOSS = "4", _("遭受非正常损失")
    OTHER = "5", _("其他")


class SelectionState(models.TextChoices):
    PENDING = "pending", _("勾选待平台确认")
    ACCEPTED = "accepted", _("已勾选")
    REFUSED = "refused", _("平台拒绝")
    UNDO_PENDING = "undo_pending", _("撤销勾选待平台确认")
    UNDONE = "undone", _("已撤销勾选")


ACTIVE_SELECTION_STATES = (SelectionState.PENDING, SelectionState.ACCEPTED, SelectionState.UNDO_PENDING)


class Selection(models.Model):
    """One invoice selected (勾选) into one period for one purpose. An invoice has at most one active selection."""

    tax_period = models.ForeignKey(TaxPeriod, models.PROTECT, related_name="selections", verbose_name=_("所属期"))
    invoice = models.ForeignKey(ReceivedInvoice, models.PROTECT, related_name="deduction_selections",
                                verbose_name=_("发票"))
    purpose = models.CharField(_("用途"), max_length=1, choices=Purpose.choices)
    reason = models.CharField(_("不抵扣原因"), max_length=1, choices=NotDeductReason.choices, blank=True)
    reason_text = models.CharField(_("不抵扣原因说明"), max_length=300, blank=True)
    kind = models.CharField(_("票种"), max_length=16, choices=ReceivedKind.choices)
    amount = MoneyField(_("金额"))
    face_tax = MoneyField(_("票面税额"), help_text=_("可抵扣的税额：红冲后剩余部分，客票按规定计算"))
    effective_tax = MoneyField(_("有效抵扣税额"))
    extra_tax = MoneyField(_("加计扣除税额"), default=Decimal("0.00"), help_text=_("农产品加计扣除 1%（第 8a 栏）"))
    state = FSMField(_("状态"), max_length=12, choices=SelectionState.choices, default=SelectionState.PENDING,
                     protected=True)
    request_no = models.CharField(_("请求号"), max_length=40)
    platform_code = models.CharField(_("平台代码"), max_length=10, blank=True)
    platform_message = models.CharField(_("平台信息"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(_("提交次数"), default=0)
    selected_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("勾选人"))
    created_at = models.DateTimeField(_("勾选时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("勾选")
        verbose_name_plural = _("勾选")
        ordering = ["tax_period", "id"]
        constraints = [
            # never selected twice: one active selection per invoice, whatever the period
            models.UniqueConstraint(fields=["invoice"], condition=Q(state__in=[s.value for s in
                                                                                ACTIVE_SELECTION_STATES]),
                                    name="selection_once_per_invoice"),
            models.CheckConstraint(condition=Q(effective_tax__lte=models.F("face_tax")),
                                   name="selection_effective_at_most_face"),
            models.CheckConstraint(condition=~Q(purpose="4") | ~Q(reason=""), name="selection_not_deduct_reason"),
        ]
        indexes = [models.Index(fields=["tax_period", "state"], name="selection_period_state"),
                   models.Index(fields=["request_no"], name="selection_request")]

    def __str__(self) -> str:
        return f"{self.tax_period.period} {self.invoice}"

    @transition(field=state, source=[SelectionState.PENDING], target=SelectionState.ACCEPTED)
    def select_accept(self) -> None:
        pass

    @transition(field=state, source=[SelectionState.PENDING], target=SelectionState.REFUSED)
    def select_refuse(self) -> None:
        pass

    @transition(field=state, source=SelectionState.ACCEPTED, target=SelectionState.UNDO_PENDING)
    def unselect_request(self) -> None:
        pass

    @transition(field=state, source=SelectionState.UNDO_PENDING, target=SelectionState.UNDONE)
    def unselect_accept(self) -> None:
        pass

    @transition(field=state, source=SelectionState.UNDO_PENDING, target=SelectionState.ACCEPTED)
    def unselect_refuse(self) -> None:
        pass


class TransferLine(models.TextChoices):
    """附列资料二 lines 14–23b (domain.md §15)."""

    EXEMPT = "14", _("14 免税项目用")
    WELFARE = "15", _("15 集体福利、个人消费")
    LOSS = "16", _("16 非正常损失")
    SIMPLE = "17", _("17 简易计税方法征税项目用")
    EXPORT = "18", _("18 免抵退税办法不得抵扣的进项税额")
    INSPECTION = "19", _("19 纳税检查调减进项税额")
    RED_FORM = "20", _("20 红字专用发票信息表注明的进项税额")
    ARREARS = "21", _("21 上期留抵税额抵减欠税")
    REFUND = "22", _("22 上期留抵税额退税")
    ABNORMAL = "23a", _("23a 异常凭证转出进项税额")
    OTHER = "23b", _("23b 其他应作进项税额转出的情形")


class TransferOut(models.Model):
    """进项税额转出: one amount on one line of a period, with its reason and, when there is one, its invoice."""

    tax_period = models.ForeignKey(TaxPeriod, models.PROTECT, related_name="transfers_out", verbose_name=_("所属期"))
    line = models.CharField(_("栏次"), max_length=3, choices=TransferLine.choices)
    tax = MoneyField(_("转出税额"))
    reason = models.CharField(_("原因"), max_length=300)
    invoice = models.ForeignKey(ReceivedInvoice, models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("发票"))
    automatic = models.BooleanField(_("自动生成"), default=False)
    source_key = models.CharField(_("来源"), max_length=60, blank=True, help_text=_("自动转出的来源（防止重复）"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("创建人"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("进项税额转出")
        verbose_name_plural = _("进项税额转出")
        ordering = ["tax_period", "line", "id"]
        constraints = [models.UniqueConstraint(fields=["source_key"], condition=~Q(source_key=""),
                                               name="transferout_source_once")]

    def __str__(self) -> str:
        return f"{self.tax_period.period} {self.line} {self.tax}"


class FilingHoliday(models.Model):
    """A day the tax office is closed: a filing deadline falling on it (or a weekend) moves to the next working day.
    Kept as data (each year's calendar is published late)."""

    day = models.DateField(_("日期"), unique=True)
    name = models.CharField(_("名称"), max_length=40, blank=True)
    working = models.BooleanField(_("调休上班"), default=False, help_text=_("周末但上班（调休）"))

    class Meta:
        verbose_name = _("申报期节假日")
        verbose_name_plural = _("申报期节假日")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"
