"""One shape for every API error: ``{"error": {"code": ..., "message": ..., "fields": {...}}}``.

``code`` is stable and meant for programs; ``message`` is for people, in Chinese unless the request asks for English
(``Accept-Language: en``). ``fields`` maps a field path to its messages: ``"buyer_tax_id"``, ``"lines[2].tax_rate"``
(lines are numbered from 1, as the services number them), ``"non_field_errors"`` for the request as a whole.
Compliance failures raised by the issuing services come back here unchanged, so the API and the admin say the same.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import get_language
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)

# code → (Chinese, English). The default message of each error code.
MESSAGES: dict[str, tuple[str, str]] = {
    "validation_error": ("请求参数有误", "The request is not valid"),
    "parse_error": ("请求内容无法解析", "The request body could not be parsed"),
    "not_authenticated": ("缺少身份认证信息", "Authentication credentials were not provided"),
    "authentication_failed": ("身份认证失败", "Authentication failed"),
    "permission_denied": ("无权执行此操作", "You may not perform this action"),
    "not_found": ("对象不存在", "Not found"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "not_acceptable": ("无法按请求的格式应答", "Cannot answer in the requested format"),
    "unsupported_media_type": ("不支持的请求内容类型", "Unsupported media type"),
    "throttled": ("请求过于频繁，请稍后再试", "Too many requests; try again later"),
    "already_exists": ("对象已存在", "Already exists"),
    "invalid_state": ("当前状态不允许此操作", "This action is not allowed in the current state"),
    "idempotency_key_reused": (
        "该幂等键已用于另一个请求",
        "This Idempotency-Key was already used with a different request",
    ),
    "idempotency_in_progress": (
        "使用该幂等键的请求正在处理中，请稍后用同一个键重试",
        "A request with this Idempotency-Key is still being processed; retry later with the same key",
    ),
    "idempotency_key_invalid": ("幂等键格式不正确（1–255 个可见字符）", "Invalid Idempotency-Key (1–255 visible characters)"),
    "link_expired": ("下载链接已过期，请重新获取", "The download link has expired; ask for a new one"),
    "file_unavailable": ("发票文件暂时无法生成，请稍后再试", "The invoice file cannot be produced right now; try again later"),
    "payload_too_large": ("请求内容过大", "The request body is too large"),
    "server_error": ("服务器内部错误", "Internal server error"),
}

# DRF's own codes that we rename into ours.
_DRF_CODES = {
    "invalid": "validation_error",
    "error": "server_error",
}


def english() -> bool:
    return (get_language() or "").lower().startswith("en")


def message_for(code: str) -> str:
    zh, en = MESSAGES.get(code, MESSAGES["validation_error"])
    return en if english() else zh


class ApiError(exceptions.APIException):
    """An error with one of our stable codes; ``message`` defaults to the code's text in the request's language."""

    def __init__(self, code: str, *, status_code: int = 400, message: str | None = None, fields: dict | None = None):
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}
        super().__init__(detail=message or message_for(code), code=code)


class InvalidStateError(ApiError):
    def __init__(self, message: str | None = None):
        super().__init__("invalid_state", status_code=status.HTTP_409_CONFLICT, message=message)


def error_body(code: str, message: str | None = None, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message or message_for(code), "fields": fields or {}}}


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → ``{"lines[1].amount": ["..."]}``; list positions count from 1 like line numbers."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key)
            if isinstance(key, int):  # a ListSerializer's errors, keyed by 0-based position
                path = f"{prefix}[{key + 1}]"
            elif name == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                path = prefix
            elif prefix:
                path = f"{prefix}.{name}"
            else:
                path = name
            for k, v in flatten_fields(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            if detail:
                out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).extend(str(i) for i in detail)
        else:
            for i, item in enumerate(detail, start=1):
                if item:
                    for k, v in flatten_fields(item, f"{prefix}[{i}]").items():
                        out.setdefault(k, []).extend(v)
    elif detail is not None and str(detail):
        out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))
    return out


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError (including the compliance checks' ComplianceError) as field errors."""
    failures = getattr(exc, "failures", None)
    if failures is not None:  # issuing.compliance.ComplianceError: each failure names its field
        fields: dict[str, list[str]] = {}
        for f in failures:
            fields.setdefault(f.field or api_settings.NON_FIELD_ERRORS_KEY, []).append(f.message)
        return fields
    if hasattr(exc, "error_dict"):
        fields = {}
        for name, errors in exc.message_dict.items():
            key = api_settings.NON_FIELD_ERRORS_KEY if name == "__all__" else name
            fields.setdefault(key, []).extend(str(m) for m in errors)
        return fields
    return {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in exc.messages]}


def _first_message(fields: dict[str, list[str]]) -> str:
    for messages in fields.values():
        if messages:
            return messages[0]
    return ""


def _is_state_refusal(exc: DjangoValidationError) -> bool:
    """The services refuse a move the state machine does not allow with code "transition_not_allowed"."""
    errors = exc.error_list if hasattr(exc, "error_list") else []
    return bool(errors) and all(getattr(e, "code", None) == "transition_not_allowed" for e in errors)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error the API returns goes through here."""
    headers: dict[str, str] = {}

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = message_for("payload_too_large")
        if limit:
            message += (f" (at most {limit} bytes)" if english() else f"（上限 {limit} 字节）")
        return Response(error_body("payload_too_large", message), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (TooManyFilesSent, TooManyFieldsSent)):
        files = isinstance(exc, TooManyFilesSent)
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES if files else settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = ((f"Too many {'files' if files else 'fields'} in one request (at most {limit})") if english()
                   else f"一次请求的{'文件' if files else '字段'}过多（最多 {limit} 个）")
        return Response(error_body("validation_error", message, {"files" if files else api_settings.NON_FIELD_ERRORS_KEY:
                                                                 [message]}), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TransitionNotAllowed):
        exc = InvalidStateError()
    elif isinstance(exc, DjangoValidationError) and _is_state_refusal(exc):
        return Response(error_body("invalid_state", " ".join(exc.messages)), status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, DjangoValidationError):
        fields = django_validation_fields(exc)
        count = sum(len(v) for v in fields.values())
        # One problem: say it at the top too (the services word it in the request's language).
        message = _first_message(fields) if count == 1 else None
        return Response(error_body("validation_error", message, fields), status=status.HTTP_400_BAD_REQUEST)

    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, str(exc.detail), exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        body = error_body("validation_error", None, fields)
    elif isinstance(exc, exceptions.Throttled):
        message = message_for("throttled")
        if exc.wait is not None:
            message += f" ({int(exc.wait)}s)" if english() else f"（{int(exc.wait)} 秒后重试）"
        body = error_body("throttled", message)
    else:
        code = exc.default_code if isinstance(exc.default_code, str) else "server_error"
        code = _DRF_CODES.get(code, code)
        if code in MESSAGES:
            message = message_for(code)
            if code == "authentication_failed" and isinstance(exc.detail, str) and exc.detail != exc.default_detail:
                message = str(exc.detail)  # our authenticators say which part failed
        else:
            message = str(exc.detail)
        body = error_body(code, message)

    return Response(body, status=exc.status_code, headers=headers)
