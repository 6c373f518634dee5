"""报销 (reimbursement): an employee's claim (报销单) holding received invoices and tickets with the amount claimed
from each.

- ``ExpenseClaim``: draft → submitted → approved → paid, or rejected with a reason (from submitted or approved);
  who claims (the employee, named by the expense system or by finance: employees are not users), for which
  entity, and when it was approved, paid, booked.
- ``ClaimLine``: one invoice on one claim with the amount claimed from it. Across all claims that are not rejected
  an invoice's claimed amounts never exceed what is left of it (its 价税合计 less what was red-flushed).

Every row here is written by ``receiving/claims.py``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import FSMField, transition

from invoicing.models import MoneyField, Taxpayer
from receiving.models import ReceivedInvoice


class ClaimState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已提交")
    APPROVED = "approved", _("已审批")
    PAID = "paid", _("已付款")
    REJECTED = "rejected", _("已驳回")


# The states whose lines hold their invoices' amounts (a rejected claim gives them back).
HOLDING_STATES = (ClaimState.DRAFT, ClaimState.SUBMITTED, ClaimState.APPROVED, ClaimState.PAID)


class ClaimSource(models.TextChoices):
    ADMIN = "admin", _("后台录入")
    API = "api", _("费用系统接口")


class ExpenseClaim(models.Model):
    """One 报销单 of one employee, for one entity."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    claim_no = models.CharField(_("报销单号"), max_length=40, unique=True)
    claimant_name = models.CharField(_("报销人"), max_length=60)
    claimant_code = models.CharField(_("员工编号"), max_length=40, blank=True)
    department = models.CharField(_("部门"), max_length=60, blank=True)
    title = models.CharField(_("事由"), max_length=200, blank=True)
    state = FSMField(_("状态"), max_length=10, choices=ClaimState.choices, default=ClaimState.DRAFT, protected=True)
    source = models.CharField(_("来源"), max_length=8, choices=ClaimSource.choices, default=ClaimSource.ADMIN)
    external_ref = models.CharField(_("外部单号"), max_length=64, blank=True,
                                    help_text=_("费用系统中的单号"))
    reject_reason = models.CharField(_("驳回原因"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("录入人"))
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("审批人"))
    approved_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    paid_at = models.DateTimeField(_("付款时间"), null=True, blank=True)
    voucher_no = models.CharField(_("凭证号"), max_length=40, blank=True)
    booked_at = models.DateTimeField(_("入账时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("报销单")
        verbose_name_plural = pgettext_lazy("plural", "报销单")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_expenseclaim", "可审批或驳回报销单"),
            ("pay_expenseclaim", "可登记报销付款"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "external_ref"], condition=~Q(external_ref=""),
                                    name="expenseclaim_external_ref_per_entity"),
        ]
        indexes = [models.Index(fields=["taxpayer", "state", "-created_at"], name="claim_entity_state_newest")]

    def __str__(self) -> str:
        return self.claim_no

    @transition(field=state, source=ClaimState.DRAFT, target=ClaimState.SUBMITTED)
    def submit(self) -> None:
        pass

    @transition(field=state, source=ClaimState.SUBMITTED, target=ClaimState.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=[ClaimState.SUBMITTED, ClaimState.APPROVED], target=ClaimState.REJECTED)
    def reject(self, *, reason: str) -> None:
        self.reject_reason = reason

    @transition(field=state, source=ClaimState.APPROVED, target=ClaimState.PAID)
    def mark_paid(self) -> None:
        pass


class ClaimLine(models.Model):
    """One invoice on one claim, with the amount claimed from it."""

    claim = models.ForeignKey(ExpenseClaim, models.CASCADE, related_name="lines", verbose_name=_("报销单"))
    invoice = models.ForeignKey(ReceivedInvoice, models.PROTECT, related_name="claim_lines", verbose_name=_("发票"))
    amount = MoneyField(_("报销金额"))
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("报销明细")
        verbose_name_plural = pgettext_lazy("plural", "报销明细")
        ordering = ["claim_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "invoice"], name="claimline_invoice_once_per_claim"),
            models.CheckConstraint(condition=Q(amount__gt=Decimal("0")), name="claimline_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"
