"""The API's request parser: JSON only, and only JSON that can be stored and put on an invoice."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings

from api.errors import ApiError
from invoicing.validators import unsafe_char, unsafe_text_message

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
