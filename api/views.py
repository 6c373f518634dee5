"""The API for upstream systems: thin views over the issuing services, scoped to the calling client's entities.

Every object of an entity the client may not act on answers 404, exactly like an object that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api import selectors
from api import services as api_services
from api.authentication import BearerTokenAuthentication, HmacAuthentication
from api.errors import ApiError, InvalidStateError, english, message_for
from api.files import file_link
from api.filters import (
    MAX_ID,
    ApplicationFilter,
    BillingDocumentFilter,
    ClaimFilter,
    InvoiceFilter,
    ReceivedInvoiceFilter,
    RedFlushRequestFilter,
)
from api.idempotency import Claim, idempotent_call, idempotent_create
from api.parsers import SafeJSONParser
from api.permissions import CanDownloadFiles, IsApiClient, client_of
from api.schema import CALL_ERRORS, IDEMPOTENCY_KEY, IDEMPOTENT_CALL_KEY, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, error
from api.serializers import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    BillingDocumentCreateSerializer,
    BillingDocumentSerializer,
    ClaimCreateSerializer,
    ClaimDetailSerializer,
    ClaimSerializer,
    CollectFilesSerializer,
    CollectJsonSerializer,
    CollectResultSerializer,
    ConfirmUndoSerializer,
    DeliveredSerializer,
    DeliveryCreateSerializer,
    FileLinkSerializer,
    InvoiceDeliverySerializer,
    InvoiceSerializer,
    PaymentSerializer,
    ReapplySerializer,
    ReceivedInvoiceDetailSerializer,
    ReceivedInvoiceSerializer,
    RedFlushRequestCreateSerializer,
    RedFlushRequestSerializer,
    RefundSerializer,
    Schedule2DrilldownSerializer,
    Schedule2Serializer,
    SelectionBatchSerializer,
    SelectionRequestSerializer,
    TaxPeriodCreateSerializer,
    TaxPeriodSerializer,
    UnselectRequestSerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WithdrawSerializer,
    django_errors_as_fields,
)
from api.services import DeliveryLimitReached
from api.throttling import ClientRateThrottle
from deduction import schedule2
from deduction import selectors as deduction_selectors
from deduction import services as deduction_services
from deduction.models import ACTIVE_SELECTION_STATES, PeriodState, Selection, SelectionState, TaxPeriod
from delivery.models import DELIVERED_FORMATS
from issuing.applications import services as application_services
from issuing.base import Source
from issuing.billing import services as billing_services
from issuing.redletter.forms import redletter_request
from receiving import bundles, claims, collecting
from receiving import services as receiving_services
from receiving.claims_models import ClaimSource
from receiving.models import Method, ReceivedInvoice


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

    def taxpayer_ids(self) -> set[int]:
        """The entities the client may act on (none while the schema is generated, without a request)."""
        client = self.client
        return set() if client is None else client.taxpayer_ids()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "client": self.client}

    def input(self, serializer_class, data=None) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data if data is None else data,
                                      context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def audit(self, obj, action_name: str, **data: Any) -> None:
        """Name the API client in the audit trail: the services record a system actor for API calls."""
        api_services.api_call_record(client=self.client, obj=obj, action=action_name, data=data,
                                     idempotency_key=self.request.headers.get("Idempotency-Key", ""))


# --- billing documents -------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="业务单据列表", responses={200: BillingDocumentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="业务单据详情", responses={200: BillingDocumentSerializer, **READ_ERRORS}),
)
class BillingDocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = BillingDocumentSerializer
    filterset_class = BillingDocumentFilter

    def get_queryset(self):
        return selectors.billing_documents(taxpayer_ids=self.taxpayer_ids())

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
        if selectors.billing_document_exists(taxpayer=taxpayer, source_system=client.name,
                                             external_no=data["external_no"]):
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


@extend_schema_view(
    list=extend_schema(summary="开票申请列表", responses={200: ApplicationSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="开票申请详情（含面向客户的状态）",
                           responses={200: ApplicationSerializer, **READ_ERRORS}),
)
class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter

    def get_queryset(self):
        return selectors.applications(taxpayer_ids=self.taxpayer_ids())

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
            api_services.application_refuse_noncompliant(application=app)  # now, what the approval would refuse
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
            api_services.application_refuse_noncompliant(application=new)
            self.audit(new, "api_reapply", reapplication_of=app.number)
        return Response(self.get_serializer(self.get_queryset().get(pk=new.pk)).data, status=status.HTTP_201_CREATED)


# --- invoices and their files ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="发票列表", responses={200: InvoiceSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="发票详情", responses={200: InvoiceSerializer, **READ_ERRORS}),
)
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return selectors.invoices(taxpayer_ids=self.taxpayer_ids())

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
            delivery = api_services.invoice_delivery_request(client=self.client, invoice=invoice, email=data["email"])
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


@extend_schema_view(
    list=extend_schema(summary="红冲请求列表", responses={200: RedFlushRequestSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="红冲请求详情（红字确认单）", responses={200: RedFlushRequestSerializer, **READ_ERRORS}),
)
class RedFlushRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    serializer_class = RedFlushRequestSerializer
    filterset_class = RedFlushRequestFilter

    def get_queryset(self):
        return selectors.red_letter_forms(taxpayer_ids=self.taxpayer_ids())

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
        invoice = selectors.invoice_get(taxpayer_ids=self.taxpayer_ids(), invoice_id=data["invoice"])
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


# --- received invoices (用票) ----------------------------------------------------------------------------------------

COLLECT_DESCRIPTION = (
    "把发票收入收票主体的发票池，当场处理并逐项返回结果。三种提交方式，每次只用一种："
    "multipart/form-data 的 files（一个或多个文件：PDF、OFD、XML、图片，ZIP 压缩包会展开）；"
    "JSON 的 qr（发票二维码内容的列表，按二维码建立待复核的记录）；JSON 的 invoices（按票面填写的字段，"
    "与后台手工录入的检查相同，不通过时返回 400，fields 指明 invoices[序号].字段）。"
    "每项结果 outcome：created 新建，attached 补充到已有发票，duplicate 重复，review 待复核，rejected 拒收"
    "（文件损坏、不是发票、二维码无效等，rule 和 reason 说明原因）。"
    "一次最多 RECEIVING_API_MAX_ITEMS 项（默认 20，ZIP 按展开后的文件计，超出返回 400），"
    "总大小最多 RECEIVING_API_MAX_BYTES 字节（默认 20 MB，超出返回 413 payload_too_large）；更大的批次请在后台上传。"
)


def receiving_api_limits() -> bundles.Limits:
    return bundles.Limits(max_files=int(settings.RECEIVING_API_MAX_ITEMS),
                          max_bytes=int(settings.RECEIVING_API_MAX_BYTES),
                          max_file_bytes=int(settings.RECEIVING_MAX_FILE_BYTES))


MULTIPART_OVERHEAD = 256 * 1024  # part headers and form fields around the files


@extend_schema_view(
    list=extend_schema(summary="收票列表（发票池）", responses={200: ReceivedInvoiceSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="收票详情（含明细、来源和文件链接）",
                           responses={200: ReceivedInvoiceDetailSerializer, **READ_ERRORS}),
)
class ReceivedInvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    """The pool of received invoices of the client's entities, and collecting into it."""

    serializer_class = ReceivedInvoiceSerializer
    filterset_class = ReceivedInvoiceFilter

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.received_invoice_details(taxpayer_ids=self.taxpayer_ids())
        return selectors.received_invoices(taxpayer_ids=self.taxpayer_ids())

    def get_serializer_class(self):
        return ReceivedInvoiceDetailSerializer if self.action == "retrieve" else ReceivedInvoiceSerializer

    @extend_schema(
        summary="收票采集（文件、二维码或票面字段）",
        description=COLLECT_DESCRIPTION,
        request={"multipart/form-data": CollectFilesSerializer, "application/json": CollectJsonSerializer},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: CollectResultSerializer,
                   413: error("请求超过大小上限（payload_too_large）"), **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="collect", parser_classes=[SafeJSONParser, MultiPartParser],
            pagination_class=None, filter_backends=[])
    def collect(self, request: Request) -> Response:
        limits = receiving_api_limits()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limits.max_bytes + MULTIPART_OVERHEAD:
            raise _over_bytes(limits.max_bytes)
        return idempotent_create(request, self, lambda: self._collect(limits))

    def _collect(self, limits: bundles.Limits) -> Response:
        actor = self.client.actor
        if (self.request.content_type or "").startswith("multipart/"):
            data = self.input(CollectFilesSerializer)
            try:
                with transaction.atomic():
                    collection = collecting.collection_collect_files(
                        taxpayer=data["taxpayer"], files=data["files"], actor=actor, limits=limits)
                    self.audit(collection, "api_create", items=collection.processed)
            except collecting.OverLimits as exc:
                if exc.what == "bytes":
                    raise _over_bytes(limits.max_bytes) from None
                raise ApiError("validation_error", status_code=400, message=exc.message,
                               fields={"files": [exc.message]}) from None
        else:
            data = self.input(CollectJsonSerializer)
            with transaction.atomic():
                collection = self._collect_entries(data, actor)
                self.audit(collection, "api_create", items=collection.processed)
        collection.api_items = list(selectors.collection_items(collection=collection))
        return Response(CollectResultSerializer(collection).data, status=status.HTTP_201_CREATED)

    def _collect_entries(self, data: dict[str, Any], actor):
        qr, invoices = data.get("qr") or [], data.get("invoices") or []
        collection = receiving_services.collection_start(taxpayer=data["taxpayer"], method=Method.API, actor=actor,
                                                         total=len(qr) + len(invoices))
        for payload in qr:
            receiving_services.collection_add_qr(collection=collection, payload=payload, actor=actor)
        for i, entry in enumerate(invoices, start=1):
            try:
                receiving_services.collection_add_manual(collection=collection, actor=actor, **entry)
            except DjangoValidationError as exc:  # rules that need the pool (the parties): the whole request fails
                raise ApiError("validation_error", status_code=400,
                               fields=django_errors_as_fields(exc, f"invoices[{i}]")) from None
        return receiving_services.collection_finish(collection=collection, actor=actor)


# --- expense claims (报销单) ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="报销单列表", responses={200: ClaimSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="报销单详情（含发票明细）", responses={200: ClaimDetailSerializer, **READ_ERRORS}),
)
class ClaimViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    """Expense claims from the expense system, which speaks for its employees (they are not users here)."""

    serializer_class = ClaimSerializer
    filterset_class = ClaimFilter

    def get_queryset(self):
        if self.action == "list":
            return selectors.claims(taxpayer_ids=self.taxpayer_ids())
        return selectors.claim_details(taxpayer_ids=self.taxpayer_ids())

    def get_serializer_class(self):
        return ClaimSerializer if self.action == "list" else ClaimDetailSerializer

    @extend_schema(
        summary="创建报销单",
        description=(
            "报销人与发票（按发票池 id 或发票号码），每张发票可填报销金额（不填为剩余可报销的全部金额）。"
            "同一张发票在所有未驳回的报销单中的报销金额之和不超过其价税合计（部分红冲的只算未冲销部分）；"
            "超过时返回 400，按 lines[序号] 列出。submit=true 时创建后立即提交审批。"
        ),
        request=ClaimCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ClaimDetailSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(ClaimCreateSerializer)
        taxpayer = data["taxpayer"]
        actor = self.client.actor
        lines, missing = [], {}
        for i, line in enumerate(data["lines"], start=1):
            pool = ReceivedInvoice.objects.filter(taxpayer=taxpayer)
            found = (pool.filter(pk=line["invoice"]) if "invoice" in line
                     else pool.filter(number=line["number"].strip(), code=line["code"].strip())).first()
            if found is None:
                missing[f"lines[{i}]"] = [message_for("not_found") + (
                    " (no such invoice in the entity's pool)" if english() else "（该主体的发票池中没有这张发票）")]
                continue
            lines.append(claims.LineInput(invoice=found, amount=line["amount"], note=line["note"]))
        if missing:
            raise ApiError("validation_error", status_code=400, fields=missing)
        with transaction.atomic():
            claim = claims.claim_create(
                taxpayer=taxpayer, claimant_name=data["claimant_name"], claimant_code=data["claimant_code"],
                department=data["department"], title=data["title"], external_ref=data["external_ref"],
                lines=lines, source=ClaimSource.API, actor=actor)
            if data["submit"]:
                claims.claim_submit(claim=claim, actor=actor)
            self.audit(claim, "api_create")
        return Response(ClaimDetailSerializer(self.get_queryset().get(pk=claim.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="提交报销单（草稿 → 已提交）",
        description="草稿提交审批；已提交或其后状态的报销单返回 409 invalid_state。",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ClaimDetailSerializer, 409: error("当前状态不能提交（invalid_state）"), **READ_ERRORS,
                   **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk=None) -> Response:
        return idempotent_create(request, self, self._submit)

    def _submit(self) -> Response:
        claim = self.get_object()
        with transaction.atomic():
            claims.claim_submit(claim=claim, actor=self.client.actor)
            self.audit(claim, "api_submit")
        return Response(ClaimDetailSerializer(self.get_queryset().get(pk=claim.pk)).data)


def _over_bytes(limit: int) -> ApiError:
    mb = f"{limit / 1024 / 1024:.1f}".rstrip("0").rstrip(".")
    message = message_for("payload_too_large") + (f" (at most {mb} MB per request)" if english()
                                                  else f"（每次最多 {mb} MB）")
    return ApiError("payload_too_large", status_code=413, message=message, fields={"files": [message]})


# --- deduction (抵扣) ------------------------------------------------------------------------------------------------

SELECT_DESCRIPTION = (
    "把本主体发票池中的发票勾选进本所属期（所属期须为 open）。每项用 invoice（发票 id）或 number（发票号码，"
    "税控发票加 code）指明一张发票，purpose 为用途：1 抵扣（默认），2 出口退税，3 代办退税，4 不抵扣（须填 reason "
    "1–5，reason_text 最多 300 个字符）；effective_tax 为有效抵扣税额，只能调低不能调高。"
    "本系统的检查（票种、状态、风险、收票规则、重复勾选、税额）任何一项不通过时返回 400，逐项说明第几行哪张发票违反哪条"
    "规则，什么都不提交；通过后提交平台，平台逐张答复：每项的 outcome 为 accepted（平台已勾选）、refused（平台拒绝，"
    "原因见 platform_code 和 platform_message）或 pending（平台暂不可用，之后用 resend 重新提交）。"
    "发票不存在或不属于本所属期的主体时返回 404，fields 指明 items[序号]。"
)


def _outcome(before: str, after: str) -> str:
    """What the platform said to one selection or undo, by its state before and after the request."""
    if after in (SelectionState.PENDING, SelectionState.UNDO_PENDING):
        return "pending"
    if before == SelectionState.UNDO_PENDING or after == SelectionState.UNDONE:
        return "accepted" if after == SelectionState.UNDONE else "refused"
    return "accepted" if after == SelectionState.ACCEPTED else "refused"


@extend_schema_view(
    list=extend_schema(summary="抵扣所属期列表", responses={200: TaxPeriodSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="抵扣所属期详情", responses={200: TaxPeriodSerializer, **READ_ERRORS}),
)
class TaxPeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClientApiView):
    """The deduction periods of the client's entities, their confirmed 附列资料二, and the writes an ERP needs: open
    a period, select and undo, statistics, confirmation. Those that reach the tax platform run through
    ``idempotent_call``: never inside a transaction of ours, the key claimed and committed before the call."""

    serializer_class = TaxPeriodSerializer
    filter_backends: list[Any] = []

    def get_queryset(self):
        return selectors.tax_periods(taxpayer_ids=self.taxpayer_ids())

    @extend_schema(summary="附列资料（二）本期进项税额明细（已确认的所属期）",
                   responses={200: Schedule2Serializer, 409: error("所属期尚未确认（invalid_state）"), **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path="schedule2", pagination_class=None)
    def schedule2(self, request: Request, pk: str | None = None) -> Response:
        period = self.get_object()
        try:
            lines = deduction_selectors.schedule2_of(period)
        except DjangoValidationError as exc:
            raise InvalidStateError(" ".join(exc.messages)) from None
        body = {"period": period.period, "lines": [
            {"line": n, "count": lines[n].count, "amount": lines[n].amount, "tax": lines[n].tax,
             "drilldown": request.build_absolute_uri(reverse("api-tax-period-schedule2-line", args=[period.pk, n]))}
            for n in schedule2.LINES]}
        return Response(Schedule2Serializer(body).data)

    @extend_schema(summary="附列资料（二）某一栏的发票明细（分页）", operation_id="v1_deduction_periods_schedule2_line",
                   parameters=[OpenApiParameter("line", str, OpenApiParameter.PATH,
                                                description="栏次：1–36（含 8a、8b、23a、23b）"),
                               OpenApiParameter("limit", int, description="每页条数（默认 50，最多 500）"),
                               OpenApiParameter("offset", int, description="跳过的条数")],
                   responses={200: Schedule2DrilldownSerializer, 409: error("所属期尚未确认（invalid_state）"),
                              **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path=r"schedule2/(?P<line>[^/]+)", url_name="schedule2-line",
            pagination_class=None)
    def schedule2_line(self, request: Request, pk: str | None = None, line: str = "") -> Response:
        period = self.get_object()
        if line not in schedule2.LINES:
            raise Http404
        paginator = ClientPagination()
        limit = paginator.get_limit(request) or paginator.default_limit
        offset = paginator.get_offset(request)
        try:
            lines = deduction_selectors.schedule2_of(period)
            page = deduction_selectors.schedule2_drilldown(period, line, offset=offset, limit=limit)
        except DjangoValidationError as exc:
            raise InvalidStateError(" ".join(exc.messages)) from None
        url = request.build_absolute_uri()
        nxt = (replace_query_param(replace_query_param(url, "limit", page.limit), "offset", page.offset + page.limit)
               if page.offset + page.limit < page.total else None)
        prev = (replace_query_param(replace_query_param(url, "limit", page.limit), "offset",
                                    max(0, page.offset - page.limit)) if page.offset > 0 else None)
        body = {"period": period.period, "line": line, "count": lines[line].count, "amount": lines[line].amount,
                "tax": lines[line].tax, "total": page.total, "next": nxt, "previous": prev,
                "results": [{"invoice_id": i.invoice_id, "number": i.number, "kind": i.kind, "count": i.count,
                             "amount": i.amount, "tax": i.tax, "source": i.source} for i in page.items]}
        return Response(Schedule2DrilldownSerializer(body).data)

    # -- open a period (no platform call: one transaction, like every create)

    @extend_schema(
        summary="打开抵扣所属期",
        description="为主体建立所属期（YYYYMM），状态 open 可勾选；已存在时返回已有的所属期（200），新建时 201。",
        request=TaxPeriodCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: TaxPeriodSerializer, 200: TaxPeriodSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request) -> Response:
        return idempotent_create(request, self, self._create)

    def _create(self) -> Response:
        data = self.input(TaxPeriodCreateSerializer)
        taxpayer = data["taxpayer"]
        existed = TaxPeriod.objects.filter(taxpayer=taxpayer, period=data["period"]).exists()
        with transaction.atomic():
            row = deduction_services.tax_period_ensure(taxpayer=taxpayer, period=data["period"],
                                                       actor=self.client.actor)
            if not existed:
                self.audit(row, "api_create")
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data,
                        status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    # -- selections (勾选) and their undo

    def _invoice_ids(self, period: TaxPeriod, items: list[dict[str, Any]]) -> list[int]:
        """The pool ids of ``items`` in the period's entity; any other invoice is 404, like one that does not exist."""
        pool = ReceivedInvoice.objects.filter(taxpayer_id=period.taxpayer_id)
        ids: list[int] = []
        missing: dict[str, list[str]] = {}
        for i, item in enumerate(items, start=1):
            found = (pool.filter(pk=item["invoice"]) if "invoice" in item
                     else pool.filter(number=item["number"].strip(), code=item["code"].strip()).order_by("pk"))
            pk = found.values_list("pk", flat=True).first()
            if pk is None:
                field = f"items[{i}].invoice" if "invoice" in item else f"items[{i}].number"
                missing[field] = [message_for("not_found") + (
                    " (no such invoice in the pool of the period's entity)" if english()
                    else "（所属期主体的发票池中没有这张发票）")]
                continue
            ids.append(pk)
        if missing:
            raise ApiError("not_found", status_code=404, fields=missing)
        return ids

    def _batch(self, period: TaxPeriod, rows: list[Selection], order: list[int],
               before: dict[int, str]) -> Response:
        by_invoice = {r.invoice_id: r for r in rows}
        items = []
        for index, invoice_id in enumerate(order, start=1):
            row = by_invoice.get(invoice_id)
            if row is None:  # pragma: no cover - every requested invoice has its row
                continue
            items.append({
                "index": index, "invoice": row.invoice_id, "number": row.invoice.number, "selection": row.pk,
                "purpose": row.purpose, "effective_tax": row.effective_tax, "state": row.state,
                "outcome": _outcome(before.get(row.pk, SelectionState.PENDING), row.state),
                "platform_code": row.platform_code, "platform_message": row.platform_message})
        counts = {k: sum(1 for x in items if x["outcome"] == k) for k in ("accepted", "refused", "pending")}
        body = {"period": self.get_queryset().get(pk=period.pk), **counts, "items": items}
        return Response(SelectionBatchSerializer(body).data)

    @extend_schema(
        summary="勾选发票（抵扣、不抵扣、出口退税、代办退税）",
        description=SELECT_DESCRIPTION,
        request=SelectionRequestSerializer,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: SelectionBatchSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="select", pagination_class=None)
    def select(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, self._select)

    def _select(self, claim: Claim) -> Response:
        period = self.get_object()
        data = self.input(SelectionRequestSerializer)
        ids = self._invoice_ids(period, data["items"])
        items = [deduction_services.SelectionInput(
            invoice_id=invoice_id, purpose=item["purpose"], reason=item["reason"], reason_text=item["reason_text"],
            effective_tax=item["effective_tax"], agricultural_extra=item["agricultural_extra"])
            for invoice_id, item in zip(ids, data["items"], strict=True)]
        rows = deduction_services.deduction_select(tax_period=period, items=items, actor=self.client.actor,
                                                   request_no=claim.serial)
        self.audit(period, "api_deduction_select", request_no=rows[0].request_no if rows else "", items=len(rows))
        return self._batch(period, rows, ids, {})

    @extend_schema(
        summary="撤销勾选",
        description=(
            "撤销本所属期已勾选（accepted）的发票，所属期须为 open（已申请统计的请先撤销统计，否则 409 invalid_state）。"
            "每项用 invoice 或 number 指明发票；本系统检查不通过时 400，什么都不提交；平台逐张答复，outcome 为 accepted"
            "（已撤销）、refused（平台拒绝，勾选保留，原因见 platform_message）或 pending。"
        ),
        request=UnselectRequestSerializer,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: SelectionBatchSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="unselect", pagination_class=None)
    def unselect(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, self._unselect)

    def _unselect(self, claim: Claim) -> Response:
        period = self.get_object()
        data = self.input(UnselectRequestSerializer)
        ids = self._invoice_ids(period, data["items"])
        active = dict(Selection.objects.filter(tax_period=period, invoice_id__in=ids,
                                               state__in=ACTIVE_SELECTION_STATES).values_list("invoice_id", "pk"))
        if claim.resumed:  # the undos of an earlier run of this request: their rows, whatever their state now
            active.update(Selection.objects.filter(tax_period=period, invoice_id__in=ids, request_no=claim.serial)
                          .values_list("invoice_id", "pk"))
        missing = {f"items[{i}]": [_not_selected(period)] for i, invoice_id in enumerate(ids, start=1)
                   if invoice_id not in active}
        if missing:
            raise ApiError("validation_error", status_code=400, fields=missing,
                           message=next(iter(missing.values()))[0] if len(missing) == 1 else None)
        rows = deduction_services.deduction_unselect(
            tax_period=period, selection_ids=[active[i] for i in ids], actor=self.client.actor,
            request_no=claim.serial)
        self.audit(period, "api_deduction_unselect", request_no=rows[0].request_no if rows else "", items=len(rows))
        return self._batch(period, rows, ids, {r.pk: SelectionState.UNDO_PENDING for r in rows})

    @extend_schema(
        summary="重新提交待平台确认的勾选和撤销",
        description=(
            "平台暂不可用时勾选或撤销勾选停在 pending：本操作把本所属期所有待确认的请求再提交一次（平台已处理过的按已完成"
            "计，不会重复勾选），逐张返回结果。没有待确认的请求时 items 为空。"
        ),
        request=None,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: SelectionBatchSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="resend", pagination_class=None)
    def resend(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, self._resend)

    def _resend(self, claim: Claim) -> Response:
        period = self.get_object()
        before = dict(Selection.objects.filter(tax_period=period, state__in=[
            SelectionState.PENDING, SelectionState.UNDO_PENDING]).values_list("pk", "state"))
        rows = deduction_services.deduction_selection_resend(tax_period=period, actor=self.client.actor)
        rows = [r for r in rows if r.pk in before]
        self.audit(period, "api_deduction_resend", items=len(rows))
        return self._batch(period, rows, [r.invoice_id for r in rows], before)

    # -- statistics and confirmation

    def _period_call(self, claim: Claim, service, target: PeriodState, audit: str, **kwargs: Any) -> Response:
        period = self.get_object()
        if not (claim.resumed and period.state == target):  # an earlier run of this request got there: done
            result = service(tax_period=period, actor=self.client.actor, **kwargs)
            self.audit(result, audit)
        return Response(self.get_serializer(self.get_queryset().get(pk=period.pk)).data)

    @extend_schema(
        summary="申请统计",
        description=(
            "所属期须为 open，且没有待平台确认的勾选或撤销（否则 400，先用 resend）。平台生成抵扣统计表，所属期变为 "
            "statistics；平台统计在 platform_statistics，与本系统不一致之处在 differences（有差异时不能确认）。"
            "状态不对时 409 invalid_state；平台拒绝或暂不可用时 400，message 给出平台的原因。"
        ),
        request=None,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: TaxPeriodSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="statistics", pagination_class=None)
    def statistics(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, lambda claim: self._period_call(
            claim, deduction_services.tax_period_statistics_apply, PeriodState.STATISTICS, "api_statistics_apply"))

    @extend_schema(
        summary="撤销统计",
        description="所属期须为 statistics；撤销后回到 open，可以再勾选或撤销勾选。",
        request=None,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: TaxPeriodSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="statistics-undo", pagination_class=None)
    def statistics_undo(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, lambda claim: self._period_call(
            claim, deduction_services.tax_period_statistics_undo, PeriodState.OPEN, "api_statistics_undo"))

    @extend_schema(
        summary="确认勾选（抵扣确认）",
        description=(
            "所属期须为 statistics，且平台统计与本系统一致（有差异时 400，列出差异和涉及的发票）。确认后所属期为 "
            "confirmed，附列资料（二）可取。"
        ),
        request=None,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: TaxPeriodSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="confirm", pagination_class=None)
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, lambda claim: self._period_call(
            claim, deduction_services.tax_period_confirm, PeriodState.CONFIRMED, "api_confirm"))

    @extend_schema(
        summary="撤销确认",
        description=(
            "申报前、且系统设置允许时（DEDUCTION_ALLOW_CONFIRM_UNDO）撤销确认，所属期回到 statistics；有出口退税或"
            "代办退税用途的勾选时不能撤销（400）。"
        ),
        request=ConfirmUndoSerializer,
        parameters=[IDEMPOTENT_CALL_KEY],
        responses={200: TaxPeriodSerializer, **READ_ERRORS, **CALL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="confirm-undo", pagination_class=None)
    def confirm_undo(self, request: Request, pk: str | None = None) -> Response:
        return idempotent_call(request, self, self._confirm_undo)

    def _confirm_undo(self, claim: Claim) -> Response:
        data = self.input(ConfirmUndoSerializer)
        return self._period_call(claim, deduction_services.tax_period_confirm_undo, PeriodState.STATISTICS,
                                 "api_confirm_undo", reason=data["reason"])


def _not_selected(period: TaxPeriod) -> str:
    return (f"This invoice is not selected in period {period.period}" if english()
            else f"该发票未在所属期 {period.period} 勾选")


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
        return selectors.webhook_subscriptions(client=self.client)

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
        subscription = api_services.webhook_subscription_create(
            client=self.client, taxpayer=data["taxpayer"], url=data["url"], events=data["events"], name=data["name"],
        )
        return Response(WebhookCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        # The endpoint is switched off rather than deleted: it keeps its delivery history.
        api_services.webhook_subscription_cancel(client=self.client, subscription=instance)
