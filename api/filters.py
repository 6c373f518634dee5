"""The API's list filters: query parameters of each list, validated like request bodies (a bad value is a 400)."""

from __future__ import annotations

from datetime import UTC, timedelta

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from issuing.applications.models import CUSTOMER_STATUS, InvoiceApplication
from issuing.billing.models import BillingDocument, BillingDocumentStatus
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.models import RedFormState, RedLetterForm
from receiving.claims_models import ClaimState, ExpenseClaim
from receiving.models import PlatformStatus, ReceivedInvoice, ReceivedKind, ReviewState, UseState

MAX_ID = 2**63 - 1  # the largest object id PostgreSQL's bigint holds


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number in the database's range (a larger one is a 400, never an overflow)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, converted to UTC; offsets beyond ±14 hours (which PostgreSQL refuses) are invalid."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        offset = result.utcoffset()
        if offset is not None and abs(offset) > timedelta(hours=14):
            raise forms.ValidationError(_("时区偏移超出范围"), code="invalid")
        try:
            return result.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(_("时间超出范围"), code="invalid") from None


class TimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


class BillingDocumentFilter(django_filters.FilterSet):
    taxpayer = django_filters.CharFilter(field_name="taxpayer__credit_code", help_text="主体统一社会信用代码")
    external_no = django_filters.CharFilter(help_text="上游单号（精确匹配）")
    status = django_filters.ChoiceFilter(choices=BillingDocumentStatus.choices)
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    created_after = TimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = BillingDocument
        fields = ["taxpayer", "external_no", "status"]


CUSTOMER_CODES = sorted({code for code, _label in CUSTOMER_STATUS.values()})


class ApplicationFilter(django_filters.FilterSet):
    taxpayer = django_filters.CharFilter(field_name="taxpayer__credit_code", help_text="主体统一社会信用代码")
    number = django_filters.CharFilter(help_text="申请单号（精确匹配）")
    status = django_filters.ChoiceFilter(
        choices=[(c, c) for c in CUSTOMER_CODES], method="filter_status", help_text="面向客户的状态"
    )
    billing_document = IdFilter(field_name="sources__billing_document_id",
                                                   help_text="来源业务单据 id")
    external_no = django_filters.CharFilter(field_name="sources__billing_document__external_no",
                                            help_text="来源业务单据的上游单号")
    created_after = TimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = InvoiceApplication
        fields = ["taxpayer", "number"]

    def filter_status(self, qs, name, value):
        internal = [s for s, (code, _label) in CUSTOMER_STATUS.items() if code == value]
        return qs.filter(status__in=internal)


class InvoiceFilter(django_filters.FilterSet):
    taxpayer = django_filters.CharFilter(field_name="taxpayer__credit_code", help_text="主体统一社会信用代码")
    number = django_filters.CharFilter(help_text="发票号码（精确匹配）")
    application = IdFilter(field_name="application_id", help_text="开票申请 id")
    is_red = django_filters.BooleanFilter()
    status = django_filters.ChoiceFilter(choices=InvoiceStatus.choices)
    issue_date_from = django_filters.DateFilter(field_name="issue_date", lookup_expr="gte")
    issue_date_to = django_filters.DateFilter(field_name="issue_date", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = ["taxpayer", "number", "is_red", "status"]


class RedFlushRequestFilter(django_filters.FilterSet):
    invoice = IdFilter(field_name="blue_invoice_id", help_text="蓝字发票 id")
    status = django_filters.ChoiceFilter(choices=RedFormState.choices)

    class Meta:
        model = RedLetterForm
        fields = ["invoice", "status"]


PLATFORM_STATUS_FILTER = [("unknown", _("未查验")), *((v, label) for v, label in PlatformStatus.choices if v)]


class ReceivedInvoiceFilter(django_filters.FilterSet):
    taxpayer = django_filters.CharFilter(field_name="taxpayer__credit_code", help_text="收票主体统一社会信用代码")
    kind = django_filters.ChoiceFilter(choices=ReceivedKind.choices, help_text="票种（查验 fplx 代码或文字代码）")
    platform_status = django_filters.ChoiceFilter(choices=PLATFORM_STATUS_FILTER, method="filter_platform_status",
                                                  help_text="发票状态；unknown 为未查验")
    review_state = django_filters.ChoiceFilter(choices=ReviewState.choices, help_text="复核状态")
    use_state = django_filters.ChoiceFilter(choices=UseState.choices, help_text="使用状态")
    seller_tax_id = django_filters.CharFilter(method="filter_seller_tax_id", help_text="销售方纳税人识别号（精确匹配）")
    number = django_filters.CharFilter(help_text="发票号码（精确匹配）")
    code = django_filters.CharFilter(help_text="发票代码（税控发票，精确匹配）")
    issue_date_from = django_filters.DateFilter(field_name="issue_date", lookup_expr="gte")
    issue_date_to = django_filters.DateFilter(field_name="issue_date", lookup_expr="lte")
    created_after = TimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ReceivedInvoice
        fields = ["taxpayer", "kind", "review_state", "use_state", "number", "code"]

    def filter_platform_status(self, qs, name, value):
        return qs.filter(platform_status="" if value == "unknown" else value)

    def filter_seller_tax_id(self, qs, name, value):
        return qs.filter(seller_tax_id=value.strip().upper())


class ClaimFilter(django_filters.FilterSet):
    taxpayer = django_filters.CharFilter(field_name="taxpayer__credit_code", help_text="报销主体统一社会信用代码")
    state = django_filters.ChoiceFilter(choices=ClaimState.choices, help_text="报销单状态")
    external_ref = django_filters.CharFilter(help_text="费用系统单号（精确匹配）")
    claim_no = django_filters.CharFilter(help_text="报销单号（精确匹配）")
    created_after = TimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ExpenseClaim
        fields = ["taxpayer", "state", "external_ref", "claim_no"]
