"""票仓: the blank paper stock of 数电纸票 (kinds 85 / 86) an entity holds.

A batch (领购的一卷/一本) is one paper 发票代码 with a run of 8-digit 发票号码 (domain.md §1, §2: a 数电纸票 carries its
20-digit number and a paper code + number). Issuing takes the batch's numbers in order (``next_number``); a blank
number voided, damaged or lost (空白发票作废) is recorded as a ``PaperVoid`` and never taken. ``remaining`` counts the
numbers neither taken nor voided, so stock counts are one aggregate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from invoicing.models import Taxpayer

PAPER_NUMBER_DIGITS = 8  # 纸质发票号码, domain.md §2


class PaperKind(models.TextChoices):
    PAPER_SPECIAL = "85", _("数电纸票（专票）")
    PAPER_NORMAL = "86", _("数电纸票（普票）")


class PaperVoidReason(models.TextChoices):
    BLANK = "blank", _("空白作废")
    DAMAGED = "damaged", _("损毁")
    LOST = "lost", _("丢失")


class PaperBatch(models.Model):
    taxpayer = models.ForeignKey(Taxpayer, on_delete=models.PROTECT, related_name="paper_batches",
                                 verbose_name=_("开票主体"))
    kind = models.CharField(_("发票种类"), max_length=2, choices=PaperKind.choices)
    code = models.CharField(_("纸质发票代码"), max_length=12)
    start_number = models.PositiveIntegerField(_("起始号码"))
    end_number = models.PositiveIntegerField(_("终止号码"))
    next_number = models.PositiveIntegerField(_("下一号码"))
    remaining = models.PositiveIntegerField(_("剩余份数"))
    received_at = models.DateTimeField(_("领用时间"))
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("登记人"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("纸票库存")
        verbose_name_plural = _("纸票库存")
        ordering = ["taxpayer_id", "kind", "received_at", "id"]
        permissions = [("void_paperbatch", _("可以作废空白纸票"))]
        indexes = [models.Index(fields=["taxpayer", "kind", "received_at", "id"], name="paperbatch_alloc_order")]
        constraints = [
            models.CheckConstraint(condition=Q(start_number__lte=F("end_number")), name="paperbatch_range_order"),
            models.CheckConstraint(
                condition=Q(next_number__gte=F("start_number")) & Q(next_number__lte=F("end_number") + 1),
                name="paperbatch_next_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.first_label}–{self.last_label}"

    @staticmethod
    def number_text(number: int) -> str:
        return str(number).zfill(PAPER_NUMBER_DIGITS)

    @property
    def first_label(self) -> str:
        return self.number_text(self.start_number)

    @property
    def last_label(self) -> str:
        return self.number_text(self.end_number)

    @property
    def size(self) -> int:
        return self.end_number - self.start_number + 1


class PaperVoid(models.Model):
    batch = models.ForeignKey(PaperBatch, on_delete=models.PROTECT, related_name="voids", verbose_name=_("纸票库存"))
    taxpayer = models.ForeignKey(Taxpayer, on_delete=models.PROTECT, related_name="+", verbose_name=_("开票主体"))
    number = models.PositiveIntegerField(_("纸质发票号码"))
    reason = models.CharField(_("作废原因"), max_length=10, choices=PaperVoidReason.choices)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    voided_at = models.DateTimeField(_("作废时间"))
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", verbose_name=_("操作人"))

    class Meta:
        verbose_name = _("空白纸票作废")
        verbose_name_plural = _("空白纸票作废")
        ordering = ["batch_id", "number"]
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="papervoid_once_per_number")]

    def __str__(self) -> str:
        return f"{self.batch.code} {PaperBatch.number_text(self.number)}"
