"""Tables of the pool's controls: verification (查验, domain.md §14.2) with its budget, and the receiving rules.

- ``Verification``: one request to verify one invoice (asked by a person, a bulk job, a use), pending until the
  platform answers; kept with the result code 00–04, the platform's status and risk level, when and by whom.
- ``VerificationJob``: a bulk verification with its progress; items that wait (budget, platform unavailable) keep it
  open and are retried, never failed.
- ``VerificationUsage`` / ``VerificationRate``: the budget, counted in the database under a row lock so that it holds
  across workers: calls per invoice per (China) day, calls per entity per second.
- ``InvoiceCheck``: one row per pool record with the latest verification and the latest rule run (all failures at
  once, each with the rule's version): what the pool's list shows and filters on.
- ``ReceivingRule``: an entity's configured rule (severity block / warn / off, parameters, a version bumped on each
  change); ``Seller``: the entity's register of sellers (blacklist with reasons, verified status);
  ``RuleOverride``: finance's override of a blocking failure, valid while the invoice stays as it was.

Every row here is written by ``receiving/verification.py`` and ``receiving/rules.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import Taxpayer
from receiving.models import ReceivedInvoice

# --- verification --------------------------------------------------------------------------------------------------


class VerifyState(models.TextChoices):
    PENDING = "pending", _("待查验")
    DONE = "done", _("已查验")
    REUSED = "reused", _("沿用缓存结果")


class VerifyOutcome(models.TextChoices):
    """查验结果 (domain.md §14.2) as the pool shows it; ``""``: not verified yet."""

    NONE = "", _("未查验")
    OK = "00", _("查验成功")
    FAILED = "01", _("查验失败")
    NOT_FOUND = "02", _("查无此票")
    MISMATCH = "03", _("查验不一致")
    NOT_OURS = "04", _("非本单位开具或取得")


class VerifyPurpose(models.TextChoices):
    ASKED = "asked", _("人工查验")
    BULK = "bulk", _("批量查验")
    REIMBURSE = "reimburse", _("报销前")
    DEDUCT = "deduct", _("勾选抵扣前")
    BOOK = "book", _("入账前")


class JobStatus(models.TextChoices):
    RUNNING = "running", _("进行中")
    WAITING = "waiting", _("等待重试")
    DONE = "done", _("已完成")


class VerificationJob(models.Model):
    """A bulk verification: which invoices, how far, what waits."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    status = models.CharField(_("状态"), max_length=10, choices=JobStatus.choices, default=JobStatus.RUNNING)
    force = models.BooleanField(_("强制重新查验"), default=False)
    total = models.PositiveIntegerField(_("发票数"), default=0)
    done = models.PositiveIntegerField(_("已完成"), default=0)
    waiting = models.PositiveIntegerField(_("等待中"), default=0)
    calls = models.PositiveIntegerField(_("平台调用次数"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("操作人"))
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    message = models.TextField(_("信息"), blank=True)
    created_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("批量查验")
        verbose_name_plural = pgettext_lazy("plural", "批量查验")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0


class Verification(models.Model):
    """One request to verify one invoice and, once answered, its result."""

    invoice = models.ForeignKey(ReceivedInvoice, models.CASCADE, related_name="verifications", verbose_name=_("发票"))
    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    job = models.ForeignKey(VerificationJob, models.CASCADE, null=True, blank=True, related_name="items",
                            verbose_name=_("批量查验"))
    state = models.CharField(_("状态"), max_length=10, choices=VerifyState.choices, default=VerifyState.PENDING)
    purpose = models.CharField(_("用途"), max_length=20, choices=VerifyPurpose.choices, blank=True)
    force = models.BooleanField(_("强制重新查验"), default=False)
    fingerprint = models.CharField(_("查验要素摘要"), max_length=64, blank=True)
    request = models.JSONField(_("查验要素"), default=dict, blank=True)
    code = models.CharField(_("查验结果"), max_length=2, choices=VerifyOutcome.choices, blank=True)
    message = models.CharField(_("平台信息"), max_length=300, blank=True)
    status_code = models.CharField(_("发票状态代码"), max_length=4, blank=True)
    risk_level = models.CharField(_("风险等级"), max_length=2, blank=True)
    differences = models.JSONField(_("不一致的字段"), default=list, blank=True)
    attempts = models.PositiveIntegerField(_("调用次数"), default=0)
    wait_reason = models.CharField(_("等待原因"), max_length=20, blank=True)
    last_error = models.CharField(_("最近一次错误"), max_length=300, blank=True)
    next_try_at = models.DateTimeField(_("下次重试时间"), null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("操作人"))
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    verified_at = models.DateTimeField(_("查验时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("查验记录")
        verbose_name_plural = pgettext_lazy("plural", "查验记录")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["invoice", "-created_at"], name="verification_invoice_newest"),
            models.Index(fields=["state", "next_try_at"], name="verification_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.code or self.state}"


class VerificationUsage(models.Model):
    """Platform calls made for one invoice on one China day (the per-invoice daily budget)."""

    invoice = models.ForeignKey(ReceivedInvoice, models.CASCADE, related_name="+", verbose_name=_("发票"))
    day = models.DateField(_("日期"))
    calls = models.PositiveIntegerField(_("调用次数"), default=0)

    class Meta:
        verbose_name = _("查验次数")
        verbose_name_plural = pgettext_lazy("plural", "查验次数")
        constraints = [models.UniqueConstraint(fields=["invoice", "day"], name="verificationusage_once_a_day")]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.day}: {self.calls}"


class VerificationRate(models.Model):
    """Platform verification calls of one entity in its current one-second window (the entity's rate)."""

    taxpayer = models.OneToOneField(Taxpayer, models.CASCADE, related_name="+", verbose_name=_("主体"))
    window = models.BigIntegerField(_("时间窗（秒）"), default=0)
    calls = models.PositiveIntegerField(_("本窗调用次数"), default=0)

    class Meta:
        verbose_name = _("查验频率")
        verbose_name_plural = pgettext_lazy("plural", "查验频率")

    def __str__(self) -> str:
        return f"{self.taxpayer_id} @{self.window}: {self.calls}"


# --- rules ---------------------------------------------------------------------------------------------------------


class Severity(models.TextChoices):
    BLOCK = "block", _("阻止")
    WARN = "warn", _("提醒")
    OFF = "off", _("关闭")


class RulesOutcome(models.TextChoices):
    UNCHECKED = "", _("未检查")
    PASS = "pass", _("通过")
    WARN = "warn", _("有提醒")
    BLOCK = "block", _("不可使用")
    OVERRIDDEN = "overridden", _("已放行")


class InvoiceCheck(models.Model):
    """The latest verification and rule results of one pool record (what the list shows and filters on)."""

    invoice = models.OneToOneField(ReceivedInvoice, models.CASCADE, primary_key=True, related_name="controls",
                                   verbose_name=_("发票"))
    taxpayer = models.ForeignKey(Taxpayer, models.CASCADE, related_name="+", verbose_name=_("主体"))
    verify_code = models.CharField(_("查验结果"), max_length=2, choices=VerifyOutcome.choices, blank=True)
    verify_pending = models.BooleanField(_("查验待完成"), default=False)
    verify_message = models.CharField(_("查验信息"), max_length=300, blank=True)
    verify_differences = models.JSONField(_("不一致的字段"), default=list, blank=True)
    verify_fingerprint = models.CharField(_("查验要素摘要"), max_length=64, blank=True)
    verify_status_code = models.CharField(_("查验时发票状态代码"), max_length=4, blank=True)
    verified_at = models.DateTimeField(_("查验时间"), null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("查验人"))
    verified_by_label = models.CharField(_("查验方"), max_length=100, blank=True)
    rules_outcome = models.CharField(_("规则结果"), max_length=10, choices=RulesOutcome.choices, blank=True)
    rules_failures = models.JSONField(_("未通过的规则"), default=list, blank=True)
    rules_fingerprint = models.CharField(_("检查时发票摘要"), max_length=64, blank=True)
    rules_checked_at = models.DateTimeField(_("规则检查时间"), null=True, blank=True)
    needs_second_approver = models.BooleanField(_("需第二审批人"), default=False)

    class Meta:
        verbose_name = _("发票检查结果")
        verbose_name_plural = pgettext_lazy("plural", "发票检查结果")
        permissions = [
            ("verify_invoice", "可查验收票"),
            ("override_rule", "可放行收票规则"),
        ]
        indexes = [
            models.Index(fields=["taxpayer", "rules_outcome"], name="invoicecheck_entity_rules"),
            models.Index(fields=["taxpayer", "verify_code"], name="invoicecheck_entity_verify"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.verify_code or '-'} / {self.rules_outcome or '-'}"


class ReceivingRule(models.Model):
    """One named rule of one entity: its severity and parameters. Saved only through ``rules.receiving_rule_save``,
    which refuses a bad parameter; each change bumps ``version``, stored with every result."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    code = models.CharField(_("规则"), max_length=40)
    severity = models.CharField(_("级别"), max_length=5, choices=Severity.choices, default=Severity.BLOCK)
    params = models.JSONField(_("参数"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("收票规则")
        verbose_name_plural = pgettext_lazy("plural", "收票规则")
        ordering = ["taxpayer_id", "code"]
        constraints = [models.UniqueConstraint(fields=["taxpayer", "code"], name="receivingrule_once_per_entity")]

    def __str__(self) -> str:
        return self.code


class SellerStatus(models.TextChoices):
    UNKNOWN = "", _("未核实")
    ACTIVE = "active", _("正常")
    ABNORMAL = "abnormal", _("非正常户")
    CANCELLED = "cancelled", _("已注销")


class Seller(models.Model):
    """A seller as one entity knows it: on the blacklist (with the reason) or not, and its verified status."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    tax_id = models.CharField(_("销售方纳税人识别号"), max_length=20)
    name = models.CharField(_("销售方名称"), max_length=200, blank=True)
    blacklisted = models.BooleanField(_("黑名单"), default=False)
    reason = models.CharField(_("列入原因"), max_length=300, blank=True)
    status = models.CharField(_("纳税人状态"), max_length=10, choices=SellerStatus.choices, blank=True)
    status_checked_at = models.DateField(_("状态核实日期"), null=True, blank=True)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("销售方名录")
        verbose_name_plural = pgettext_lazy("plural", "销售方名录")
        ordering = ["taxpayer_id", "tax_id"]
        constraints = [models.UniqueConstraint(fields=["taxpayer", "tax_id"], name="seller_once_per_entity")]

    def __str__(self) -> str:
        return f"{self.name} {self.tax_id}".strip()


class RuleOverride(models.Model):
    """Finance lets an invoice through a blocking rule, with a reason; valid while the invoice is as it was
    (``fingerprint``): any change to it lapses the override."""

    invoice = models.ForeignKey(ReceivedInvoice, models.CASCADE, related_name="rule_overrides", verbose_name=_("发票"))
    rule = models.CharField(_("规则"), max_length=40)
    reason = models.CharField(_("放行原因"), max_length=500)
    fingerprint = models.CharField(_("放行时发票摘要"), max_length=64)
    active = models.BooleanField(_("有效"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("操作人"))
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("放行时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("规则放行")
        verbose_name_plural = pgettext_lazy("plural", "规则放行")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["invoice", "active"], name="ruleoverride_invoice_active")]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.rule}"
