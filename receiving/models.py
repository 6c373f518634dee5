"""用票: the pool of received invoices, the files they came in (carriers), and the batches that brought them.

- ``ReceivedInvoice``: one record per invoice per receiving entity (主体, the buyer), keyed as domain.md §2.3 says:
  the 20-digit number for 数电 kinds, code + 8-digit number for legacy kinds. Lines, sources and carriers hang off it.
- ``Carrier``: one file (XML, OFD, PDF, image), kept once by its SHA-256 per entity; the stored bytes live under a
  path derived from the hash, so identical bytes are never stored twice. What its reader read is kept with it.
- ``Collection`` / ``CollectionItem``: one batch (an upload, a scanner session, a manual entry, the command line, the
  API, and later Excel, a mailbox, the platform download) and the outcome of each item in it.

Every row here is written by ``receiving/services.py``; the models hold fields, constraints and transitions only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import RETURN_VALUE, FSMField, transition

from invoicing.channels.base import RedFormStatus
from invoicing.models import MoneyField, Taxpayer


class ReceivedKind(models.TextChoices):
    """What a received document is: the 查验 fplx codes of domain.md §1.2a where one exists, words otherwise."""

    SHUDIAN_SPECIAL = "81", _("数电专票")
    SHUDIAN_NORMAL = "82", _("数电普票")
    PAPER_SPECIAL = "85", _("数电纸票（专票）")
    PAPER_NORMAL = "86", _("数电纸票（普票）")
    RAIL = "51", _("铁路电子客票")
    AIR = "61", _("航空运输电子客票行程单")
    MOTOR = "83", _("机动车销售电子统一发票")
    USED_CAR = "84", _("二手车销售电子统一发票")
    LEGACY_SPECIAL = "01", _("增值税专用发票（税控）")
    LEGACY_MOTOR = "03", _("机动车销售统一发票（税控）")
    LEGACY_NORMAL = "04", _("增值税普通发票（税控）")
    LEGACY_E_SPECIAL = "08", _("增值税电子专用发票（税控）")
    LEGACY_E_NORMAL = "10", _("增值税电子普通发票（税控）")
    LEGACY_ROLL = "11", _("增值税普通发票（卷式）")
    LEGACY_TOLL = "14", _("通行费电子普通发票")
    LEGACY_USED_CAR = "15", _("二手车销售统一发票（税控）")
    RAIL_PAPER = "rail_paper", _("铁路车票（纸质）")
    AIR_PAPER = "air_paper", _("航空运输电子客票行程单（纸质）")
    CUSTOMS = "customs", _("海关进口增值税专用缴款书")
    AGRI_PURCHASE = "agri_purchase", _("农产品收购发票")
    AGRI_SALES = "agri_sales", _("农产品销售发票")
    OTHER = "other", _("其他票据")


# Keyed by the 20-digit number alone (domain.md §2.3); 数电纸票 (85/86) also carry a paper code + number.
SHUDIAN_KINDS = frozenset({"81", "82", "85", "86", "51", "61", "83", "84"})
# Keyed by 发票代码 (10 or 12 digits) + 8-digit 发票号码.
LEGACY_KINDS = frozenset({"01", "03", "04", "08", "10", "11", "14", "15"})
TICKET_KINDS = frozenset({"51", "61", "rail_paper", "air_paper"})
SPECIAL_KINDS = frozenset({"81", "85", "01", "08"})


class PlatformStatus(models.TextChoices):
    """发票状态 as the platform reports it (domain.md §14.3); the raw code is kept beside it."""

    UNKNOWN = "", _("未查验")
    NORMAL = "normal", _("正常")
    VOIDED = "voided", _("作废")
    RED_FULL = "red_full", _("全额红冲")
    RED_PARTIAL = "red_partial", _("部分红冲")
    OUT_OF_CONTROL = "out_of_control", _("失控")
    ABNORMAL = "abnormal", _("异常")


class RiskLevel(models.TextChoices):
    """风险等级 ``fxdj`` (domain.md §14.3)."""

    UNKNOWN = "", _("未知")
    NORMAL = "01", _("正常")
    ABNORMAL = "02", _("异常凭证")
    SUSPECT = "03", _("疑点发票")


class CustomsMatch(models.TextChoices):
    """稽核比对 of a 海关进口增值税专用缴款书 against the customs data (domain.md §14.8): only 相符 may be deducted.
    Empty for every other kind."""

    NOT_APPLICABLE = "", _("不适用")
    NOT_COMPARED = "not_compared", _("未比对")
    MATCHED = "matched", _("相符")
    MISMATCHED = "mismatched", _("不符")
    HELD = "held", _("滞留")
    MISSING = "missing", _("缺联")


class ReviewState(models.TextChoices):
    CLEAR = "clear", _("无需复核")
    NEEDS_REVIEW = "review", _("待复核")
    RESOLVED = "resolved", _("已复核")


class UseState(models.TextChoices):
    """Where the invoice is in its use. Booking, reimbursement and deduction fill the later states."""

    IN_REVIEW = "in_review", _("复核中")
    IN_POOL = "in_pool", _("在池")
    BOOKED = "booked", _("已入账")
    REIMBURSED = "reimbursed", _("已报销")
    SELECTED = "selected", _("已勾选抵扣")


class Method(models.TextChoices):
    """How a batch came in (采集方式)."""

    UPLOAD = "upload", _("上传文件")
    SCANNER = "scanner", _("扫码枪")
    MANUAL = "manual", _("手工录入")
    API = "api", _("接口")
    CLI = "cli", _("命令行")
    EXCEL = "excel", _("Excel 导入")
    MAILBOX = "mailbox", _("邮箱")
    PLATFORM = "platform", _("税务平台下载")


class BookingSync(models.TextChoices):
    """Where 入账 / 取消入账 stands with the platform (the request is committed before the platform is called)."""

    NONE = "", _("无")
    BOOK_PENDING = "book_pending", _("入账待平台确认")
    UNBOOK_PENDING = "unbook_pending", _("取消入账待平台确认")
    REJECTED = "rejected", _("平台拒绝")


class DataSource(models.TextChoices):
    """Which path gave the record's fields, in the order of trust (domain.md §4, product.md item 9)."""

    XML = "xml", _("XML")
    OFD = "ofd", _("OFD")
    PDF = "pdf", _("PDF 文字层")
    QR = "qr", _("二维码")
    MANUAL = "manual", _("手工录入")
    PLATFORM = "platform", _("税务平台")


class ReceivedInvoice(models.Model):
    """One received invoice (or ticket, or customs form) in one receiving entity's pool. Never deleted."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="received_invoices", verbose_name=_("主体"))
    kind = models.CharField(_("票种"), max_length=16, choices=ReceivedKind.choices)
    number = models.CharField(_("发票号码"), max_length=30, help_text=_("数电发票 20 位；税控发票 8 位"))
    code = models.CharField(_("发票代码"), max_length=12, blank=True, help_text=_("税控发票 10 或 12 位；数电发票为空"))
    paper_code = models.CharField(_("纸质发票代码"), max_length=12, blank=True)
    paper_number = models.CharField(_("纸质发票号码"), max_length=8, blank=True)
    issue_date = models.DateField(_("开票日期"))
    seller_name = models.CharField(_("销售方名称"), max_length=200, blank=True)
    seller_tax_id = models.CharField(_("销售方纳税人识别号"), max_length=20, blank=True)
    buyer_name = models.CharField(_("购买方名称"), max_length=200, blank=True)
    buyer_tax_id = models.CharField(_("购买方纳税人识别号"), max_length=20, blank=True)
    amount = MoneyField(_("合计金额"), null=True, blank=True)
    tax = MoneyField(_("合计税额"), null=True, blank=True)
    total = MoneyField(_("价税合计"), null=True, blank=True)
    check_code = models.CharField(_("校验码"), max_length=20, blank=True)
    remark = models.TextField(_("备注"), blank=True)
    is_red = models.BooleanField(_("红字发票"), default=False)
    blue_number = models.CharField(_("对应蓝字发票号码"), max_length=20, blank=True)
    # 旅客运输 (tickets): who travelled, when, where; the deductible tax of domain.md §14.6.
    passenger_name = models.CharField(_("旅客姓名"), max_length=60, blank=True)
    passenger_id_number = models.CharField(_("旅客证件号码"), max_length=30, blank=True)
    travel_date = models.DateField(_("乘车/乘机日期"), null=True, blank=True)
    travel_from = models.CharField(_("出发地"), max_length=60, blank=True)
    travel_to = models.CharField(_("到达地"), max_length=60, blank=True)
    vehicle_number = models.CharField(_("车次/航班号"), max_length=20, blank=True)
    seat_class = models.CharField(_("席别/舱位"), max_length=20, blank=True)
    deductible_tax = MoneyField(
        _("可抵扣税额"), null=True, blank=True, help_text=_("旅客运输凭证：数电客票取票面税额，纸质客票按公式计算")
    )
    # 发票状态 and 风险等级 from the platform (verification, a later step), raw code kept.
    platform_status = models.CharField(
        _("发票状态"), max_length=16, choices=PlatformStatus.choices, default=PlatformStatus.UNKNOWN, blank=True
    )
    platform_status_code = models.CharField(_("状态原始代码"), max_length=4, blank=True)
    risk_level = models.CharField(_("风险等级"), max_length=2, choices=RiskLevel.choices, default="", blank=True)
    review_state = FSMField(
        _("复核状态"), max_length=10, choices=ReviewState.choices, default=ReviewState.CLEAR, protected=True
    )
    review_reasons = models.JSONField(
        _("复核原因"), default=list, blank=True, help_text=_("每条：字段、规则代码、说明（载体之间的差异写明两边的值）")
    )
    use_state = FSMField(_("使用状态"), max_length=12, choices=UseState.choices, default=UseState.IN_POOL, protected=True)
    use_state_before_selection = models.CharField(
        _("勾选前使用状态"), max_length=12, choices=UseState.choices, blank=True,
        help_text=_("勾选抵扣时的使用状态：撤销勾选后回到它"))
    customs_match = models.CharField(
        _("稽核比对结果"), max_length=12, choices=CustomsMatch.choices, default=CustomsMatch.NOT_APPLICABLE, blank=True,
        help_text=_("海关缴款书：相符后才能勾选抵扣"))
    other_buyer = models.BooleanField(
        _("购买方非本主体"), default=False, help_text=_("票面购买方不是收票主体：保留，由后续规则处理")
    )
    data_source = models.CharField(_("数据来源"), max_length=8, choices=DataSource.choices)
    # 入账 (bookkeeping): the accounting dimensions, and the platform's side (receiving/bookkeeping.py).
    voucher_no = models.CharField(_("凭证号"), max_length=40, blank=True)
    booked_on = models.DateField(_("入账日期"), null=True, blank=True)
    account_code = models.CharField(_("会计科目"), max_length=60, blank=True)
    cost_centre = models.CharField(_("成本中心"), max_length=60, blank=True)
    claim_no = models.CharField(_("报销单号"), max_length=40, blank=True, help_text=_("报销功能上线后填写"))
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("入账人")
    )
    booked_at = models.DateTimeField(_("入账操作时间"), null=True, blank=True)
    booking_sync = models.CharField(_("入账同步"), max_length=16, choices=BookingSync.choices, default="", blank=True)
    booking_request_no = models.CharField(_("入账请求号"), max_length=40, blank=True)
    booking_attempts = models.PositiveIntegerField(_("入账同步次数"), default=0)
    booking_error = models.TextField(_("平台信息"), blank=True)
    platform_booked = models.BooleanField(_("平台已入账"), default=False)
    # Red-flushed by the seller (receiving/redforms.py): what is left to use, and whether a use must be revisited.
    red_amount = MoneyField(_("已红冲金额"), default=Decimal("0.00"))
    red_tax = MoneyField(_("已红冲税额"), default=Decimal("0.00"))
    red_attention = models.BooleanField(
        _("红冲待处理"), default=False, help_text=_("已入账、报销或抵扣后被红冲：需调账或进项税额转出")
    )
    created_at = models.DateTimeField(_("入池时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("收票")
        verbose_name_plural = pgettext_lazy("plural", "发票池")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("download_carrier", "可下载收票文件"),
            ("review_receivedinvoice", "可复核收票"),
            ("book_receivedinvoice", "可入账收票"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "code", "number"], name="receivedinvoice_key_per_entity"),
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(SHUDIAN_KINDS)) | (Q(number__regex=r"^[0-9]{20}$") & Q(code="")),
                name="receivedinvoice_shudian_key",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(LEGACY_KINDS))
                | (Q(number__regex=r"^[0-9]{8}$") & Q(code__regex=r"^([0-9]{10}|[0-9]{12})$")),
                name="receivedinvoice_legacy_key",
            ),
            models.CheckConstraint(condition=~Q(number=""), name="receivedinvoice_number_not_empty"),
            models.CheckConstraint(condition=Q(kind="customs") | Q(customs_match=""),
                                   name="receivedinvoice_customs_match_only_customs"),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(tax__isnull=True) | Q(total__isnull=True)
                | (Q(total__gte=models.F("amount") + models.F("tax") - models.Value(Decimal("0.001")))
                   & Q(total__lte=models.F("amount") + models.F("tax") + models.Value(Decimal("0.001")))),
                name="receivedinvoice_total_is_amount_plus_tax",
            ),
        ]
        indexes = [
            # the changelist's order (newest first) per entity, and its common filters
            models.Index(fields=["taxpayer", "-created_at", "-id"], name="recv_entity_newest"),
            models.Index(fields=["-created_at", "-id"], name="recv_newest"),
            models.Index(fields=["taxpayer", "review_state"], name="recv_entity_review"),
            # one seller's invoices, newest first (the seller filter, a click on the seller's name)
            models.Index(fields=["seller_tax_id", "-created_at", "-id"], name="recv_seller_newest"),
            models.Index(fields=["buyer_tax_id"], name="recv_buyer_tax_id"),
            models.Index(fields=["number"], name="recv_number"),
            models.Index(fields=["issue_date"], name="recv_issue_date"),
        ]

    def __str__(self) -> str:
        return f"{self.code}-{self.number}" if self.code else self.number

    @property
    def is_shudian(self) -> bool:
        return self.kind in SHUDIAN_KINDS

    @property
    def is_ticket(self) -> bool:
        return self.kind in TICKET_KINDS

    @property
    def remaining_amount(self) -> Decimal | None:
        """合计金额 still usable after red-flushing."""
        return None if self.amount is None else self.amount - self.red_amount

    @property
    def remaining_tax(self) -> Decimal | None:
        return None if self.tax is None else self.tax - self.red_tax

    @property
    def remaining_total(self) -> Decimal | None:
        """价税合计 still usable after red-flushing (剩余可用金额)."""
        return None if self.total is None else self.total - self.red_amount - self.red_tax

    # --- transitions (in memory only; services lock, save and record the event) -----------------------------------

    @transition(field=use_state, source=UseState.IN_POOL, target=UseState.IN_REVIEW)
    def hold_for_review(self) -> None:
        pass

    @transition(field=use_state, source=UseState.IN_REVIEW, target=UseState.IN_POOL)
    def release_to_pool(self) -> None:
        pass

    @transition(field=use_state, source=UseState.IN_POOL, target=UseState.BOOKED)
    def book(self) -> None:
        """The platform has recorded the 入账."""

    @transition(field=use_state, source=UseState.BOOKED, target=UseState.IN_POOL)
    def unbook(self) -> None:
        """The platform has recorded the 取消入账."""

    @transition(field=use_state, source=UseState.IN_POOL, target=UseState.REIMBURSED)
    def reimburse(self) -> None:
        """Paid claims hold the whole of what is left of the invoice (receiving/claims.py)."""

    @transition(field=use_state, source=[UseState.IN_POOL, UseState.BOOKED, UseState.REIMBURSED],
                target=UseState.SELECTED)
    def select_for_deduction(self) -> None:
        """The platform accepted the invoice's 勾选 (deduction); the state it left is kept to go back to."""
        self.use_state_before_selection = self.use_state

    @transition(field=use_state, source=UseState.SELECTED, target=RETURN_VALUE(
        UseState.IN_POOL, UseState.BOOKED, UseState.REIMBURSED))
    def unselect_for_deduction(self) -> str:
        """The platform accepted the 撤销勾选: back to the state before the selection."""
        before = self.use_state_before_selection or UseState.IN_POOL
        self.use_state_before_selection = ""
        return str(before)

    @transition(field=review_state, source=[ReviewState.CLEAR, ReviewState.RESOLVED, ReviewState.NEEDS_REVIEW],
                target=ReviewState.NEEDS_REVIEW)
    def flag_for_review(self, *, reasons: list[dict[str, Any]]) -> None:
        known = {(r.get("field"), r.get("code"), r.get("message")) for r in self.review_reasons}
        self.review_reasons = [*self.review_reasons,
                               *(r for r in reasons if (r.get("field"), r.get("code"), r.get("message")) not in known)]

    @transition(field=review_state, source=ReviewState.NEEDS_REVIEW, target=ReviewState.RESOLVED)
    def resolve_review(self) -> None:
        pass

    @transition(field=review_state, source=ReviewState.NEEDS_REVIEW, target=ReviewState.CLEAR)
    def clear_review(self) -> None:
        """A later, more trusted file settled every doubt (nothing was contested between files)."""


class ReceivedInvoiceLine(models.Model):
    """A line as printed on the received invoice (values as read; nothing recomputed)."""

    invoice = models.ForeignKey(ReceivedInvoice, models.CASCADE, related_name="lines", verbose_name=_("发票"))
    line_no = models.PositiveIntegerField(_("行号"))
    item_name = models.CharField(_("项目名称"), max_length=300)
    spec = models.CharField(_("规格型号"), max_length=150, blank=True)
    unit = models.CharField(_("单位"), max_length=60, blank=True)
    quantity = models.DecimalField(_("数量"), max_digits=25, decimal_places=13, null=True, blank=True)
    unit_price = models.DecimalField(_("单价"), max_digits=25, decimal_places=13, null=True, blank=True)
    amount = MoneyField(_("金额"))
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4, null=True, blank=True)
    tax_rate_text = models.CharField(_("税率（文字）"), max_length=20, blank=True, help_text=_("免税、不征税、***"))
    tax = MoneyField(_("税额"), null=True, blank=True)
    tax_code = models.CharField(_("税收分类编码"), max_length=19, blank=True)

    class Meta:
        verbose_name = _("收票明细")
        verbose_name_plural = pgettext_lazy("plural", "收票明细")
        ordering = ["invoice_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["invoice", "line_no"], name="receivedinvoiceline_no_unique")]

    def __str__(self) -> str:
        return f"{self.line_no}. {self.item_name}"


class CarrierFormat(models.TextChoices):
    XML = "xml", _("XML")
    OFD = "ofd", _("OFD")
    PDF = "pdf", _("PDF")
    IMAGE = "image", _("图片")


CARRIER_EXTENSIONS = {"xml": "xml", "ofd": "ofd", "pdf": "pdf", "image": "img"}
CARRIER_CONTENT_TYPES = {"xml": "application/xml", "ofd": "application/ofd", "pdf": "application/pdf",
                         "image": "application/octet-stream"}


def carrier_path(sha256: str, fmt: str) -> str:
    """Where a carrier's bytes are stored: derived from the hash only, so equal bytes share one file."""
    return f"receiving/carriers/{sha256[:2]}/{sha256[2:4]}/{sha256}.{CARRIER_EXTENSIONS.get(fmt, 'bin')}"


class Carrier(models.Model):
    """One file an invoice came in, kept once per entity by its SHA-256, with what its reader made of it."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    invoice = models.ForeignKey(
        ReceivedInvoice, models.PROTECT, null=True, blank=True, related_name="carriers", verbose_name=_("发票"),
        help_text=_("为空：文件未能确定是哪张发票，待人工录入"),
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    format = models.CharField(_("格式"), max_length=8, choices=CarrierFormat.choices)
    file = models.FileField(_("文件"), max_length=255)
    original_name = models.CharField(_("文件名"), max_length=255, blank=True)
    reader = models.CharField(_("读取方式"), max_length=30, blank=True, help_text=_("读取文件所用的方式：XML、OFD、PDF 文字层或二维码"))
    read_data = models.JSONField(_("读取结果"), default=dict, blank=True)
    needs_review = models.BooleanField(_("读取结果待复核"), default=False)
    review_reasons = models.JSONField(_("读取问题"), default=list, blank=True)
    created_at = models.DateTimeField(_("收到时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("收票文件")
        verbose_name_plural = pgettext_lazy("plural", "收票文件")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["taxpayer", "sha256"], name="carrier_once_per_entity")]
        indexes = [models.Index(fields=["invoice"], name="carrier_invoice")]

    def __str__(self) -> str:
        return self.original_name or f"{self.sha256[:12]}.{self.format}"

    @property
    def download_name(self) -> str:
        base = str(self.invoice) if self.invoice_id else self.sha256[:12]
        return f"{base}.{CARRIER_EXTENSIONS.get(self.format, 'bin')}"


class CollectionStatus(models.TextChoices):
    OPEN = "open", _("进行中")
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("处理中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class Collection(models.Model):
    """One batch of collecting (采集): who, when, how, and how far it got."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    method = models.CharField(_("采集方式"), max_length=10, choices=Method.choices)
    status = FSMField(_("状态"), max_length=10, choices=CollectionStatus.choices, default=CollectionStatus.OPEN,
                      protected=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("操作人")
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    total = models.PositiveIntegerField(_("文件数"), default=0)
    processed = models.PositiveIntegerField(_("已处理"), default=0)
    created_count = models.PositiveIntegerField(_("新建"), default=0)
    attached_count = models.PositiveIntegerField(_("补充载体"), default=0)
    duplicate_count = models.PositiveIntegerField(_("重复"), default=0)
    review_count = models.PositiveIntegerField(_("待复核"), default=0)
    rejected_count = models.PositiveIntegerField(_("拒收"), default=0)
    message = models.TextField(_("信息"), blank=True)
    created_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("采集批次")
        verbose_name_plural = pgettext_lazy("plural", "采集批次")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["taxpayer", "-created_at"], name="collection_entity_newest")]

    def __str__(self) -> str:
        return f"{self.get_method_display()} #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == CollectionStatus.DONE:
            return 100
        return min(99, int(100 * self.processed / self.total)) if self.total else 0

    @transition(field=status, source=CollectionStatus.QUEUED, target=CollectionStatus.RUNNING)
    def begin_processing(self) -> None:
        pass

    @transition(field=status, source=[CollectionStatus.OPEN, CollectionStatus.RUNNING], target=CollectionStatus.DONE)
    def complete(self, *, at: datetime) -> None:
        self.finished_at = at

    @transition(field=status, source=[CollectionStatus.OPEN, CollectionStatus.QUEUED, CollectionStatus.RUNNING],
                target=CollectionStatus.FAILED)
    def abort(self, *, at: datetime, message: str) -> None:
        self.finished_at = at
        self.message = message


class Outcome(models.TextChoices):
    CREATED = "created", _("新建")
    ATTACHED = "attached", _("补充到已有发票")
    DUPLICATE = "duplicate", _("重复")
    REVIEW = "review", _("待复核")
    REJECTED = "rejected", _("拒收")


OUTCOME_COUNTERS = {
    Outcome.CREATED: "created_count",
    Outcome.ATTACHED: "attached_count",
    Outcome.DUPLICATE: "duplicate_count",
    Outcome.REVIEW: "review_count",
    Outcome.REJECTED: "rejected_count",
}


class CollectionItem(models.Model):
    """What became of one item of a batch (a file, a scan, an entry), with the rule that decided it."""

    collection = models.ForeignKey(Collection, models.CASCADE, related_name="items", verbose_name=_("采集批次"))
    position = models.PositiveIntegerField(_("序号"))
    name = models.CharField(_("文件/内容"), max_length=300)
    outcome = models.CharField(_("结果"), max_length=10, choices=Outcome.choices)
    rule = models.CharField(_("规则"), max_length=40, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    invoice = models.ForeignKey(
        ReceivedInvoice, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("发票")
    )
    carrier = models.ForeignKey(Carrier, models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("收票文件"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("采集结果")
        verbose_name_plural = pgettext_lazy("plural", "采集结果")
        ordering = ["collection_id", "position"]
        constraints = [models.UniqueConstraint(fields=["collection", "position"], name="collectionitem_position")]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"


class Source(models.Model):
    """One delivery of an invoice into the pool: by which batch (and so which way in), when, by whom."""

    invoice = models.ForeignKey(ReceivedInvoice, models.CASCADE, related_name="sources", verbose_name=_("发票"))
    collection = models.ForeignKey(Collection, models.PROTECT, related_name="+", verbose_name=_("采集批次"))
    method = models.CharField(_("采集方式"), max_length=10, choices=Method.choices)
    carrier = models.ForeignKey(Carrier, models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("收票文件"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("操作人")
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("来源")
        verbose_name_plural = pgettext_lazy("plural", "来源")
        ordering = ["invoice_id", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "collection"], name="source_once_per_batch")]
        indexes = [models.Index(fields=["method", "invoice"], name="source_method_invoice")]

    def __str__(self) -> str:
        return f"{self.get_method_display()} #{self.collection_id}"


# --- red-letter forms against invoices we hold (domain.md §11.1) --------------------------------------------------


class ReceivedRedFormState(models.TextChoices):
    """The bureau's ``hzqrxxztDm`` codes, preceded by our own pre-states for a form we (the buyer) raise."""

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


RED_FORM_CODES = tuple(s.value for s in RedFormStatus)  # the bureau's codes, as the channel contract lists them


class ReceivedRedReason(models.TextChoices):
    ISSUED_IN_ERROR = "01", _("01 开票有误")
    SALES_RETURN = "02", _("02 销货退回")
    SERVICE_STOPPED = "03", _("03 服务中止")
    SALES_ALLOWANCE = "04", _("04 销售折让")


class RedInitiator(models.TextChoices):
    SELLER = "seller", _("销方发起（待我方确认）")
    BUYER = "buyer", _("我方（购方）发起")


class ReceivedRedForm(models.Model):
    """A 红字确认单 against an invoice in our pool: raised by the supplier (we confirm or reject it within 72 hours)
    or by us as the buyer (the supplier confirms). Written by ``receiving/redforms.py`` only."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    invoice = models.ForeignKey(ReceivedInvoice, models.PROTECT, related_name="red_forms", verbose_name=_("蓝字发票"))
    initiator = models.CharField(_("录入方"), max_length=6, choices=RedInitiator.choices)
    status = FSMField(_("状态"), max_length=14, choices=ReceivedRedFormState.choices,
                      default=ReceivedRedFormState.SUBMITTING, protected=True)
    reason = models.CharField(_("冲红原因"), max_length=2, choices=ReceivedRedReason.choices)
    is_full = models.BooleanField(_("全额红冲"), default=True)
    form_no = models.CharField(_("确认单编号"), max_length=20, blank=True)
    form_uuid = models.CharField(_("确认单UUID"), max_length=32, blank=True)
    request_no = models.CharField(_("申请流水号"), max_length=40)
    amount = MoneyField(_("红冲金额"), default=Decimal("0.00"))
    tax = MoneyField(_("红冲税额"), default=Decimal("0.00"))
    expires_at = models.DateTimeField(_("确认期限"), null=True, blank=True)
    red_invoice_number = models.CharField(_("红字发票号码"), max_length=20, blank=True)
    red_issued_at = models.DateTimeField(_("红字发票开具时间"), null=True, blank=True)
    applied = models.BooleanField(_("已更新发票池"), default=False)
    last_error = models.TextField(_("平台信息"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("操作人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("收票红字确认单")
        verbose_name_plural = pgettext_lazy("plural", "收票红字确认单")
        ordering = ["expires_at", "-created_at", "-id"]
        permissions = [("decide_receivedredform", "可确认或拒绝收票红字确认单")]
        constraints = [
            models.UniqueConstraint(fields=["taxpayer", "form_no"], condition=~Q(form_no=""),
                                    name="receivedredform_no_per_entity"),
            models.UniqueConstraint(fields=["request_no"], name="receivedredform_request_no"),
        ]
        indexes = [models.Index(fields=["taxpayer", "status"], name="recvred_entity_status")]

    def __str__(self) -> str:
        return self.form_no or self.request_no

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax

    @property
    def is_waiting_for_us(self) -> bool:
        return self.status == ReceivedRedFormState.SELLER_ENTERED and self.initiator == RedInitiator.SELLER

    @transition(field=status, source="*", target=RETURN_VALUE(*RED_FORM_CODES))
    def take_remote_status(self, *, code: str) -> str:
        """The platform's status (the bureau's code) as it answered or as the poller read it."""
        return code

    @transition(field=status, source=ReceivedRedFormState.SUBMITTING, target=ReceivedRedFormState.SUBMIT_FAILED)
    def fail_submit(self, *, message: str) -> None:
        self.last_error = message


class ReceivedRedFormLine(models.Model):
    """A line of the form (negative amounts, as on the red invoice)."""

    form = models.ForeignKey(ReceivedRedForm, models.CASCADE, related_name="lines", verbose_name=_("红字确认单"))
    blue_line_no = models.PositiveIntegerField(_("蓝字明细序号"))
    item_name = models.CharField(_("项目名称"), max_length=300, blank=True)
    quantity = models.DecimalField(_("数量"), max_digits=25, decimal_places=13, null=True, blank=True)
    amount = MoneyField(_("金额"))
    tax_rate = models.DecimalField(_("税率"), max_digits=7, decimal_places=4, default=Decimal("0"))
    tax = MoneyField(_("税额"))

    class Meta:
        verbose_name = _("收票红字确认单明细")
        verbose_name_plural = pgettext_lazy("plural", "收票红字确认单明细")
        ordering = ["form_id", "blue_line_no"]

    def __str__(self) -> str:
        return f"{self.blue_line_no}. {self.item_name}"
# The mailbox's tables live in their sub-package; Django loads them from here.
from receiving.mailbox.models import (  # noqa: E402, F401
    IssueState,
    Mailbox,
    MailIssue,
    MailMessage,
    MessageState,
    Remedy,
    Security,
)


class PlatformSync(models.Model):
    """The platform download of one entity: how far it got (the watermark), and its last run.

    ``synced_through``: every invoice the platform lists as issued to the entity on or before this day (China time)
    is in the pool; the next run lists from the day after. A run that stops half way (the platform unavailable)
    leaves the watermark at the last day it finished, and the next run resumes from there.
    """

    taxpayer = models.OneToOneField(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    synced_through = models.DateField(_("已下载至"), null=True, blank=True,
                                      help_text=_("该日及以前平台所列发票均已入池；下次从次日开始下载"))
    running_since = models.DateTimeField(_("正在下载（开始时间）"), null=True, blank=True)
    last_started_at = models.DateTimeField(_("上次开始"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("上次结束"), null=True, blank=True)
    last_ok = models.BooleanField(_("上次成功"), default=False)
    last_message = models.TextField(_("上次结果"), blank=True)
    last_collection = models.ForeignKey(Collection, models.SET_NULL, null=True, blank=True, related_name="+",
                                        verbose_name=_("上次采集批次"))
    listed_count = models.PositiveIntegerField(_("累计列出"), default=0)

    class Meta:
        verbose_name = _("平台下载")
        verbose_name_plural = pgettext_lazy("plural", "平台下载")
        ordering = ["taxpayer_id"]

    def __str__(self) -> str:
        return f"{self.taxpayer}: {self.synced_through or '-'}"


class PlatformReconciliation(models.Model):
    """One comparison of an entity's pool with what the platform lists as issued to it over a range of days.

    Matched on 发票号码 and the seller's tax id exactly, never on amounts; each difference in ``differences``
    names the side it is missing from and why: ``{"side", "number", "seller_tax_id", "seller_name", "issue_date",
    "total", "rule", "reason", "invoice"}``.
    """

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="+", verbose_name=_("主体"))
    date_from = models.DateField(_("开票日期自"))
    date_to = models.DateField(_("开票日期至"))
    platform_count = models.PositiveIntegerField(_("平台发票数"), default=0)
    pool_count = models.PositiveIntegerField(_("发票池发票数"), default=0)
    matched_count = models.PositiveIntegerField(_("一致"), default=0)
    difference_count = models.PositiveIntegerField(_("差异数"), default=0)
    differences = models.JSONField(_("差异"), default=list, blank=True)
    complete = models.BooleanField(_("完整"), default=True, help_text=_("平台不可用时对账不完整，差异不可信"))
    message = models.TextField(_("信息"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("操作人")
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("对账时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("收票对账")
        verbose_name_plural = pgettext_lazy("plural", "收票对账")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["taxpayer", "-created_at"], name="recv_recon_entity_newest")]

    def __str__(self) -> str:
        return f"{self.taxpayer} {self.date_from}–{self.date_to}"
# The pool's controls (verification, rules) live in their own module; imported here so Django registers them.
# 报销 (claims) live in their own module; imported here so Django registers them.
from receiving.claims_models import ClaimLine, ExpenseClaim  # noqa: E402,F401
from receiving.control_models import (  # noqa: E402,F401
    InvoiceCheck,
    ReceivingRule,
    RuleOverride,
    Seller,
    Verification,
    VerificationJob,
    VerificationRate,
    VerificationUsage,
)

# 收票统计 (the monthly rollup) lives in its own module; imported here so Django registers it.
from receiving.stats_models import ReceivedMonthlyStat  # noqa: E402,F401
