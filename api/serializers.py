"""Request and response bodies. Input serializers check shapes only; the issuing services decide the business rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from api.files import carrier_link
from deduction.models import NotDeductReason, Purpose, TaxPeriod
from delivery.models import DeliveryStatus, WebhookEvent
from delivery.webhooks import webhook_url_problem
from invoicing.models import CounterpartyKind, TaxCategory, Taxpayer
from invoicing.validators import (
    category_rate_problem,
    document_lines_problem,
    tax_rate_problem,
    validate_business_date,
)
from issuing.applications import selectors as application_selectors
from issuing.applications.models import InvoiceApplication, customer_status
from issuing.base import ISSUABLE_KINDS, InvoiceKind, SpecificBusiness
from issuing.billing import selectors as billing_selectors
from issuing.billing.models import BillingDocument, BillingDocumentLine, InvoicingBasis
from issuing.platform.models import Invoice
from issuing.redletter.models import RedLetterForm, RedReasonCode
from receiving import services as receiving_services
from receiving.claims_models import ExpenseClaim
from receiving.models import Carrier, Outcome, ReceivedInvoice, ReceivedKind

MONEY = {"max_digits": 18, "decimal_places": 2}
QTY = {"max_digits": 25, "decimal_places": 13}
MAX_ID = 2**63 - 1
MONEY_LIMIT = Decimal(10) ** (MONEY["max_digits"] - MONEY["decimal_places"])  # what DECIMAL(18,2) holds
RATE = {"max_digits": 7, "decimal_places": 4, "min_value": Decimal("0"), "max_value": Decimal("1")}


# --- shared pieces -----------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class TaxpayerField(serializers.SlugRelatedField):
    """An entity by its credit code, limited to the calling client's entities (others read as unknown)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "credit_code")
        kwargs.setdefault("help_text", _("主体（销售方）的统一社会信用代码；客户端只有一个主体时可省略"))
        super().__init__(**kwargs)

    def get_queryset(self):
        client = self.context["client"]
        return Taxpayer.objects.filter(pk__in=client.taxpayer_ids(), is_active=True)


class OptionalEmailField(serializers.EmailField):
    """An e-mail address that may be absent: ``null`` in responses when there is none; requests send an address or
    ``null`` (an empty string is still accepted as ``null``, as API v1 first documented)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data) or ""

    def to_representation(self, value):
        return value or None


class ClientTaxpayerMixin:
    """Fill ``taxpayer`` with the client's only entity when it was left out."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)  # type: ignore[misc]
        if attrs.get("taxpayer") is None:
            ids = self.context["client"].taxpayer_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"taxpayer": [_("客户端可操作多个主体，请填写主体的统一社会信用代码")]})
            attrs["taxpayer"] = Taxpayer.objects.get(pk=next(iter(ids)))
        return attrs


class BuyerSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CounterpartyKind.choices, default=CounterpartyKind.COMPANY,
                                   help_text=_("company 企业/单位，person 个人"))
    name = serializers.CharField(max_length=150, help_text=_("购买方名称（抬头）"))
    tax_id = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                   help_text=_("纳税人识别号；个人可为空"))
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    bank_name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    bank_account = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def to_service(self, data: dict[str, Any]) -> dict[str, str]:
        return {f"buyer_{k}": v for k, v in data.items()}


def buyer_out(obj: Any) -> dict[str, str]:
    return {
        "kind": obj.buyer_kind,
        "name": obj.buyer_name,
        "tax_id": obj.buyer_tax_id,
        "address": obj.buyer_address,
        "phone": obj.buyer_phone,
        "bank_name": obj.buyer_bank_name,
        "bank_account": obj.buyer_bank_account,
    }


@extend_schema_field(OpenApiTypes.STR)
class TaxCategoryField(serializers.SlugRelatedField):
    """A tax category by its 19-digit code; each code is looked up once per request, not once per line."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "code")
        kwargs.setdefault("queryset", TaxCategory.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        cache = self.context.setdefault("tax_categories", {})
        key = str(data) if isinstance(data, str | int) else None
        if key is not None and key in cache:
            return cache[key]
        value = super().to_internal_value(data)
        if key is not None:
            cache[key] = value
        return value


class LineListSerializer(serializers.ListSerializer):
    """Lines, at most ``BILLING_DOCUMENT_MAX_LINES`` of them: refused before any line is validated."""

    def to_internal_value(self, data):
        if isinstance(data, list):
            problem = document_lines_problem(len(data))
            if problem:
                raise serializers.ValidationError([problem], code="too_many_lines")
        return super().to_internal_value(data)


def lines_rate_errors(lines: list[dict[str, Any]], taxpayer: Taxpayer) -> list[dict[str, list[str]]] | None:
    """Per-line errors for rates the entity may not use or that do not fit the line's tax category (or None)."""
    errors: list[dict[str, list[str]]] = []
    for ln in lines:
        problem = tax_rate_problem(ln["tax_rate"], taxpayer.taxpayer_type) or category_rate_problem(
            ln["tax_rate"], ln["tax_category"].allowed_rates, taxpayer.taxpayer_type)
        errors.append({"tax_rate": [problem]} if problem else {})
    return errors if any(errors) else None


class LineInputSerializer(serializers.Serializer):
    """One entered line. Amount and unit price are on the basis named by ``tax_inclusive``."""

    class Meta:
        list_serializer_class = LineListSerializer

    item_name = serializers.CharField(max_length=300, help_text=_("项目名称"))
    spec = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    unit = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    quantity = serializers.DecimalField(**QTY, required=False, allow_null=True, default=None)
    unit_price = serializers.DecimalField(**QTY, required=False, allow_null=True, default=None)
    amount = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                      help_text=_("金额（折扣前）；为空时按数量×单价"))
    tax_inclusive = serializers.BooleanField(default=True, help_text=_("金额和单价是否含税"))
    discount = serializers.DecimalField(**MONEY, min_value=Decimal("0"), required=False, default=Decimal("0"),
                                        help_text=_("折扣金额（正数，与金额同一口径）"))
    tax_category = TaxCategoryField(help_text=_("19 位税收分类编码"))
    tax_rate = serializers.DecimalField(**RATE, help_text=_("税率/征收率，如 0.06"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_qty, has_price = attrs.get("quantity") is not None, attrs.get("unit_price") is not None
        if has_qty != has_price:
            raise serializers.ValidationError({"quantity": [_("数量和单价要么都填，要么都不填")]})
        if attrs.get("amount") is None and not has_qty:
            raise serializers.ValidationError({"amount": [_("请填写金额，或数量和单价")]})
        gross = attrs["amount"] if attrs.get("amount") is not None else attrs["quantity"] * attrs["unit_price"]
        if abs(gross) * (1 + attrs["tax_rate"]) >= MONEY_LIMIT:
            raise serializers.ValidationError({"amount": [_("金额超出范围")]})
        return attrs


# --- billing documents -------------------------------------------------------------------------------------------


class BillingDocumentCreateSerializer(ClientTaxpayerMixin, serializers.Serializer):
    taxpayer = TaxpayerField(required=False, allow_null=True, default=None)
    external_no = serializers.CharField(max_length=64, help_text=_("上游系统的单号；同一主体、同一来源系统内唯一"))
    business_date = serializers.DateField(required=False, allow_null=True, default=None,
                                          validators=[validate_business_date],
                                          help_text=_("业务日期；不能晚于今天（允许的提前天数见设置），也不能过于久远"))
    invoicing_basis = serializers.ChoiceField(
        choices=InvoicingBasis.choices, required=False, allow_blank=True, default="",
        help_text=_("可开票金额口径：paid 按实收，order 按订单金额；为空时使用主体设置"),
    )
    order_amount = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                            help_text=_("订单金额（含税）；为空时取明细价税合计，填写时必须与之相等"))
    paid_amount = serializers.DecimalField(**MONEY, min_value=Decimal("0"), required=False, default=Decimal("0"),
                                           help_text=_("实收金额"))
    buyer = BuyerSerializer()
    buyer_email = OptionalEmailField(help_text=_("收票邮箱；没有时为 null（空字符串视同 null）"))
    buyer_mobile = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    remark = serializers.CharField(max_length=450, required=False, allow_blank=True, default="")
    delivered_on = serializers.DateField(required=False, allow_null=True, default=None,
                                         help_text=_("交付日期；已交付时填写（主体设置为交付后申请时据此自动申请开票）"))
    lines = LineInputSerializer(many=True, allow_empty=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        errors = lines_rate_errors(attrs["lines"], attrs["taxpayer"])
        if errors:
            raise serializers.ValidationError({"lines": errors})
        return attrs


class BillingDocumentLineSerializer(serializers.ModelSerializer):
    tax_category = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = BillingDocumentLine
        fields = ["line_no", "item_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_inclusive",
                  "discount", "tax_category", "tax_rate", "total"]
        read_only_fields = fields


class BalanceSerializer(serializers.Serializer):
    basis = serializers.CharField(help_text=_("paid 按实收，order 按订单金额"))
    ceiling = serializers.DecimalField(**MONEY, help_text=_("可开票上限（已扣退款）"))
    applied = serializers.DecimalField(**MONEY, help_text=_("有效申请已占用"))
    balance = serializers.DecimalField(**MONEY, help_text=_("尚可申请开票"))
    over_invoiced = serializers.DecimalField(**MONEY, help_text=_("退款后超开的金额（需红冲）"))


class BillingDocumentSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True)
    invoicing_basis = serializers.ChoiceField(
        choices=InvoicingBasis.choices, allow_blank=True, read_only=True,
        help_text=_("可开票金额口径：paid 按实收，order 按订单金额；空字符串表示使用主体设置（实际口径见 balance.basis）"),
    )
    buyer_email = OptionalEmailField(read_only=True, allow_blank=False, help_text=_("收票邮箱；没有时为 null"))
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    buyer = serializers.SerializerMethodField()
    balance = serializers.SerializerMethodField()
    lines = BillingDocumentLineSerializer(many=True, read_only=True)

    class Meta:
        model = BillingDocument
        fields = ["id", "taxpayer", "source_system", "external_no", "business_date", "status", "status_label",
                  "invoicing_basis", "order_amount", "paid_amount", "refunded_amount", "balance", "buyer",
                  "buyer_email", "buyer_mobile", "remark", "delivered_on", "lines", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(BuyerSerializer)
    def get_buyer(self, obj: BillingDocument) -> dict[str, str]:
        return buyer_out(obj)

    @extend_schema_field(BalanceSerializer)
    def get_balance(self, obj: BillingDocument) -> dict[str, Any]:
        policies = self.context.setdefault("policies", {})
        if obj.taxpayer_id not in policies:
            policies[obj.taxpayer_id] = billing_selectors.policy_for(obj.taxpayer)
        bal = application_selectors.billing_document_balance(obj, policy=policies[obj.taxpayer_id])
        return BalanceSerializer(bal).data


class PaymentSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), help_text=_("本次收款金额"))


class DeliveredSerializer(serializers.Serializer):
    delivered_on = serializers.DateField(required=False, allow_null=True, default=None,
                                         help_text=_("交付日期；为空取今天"))


class RefundSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), help_text=_("本次退款金额"))
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


# --- applications --------------------------------------------------------------------------------------------------


class ApplicationSourceInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=_("业务单据 id"))
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), required=False, allow_null=True,
                                      default=None, help_text=_("从该单据申请的价税合计；为空表示全部可开票余额"))


@extend_schema_field({"type": "string", "enum": sorted(ISSUABLE_KINDS)})
class InvoiceKindField(serializers.ChoiceField):
    """发票种类 code; described inline so that it does not collide with the buyer's ``kind`` enum."""


class ApplicationCreateSerializer(ClientTaxpayerMixin, serializers.Serializer):
    taxpayer = TaxpayerField(required=False, allow_null=True, default=None)
    kind = InvoiceKindField(
        choices=[(k, label) for k, label in InvoiceKind.choices if k in ISSUABLE_KINDS],
        default=InvoiceKind.SHUDIAN_NORMAL,
        help_text=_("81 数电专票，82 数电普票，85/86 数电纸票"),
    )
    billing_documents = ApplicationSourceInputSerializer(many=True, required=False, default=list,
                                                         help_text=_("来源业务单据；与 lines 至少填一个"))
    lines = LineInputSerializer(many=True, required=False, default=list,
                                help_text=_("直接填写的明细；与单据同时填写时合计必须等于申请金额"))
    buyer = BuyerSerializer(required=False, allow_null=True, default=None,
                            help_text=_("购买方抬头；为空时取业务单据的购买方"))
    delivery_email = OptionalEmailField(help_text=_("收票邮箱；为 null（或空字符串）时取业务单据的收票邮箱"))
    delivery_mobile = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    remark = serializers.CharField(max_length=450, required=False, allow_blank=True, default="")
    specific_business = serializers.ChoiceField(choices=SpecificBusiness.choices, required=False, allow_blank=True,
                                                default="")
    specific_business_data = serializers.JSONField(required=False, default=dict,
                                                   help_text=_("特定业务要素，字段名用税局数据规范的拼音缩写"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs["billing_documents"] and not attrs["lines"]:
            raise serializers.ValidationError({"lines": [_("请选择业务单据或填写明细")]})
        if not isinstance(attrs["specific_business_data"], dict):
            raise serializers.ValidationError({"specific_business_data": [_("应为 JSON 对象")]})
        errors = lines_rate_errors(attrs["lines"], attrs["taxpayer"])
        if errors:
            raise serializers.ValidationError({"lines": errors})
        ids = [s["id"] for s in attrs["billing_documents"]]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError({"billing_documents": [_("同一业务单据不能重复出现")]})
        found = {
            d.pk: d
            for d in BillingDocument.objects.filter(pk__in=ids, taxpayer=attrs["taxpayer"]).select_related("taxpayer")
        }
        missing = {}
        for i, s in enumerate(attrs["billing_documents"], start=1):
            if s["id"] not in found:
                missing[f"billing_documents[{i}].id"] = [_("业务单据不存在或不属于该主体")]
        if missing:
            raise serializers.ValidationError(missing)
        attrs["sources"] = [(found[s["id"]], s["amount"]) for s in attrs["billing_documents"]]
        return attrs


class ApplicationLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    item_name = serializers.CharField(help_text=_("项目名称（不含简称）"))
    short_name = serializers.CharField()
    spec = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.DecimalField(**QTY, allow_null=True)
    unit_price = serializers.DecimalField(**QTY, allow_null=True, help_text=_("单价（不含税）"))
    amount = serializers.DecimalField(**MONEY, help_text=_("金额（不含税）"))
    tax_rate = serializers.DecimalField(max_digits=7, decimal_places=4)
    tax = serializers.DecimalField(**MONEY)
    tax_category = serializers.CharField(source="tax_category.code", help_text=_("税收分类编码"))
    line_property = serializers.IntegerField(help_text=_("0 正常行，1 折扣行，2 被折扣行"))


class ApplicationSourceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="billing_document_id")
    external_no = serializers.CharField(source="billing_document.external_no")
    amount = serializers.DecimalField(**MONEY)


class InvoiceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    is_red = serializers.BooleanField()
    issue_date = serializers.DateField()


class ApplicationSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=_("发票种类代码：81 数电专票，82 数电普票，85/86 数电纸票"))
    status = serializers.SerializerMethodField(help_text=_(
        "面向客户的状态：processing 开票中（含待审核、审核中、待开票、开票中），issued 已开票，rejected 已驳回，"
        "withdrawn 已撤销，red_flushed 已红冲，partly_red 部分红冲，draft 草稿"))
    status_label = serializers.SerializerMethodField()
    reject_reason = serializers.SerializerMethodField()
    buyer = serializers.SerializerMethodField()
    lines = ApplicationLineSerializer(many=True, read_only=True)
    billing_documents = ApplicationSourceSerializer(source="sources", many=True, read_only=True)
    invoices = InvoiceRefSerializer(many=True, read_only=True)
    delivery_email = OptionalEmailField(read_only=True, allow_blank=False, help_text=_("收票邮箱；没有时为 null"))
    reapplication_of = serializers.IntegerField(source="reapplication_of_id", read_only=True, allow_null=True,
                                                help_text=_("重新申请时：被驳回的原申请 id"))
    reapplied_as = serializers.SerializerMethodField(help_text=_("已驳回并重新申请时：新申请的 id"))

    class Meta:
        model = InvoiceApplication
        fields = ["id", "number", "taxpayer", "kind", "status", "status_label", "reject_reason", "buyer",
                  "delivery_email", "delivery_mobile", "remark", "specific_business", "specific_business_data",
                  "amount", "tax", "total", "lines", "billing_documents", "invoices", "reapplication_of",
                  "reapplied_as", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_reapplied_as(self, obj: InvoiceApplication) -> int | None:
        try:
            return obj.reapplication.pk
        except InvoiceApplication.DoesNotExist:
            return None

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, obj: InvoiceApplication) -> str:
        return customer_status(obj.status)[0]

    @extend_schema_field(OpenApiTypes.STR)
    def get_status_label(self, obj: InvoiceApplication) -> str:
        return customer_status(obj.status)[1]

    @extend_schema_field(OpenApiTypes.STR)
    def get_reject_reason(self, obj: InvoiceApplication) -> str:
        return obj.reject_reason if customer_status(obj.status)[0] == "rejected" else ""

    @extend_schema_field(BuyerSerializer)
    def get_buyer(self, obj: InvoiceApplication) -> dict[str, str]:
        return buyer_out(obj)


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ReapplySerializer(serializers.Serializer):
    """A new application after a rejection: the same lines and documents, with the corrected title."""

    buyer = BuyerSerializer(required=False, allow_null=True, default=None,
                            help_text=_("更正后的购买方抬头；为空时沿用原申请的抬头"))
    delivery_email = OptionalEmailField(help_text=_("收票邮箱；为空时沿用原申请的"))
    delivery_mobile = serializers.CharField(max_length=20, required=False, allow_null=True, default=None,
                                            allow_blank=True, help_text=_("收票手机；为空时沿用原申请的"))
    remark = serializers.CharField(max_length=450, required=False, allow_null=True, default=None, allow_blank=True,
                                   help_text=_("备注；为空时沿用原申请的"))


# --- red-flush requests --------------------------------------------------------------------------------------------


class RedFlushRequestCreateSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=_("要红冲的蓝字发票 id"))
    reason = serializers.ChoiceField(
        choices=RedReasonCode.choices,
        help_text=_("冲红原因：01 开票有误（只能全额），02 销货退回，03 服务中止，04 销售折让"),
    )
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), required=False, allow_null=True,
                                      default=None, help_text=_("部分红冲的价税合计（正数，按明细比例分摊）；为空表示全额红冲"))
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="",
                                 help_text=_("说明，如退货单号"))


class RedFlushRequestSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True)
    invoice = serializers.IntegerField(source="blue_invoice_id", read_only=True, help_text=_("蓝字发票 id"))
    invoice_number = serializers.CharField(source="blue_invoice.number", read_only=True)
    reason_label = serializers.CharField(source="get_reason_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    red_invoice_number = serializers.SerializerMethodField()

    class Meta:
        model = RedLetterForm
        fields = ["id", "request_no", "taxpayer", "invoice", "invoice_number", "reason", "reason_label", "is_full",
                  "amount", "tax", "total", "status", "status_label", "red_invoice_number", "note", "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_red_invoice_number(self, obj: RedLetterForm) -> str:
        return obj.red_invoice.number if obj.red_invoice_id else ""


# --- invoices ------------------------------------------------------------------------------------------------------


class InvoiceLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    item_name = serializers.CharField(source="face_name", help_text=_("票面项目名称（*简称*名称）"))
    spec = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.DecimalField(**QTY, allow_null=True)
    unit_price = serializers.DecimalField(**QTY, allow_null=True, help_text=_("单价（不含税）"))
    amount = serializers.DecimalField(**MONEY, help_text=_("金额（不含税）"))
    tax_rate = serializers.DecimalField(max_digits=7, decimal_places=4)
    tax = serializers.DecimalField(**MONEY)
    tax_category = serializers.CharField(source="tax_category.code", help_text=_("税收分类编码"))


class InvoiceSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=_("发票种类代码（查验 fplx）"))
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    application = serializers.SerializerMethodField()
    blue_invoice_number = serializers.SerializerMethodField()
    buyer = serializers.SerializerMethodField()
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "number", "taxpayer", "kind", "kind_label", "is_red", "blue_invoice_number", "issue_date",
                  "issued_at", "status", "status_label", "seller_name", "seller_tax_id", "buyer", "amount", "tax",
                  "total", "red_amount_total", "remark", "application", "lines"]
        read_only_fields = fields

    @extend_schema_field(inline_serializer(name="InvoiceApplicationRef", fields={
        "id": serializers.IntegerField(), "number": serializers.CharField()}))
    def get_application(self, obj) -> dict[str, Any] | None:
        app = obj.application
        return None if app is None else {"id": app.pk, "number": app.number}

    @extend_schema_field(OpenApiTypes.STR)
    def get_blue_invoice_number(self, obj) -> str:
        return obj.blue_invoice.number if obj.blue_invoice_id else ""

    @extend_schema_field(BuyerSerializer)
    def get_buyer(self, obj) -> dict[str, str]:
        return buyer_out(obj)


class DeliveryCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, help_text=_("把发票（PDF、OFD、XML 附件）发到这个邮箱"))


class InvoiceDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    invoice = serializers.IntegerField(source="invoice_id", help_text=_("发票 id"))
    channel = serializers.CharField(help_text=_("交付渠道，本接口为 email"))
    email = serializers.EmailField(source="target")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices,
                                     help_text=_("pending 待发送，sending 发送中，sent 已发送，failed 发送失败，bounced 被退回"))
    status_label = serializers.CharField(source="get_status_display")
    sent_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class FileLinkSerializer(serializers.Serializer):
    format = serializers.CharField(help_text=_("pdf、ofd 或 xml"))
    url = serializers.URLField(help_text=_("短时有效的签名下载链接，无需认证头"))
    expires_at = serializers.DateTimeField()


# --- webhooks --------------------------------------------------------------------------------------------------------


class WebhookCreateSerializer(ClientTaxpayerMixin, serializers.Serializer):
    taxpayer = TaxpayerField(required=False, allow_null=True, default=None)
    url = serializers.URLField(max_length=500, help_text=_("接收推送的地址（POST，JSON）"))
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=["*"]),  # replaced in __init__ with the delivery app's event names
        allow_empty=False,
        help_text=_('订阅的事件；["*"] 表示全部'),
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].child = serializers.ChoiceField(choices=webhook_event_choices())

    def validate_url(self, value: str) -> str:
        problem = webhook_url_problem(value, resolve=False)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def webhook_event_choices() -> list[tuple[str, str]]:
    return [("*", _("全部事件")), *WebhookEvent.choices]


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    taxpayer = serializers.CharField(source="endpoint.taxpayer.credit_code")
    name = serializers.CharField(source="endpoint.name")
    url = serializers.URLField(source="endpoint.url")
    events = serializers.ListField(source="endpoint.events", child=serializers.CharField())
    is_active = serializers.BooleanField(source="endpoint.is_active")
    created_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(source="endpoint.secret", help_text=_(
        "签名密钥，只在创建时返回一次。验签：X-Fapiao-Signature = sha256=hex(HMAC-SHA256(密钥, 时间戳 + '.' + 原始请求体))"))


# --- received invoices (用票) ----------------------------------------------------------------------------------------


def max_collect_items() -> int:
    return int(getattr(settings, "RECEIVING_API_MAX_ITEMS", 20))


def _too_many(n: int) -> str:
    return str(_("一次最多 %(max)d 项，本次 %(n)d 项；更多的请分批提交或在后台上传") % {"max": max_collect_items(), "n": n})


class ItemListSerializer(serializers.ListSerializer):
    """Entries of one collect request, at most ``RECEIVING_API_MAX_ITEMS``: refused before any is validated."""

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > max_collect_items():
            raise serializers.ValidationError([_too_many(len(data))], code="too_many_items")
        return super().to_internal_value(data)


def django_errors_as_fields(exc: DjangoValidationError, prefix: str = "") -> dict[str, list[str]]:
    """A service's ValidationError as field errors under ``prefix`` (``invoices[2].number``)."""
    fields: dict[str, list[str]] = {}
    items = exc.message_dict.items() if hasattr(exc, "error_dict") else [("__all__", exc.messages)]
    for name, messages in items:
        key = (prefix or "non_field_errors") if name == "__all__" else (f"{prefix}.{name}" if prefix else name)
        fields.setdefault(key, []).extend(str(m) for m in messages)
    return fields


class ReceivedLineInputSerializer(serializers.Serializer):
    item_name = serializers.CharField(max_length=300, required=False, allow_blank=True, default="",
                                      help_text=_("项目名称"))
    spec = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    unit = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    quantity = serializers.DecimalField(**QTY, required=False, allow_null=True, default=None)
    unit_price = serializers.DecimalField(**QTY, required=False, allow_null=True, default=None)
    amount = serializers.DecimalField(**MONEY, help_text=_("金额（不含税）"))
    tax_rate = serializers.DecimalField(**RATE, required=False, allow_null=True, default=None,
                                        help_text=_("税率/征收率，如 0.06；免税、不征税时为空"))
    tax = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None)
    tax_code = serializers.CharField(max_length=19, required=False, allow_blank=True, default="",
                                     help_text=_("税收分类编码"))


class ReceivedInvoiceInputSerializer(serializers.Serializer):
    """One invoice typed from its face; checked by the same rules as manual entry in the admin."""

    class Meta:
        list_serializer_class = ItemListSerializer

    kind = serializers.ChoiceField(choices=ReceivedKind.choices, help_text=_("票种：81 数电专票，82 数电普票，01/04/08/10 等税控发票，51 铁路电子客票，61 航空电子客票……"))
    number = serializers.CharField(max_length=30, help_text=_("发票号码：数电发票 20 位，税控发票 8 位"))
    code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="",
                                 help_text=_("发票代码：税控发票 10 或 12 位；数电发票为空"))
    issue_date = serializers.DateField(help_text=_("开票日期"))
    seller_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    seller_tax_id = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    buyer_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    buyer_tax_id = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                      help_text=_("合计金额（不含税）"))
    tax = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None, help_text=_("合计税额"))
    total = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                     help_text=_("价税合计；为空时按金额 + 税额"))
    check_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                       help_text=_("校验码"))
    remark = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    is_red = serializers.BooleanField(required=False, default=False,
                                      help_text=_("红字发票：金额、税额、价税合计为负数；蓝字发票（默认）为正数"))
    blue_number = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                        help_text=_("红字发票对应的蓝字发票号码"))
    lines = ReceivedLineInputSerializer(many=True, required=False, default=list, max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            receiving_services.manual_values(**attrs)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(django_errors_as_fields(exc)) from None
        return attrs


class CollectJsonSerializer(ClientTaxpayerMixin, serializers.Serializer):
    """QR payloads, or invoices typed from their face (one of the two)."""

    taxpayer = TaxpayerField(required=False, allow_null=True, default=None,
                             help_text=_("收票主体（购买方）的统一社会信用代码；客户端只有一个主体时可省略"))
    qr = serializers.ListField(
        child=serializers.CharField(max_length=500, allow_blank=True, trim_whitespace=False), required=False,
        allow_empty=False, help_text=_("发票二维码内容，每项一张（扫码枪读出的文字，如 01,32,,2532…）"))
    invoices = ReceivedInvoiceInputSerializer(many=True, required=False, allow_empty=False,
                                              help_text=_("按票面填写的发票"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        given = [name for name in ("qr", "invoices") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError({"non_field_errors": [_("请只提交一种：qr（二维码）或 invoices（票面字段）；文件请用 multipart/form-data 的 files")]})
        if "qr" in given and len(attrs["qr"]) > max_collect_items():
            raise serializers.ValidationError({"qr": [_too_many(len(attrs["qr"]))]})
        return attrs


class CollectFilesSerializer(ClientTaxpayerMixin, serializers.Serializer):
    """Invoice files (PDF, OFD, XML, images, or ZIPs of them), as multipart/form-data."""

    taxpayer = TaxpayerField(required=False, default=None,
                             help_text=_("收票主体（购买方）的统一社会信用代码；客户端只有一个主体时可省略"))
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False), allow_empty=False,
        help_text=_("发票文件，可多个（同名字段重复）；ZIP 压缩包会展开。文件数和总大小上限见 RECEIVING_API_MAX_ITEMS、"
                    "RECEIVING_API_MAX_BYTES"))


class ReceivedInvoiceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text=_("票种代码"))
    number = serializers.CharField()
    code = serializers.CharField(help_text=_("发票代码（税控发票）；数电发票为空字符串"))
    issue_date = serializers.DateField()
    seller_name = serializers.CharField()
    seller_tax_id = serializers.CharField()
    total = serializers.DecimalField(**MONEY, allow_null=True)
    review_state = serializers.CharField(help_text=_("clear 无需复核，review 待复核，resolved 已复核"))
    use_state = serializers.CharField(help_text=_("in_review 复核中，in_pool 在池，booked 已入账……"))


class CollectItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(source="position", help_text=_("序号，从 1 开始（ZIP 展开后按文件计）"))
    name = serializers.CharField(help_text=_("文件名（压缩包内为 包名/路径）、二维码内容或“手工录入 …”"))
    outcome = serializers.ChoiceField(choices=Outcome.choices, help_text=_(
        "created 新建，attached 补充到已有发票，duplicate 重复（已在发票池或同一文件），review 待复核，rejected 拒收"))
    rule = serializers.CharField(help_text=_("决定结果的规则代码，如 same_file、needs_entry、qr_invalid、encrypted_pdf"))
    reason = serializers.CharField(help_text=_("原因说明"))
    invoice = ReceivedInvoiceRefSerializer(allow_null=True, help_text=_("涉及的发票池记录；拒收或待人工录入时为 null"))
    carrier = serializers.IntegerField(source="carrier_id", allow_null=True, help_text=_("收到的文件 id"))


class CollectCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField(source="created_count")
    attached = serializers.IntegerField(source="attached_count")
    duplicate = serializers.IntegerField(source="duplicate_count")
    review = serializers.IntegerField(source="review_count")
    rejected = serializers.IntegerField(source="rejected_count")


class CollectResultSerializer(serializers.Serializer):
    collection = serializers.IntegerField(source="pk", help_text=_("采集批次 id"))
    taxpayer = serializers.CharField(source="taxpayer.credit_code")
    method = serializers.CharField(help_text=_("采集方式，本接口为 api"))
    status = serializers.CharField(help_text=_("done 已完成"))
    total = serializers.IntegerField()
    counts = CollectCountsSerializer(source="*")
    items = CollectItemSerializer(many=True, source="api_items")


class ReviewReasonSerializer(serializers.Serializer):
    field = serializers.CharField(help_text=_("字段，document 表示整张票"))
    code = serializers.CharField(help_text=_("规则代码"))
    message = serializers.CharField()


class ReceivedInvoiceSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True,
                                            help_text=_("收票主体的统一社会信用代码"))
    kind = serializers.CharField(read_only=True, help_text=_("票种代码（查验 fplx，或 rail_paper 等文字代码）"))
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    platform_status = serializers.CharField(read_only=True, help_text=_(
        "发票状态：空字符串未查验，normal 正常，voided 作废，red_full 全额红冲，red_partial 部分红冲，"
        "out_of_control 失控，abnormal 异常"))
    platform_status_label = serializers.CharField(source="get_platform_status_display", read_only=True)
    review_state = serializers.CharField(read_only=True, help_text=_("clear 无需复核，review 待复核，resolved 已复核"))
    review_state_label = serializers.CharField(source="get_review_state_display", read_only=True)
    review_reasons = serializers.SerializerMethodField()
    use_state = serializers.CharField(read_only=True, help_text=_(
        "in_review 复核中，in_pool 在池，booked 已入账，reimbursed 已报销，selected 已勾选抵扣"))
    use_state_label = serializers.CharField(source="get_use_state_display", read_only=True)
    risk_level = serializers.CharField(read_only=True, help_text=_("风险等级：空字符串未知，01 正常，02 异常凭证，03 疑点发票"))
    data_source = serializers.CharField(read_only=True, help_text=_("字段来源：xml、ofd、pdf、qr 或 manual"))

    class Meta:
        model = ReceivedInvoice
        fields = ["id", "taxpayer", "kind", "kind_label", "number", "code", "paper_code", "paper_number",
                  "issue_date", "seller_name", "seller_tax_id", "buyer_name", "buyer_tax_id", "amount", "tax", "total",
                  "check_code", "remark", "is_red", "blue_number", "deductible_tax", "platform_status",
                  "platform_status_label", "risk_level", "review_state", "review_state_label", "review_reasons",
                  "use_state", "use_state_label", "other_buyer", "data_source", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(ReviewReasonSerializer(many=True))
    def get_review_reasons(self, obj: ReceivedInvoice) -> list[dict[str, str]]:
        return [{"field": str(r.get("field") or ""), "code": str(r.get("code") or ""),
                 "message": str(r.get("message") or "")} for r in obj.review_reasons or []]


class ReceivedLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    item_name = serializers.CharField()
    spec = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.DecimalField(**QTY, allow_null=True)
    unit_price = serializers.DecimalField(**QTY, allow_null=True)
    amount = serializers.DecimalField(**MONEY)
    tax_rate = serializers.DecimalField(max_digits=7, decimal_places=4, allow_null=True)
    tax_rate_text = serializers.CharField(help_text=_("税率为文字时（免税、不征税、***）"))
    tax = serializers.DecimalField(**MONEY, allow_null=True)
    tax_code = serializers.CharField()


class ReceivedSourceSerializer(serializers.Serializer):
    collection = serializers.IntegerField(source="collection_id", help_text=_("采集批次 id"))
    method = serializers.CharField(help_text=_("采集方式：upload、scanner、manual、api、cli……"))
    carrier = serializers.IntegerField(source="carrier_id", allow_null=True, help_text=_("这次带来的文件 id"))
    actor = serializers.CharField(source="actor_label", help_text=_("操作方：接口客户端为 api:名称，系统任务为其名称，后台用户为空字符串"))
    created_at = serializers.DateTimeField()


class CarrierSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    format = serializers.CharField(help_text=_("xml、ofd、pdf 或 image"))
    size = serializers.IntegerField(help_text=_("字节数"))
    sha256 = serializers.CharField()
    name = serializers.CharField(source="original_name", help_text=_("收到时的文件名"))
    reader = serializers.CharField(help_text=_("读取方式"))
    needs_review = serializers.BooleanField(help_text=_("读取结果待复核"))
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text=_(
        "短时有效的签名下载链接（10 分钟，无需认证头）；客户端无“可下载发票文件”权限时为 null"))
    expires_at = serializers.SerializerMethodField()

    def _link(self, obj: Carrier) -> tuple[str, Any] | None:
        client, request = self.context.get("client"), self.context.get("request")
        if client is None or request is None or not client.can_download_files:
            return None
        links = self.context.setdefault("carrier_links", {})
        if obj.pk not in links:
            links[obj.pk] = carrier_link(request, client=client, carrier=obj)
        return links[obj.pk]

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, obj: Carrier) -> str | None:
        link = self._link(obj)
        return None if link is None else link[0]

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_expires_at(self, obj: Carrier) -> str | None:
        link = self._link(obj)
        return None if link is None else serializers.DateTimeField().to_representation(link[1])


class ReceivedInvoiceDetailSerializer(ReceivedInvoiceSerializer):
    lines = ReceivedLineSerializer(many=True, read_only=True)
    sources = ReceivedSourceSerializer(many=True, read_only=True)
    carriers = CarrierSerializer(many=True, read_only=True)

    class Meta(ReceivedInvoiceSerializer.Meta):
        fields = [*ReceivedInvoiceSerializer.Meta.fields, "passenger_name", "travel_date", "travel_from", "travel_to",
                  "vehicle_number", "seat_class", "lines", "sources", "carriers"]
        read_only_fields = fields


# --- deduction (抵扣) ------------------------------------------------------------------------------------------------


class StatisticsDifferenceSerializer(serializers.Serializer):
    field = serializers.CharField(help_text=_("count 抵扣份数，amount 抵扣金额，tax 抵扣税额，not_deducted_count 其他用途份数"))
    label = serializers.CharField()
    ours = serializers.CharField(help_text=_("本系统的数"))
    platform = serializers.CharField(help_text=_("平台统计表的数"))


class TaxPeriodSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True,
                                            help_text=_("主体的统一社会信用代码"))
    period = serializers.CharField(read_only=True, help_text=_("所属期 YYYYMM"))
    state = serializers.CharField(read_only=True, help_text=_(
        "open 可勾选，statistics 已申请统计，confirmed 已确认，filed 已申报"))
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    platform_statistics = serializers.DictField(
        child=serializers.CharField(), read_only=True,
        help_text=_("申请统计（或确认）时平台返回的统计：status、count、amount、tax、not_deducted_count"))
    differences = StatisticsDifferenceSerializer(many=True, read_only=True,
                                                 help_text=_("平台统计与本系统不一致之处；有差异时不能确认"))

    class Meta:
        model = TaxPeriod
        fields = ["id", "taxpayer", "period", "state", "state_label", "statistics_at", "confirmed_at", "filed_at",
                  "platform_statistics", "differences"]
        read_only_fields = fields


class TaxPeriodCreateSerializer(ClientTaxpayerMixin, serializers.Serializer):
    taxpayer = TaxpayerField(required=False, allow_null=True, default=None,
                             help_text=_("收票主体的统一社会信用代码；客户端只有一个主体时可省略"))
    period = serializers.RegexField(r"^[0-9]{4}(0[1-9]|1[0-2])$", max_length=6,
                                    help_text=_("所属期 YYYYMM"),
                                    error_messages={"invalid": _("所属期格式应为 YYYYMM")})


class InvoiceRefSerializer(serializers.Serializer):
    """An invoice of the period's entity: by its id in the pool, or by its number (and code for a legacy one)."""

    invoice = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                       help_text=_("发票池中的发票 id（与 number 二选一）"))
    number = serializers.CharField(required=False, max_length=30, help_text=_("发票号码（与 invoice 二选一）"))
    code = serializers.CharField(required=False, allow_blank=True, default="", max_length=12,
                                 help_text=_("发票代码（税控发票按号码查找时填写）"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("invoice" in attrs) == ("number" in attrs):
            raise serializers.ValidationError({"invoice": [_("请填写 invoice（发票 id）或 number（发票号码）其中之一")]})
        return attrs


class SelectionItemSerializer(InvoiceRefSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False, default=Purpose.DEDUCT.value,
                                      help_text=_("用途：1 抵扣（默认），2 出口退税，3 代办退税，4 不抵扣"))
    reason = serializers.ChoiceField(choices=NotDeductReason.choices, required=False, allow_blank=True, default="",
                                     help_text=_("不抵扣原因（用途 4 时必填）：1 用于非应税项目，2 用于免税项目，"
                                                 "3 用于集体福利或者个人消费，4 遭受非正常损失，5 其他"))
    reason_text = serializers.CharField(required=False, allow_blank=True, default="", max_length=300,
                                        help_text=_("不抵扣原因说明，最多 300 个字符"))
    effective_tax = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                             min_value=Decimal("0.00"), max_value=MONEY_LIMIT - Decimal("0.01"),
                                             help_text=_("有效抵扣税额：不填为可抵扣税额；只能调低，不能调高"))
    agricultural_extra = serializers.BooleanField(required=False, default=False,
                                                  help_text=_("农产品用于生产 13% 税率货物：加计扣除 1%"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if attrs["purpose"] == Purpose.NOT_DEDUCT and not attrs["reason"]:
            raise serializers.ValidationError({"reason": [_("不抵扣须选择原因（1–5）")]})
        if attrs["purpose"] != Purpose.NOT_DEDUCT and (attrs["reason"] or attrs["reason_text"]):
            raise serializers.ValidationError({"reason": [_("只有不抵扣才填写原因")]})
        return attrs


MAX_SELECTION_ITEMS = 200


class SelectionRequestSerializer(serializers.Serializer):
    items = SelectionItemSerializer(many=True, allow_empty=False,
                                    help_text=_("要勾选的发票，每项一张，最多 200 张"))

    def validate_items(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_SELECTION_ITEMS:
            raise serializers.ValidationError(_("一次最多勾选 200 张发票"))
        return value


class UnselectRequestSerializer(serializers.Serializer):
    items = InvoiceRefSerializer(many=True, allow_empty=False,
                                 help_text=_("要撤销勾选的发票（本所属期已勾选的），每项一张，最多 200 张"))

    def validate_items(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_SELECTION_ITEMS:
            raise serializers.ValidationError(_("一次最多撤销 200 张发票"))
        return value


class ConfirmUndoSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500,
                                   help_text=_("撤销确认的原因"))


SELECTION_OUTCOMES = [("accepted", _("平台已受理")), ("refused", _("平台拒绝")), ("pending", _("待平台确认"))]


class SelectionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("请求中的序号（从 1 开始）"))
    invoice = serializers.IntegerField(help_text=_("发票池中的发票 id"))
    number = serializers.CharField(help_text=_("发票号码"))
    selection = serializers.IntegerField(help_text=_("勾选记录 id"))
    purpose = serializers.CharField(help_text=_("用途：1 抵扣，2 出口退税，3 代办退税，4 不抵扣"))
    effective_tax = serializers.DecimalField(**MONEY, help_text=_("有效抵扣税额"))
    state = serializers.CharField(help_text=_(
        "勾选记录的状态：pending 勾选待平台确认，accepted 已勾选，refused 平台拒绝，undo_pending 撤销勾选待平台确认，"
        "undone 已撤销勾选"))
    outcome = serializers.ChoiceField(choices=SELECTION_OUTCOMES, help_text=_(
        "本次请求对这张发票的结果：accepted 平台已受理，refused 平台拒绝（原因见 platform_code 和 platform_message），"
        "pending 平台暂不可用，待重新提交"))
    platform_code = serializers.CharField(help_text=_("平台的结果代码（拒绝时）"))
    platform_message = serializers.CharField(help_text=_("平台的说明（拒绝原因）"))


class SelectionBatchSerializer(serializers.Serializer):
    period = TaxPeriodSerializer()
    accepted = serializers.IntegerField(help_text=_("平台已受理的张数"))
    refused = serializers.IntegerField(help_text=_("平台拒绝的张数"))
    pending = serializers.IntegerField(help_text=_("待平台确认的张数"))
    items = SelectionResultSerializer(many=True)


class Schedule2LineSerializer(serializers.Serializer):
    line = serializers.CharField(help_text=_("栏次：1–36（含 8a、8b、23a、23b）"))
    count = serializers.IntegerField(help_text=_("份数"))
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("金额"))
    tax = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("税额"))
    drilldown = serializers.URLField(help_text=_("本栏发票明细（分页）的地址"))


class Schedule2Serializer(serializers.Serializer):
    period = serializers.CharField(help_text=_("所属期 YYYYMM"))
    lines = Schedule2LineSerializer(many=True)


class Schedule2ItemSerializer(serializers.Serializer):
    invoice_id = serializers.IntegerField(allow_null=True, help_text=_("收票 ID（没有发票的转出为空）"))
    number = serializers.CharField(allow_blank=True, help_text=_("发票号码"))
    kind = serializers.CharField(allow_blank=True, help_text=_("票种"))
    count = serializers.IntegerField(help_text=_("计入本栏的份数"))
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("计入本栏的金额"))
    tax = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("计入本栏的税额"))
    source = serializers.ChoiceField(choices=["selection", "transfer"], help_text=_("selection 勾选，transfer 转出"))


class Schedule2DrilldownSerializer(serializers.Serializer):
    period = serializers.CharField(help_text=_("所属期 YYYYMM"))
    line = serializers.CharField(help_text=_("栏次"))
    count = serializers.IntegerField(help_text=_("本栏份数"))
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("本栏金额"))
    tax = serializers.DecimalField(max_digits=18, decimal_places=2, help_text=_("本栏税额"))
    total = serializers.IntegerField(help_text=_("明细条数"))
    next = serializers.URLField(allow_null=True, help_text=_("下一页"))
    previous = serializers.URLField(allow_null=True, help_text=_("上一页"))
    results = Schedule2ItemSerializer(many=True)
# --- expense claims (报销单) ---------------------------------------------------------------------------------------


class ClaimLineInputSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                       help_text=_("发票池中的发票 id（与 number 二选一）"))
    number = serializers.CharField(required=False, max_length=30, help_text=_("发票号码（与 invoice 二选一）"))
    code = serializers.CharField(required=False, allow_blank=True, default="", max_length=12,
                                 help_text=_("发票代码（税控发票按号码查找时填写）"))
    amount = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None,
                                      min_value=Decimal("0.01"), max_value=MONEY_LIMIT - Decimal("0.01"),
                                      help_text=_("报销金额；不填为该发票剩余可报销的全部金额"))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("invoice" in attrs) == ("number" in attrs):
            raise serializers.ValidationError({"invoice": [_("请填写 invoice（发票 id）或 number（发票号码）其中之一")]})
        return attrs


class ClaimCreateSerializer(ClientTaxpayerMixin, serializers.Serializer):
    taxpayer = TaxpayerField(required=False, allow_null=True, default=None,
                             help_text=_("报销主体的统一社会信用代码；客户端只有一个主体时可省略"))
    claimant_name = serializers.CharField(max_length=60, help_text=_("报销人姓名"))
    claimant_code = serializers.CharField(max_length=40, required=False, allow_blank=True, default="",
                                          help_text=_("员工编号"))
    department = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                  help_text=_("事由"))
    external_ref = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                         help_text=_("费用系统中的单号（同一主体内唯一）"))
    lines = ClaimLineInputSerializer(many=True, allow_empty=False, help_text=_("报销的发票，每项一张"))
    submit = serializers.BooleanField(required=False, default=False, help_text=_("创建后立即提交审批"))

    def validate_lines(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > 200:
            raise serializers.ValidationError(_("一张报销单最多 200 张发票"))
        return value


class ClaimLineSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(source="invoice_id", help_text=_("发票池中的发票 id"))
    number = serializers.CharField(source="invoice.number")
    code = serializers.CharField(source="invoice.code")
    kind = serializers.CharField(source="invoice.kind", help_text=_("票种代码"))
    issue_date = serializers.DateField(source="invoice.issue_date")
    seller_name = serializers.CharField(source="invoice.seller_name")
    total = serializers.DecimalField(**MONEY, source="invoice.total", allow_null=True, help_text=_("发票价税合计"))
    amount = serializers.DecimalField(**MONEY, help_text=_("报销金额"))
    note = serializers.CharField()


class ClaimSerializer(serializers.ModelSerializer):
    taxpayer = serializers.SlugRelatedField(slug_field="credit_code", read_only=True)
    state = serializers.CharField(read_only=True, help_text=_(
        "draft 草稿，submitted 已提交，approved 已审批，paid 已付款，rejected 已驳回"))
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    claimed_total = serializers.DecimalField(**MONEY, read_only=True, help_text=_("报销金额合计"))
    line_count = serializers.IntegerField(read_only=True, help_text=_("发票张数"))

    class Meta:
        model = ExpenseClaim
        fields = ["id", "claim_no", "taxpayer", "claimant_name", "claimant_code", "department", "title",
                  "external_ref", "state", "state_label", "reject_reason", "claimed_total", "line_count",
                  "submitted_at", "approved_at", "paid_at", "booked_at", "created_at", "updated_at"]
        read_only_fields = fields


class ClaimDetailSerializer(ClaimSerializer):
    lines = ClaimLineSerializer(many=True, read_only=True)

    class Meta(ClaimSerializer.Meta):
        fields = [*ClaimSerializer.Meta.fields, "lines"]
        read_only_fields = fields
