"""The API for upstream systems: thin views over the issuing services, scoped to the calling client's entities.

Every object of an entity the client may not act on answers 404, exactly like an object that does not exist.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import django_filters
from django import forms
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from api.authentication import BearerTokenAuthentication, HmacAuthentication
from api.errors import ApiError, english
from api.files import file_link
from api.idempotency import idempotent_create
from api.models import WebhookSubscription
from api.permissions import CanDownloadFiles, IsApiClient, client_of
from api.schema import IDEMPOTENCY_KEY, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, error
from api.serializers import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    BillingDocumentCreateSerializer,
    BillingDocumentSerializer,
    DeliveredSerializer,
    DeliveryCreateSerializer,
    FileLinkSerializer,
    InvoiceDeliverySerializer,
    InvoiceSerializer,
    PaymentSerializer,
    ReapplySerializer,
    RedFlushRequestCreateSerializer,
    RedFlushRequestSerializer,
    RefundSerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WithdrawSerializer,
)
from api.services import DeliveryLimitReached, invoice_delivery_request
from api.throttling import ClientRateThrottle
from delivery.models import DELIVERED_FORMATS, WebhookEndpoint
from invoicing.events import event_record
from invoicing.validators import unsafe_char, unsafe_text_message
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.compliance import ComplianceError
from issuing.applications.models import CUSTOMER_STATUS, ApplicationLine, ApplicationSource, InvoiceApplication
from issuing.base import Source
from issuing.billing import selectors as billing_selectors
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument, BillingDocumentStatus
from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RedFormState, RedLetterForm

# Rules that describe this month's capacity rather than the application: an API application that breaks only these
# is still accepted, and waits in review like one entered in the admin.
NOT_BLOCKING_AT_CREATION = frozenset({"quota"})
MAX_ID = 2**63 - 1


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


MAX_JSON_DEPTH = 32  # the deepest request body is 4 levels (lines[i].field); anything far deeper is not ours


class SafeJSONParser(JSONParser):
    """JSON whose strings can be stored and put on an invoice, and that is not absurdly deep.

    NUL characters (PostgreSQL text and jsonb cannot store them) and nesting deeper than ``MAX_JSON_DEPTH`` are parse
    errors. A string holding a character that may not reach an invoice (``invoicing.validators``: control characters,
    bidirectional overrides, zero-width characters) is a field error naming the field's path, like a serializer's.
    The walk is iterative: a deep body cannot exhaust the stack.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # the json module's own limit, for bodies nested about a thousand deep
            raise _too_deep() from None
        fields = _check_strings(data)
        if fields:
            raise serializers.ValidationError(fields)
        return data


def _too_deep() -> ApiError:
    return ApiError("parse_error", message=_("请求内容嵌套层数过多（最多 %(depth)s 层）") % {"depth": MAX_JSON_DEPTH})


def _check_strings(data: Any) -> dict[str, list[str]]:
    """Field errors for unsafe strings in a parsed body; refuses NUL characters and deep nesting as parse errors."""
    fields: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ApiError("parse_error", message=str(_("请求内容不能包含 NUL 字符（\\u0000）")))
            found = unsafe_char(value)
            if found is not None:
                fields.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(unsafe_text_message(*found))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key or unsafe_char(key) is not None:
                    raise ApiError("parse_error", message=str(_("字段名含有不允许的字符")))
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        else:
            for i, item in enumerate(value, start=1):  # numbered from 1, like the API's other field paths
                stack.append((item, f"{path}[{i}]", depth + 1))
    return dict(sorted(fields.items()))


class ClientPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500
    max_offset = 10**9

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)


class ClientApiView(viewsets.GenericViewSet):
    """Base of every API view: client authentication, entity scope, per-client throttling, JSON only."""

    authentication_classes = [BearerTokenAuthentication, HmacAuthentication]
    permission_classes = [IsApiClient]
    throttle_classes = [ClientRateThrottle]
    parser_classes = [SafeJSONParser]
    pagination_class = ClientPagination
    scope_field = "taxpayer"
    # Any path segment reaches the view, so that /invoices/0.5/ is the API's JSON 404 (get_object), not Django's page.
    lookup_value_regex = "[^/]+"

    def get_object(self):
        value = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if not value.isdigit() or not 0 < int(value) <= MAX_ID:
            raise Http404
        return super().get_object()

    @property
    def client(self):
        return client_of(self.request)

    def scoped(self, qs: QuerySet) -> QuerySet:
        client = self.client
        if client is None:  # schema generation
            return qs.none()
        return qs.filter(**{f"{self.scope_field}__in": client.taxpayer_ids()})

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "client": self.client}

    def input(self, serializer_class, data=None) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data if data is None else data,
                                      context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def audit(self, obj, action_name: str, **data: Any) -> None:
        """Name the API client in the audit trail: the services record a system actor for API calls."""
        key = self.request.headers.get("Idempotency-Key")
        if key:
            data["idempotency_key"] = key
        event_record(obj=obj, action=action_name, actor_label=self.client.actor_label, data=data)


# --- billing documents -------------------------------------------------------------------------------------------


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


@extend_schema_view(
    list=extend_schema(summary="业务单据列表", responses={200: BillingDocumentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="业务单据详情", responses={200: BillingDocumentSerializer, **READ_ERRORS}),
)
class BillingDocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = BillingDocumentSerializer
    filterset_class = BillingDocumentFilter

    def get_queryset(self):
        qs = billing_selectors.billing_documents_with_applied(BillingDocument.objects.all())
        return self.scoped(qs).select_related("taxpayer", "taxpayer__issuing_policy").prefetch_related(
            "lines__tax_category"
        ).order_by("-created_at", "-id")

    @extend_schema(
        summary="提交业务单据（含明细）",
        request=BillingDocumentCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: BillingDocumentSerializer, 409: error("同一来源系统的单号已存在（already_exists）"),
                   **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(BillingDocumentCreateSerializer)
        client = self.client
        taxpayer = data["taxpayer"]
        if BillingDocument.objects.filter(taxpayer=taxpayer, source_system=client.name,
                                          external_no=data["external_no"].strip()).exists():
            raise _already_exists(data["external_no"])
        lines = [dict(line) for line in data["lines"]]
        for line in lines:  # the service takes strings and Decimals; None means "not given"
            line["tax_category"] = line["tax_category"].code
        try:
            with transaction.atomic():
                doc = billing_services.billing_document_create(
                    actor=None,
                    taxpayer=taxpayer,
                    external_no=data["external_no"],
                    lines=lines,
                    buyer=BuyerFields.from_input(data["buyer"]),
                    source=Source.API,
                    source_system=client.name,
                    order_amount=data["order_amount"],
                    paid_amount=data["paid_amount"],
                    invoicing_basis=data["invoicing_basis"],
                    business_date=data["business_date"],
                    buyer_email=data["buyer_email"] or "",
                    buyer_mobile=data["buyer_mobile"],
                    remark=data["remark"],
                    delivered_on=data["delivered_on"],
                )
                self.audit(doc, "api_create")
        except IntegrityError:  # the same external number committed by a concurrent request without a key
            raise _already_exists(data["external_no"]) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=doc.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="登记收款",
        description="记录一笔收款（实收金额累加）。主体设置为“付款后自动申请”时，单据付清即自动生成开票申请。",
        request=PaymentSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: BillingDocumentSerializer, 404: error("单据不存在"), **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def payment(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, lambda: self._payment())

    def _payment(self) -> Response:
        doc = self.get_object()
        data = self.input(PaymentSerializer)
        with transaction.atomic():
            billing_services.billing_document_record_payment(document=doc, actor=None, amount=data["amount"])
            self.audit(doc, "api_payment", amount=str(data["amount"]))
        return Response(self.get_serializer(self.get_queryset().get(pk=doc.pk)).data)

    @extend_schema(
        summary="登记交付",
        description="记录单据已交付（只记一次）。主体设置为“交付后申请”时，交付即自动生成开票申请。",
        request=DeliveredSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: BillingDocumentSerializer, 404: error("单据不存在"), **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def delivered(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, lambda: self._delivered())

    def _delivered(self) -> Response:
        doc = self.get_object()
        data = self.input(DeliveredSerializer)
        with transaction.atomic():
            billing_services.billing_document_mark_delivered(document=doc, actor=None, delivered_on=data["delivered_on"])
            self.audit(doc, "api_delivered")
        return Response(self.get_serializer(self.get_queryset().get(pk=doc.pk)).data)

    @extend_schema(
        summary="登记退款",
        description="记录一笔退款（累计不超过实收金额）。已开票部分如需冲销，请另行提交红冲请求。",
        request=RefundSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: BillingDocumentSerializer, 404: error("单据不存在"), **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, lambda: self._refund())

    def _refund(self) -> Response:
        doc = self.get_object()
        data = self.input(RefundSerializer)
        with transaction.atomic():
            billing_services.billing_document_refund(document=doc, actor=None, amount=data["amount"], reason=data["reason"])
            self.audit(doc, "api_refund", amount=str(data["amount"]))
        return Response(self.get_serializer(self.get_queryset().get(pk=doc.pk)).data)


def _already_exists(external_no: str) -> ApiError:
    message = (f"Billing document {external_no} already exists" if english()
               else f"业务单据 {external_no} 已存在")
    return ApiError("already_exists", status_code=409, message=message, fields={"external_no": [message]})


class BuyerFields:
    @staticmethod
    def from_input(buyer: dict[str, Any] | None) -> dict[str, str] | None:
        if not buyer:
            return None
        return {f"buyer_{k}": v for k, v in buyer.items()}


# --- applications --------------------------------------------------------------------------------------------------

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


@extend_schema_view(
    list=extend_schema(summary="开票申请列表", responses={200: ApplicationSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="开票申请详情（含面向客户的状态）",
                           responses={200: ApplicationSerializer, **READ_ERRORS}),
)
class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter

    def get_queryset(self):
        return self.scoped(InvoiceApplication.objects.all()).select_related("taxpayer", "reapplication").prefetch_related(
            Prefetch("lines", queryset=ApplicationLine.objects.select_related("tax_category").order_by("line_no")),
            Prefetch("sources", queryset=ApplicationSource.objects.select_related("billing_document")),
            "invoices",
        ).distinct().order_by("-created_at", "-id")

    @extend_schema(
        summary="提交开票申请",
        description=(
            "从业务单据（全部余额或指定金额）或直接填写的明细创建开票申请，并提交审核。"
            "提交时运行与后台相同的合规检查（授信额度除外），不通过时返回 400，逐项列在 fields 中。"
        ),
        request=ApplicationCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ApplicationSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(ApplicationCreateSerializer)
        lines = [dict(line) for line in data["lines"]]
        for line in lines:
            line["tax_category"] = line["tax_category"].code
        with transaction.atomic():
            app = application_services.application_create(
                actor=None,
                taxpayer=data["taxpayer"],
                kind=data["kind"],
                sources=data["sources"],
                lines=lines or None,
                buyer=BuyerFields.from_input(data["buyer"]),
                delivery_email=data["delivery_email"] or "",
                delivery_mobile=data["delivery_mobile"],
                remark=data["remark"],
                specific_business=data["specific_business"],
                specific_business_data=data["specific_business_data"],
                source=Source.API,
            )
            # The same rules the reviewer's approval runs (issuing/compliance.py): refuse now what would be refused.
            failures = [f for f in application_selectors.application_failures(app) if f.code not in NOT_BLOCKING_AT_CREATION]
            if failures:
                raise ComplianceError(failures)
            self.audit(app, "api_create")
        return Response(self.get_serializer(self.get_queryset().get(pk=app.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="撤销开票申请",
        description="开票前可撤销；撤销后业务单据恢复可开票余额。已开票的申请不能撤销（409 invalid_state）。",
        request=WithdrawSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ApplicationSerializer, 409: error("当前状态不能撤销（invalid_state）"), **READ_ERRORS,
                   **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, self._withdraw)

    def _withdraw(self) -> Response:
        app = self.get_object()
        data = self.input(WithdrawSerializer)
        with transaction.atomic():
            application_services.application_withdraw(application=app, actor=None, reason=data["reason"])
            self.audit(app, "api_withdraw", reason=data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=app.pk)).data)

    @extend_schema(
        summary="驳回后重新申请",
        description=(
            "对已驳回的申请按更正后的抬头重新提交：沿用原申请的明细和业务单据（金额相同），提交审核，"
            "新申请的 reapplication_of 指向原申请，原申请的 reapplied_as 指向新申请。每张驳回的申请只能重新申请一次；"
            "不是已驳回状态或已重新申请过时返回 409 invalid_state。"
        ),
        request=ReapplySerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ApplicationSerializer, 409: error("原申请不是已驳回状态，或已重新申请过（invalid_state）"),
                   **READ_ERRORS, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reapply(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, self._reapply)

    def _reapply(self) -> Response:
        app = self.get_object()
        data = self.input(ReapplySerializer)
        with transaction.atomic():
            new = application_services.application_reapply(
                application=app, actor=None, buyer=BuyerFields.from_input(data["buyer"]),
                delivery_email=data["delivery_email"], delivery_mobile=data["delivery_mobile"],
                remark=data["remark"], source=Source.API,
            )
            failures = [f for f in application_selectors.application_failures(new) if f.code not in NOT_BLOCKING_AT_CREATION]
            if failures:
                raise ComplianceError(failures)
            self.audit(new, "api_reapply", reapplication_of=app.number)
        return Response(self.get_serializer(self.get_queryset().get(pk=new.pk)).data, status=status.HTTP_201_CREATED)


# --- invoices and their files ------------------------------------------------------------------------------------


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


@extend_schema_view(
    list=extend_schema(summary="发票列表", responses={200: InvoiceSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="发票详情", responses={200: InvoiceSerializer, **READ_ERRORS}),
)
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return self.scoped(Invoice.objects.all()).select_related("taxpayer", "application", "blue_invoice").prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.select_related("tax_category").order_by("line_no"))
        ).order_by("-issued_at", "-id")

    @extend_schema(
        summary="获取发票文件的下载链接",
        description=(
            "返回 PDF、OFD、XML 三种文件的签名链接，有效期 10 分钟，打开链接无需认证头。"
            "与后台相同的规则：客户端须有“可下载发票文件”权限（否则 403），发票须属于客户端的主体（否则 404）。"
        ),
        responses={200: FileLinkSerializer(many=True), 403: error("客户端无权下载发票文件（permission_denied）"),
                   **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="files", permission_classes=[IsApiClient, CanDownloadFiles],
            pagination_class=None, filter_backends=[])
    def files(self, request: Request, pk=None) -> Response:
        invoice = self.get_object()
        links = []
        for fmt in DELIVERED_FORMATS:
            url, expires_at = file_link(request, client=self.client, invoice=invoice, fmt=fmt)
            links.append({"format": fmt, "url": url, "expires_at": expires_at})
        return Response(FileLinkSerializer(links, many=True).data)

    @extend_schema(
        summary="把发票发送到邮箱",
        description=(
            "把一张发票（PDF、OFD、XML 附件）发到客户给出的邮箱，与后台的交付一样记录和重试，状态见应答的 status。"
            "客户端须有“可下载发票文件”权限（否则 403）。每张发票 24 小时内最多发送 API_DELIVERIES_PER_INVOICE_PER_DAY 次"
            "（默认 5），每个客户端 24 小时内最多 API_DELIVERIES_PER_CLIENT_PER_DAY 次（默认 200）；超出时返回 429 "
            "delivery_limit_reached，Retry-After 头给出可再次发送的秒数。已作废的发票返回 409 invalid_state。"
        ),
        request=DeliveryCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: InvoiceDeliverySerializer, 403: error("客户端无权发送发票文件（permission_denied）"),
                   409: error("发票已作废（invalid_state）"), **READ_ERRORS, **WRITE_ERRORS,
                   429: error("请求过于频繁（throttled），或超出发送次数限制（delivery_limit_reached）")},
    )
    @action(detail=True, methods=["post"], url_path="deliveries", permission_classes=[IsApiClient, CanDownloadFiles],
            pagination_class=None, filter_backends=[])
    def deliveries(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, self._deliver)

    def _deliver(self) -> Response:
        invoice = self.get_object()
        data = self.input(DeliveryCreateSerializer)
        try:
            delivery = invoice_delivery_request(client=self.client, invoice=invoice, email=data["email"])
        except DeliveryLimitReached as exc:
            raise _delivery_limit(exc) from None
        return Response(InvoiceDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


def _delivery_limit(exc: DeliveryLimitReached) -> ApiError:
    if exc.scope == "invoice":
        message = (f"This invoice may be sent at most {exc.limit} times in 24 hours; retry in {exc.wait}s"
                   if english() else f"每张发票 24 小时内最多发送 {exc.limit} 次，请 {exc.wait} 秒后再试")
    else:
        message = (f"This client may send at most {exc.limit} invoices in 24 hours; retry in {exc.wait}s"
                   if english() else f"每个客户端 24 小时内最多发送 {exc.limit} 次，请 {exc.wait} 秒后再试")
    error = ApiError("delivery_limit_reached", status_code=429, message=message)
    error.wait = exc.wait
    return error


# --- red-flush requests --------------------------------------------------------------------------------------------


class RedFlushRequestFilter(django_filters.FilterSet):
    invoice = IdFilter(field_name="blue_invoice_id", help_text="蓝字发票 id")
    status = django_filters.ChoiceFilter(choices=RedFormState.choices)

    class Meta:
        model = RedLetterForm
        fields = ["invoice", "status"]


@extend_schema_view(
    list=extend_schema(summary="红冲请求列表", responses={200: RedFlushRequestSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="红冲请求详情（红字确认单）", responses={200: RedFlushRequestSerializer, **READ_ERRORS}),
)
class RedFlushRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = RedFlushRequestSerializer
    filterset_class = RedFlushRequestFilter

    def get_queryset(self):
        return self.scoped(RedLetterForm.objects.all()).select_related(
            "taxpayer", "blue_invoice", "red_invoice"
        ).order_by("-created_at", "-id")

    @extend_schema(
        summary="提交红冲请求",
        description=(
            "对一张蓝字发票登记红字确认单草稿（全额，或按价税合计部分红冲），由财务在后台提交税局；"
            "状态随确认单变化（draft 草稿 → submitting 提交中 → 01/04 → 红字发票开具），完成后推送 invoice.red_flushed。"
            "业务单据退款后的红冲由系统按主体的退款红冲设置自动发起，无需再调用本接口。"
        ),
        request=RedFlushRequestCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RedFlushRequestSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(RedFlushRequestCreateSerializer)
        invoice = self.scoped(Invoice.objects.select_related("taxpayer")).filter(pk=data["invoice"]).first()
        if invoice is None:
            raise _field_error("invoice", "发票不存在", "No such invoice")
        with transaction.atomic():
            form = redletter_request(
                actor=None, blue_invoice=invoice, reason=data["reason"], amount_with_tax=data["amount"],
                note=data["note"], submit=False,
            )
            self.audit(form, "api_create", invoice=invoice.number)
        return Response(self.get_serializer(self.get_queryset().get(pk=form.pk)).data, status=status.HTTP_201_CREATED)


def _field_error(field: str, zh: str, en: str) -> ApiError:
    message = en if english() else zh
    return ApiError("validation_error", status_code=400, message=message, fields={field: [message]})


# --- webhook subscriptions -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="推送订阅列表", responses={200: WebhookSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="推送订阅详情", responses={200: WebhookSerializer, **READ_ERRORS}),
    destroy=extend_schema(summary="取消推送订阅", responses={204: None, **READ_ERRORS}),
)
class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ClientApiView):
    """Webhook subscriptions: signed POSTs of application.status_changed, invoice.issued, invoice.red_flushed,
    invoice.delivered and delivery.failed, retried with backoff by the delivery app."""

    serializer_class = WebhookSerializer
    filter_backends: list = []

    def get_queryset(self):
        client = self.client
        if client is None:
            return WebhookSubscription.objects.none()
        return WebhookSubscription.objects.filter(
            client=client, endpoint__is_active=True, endpoint__taxpayer_id__in=client.taxpayer_ids()
        ).select_related("endpoint__taxpayer").order_by("-created_at", "-id")

    @extend_schema(
        summary="订阅推送",
        description=(
            "登记一个接收地址。每次推送是一个 JSON POST：{id, event, data}，带 X-Fapiao-Event、X-Fapiao-Delivery"
            "（重试时不变，用于去重）、X-Fapiao-Timestamp 和 X-Fapiao-Signature 头；失败按退避重试。"
            "签名密钥只在本次应答中返回。"
        ),
        request=WebhookCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: WebhookCreatedSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(WebhookCreateSerializer)
        client = self.client
        with transaction.atomic():
            endpoint = WebhookEndpoint(taxpayer=data["taxpayer"], name=data["name"] or client.name, url=data["url"],
                                       events=sorted(set(data["events"])))
            endpoint.full_clean()
            endpoint.save()
            subscription = WebhookSubscription.objects.create(client=client, endpoint=endpoint)
            event_record(obj=endpoint, action="webhook_subscribed", actor_label=client.actor_label,
                         data={"url": endpoint.url, "events": endpoint.events}, taxpayer=endpoint.taxpayer)
        return Response(WebhookCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        # Endpoints keep their delivery history, so they are switched off rather than deleted.
        with transaction.atomic():
            WebhookEndpoint.objects.filter(pk=instance.endpoint_id).update(is_active=False)
            event_record(obj=instance.endpoint, action="webhook_unsubscribed", actor_label=self.client.actor_label,
                         taxpayer=instance.endpoint.taxpayer)
