"""The shared kernel's tables: our entities (主体), buyer titles, items, the tax catalogue and the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypedDict, Unpack, overload

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import Combinable
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.actors import actor_label_words
from invoicing.fields import EncryptedTextField
from invoicing.formatting import person_name
from invoicing.ids import is_acceptable_tax_id
from invoicing.validators import SafeTextModelMixin

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


MoneyInput = Decimal | int | float | str | Combinable  # what a money field accepts on assignment


class MoneyOptions(TypedDict, total=False):
    """The DecimalField options a money field may set (its precision is the project's)."""

    blank: bool
    default: Decimal
    help_text: StrOrPromise
    editable: bool
    validators: Sequence[Callable[[Decimal], None]]


@overload
def MoneyField(  # noqa: N802 - reads like a field class
    verbose_name: StrOrPromise, *, null: Literal[False] = False, **options: Unpack[MoneyOptions]
) -> models.DecimalField[MoneyInput, Decimal]: ...


@overload
def MoneyField(  # noqa: N802
    verbose_name: StrOrPromise, *, null: Literal[True], **options: Unpack[MoneyOptions]
) -> models.DecimalField[MoneyInput | None, Decimal | None]: ...


def MoneyField(  # noqa: N802
    verbose_name: StrOrPromise, *, null: bool = False, **options: Unpack[MoneyOptions]
) -> models.DecimalField[MoneyInput, Decimal | None]:
    """A DecimalField with the project's money precision (DECIMAL(18,2), domain.md §5.2)."""
    return models.DecimalField(verbose_name, max_digits=settings.MONEY_MAX_DIGITS,
                               decimal_places=settings.MONEY_DECIMAL_PLACES, null=null, **options)


class TaxpayerType(models.TextChoices):
    GENERAL = "general", _("一般纳税人")
    SMALL = "small", _("小规模纳税人")


class ChannelCode(models.TextChoices):
    SANDBOX = "sandbox", _("沙箱平台")
    NUONUO = "nuonuo", _("诺诺开放平台")


class Taxpayer(SafeTextModelMixin, models.Model):
    """One of our own entities (主体): the seller when issuing, the buyer when receiving."""

    name = models.CharField(_("名称"), max_length=150)
    credit_code = models.CharField(_("统一社会信用代码/纳税人识别号"), max_length=20, unique=True)
    short_name = models.CharField(_("简称"), max_length=50, blank=True)
    taxpayer_type = models.CharField(
        _("纳税人类型"), max_length=10, choices=TaxpayerType.choices, default=TaxpayerType.GENERAL
    )
    region_code = models.CharField(
        _("税务机关地区代码"), max_length=4, default="4400", help_text=_("四位省级代码，如 4400 广东、3100 上海")
    )
    address = models.CharField(_("地址"), max_length=250, blank=True)
    phone = models.CharField(_("电话"), max_length=60, blank=True)
    bank_name = models.CharField(_("开户行"), max_length=120, blank=True)
    bank_account = models.CharField(_("银行账号"), max_length=100, blank=True)
    drawer = models.CharField(_("开票人"), max_length=50, blank=True)
    reviewer = models.CharField(_("复核人"), max_length=50, blank=True)
    payee = models.CharField(_("收款人"), max_length=50, blank=True)
    single_invoice_limit = MoneyField(
        _("单张发票限额（不含税）"),
        null=True,
        blank=True,
        help_text=_("一张发票的金额上限，超过时申请单按此拆成几张；为空表示不限（数电发票没有单张限额）"),
    )
    max_lines_per_invoice = models.PositiveIntegerField(
        _("每张发票最多明细行"), default=2000, help_text=_("含折扣行；数电发票最多 2000 行")
    )
    # Channel account (通道账户). The secret is encrypted at rest, write-only in forms, masked everywhere else.
    channel = models.CharField(_("开票通道"), max_length=20, choices=ChannelCode.choices, default=ChannelCode.SANDBOX)
    channel_app_key = models.CharField(_("通道账号（AppKey）"), max_length=100, blank=True)
    channel_secret = EncryptedTextField(_("通道密钥"), blank=True)
    channel_operator = models.CharField(
        _("电子税务局办税员账号"), max_length=50, blank=True, help_text=_("平台会话使用的开票员账号")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("主体")
        verbose_name_plural = pgettext_lazy("plural", "主体")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.short_name or self.name

    @property
    def is_small_scale(self) -> bool:
        return self.taxpayer_type == TaxpayerType.SMALL


class CounterpartyKind(models.TextChoices):
    COMPANY = "company", _("企业/单位")
    PERSON = "person", _("个人")


class Counterparty(SafeTextModelMixin, models.Model):
    """A buyer title (抬头) in one entity's customer master."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="counterparties", verbose_name=_("主体"))
    code = models.CharField(_("客户编码"), max_length=50, blank=True)
    kind = models.CharField(_("类型"), max_length=10, choices=CounterpartyKind.choices, default=CounterpartyKind.COMPANY)
    name = models.CharField(_("名称"), max_length=150)
    tax_id = models.CharField(
        _("统一社会信用代码/纳税人识别号"), max_length=20, blank=True, help_text=_("个人购买方可以不填")
    )
    address = models.CharField(_("地址"), max_length=300, blank=True)
    phone = models.CharField(_("电话"), max_length=60, blank=True)
    bank_name = models.CharField(_("开户行"), max_length=120, blank=True)
    bank_account = models.CharField(_("银行账号"), max_length=100, blank=True)
    email = models.EmailField(_("电子邮箱"), blank=True)
    mobile = models.CharField(_("手机"), max_length=20, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("购买方")
        verbose_name_plural = pgettext_lazy("plural", "购买方")
        ordering = ["taxpayer_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["taxpayer", "code"], condition=~models.Q(code=""), name="counterparty_code_unique_per_entity"
            ),
        ]
        indexes = [models.Index(fields=["taxpayer", "tax_id"], name="counterparty_tax_id")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == CounterpartyKind.COMPANY and not self.tax_id:
            raise ValidationError({"tax_id": _("企业购买方必须填写纳税人识别号")})
        if self.tax_id:
            self.tax_id = self.tax_id.strip().upper()
            result = is_acceptable_tax_id(self.tax_id)
            if not result.ok:
                raise ValidationError({"tax_id": result.reason or _("纳税人识别号格式不正确")})


class TaxCategory(SafeTextModelMixin, models.Model):
    """商品和服务税收分类编码 (domain.md §7): 19 digits in ten levels."""

    code = models.CharField(_("税收分类编码"), max_length=19, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    short_name = models.CharField(_("简称"), max_length=120, blank=True)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("上级")
    )
    is_summary = models.BooleanField(_("汇总项"), default=False, help_text=_("汇总项不能用于开票"))
    is_active = models.BooleanField(_("可用"), default=True)
    allowed_rates = models.JSONField(
        _("适用税率"), default=list, blank=True, help_text=_('此编码可用的税率，如 ["0.13", "0.09"]；按编码所属大类推导，使用前请核对')
    )
    description = models.TextField(_("说明"), blank=True)
    keywords = models.CharField(_("关键字"), max_length=500, blank=True)
    catalogue_version = models.CharField(_("编码表版本"), max_length=20, default="2021-06")

    class Meta:
        verbose_name = _("税收分类编码")
        verbose_name_plural = pgettext_lazy("plural", "税收分类编码")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_leaf(self) -> bool:
        return not self.is_summary

    def allows_rate(self, rate: Decimal) -> bool:
        return any(Decimal(r) == rate for r in self.allowed_rates)


class Item(SafeTextModelMixin, models.Model):
    """An entity's product or service master (商品编码 → name, tax category, rate), used to autofill lines."""

    taxpayer = models.ForeignKey(Taxpayer, models.PROTECT, related_name="items", verbose_name=_("主体"))
    code = models.CharField(_("商品编码"), max_length=50)
    name = models.CharField(_("项目名称"), max_length=300)
    spec = models.CharField(_("规格型号"), max_length=150, blank=True)
    unit = models.CharField(_("单位"), max_length=30, blank=True)
    tax_category = models.ForeignKey(TaxCategory, models.PROTECT, verbose_name=_("税收分类编码"))
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4)
    unit_price = models.DecimalField(_("单价"), max_digits=25, decimal_places=13, null=True, blank=True)
    price_includes_tax = models.BooleanField(_("单价含税"), default=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("商品")
        verbose_name_plural = pgettext_lazy("plural", "商品")
        ordering = ["taxpayer_id", "code"]
        constraints = [models.UniqueConstraint(fields=["taxpayer", "code"], name="item_code_unique_per_entity")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class EntityScope(models.Model):
    """Which entities a staff user may see and act on. No scope row means no entity (fail closed)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="entity_scope", verbose_name=_("用户")
    )
    all_entities = models.BooleanField(_("全部主体"), default=False)
    taxpayers = models.ManyToManyField(Taxpayer, blank=True, related_name="+", verbose_name=_("可操作主体"))

    class Meta:
        verbose_name = _("主体权限")
        verbose_name_plural = pgettext_lazy("plural", "主体权限")

    def __str__(self) -> str:
        return str(self.user)


class Event(models.Model):
    """The append-only audit trail: who did what to which object, from which state to which, and why."""

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("操作人")
    )
    actor_label = models.CharField(
        _("操作方"), max_length=100, blank=True, help_text=_("非用户操作方：系统任务、接口客户端、通道回调")
    )
    taxpayer = models.ForeignKey(
        Taxpayer, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("主体")
    )
    content_type = models.ForeignKey(ContentType, models.PROTECT, verbose_name=_("对象类型"))
    object_id = models.CharField(_("对象ID"), max_length=64)
    obj = GenericForeignKey("content_type", "object_id")
    action = models.CharField(_("动作"), max_length=50)
    from_state = models.CharField(_("原状态"), max_length=30, blank=True)
    to_state = models.CharField(_("新状态"), max_length=30, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    data = models.JSONField(_("数据"), default=dict, blank=True)

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = pgettext_lazy("plural", "事件")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"], name="event_object")]

    def __str__(self) -> str:
        from invoicing.events import action_label  # cycle: events imports this module

        return action_label(self.action)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError("Events are append-only")
        return super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ValidationError("Events are append-only")

    @property
    def who(self) -> str:
        """The actor in words: a user's name (not the login), or the system's label for itself."""
        if self.actor_id:
            return person_name(self.actor)
        return actor_label_words(self.actor_label) if self.actor_label else str(_("系统"))


class ChannelCall(models.Model):
    """The integration log: one row per call to a tax-platform channel, bodies masked. Administrators only."""

    class Outcome(models.TextChoices):
        OK = "ok", _("成功")
        REJECTED = "rejected", _("业务拒绝")
        DUPLICATE = "duplicate", _("流水号重复")
        UNAVAILABLE = "unavailable", _("不可用")
        ERROR = "error", _("错误")

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    taxpayer = models.ForeignKey(
        Taxpayer, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("主体")
    )
    channel = models.CharField(_("通道"), max_length=20)
    transport = models.CharField(_("传输方式"), max_length=20, blank=True)
    operation = models.CharField(_("操作"), max_length=50, db_index=True)
    serial = models.CharField(_("流水号/单号"), max_length=64, blank=True, db_index=True)
    duration_ms = models.PositiveIntegerField(_("耗时（毫秒）"), default=0)
    outcome = models.CharField(_("结果"), max_length=12, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(_("HTTP状态"), null=True, blank=True)
    error_code = models.CharField(_("错误码"), max_length=40, blank=True)
    message = models.TextField(_("信息"), blank=True)
    request_body = models.JSONField(_("请求（已脱敏）"), default=dict, blank=True)
    response_body = models.JSONField(_("应答（已脱敏）"), default=dict, blank=True)

    class Meta:
        verbose_name = _("通道调用日志")
        verbose_name_plural = pgettext_lazy("plural", "通道调用日志")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["taxpayer", "created_at"], name="channelcall_taxpayer_time")]

    def __str__(self) -> str:
        return f"{self.operation} {self.serial} {self.outcome}"


# The channel clients' own tables (access tokens, invoice handles) live in invoicing/channels/models.py.
from invoicing.channels.models import ChannelInvoiceRef, ChannelToken  # noqa: E402,F401


class NotificationPreference(models.Model):
    """A user's own notification settings: whether the daily digest of the admin home's red cards is e-mailed to
    them, and in which language. Each user edits only their own (``我的通知设置`` in the admin)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notification_preference", verbose_name=_("用户")
    )
    daily_digest = models.BooleanField(
        _("接收每日看板摘要邮件"), default=False,
        help_text=_("每天早上把看板上标红的指标（仅限您可操作的主体）发送到您的邮箱"),
    )
    language = models.CharField(_("邮件语言"), max_length=10, choices=settings.LANGUAGES,
                                default=settings.LANGUAGE_CODE)

    class Meta:
        verbose_name = _("通知设置")
        verbose_name_plural = pgettext_lazy("plural", "通知设置")

    def __str__(self) -> str:
        return str(self.user)


class UserNotice(models.Model):
    """A background job the user started has finished or failed: shown once as a message on the user's next admin
    page, then marked shown. The words are made at display time, in the language of that page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", verbose_name=_("用户"))
    job_id = models.CharField(_("任务编号"), max_length=32)
    job_kind = models.CharField(_("任务类型"), max_length=30)
    succeeded = models.BooleanField(_("成功"))
    filename = models.CharField(_("文件名"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    shown_at = models.DateTimeField(_("显示时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("任务通知")
        verbose_name_plural = pgettext_lazy("plural", "任务通知")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "shown_at"], name="usernotice_pending")]
        constraints = [models.UniqueConstraint(fields=["user", "job_id"], name="usernotice_once_per_job")]

    def __str__(self) -> str:
        return f"{self.job_kind} {self.job_id}"
class Job(models.Model):
    """An import, collection or export job run by a worker: who started it, for which entity, how far it got and the
    storage names of its files (the upload, the error workbook, the result). ``invoicing.intake.jobs`` writes it,
    on a connection of its own (see ``jobs_database`` there), so its progress is visible while the work runs."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    id = models.CharField(_("任务编号"), max_length=32, primary_key=True)
    kind = models.CharField(_("类型"), max_length=30, db_index=True)
    taxpayer = models.ForeignKey(
        Taxpayer, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("主体")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("发起人")
    )
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField(_("已处理行数"), default=0)
    total = models.PositiveIntegerField(_("总行数"), default=0)
    rows_in_error = models.PositiveIntegerField(_("出错行数"), default=0)
    message = models.TextField(_("信息"), blank=True)
    filename = models.CharField(_("文件名"), max_length=255, blank=True)
    source_file = models.CharField(_("源文件"), max_length=255, blank=True)
    errors_file = models.CharField(_("错误清单文件"), max_length=255, blank=True)
    output_file = models.CharField(_("结果文件"), max_length=255, blank=True)
    details = models.JSONField(_("详情"), default=dict, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True, db_index=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("后台任务")
        verbose_name_plural = pgettext_lazy("plural", "后台任务")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="job_status_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} {self.status}"
