"""OpenAPI descriptions of the authentication schemes and of the error shape (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <令牌>。令牌在创建接口客户端时显示一次。",
        }


class HmacScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.HmacAuthentication"
    name = "hmacAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": (
                "HMAC-SHA256：同时发送 X-Api-Key、X-Timestamp（Unix 秒，误差 300 秒内）和 X-Signature，"
                "签名 = hex(HMAC-SHA256(密钥, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nsha256hex(BODY)))。"
            ),
        }


ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(help_text="稳定的错误码，如 validation_error、not_found"),
                "message": serializers.CharField(help_text="中文说明；请求头 Accept-Language: en 时为英文"),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    help_text='字段路径 → 错误信息，如 {"lines[1].tax_rate": ["..."]}；明细行从 1 开始编号',
                ),
            },
        )
    },
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: error("未认证或认证失败（not_authenticated / authentication_failed）"),
    429: error("请求过于频繁（throttled）"),
}
READ_ERRORS = {**COMMON_ERRORS, 404: error("对象不存在，或属于本客户端无权访问的主体（not_found）")}
WRITE_ERRORS = {
    **COMMON_ERRORS,
    400: error("参数或合规检查未通过（validation_error），字段错误见 fields"),
    422: error("幂等键已用于另一个请求（idempotency_key_reused）"),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "幂等键（1–255 个可见 ASCII 字符，每个客户端内唯一）。用同一个键重发同一请求时返回第一次的应答（状态码和内容），"
        "不会重复创建；同一个键用于不同请求时返回 422 idempotency_key_reused。"
    ),
)
