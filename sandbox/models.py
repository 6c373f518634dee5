"""The tax platform's stand-in: its own tables, never read or written by business code.

The national ledger of issued invoices and their lines, red-letter forms, monthly quotas, deduction selections and
statistics, the accounts (one per taxpayer, with its signing key), fault profiles, the replay guard and the clock.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.fields import EncryptedTextField

MONEY = {"max_digits": 18, "decimal_places": 2}
QTY = {"max_digits": 25, "decimal_places": 13}


class SandboxAccount(models.Model):
    """A taxpayer's account on the platform: who it is, its signing key, and how the platform treats it."""

    credit_code = models.CharField(_("纳税人识别号"), max_length=20, unique=True)
    name = models.CharField(_("名称"), max_length=150)
    region_code = models.CharField(_("地区代码"), max_length=4, default="4400")
    channel_digit = models.CharField(_("开具渠道位"), max_length=1, default="2", help_text=_("发票号码第5位"))
    app_key = models.CharField(_("AppKey"), max_length=100, unique=True)
    secret = EncryptedTextField(_("密钥"))
    issue_delay_seconds = models.PositiveIntegerField(
        _("开票完成延迟（秒）"), default=0, help_text=_("受理后经过该时长（沙箱时钟）才开具完成")
    )
    monthly_quota = models.DecimalField(_("每月授信额度"), default=Decimal("10000000.00"), **MONEY)
    is_demo = models.BooleanField(_("演示主体"), default=False, help_text=_("财务可在后台查看并切换其故障注入"))
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("沙箱账户")
        verbose_name_plural = pgettext_lazy("plural", "沙箱账户")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.credit_code})"


class FaultProfile(models.Model):
    """Faults injected into this account's calls. Draws come from a seeded generator so runs repeat exactly."""

    account = models.OneToOneField(SandboxAccount, models.CASCADE, related_name="fault", verbose_name=_("账户"))
    enabled = models.BooleanField(_("启用故障注入"), default=False)
    latency_ms = models.PositiveIntegerField(_("附加延迟（毫秒）"), default=0)
    error_rate = models.DecimalField(_("服务端错误率（5xx）"), max_digits=4, decimal_places=3, default=Decimal(0))
    timeout_before_rate = models.DecimalField(
        _("处理前超时率"), max_digits=4, decimal_places=3, default=Decimal(0), help_text=_("请求未处理，客户端超时")
    )
    timeout_after_rate = models.DecimalField(
        _("处理后超时率"), max_digits=4, decimal_places=3, default=Decimal(0),
        help_text=_("请求已处理并提交，应答丢失：客户端看到超时，但发票已开出"),
    )
    duplicate_reply_rate = models.DecimalField(
        _("重复应答率"), max_digits=4, decimal_places=3, default=Decimal(0),
        help_text=_("开票请求已受理，但应答为“流水号重复”"),
    )
    session_dropped = models.BooleanField(_("税局会话掉线"), default=False)
    rate_limit_per_second = models.PositiveIntegerField(_("每秒请求上限"), default=0, help_text=_("0 表示不限"))
    seed = models.PositiveIntegerField(_("随机种子"), default=1)
    draws = models.PositiveBigIntegerField(_("已抽取次数"), default=0, editable=False)
    window_second = models.BigIntegerField(_("限流窗口（秒）"), default=0, editable=False)
    window_count = models.PositiveIntegerField(_("窗口内请求数"), default=0, editable=False)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("故障注入")
        verbose_name_plural = pgettext_lazy("plural", "故障注入")

    def __str__(self) -> str:
        return f"{self.account.name}: {'on' if self.enabled else 'off'}"


class SandboxNonce(models.Model):
    """Nonces seen within the signing window: a second use is a replay."""

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="+", verbose_name=_("账户"))
    nonce = models.CharField(_("随机串"), max_length=64)
    created_at = models.DateTimeField(_("收到时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("防重放随机串")
        verbose_name_plural = pgettext_lazy("plural", "防重放随机串")
        constraints = [models.UniqueConstraint(fields=["account", "nonce"], name="sandbox_nonce_unique")]

    def __str__(self) -> str:
        return self.nonce


class SandboxClock(models.Model):
    """The platform's clock: real time plus an offset that tests and the admin can move forward."""

    offset_seconds = models.BigIntegerField(_("偏移（秒）"), default=0)

    class Meta:
        verbose_name = _("沙箱时钟")
        verbose_name_plural = pgettext_lazy("plural", "沙箱时钟")

    def __str__(self) -> str:
        return f"+{self.offset_seconds}s"


class NumberSequence(models.Model):
    """One counter per number prefix (year + province + channel digit for invoices)."""

    prefix = models.CharField(_("号码前缀"), max_length=8, unique=True)
    last = models.BigIntegerField(_("已用到的序号"), default=0)

    class Meta:
        verbose_name = _("发票号码序列")
        verbose_name_plural = pgettext_lazy("plural", "发票号码序列")

    def __str__(self) -> str:
        return f"{self.prefix}:{self.last}"


class IssueState(models.TextChoices):
    PENDING = "20", _("开票中")
    ISSUED = "2", _("开票完成")
    FAILED = "22", _("开票失败")


class LedgerKind(models.TextChoices):
    """The kinds the platform issues (查验 fplx codes, domain.md §1.2a)."""

    SHUDIAN_SPECIAL = "81", _("数电专票")
    SHUDIAN_NORMAL = "82", _("数电普票")
    PAPER_SPECIAL = "85", _("数电纸票（专票）")
    PAPER_NORMAL = "86", _("数电纸票（普票）")


BUYER_USAGE_CHOICES = [("1", _("勾选抵扣")), ("4", _("不抵扣"))]
LINE_PROPERTY_CHOICES = [(0, _("正常行")), (1, _("折扣行")), (2, _("被折扣行"))]


class LedgerStatus(models.TextChoices):
    NORMAL = "01", _("正常")
    VOIDED = "02", _("已作废")
    RED_FULL = "03", _("已红冲-全额")
    RED_PARTIAL = "04", _("已红冲-部分")


class LedgerInvoice(models.Model):
    """An invoice in the national ledger, from acceptance (开票中) to issued, red-flushed or voided."""

    account = models.ForeignKey(SandboxAccount, models.PROTECT, related_name="invoices", verbose_name=_("销方账户"))
    serial = models.CharField(_("请求流水号"), max_length=64)
    number = models.CharField(_("发票号码"), max_length=20, unique=True, null=True, blank=True)
    kind = models.CharField(_("票种"), max_length=2, choices=LedgerKind.choices)
    issue_state = models.CharField(_("开具状态"), max_length=2, choices=IssueState.choices, default=IssueState.PENDING)
    status = models.CharField(_("发票状态"), max_length=2, choices=LedgerStatus.choices, default=LedgerStatus.NORMAL)
    accepted_at = models.DateTimeField(_("受理时间"))
    complete_at = models.DateTimeField(_("预计完成时间"))
    issued_at = models.DateTimeField(_("开票时间"), null=True, blank=True)
    seller_credit_code = models.CharField(_("销方税号"), max_length=20)
    seller_name = models.CharField(_("销方名称"), max_length=150)
    buyer_name = models.CharField(_("购方名称"), max_length=150)
    buyer_tax_id = models.CharField(_("购方税号"), max_length=20, blank=True, db_index=True)
    buyer_address = models.CharField(_("购方地址"), max_length=300, blank=True)
    buyer_phone = models.CharField(_("购方电话"), max_length=60, blank=True)
    buyer_bank_name = models.CharField(_("购方开户行"), max_length=120, blank=True)
    buyer_bank_account = models.CharField(_("购方账号"), max_length=100, blank=True)
    total_amount = models.DecimalField(_("合计金额"), **MONEY)
    total_tax = models.DecimalField(_("合计税额"), **MONEY)
    total_with_tax = models.DecimalField(_("价税合计"), **MONEY)
    red_amount = models.DecimalField(_("已红冲金额"), default=Decimal("0.00"), **MONEY)
    remark = models.CharField(_("备注"), max_length=500, blank=True)
    drawer = models.CharField(_("开票人"), max_length=50, blank=True)
    specific_business_code = models.CharField(_("特定业务"), max_length=2, blank=True)
    specific_business = models.JSONField(_("特定业务信息"), default=dict, blank=True)
    is_red = models.BooleanField(_("红字"), default=False)
    blue_number = models.CharField(_("蓝字发票号码"), max_length=20, blank=True)
    red_form_no = models.CharField(_("确认单编号"), max_length=20, blank=True)
    buyer_booked = models.BooleanField(_("购方已入账"), default=False)
    buyer_usage = models.CharField(_("购方用途确认"), max_length=1, blank=True, choices=BUYER_USAGE_CHOICES)

    class Meta:
        verbose_name = _("台账发票")
        verbose_name_plural = pgettext_lazy("plural", "台账发票")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["account", "serial"], name="sandbox_serial_unique")]

    def __str__(self) -> str:
        return self.number or f"({self.serial})"

    @property
    def buyer_has_used(self) -> bool:
        """用途确认 or 入账确认 done: red-letter forms need the buyer's confirmation (§11.1)."""
        return self.buyer_booked or bool(self.buyer_usage)


class LedgerLine(models.Model):
    invoice = models.ForeignKey(LedgerInvoice, models.CASCADE, related_name="lines", verbose_name=_("台账发票"))
    line_no = models.PositiveIntegerField(_("行号"))
    item_name = models.CharField(_("项目名称"), max_length=300)
    short_name = models.CharField(_("商品服务简称"), max_length=120, blank=True)
    spec = models.CharField(_("规格型号"), max_length=150, blank=True)
    unit = models.CharField(_("单位"), max_length=30, blank=True)
    quantity = models.DecimalField(_("数量"), null=True, blank=True, **QTY)
    unit_price = models.DecimalField(_("单价（不含税）"), null=True, blank=True, **QTY)
    amount = models.DecimalField(_("金额（不含税）"), **MONEY)
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4)
    tax = models.DecimalField(_("税额"), **MONEY)
    tax_code = models.CharField(_("税收分类编码"), max_length=19)
    line_property = models.PositiveSmallIntegerField(_("发票行性质"), default=0, choices=LINE_PROPERTY_CHOICES)
    red_amount = models.DecimalField(_("已红冲金额"), default=Decimal("0.00"), **MONEY)

    class Meta:
        verbose_name = _("台账发票明细")
        verbose_name_plural = pgettext_lazy("plural", "台账发票明细")
        ordering = ["invoice_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["invoice", "line_no"], name="sandbox_line_unique")]

    def __str__(self) -> str:
        return f"{self.invoice_id}#{self.line_no}"


class LedgerRedForm(models.Model):
    """红字发票信息确认单 as the platform keeps it."""

    form_no = models.CharField(_("确认单编号"), max_length=20, unique=True)
    uuid = models.CharField(_("确认单UUID"), max_length=32, unique=True)
    request_no = models.CharField(_("申请流水号"), max_length=64, blank=True)
    account = models.ForeignKey(SandboxAccount, models.PROTECT, related_name="red_forms", verbose_name=_("录入方账户"))
    initiator = models.CharField(_("录入方"), max_length=6, choices=[("seller", "销方"), ("buyer", "购方")])
    status = models.CharField(_("状态"), max_length=2, db_index=True)
    reason = models.CharField(_("冲红原因"), max_length=2)
    blue = models.ForeignKey(LedgerInvoice, models.PROTECT, related_name="red_forms", verbose_name=_("蓝字发票"))
    seller_credit_code = models.CharField(_("销方税号"), max_length=20)
    buyer_credit_code = models.CharField(_("购方税号"), max_length=20, blank=True)
    total_amount = models.DecimalField(_("红冲金额"), **MONEY)
    total_tax = models.DecimalField(_("红冲税额"), **MONEY)
    is_full = models.BooleanField(_("全额"), default=True)
    created_at = models.DateTimeField(_("录入时间"))
    expires_at = models.DateTimeField(_("确认截止"), null=True, blank=True)
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    red_invoice = models.OneToOneField(
        LedgerInvoice, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("红字发票")
    )

    class Meta:
        verbose_name = _("红字确认单")
        verbose_name_plural = pgettext_lazy("plural", "红字确认单")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "request_no"], condition=~models.Q(request_no=""), name="sandbox_redform_request"
            )
        ]

    def __str__(self) -> str:
        return self.form_no


class LedgerRedFormLine(models.Model):
    form = models.ForeignKey(LedgerRedForm, models.CASCADE, related_name="lines", verbose_name=_("红字确认单"))
    blue_line_no = models.PositiveIntegerField(_("蓝字发票行号"))
    item_name = models.CharField(_("项目名称"), max_length=300)
    tax_code = models.CharField(_("税收分类编码"), max_length=19)
    quantity = models.DecimalField(_("数量"), null=True, blank=True, **QTY)
    unit_price = models.DecimalField(_("单价（不含税）"), null=True, blank=True, **QTY)
    amount = models.DecimalField(_("金额（不含税）"), **MONEY)
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4)
    tax = models.DecimalField(_("税额"), **MONEY)

    class Meta:
        verbose_name = _("红字确认单明细")
        verbose_name_plural = pgettext_lazy("plural", "红字确认单明细")
        ordering = ["form_id", "blue_line_no"]

    def __str__(self) -> str:
        return f"{self.form_id}#{self.blue_line_no}"


class LedgerQuota(models.Model):
    """发票总额度 for one account and calendar month (§12.1): issuing consumes the 不含税 amount."""

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="quotas", verbose_name=_("账户"))
    period = models.CharField(_("月份"), max_length=7)  # YYYY-MM
    total = models.DecimalField(_("总额度"), **MONEY)
    used = models.DecimalField(_("已用"), default=Decimal("0.00"), **MONEY)

    class Meta:
        verbose_name = _("授信额度")
        verbose_name_plural = pgettext_lazy("plural", "授信额度")
        ordering = ["account_id", "-period"]
        constraints = [models.UniqueConstraint(fields=["account", "period"], name="sandbox_quota_unique")]

    def __str__(self) -> str:
        return f"{self.account.name} {self.period}"

    @property
    def remaining(self) -> Decimal:
        return self.total - self.used


class LedgerSelection(models.Model):
    """A buyer's 勾选 of one invoice into a 所属期."""

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="selections", verbose_name=_("账户"))
    invoice = models.OneToOneField(LedgerInvoice, models.CASCADE, related_name="selection", verbose_name=_("台账发票"))
    period = models.CharField(_("所属期"), max_length=6)  # YYYYMM
    purpose = models.CharField(_("用途"), max_length=1, default="1")
    effective_tax = models.DecimalField(_("有效抵扣税额"), **MONEY)
    reason = models.CharField(_("不抵扣原因"), max_length=2, blank=True)
    created_at = models.DateTimeField(_("勾选时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("勾选记录")
        verbose_name_plural = pgettext_lazy("plural", "勾选记录")

    def __str__(self) -> str:
        return f"{self.period} {self.invoice_id}"


class LedgerStatistics(models.Model):
    """The 抵扣统计表 of one account and period: generated (已统计) then confirmed (已确认)."""

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="statistics", verbose_name=_("账户"))
    period = models.CharField(_("所属期"), max_length=6)
    status = models.CharField(_("状态"), max_length=10)  # generated / confirmed
    count = models.PositiveIntegerField(_("抵扣份数"), default=0)
    amount = models.DecimalField(_("抵扣金额"), default=Decimal("0.00"), **MONEY)
    tax = models.DecimalField(_("抵扣税额"), default=Decimal("0.00"), **MONEY)
    not_deducted_count = models.PositiveIntegerField(_("其他用途份数"), default=0)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("抵扣统计")
        verbose_name_plural = pgettext_lazy("plural", "抵扣统计")
        constraints = [models.UniqueConstraint(fields=["account", "period"], name="sandbox_statistics_unique")]

    def __str__(self) -> str:
        return f"{self.period} {self.status}"
