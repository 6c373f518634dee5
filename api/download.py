"""GET /api/v1/files/<signed token>/ and /api/v1/received-files/<signed token>/: the file behind a short-lived link
(see api/files.py)."""

from __future__ import annotations

import io
import logging

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from api.errors import ApiError
from api.files import LinkExpired, LinkInvalid, carrier_link_resolve, file_link_resolve
from api.schema import error
from delivery.models import CONTENT_TYPES, DELIVERED_FORMATS, FILE_EXTENSIONS
from delivery.rendering import InvoiceFileUnavailable, invoice_file_bytes
from invoicing.events import event_record
from invoicing.stored_files import stored_file_response
from receiving.models import CARRIER_CONTENT_TYPES

logger = logging.getLogger(__name__)


class InvoiceFileDownloadView(APIView):
    authentication_classes: list = []  # the signed link is the credential
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        summary="下载发票文件（签名链接）",
        description="由 GET /api/v1/invoices/{id}/files/ 返回的链接；10 分钟内有效，无需认证头。",
        auth=[],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF 文件（链接的 format 为 pdf）"),
            (200, "application/ofd"): OpenApiResponse(OpenApiTypes.BINARY, description="OFD 文件（format 为 ofd）"),
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.BINARY, description="XML 文件（format 为 xml）"),
            404: error("链接无效，或已无权下载（not_found）"),
            410: error("链接已过期（link_expired）"),
            503: error("文件暂时无法生成（file_unavailable）"),
        },
    )
    def get(self, request, token: str):
        try:
            client, invoice, fmt = file_link_resolve(token)
        except LinkExpired:
            raise ApiError("link_expired", status_code=410) from None
        except LinkInvalid:
            raise ApiError("not_found", status_code=404) from None
        if fmt not in DELIVERED_FORMATS:
            raise ApiError("not_found", status_code=404)
        try:
            data = invoice_file_bytes(invoice, fmt)
        except InvoiceFileUnavailable as exc:
            # The reason (an exception's text) is for the log, not for the client.
            logger.error("invoice %s: the %s file is unavailable: %s", invoice.pk, fmt, exc)
            raise ApiError("file_unavailable", status_code=503) from exc
        event_record(obj=invoice, action="file.downloaded", actor_label=client.actor_label, data={"format": fmt},
                     taxpayer=invoice.taxpayer)
        response = FileResponse(io.BytesIO(data), as_attachment=True, filename=f"{invoice.number}.{FILE_EXTENSIONS[fmt]}",
                                content_type=CONTENT_TYPES[fmt])
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ReceivedFileDownloadView(APIView):
    """A received invoice's file (carrier), exactly as it was received."""

    authentication_classes: list = []  # the signed link is the credential
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        summary="下载收票文件（签名链接）",
        description="由 GET /api/v1/received-invoices/{id}/ 的 carriers[].url 返回的链接；10 分钟内有效，无需认证头。"
                    "文件按收到时的原样返回。",
        auth=[],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF 文件"),
            (200, "application/ofd"): OpenApiResponse(OpenApiTypes.BINARY, description="OFD 文件"),
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.BINARY, description="XML 文件"),
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="图片等其他文件"),
            404: error("链接无效，或已无权下载（not_found）"),
            410: error("链接已过期（link_expired）"),
        },
    )
    def get(self, request, token: str):
        try:
            client, carrier = carrier_link_resolve(token)
        except LinkExpired:
            raise ApiError("link_expired", status_code=410) from None
        except LinkInvalid:
            raise ApiError("not_found", status_code=404) from None
        try:
            response = stored_file_response(
                carrier.file.name, filename=carrier.download_name,
                content_type=CARRIER_CONTENT_TYPES.get(carrier.format, "application/octet-stream"))
        except FileNotFoundError:
            logger.error("received file %s: its stored bytes are missing", carrier.pk)
            raise ApiError("not_found", status_code=404) from None
        event_record(obj=carrier.invoice or carrier, action="carrier.downloaded", actor_label=client.actor_label,
                     data={"carrier": carrier.pk, "format": carrier.format}, taxpayer=carrier.taxpayer)
        return response
