"""OpenAPI descriptions of the authentication schemes and of the error shape (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from issuing.applications.models import CUSTOMER_STATUS


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <令牌>。令牌在创建接口客户端时显示一次。",
        }


HMAC_DESCRIPTION = (
    "HMAC-SHA256 签名认证，四个请求头一起发送：X-Api-Key（密钥 ID）、X-Timestamp（Unix 秒，与服务器时间相差不超过 "
    "300 秒）、X-Nonce（每个请求不同的随机串，16–64 个字母、数字、- 或 _；300 秒窗口内重复使用按重放拒绝）和 "
    "X-Signature = hex(HMAC-SHA256(密钥, 签名串))。签名串是以换行符（\\n）连接的五行：请求方法（大写）、"
    "路径和查询串（与请求行完全一致，如 /api/v1/applications/?status=issued）、X-Timestamp、X-Nonce、"
    "请求体原始字节的 SHA-256 十六进制（没有请求体时为空字节串的摘要）。Python 示例见 docs/api.md。"
)


class HmacScheme(OpenApiAuthenticationExtension):
    """HMAC: four headers that go together (one security requirement naming all four schemes)."""

    target_class = "api.authentication.HmacAuthentication"
    name = ["hmacAuth", "hmacTimestamp", "hmacNonce", "hmacSignature"]

    def get_security_definition(self, auto_schema):
        headers = [
            ("X-Api-Key", "HMAC 密钥 ID（ak_…）。"),
            ("X-Timestamp", "请求时间，Unix 秒；与服务器时间相差超过 300 秒的请求被拒绝。"),
            ("X-Nonce", "每个请求不同的随机串（16–64 个 A-Z a-z 0-9 - _），时间窗口内重复使用按重放拒绝。"),
            ("X-Signature", "hex(HMAC-SHA256(密钥, 签名串))，小写十六进制。"),
        ]
        return [
            {"type": "apiKey", "in": "header", "name": header, "description": f"{text}{HMAC_DESCRIPTION}"}
            for header, text in headers
        ]


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


COMMON_ERRORS = {  # their headers (WWW-Authenticate, Retry-After) are added by ``postprocess``
    401: error("未认证或认证失败（not_authenticated / authentication_failed）"),
    429: error("请求过于频繁（throttled）"),
}
READ_ERRORS = {**COMMON_ERRORS, 404: error("对象不存在，或属于本客户端无权访问的主体（not_found）")}
LIST_ERRORS = {**READ_ERRORS, 400: error("查询参数有误（validation_error），字段错误见 fields")}
WRITE_ERRORS = {
    **COMMON_ERRORS,
    400: error("参数或合规检查未通过（validation_error），字段错误见 fields"),
    422: error("幂等键已用于另一个请求（idempotency_key_reused）"),
}

CALL_ERRORS = {  # the writes that reach the tax platform (api.idempotency.idempotent_call)
    **COMMON_ERRORS,
    400: error("参数有误、本系统的规则不通过，或平台拒绝、暂不可用（validation_error）：fields 逐项说明"),
    409: error("状态不允许（invalid_state），或同一幂等键的请求仍在处理中（idempotency_in_progress，见 Retry-After）"),
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

IDEMPOTENT_CALL_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "幂等键（1–255 个可见 ASCII 字符，每个客户端内唯一）。这类操作要调用税务平台：请求先登记该键再调用平台。"
        "同一个键重发同一请求：已完成的返回第一次的应答（Idempotent-Replayed: true），不会再次提交平台；仍在处理中的返回 "
        "409 idempotency_in_progress，按 Retry-After 稍后重试；处理中断（超过 API_IDEMPOTENCY_STALE_SECONDS）的会"
        "按同一请求号继续处理，不会重复提交。请求失败（4xx）时该键释放，可修正后用同一个键重试。"
        "同一个键用于不同请求时返回 422 idempotency_key_reused。"
    ),
)


# --- enum values named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] ----------------------------------------------------------------------

INVOICE_KIND_VALUES = ["81", "82", "85", "86"]


def application_status_values() -> list[str]:
    return sorted({code for code, _label in CUSTOMER_STATUS.values()})


# --- what the generator cannot see: headers, and the names it must not take from Chinese titles --------------------

ACCEPT_LANGUAGE = {
    "in": "header",
    "name": "Accept-Language",
    "required": False,
    "schema": {"type": "string", "example": "en"},
    "description": "应答中 message 等文字的语言：默认中文（zh-hans），en 为英文。",
}
RESPONSE_HEADERS = {
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "description": "认证方式，如 Bearer realm=\"api\"",
    },
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "多少秒后可以再试",
    },
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "用同一个幂等键重发同一请求时出现：这是第一次请求的应答，没有再次创建",
    },
}


def _without_chinese_titles(node):
    """Drop non-ASCII ``title``s (Django's verbose names): generators turn titles into class and file names.
    The title's text is kept in the description."""
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and not title.isascii():
            del node["title"]
            if not node.get("description"):
                node["description"] = title
        for value in node.values():
            _without_chinese_titles(value)
    elif isinstance(node, list):
        for value in node:
            _without_chinese_titles(value)


def postprocess(result, generator, request, public):  # noqa: ANN001 - drf-spectacular's hook signature
    """POSTPROCESSING_HOOK: named enums for query parameters, English-only names, and the headers the views send."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("ApplicationStatusEnum", {"type": "string", "enum": application_status_values(),
                                                 "description": "面向客户的申请状态"})
    enums = {frozenset(c["enum"]): name for name, c in schemas.items() if "enum" in c and c.get("type") == "string"}
    _without_chinese_titles(result)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            params = operation.setdefault("parameters", [])
            for param in params:
                schema = param.get("schema", {})
                name = enums.get(frozenset(schema.get("enum", ()))) if "enum" in schema else None
                if name:
                    param["schema"] = {"$ref": f"#/components/schemas/{name}"}
            params.append(dict(ACCEPT_LANGUAGE))
            idempotent = any(p.get("name") == "Idempotency-Key" for p in params)
            for code, response in operation["responses"].items():
                headers = {}
                if code == "401":
                    headers["WWW-Authenticate"] = RESPONSE_HEADERS["WWW-Authenticate"]
                if code in ("429", "503") or (code == "409" and "idempotency_in_progress" in str(
                        response.get("description", ""))):
                    headers["Retry-After"] = RESPONSE_HEADERS["Retry-After"]
                if idempotent and code.startswith("2"):
                    headers["Idempotent-Replayed"] = RESPONSE_HEADERS["Idempotent-Replayed"]
                if headers:
                    response.setdefault("headers", {}).update(headers)
    return result
