"""Field factories, choices and abstract mixins shared by billing documents, applications and invoices, and the
daily number sequences every sub-package numbers its rows from."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import CounterpartyKind, MoneyField, TaxCategory
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


def total_is_amount_plus_tax() -> Q:
    """价税合计 = 金额 + 税额 (domain.md §8.3), checked by the database.

    Written as "within a tenth of a fen" rather than "=": SQLite compares these columns as floating point
    (1.10 + 2.20 ≠ 3.30 there), while on PostgreSQL's exact numerics, with two decimal places, it means equality.
    """
    total, tolerance = models.F("amount") + models.F("tax"), models.Value(Decimal("0.001"))
    return Q(total__gte=total - tolerance) & Q(total__lte=total + tolerance)


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


class NumberSequence(models.Model):
    """Daily counters for document numbers (SQ20261122000001). Incremented under a row lock
    (``issuing.workflow.next_number``)."""

    prefix = models.CharField(_("前缀"), max_length=10)
    day = models.DateField(_("日期"))
    last_value = models.PositiveIntegerField(_("当日最后序号"), default=0)

    class Meta:
        verbose_name = _("编号序列")
        verbose_name_plural = pgettext_lazy("plural", "编号序列")
        constraints = [models.UniqueConstraint(fields=["prefix", "day"], name="numbersequence_unique")]

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d}:{self.last_value}"
