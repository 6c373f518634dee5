"""Admin for the integration log (ChannelCall): read-only, administrators only.

Registered by the import at the end of ``invoicing/admin.py``.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from invoicing import roles
from invoicing.models import ChannelCall

_ADMINISTRATOR_CACHE = "_fapiao_is_administrator"


def is_administrator(user: User | AnonymousUser | None) -> bool:
    """Superuser or in the 系统管理员 group. The user object remembers the answer for the request (every admin page
    asks once per registered admin of the integration log and the sandbox, to build its menu)."""
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return False
    if user.is_superuser:
        return True
    cached: bool | None = getattr(user, _ADMINISTRATOR_CACHE, None)
    if cached is None:
        cached = user.groups.filter(name=roles.ADMINISTRATOR).exists()
        setattr(user, _ADMINISTRATOR_CACHE, cached)
    return cached


@admin.register(ChannelCall)
class ChannelCallAdmin(admin.ModelAdmin[ChannelCall]):
    list_display = ("created_at", "taxpayer", "operation", "serial", "outcome", "error_code", "duration_ms",
                    "transport")
    list_filter = ("outcome", "operation", "channel", "transport", "taxpayer")
    search_fields = ("serial", "error_code", "message")
    date_hierarchy = "created_at"
    list_select_related = ("taxpayer",)
    show_full_result_count = False
    readonly_fields = ("created_at", "taxpayer", "channel", "transport", "operation", "serial", "duration_ms",
                       "outcome", "http_status", "error_code", "message", "request_pretty", "response_pretty")
    exclude = ("request_body", "response_body")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChannelCall]:
        return super().get_queryset(request).defer("request_body", "response_body")

    @admin.display(description=_("请求（已脱敏）"))
    def request_pretty(self, obj: ChannelCall) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.request_body, ensure_ascii=False, indent=2))

    @admin.display(description=_("应答（已脱敏）"))
    def response_pretty(self, obj: ChannelCall) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.response_body, ensure_ascii=False, indent=2))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_administrator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: ChannelCall | None = None) -> bool:
        return is_administrator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelCall | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ChannelCall | None = None) -> bool:
        return False
