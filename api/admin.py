"""API clients for administrators. Creating a client (or rotating its key) shows the credentials once."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from api import services
from api.models import ApiClient, IdempotencyRecord


def _show_credentials(modeladmin, request, credentials: services.Credentials) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("接口客户端凭证"),
        "credentials": credentials,
        "opts": modeladmin.model._meta,
        "back_url": reverse("admin:api_apiclient_change", args=[credentials.client.pk]),
    }
    response = TemplateResponse(request, "api/credentials.html", context)
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "can_download_files", "throttle_rate", "token_hint", "hmac_key_id",
                    "last_used_at", "created_at"]
    list_filter = ["is_active", "can_download_files"]
    search_fields = ["name", "hmac_key_id"]
    filter_horizontal = ["taxpayers"]
    readonly_fields = ["token_hint", "hmac_key_id", "created_at", "last_used_at"]
    fields = ["name", "taxpayers", "is_active", "can_download_files", "throttle_rate", "token_hint", "hmac_key_id",
              "created_at", "last_used_at"]
    actions = ["rotate_credentials"]

    def save_model(self, request, obj, form, change):
        if not change:
            request._api_credentials = services.api_client_prepare(obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        credentials = getattr(request, "_api_credentials", None)
        if credentials is None:  # pragma: no cover - save_model always sets it on add
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, _("已创建接口客户端 %(name)s") % {"name": obj.name}, messages.SUCCESS)
        return _show_credentials(self, request, credentials)

    @admin.action(description=_("重新生成令牌和 HMAC 密钥"), permissions=["change"])
    def rotate_credentials(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("请只选择一个客户端：新凭证只显示一次"), messages.ERROR)
            return None
        credentials = services.api_client_rotate(client=queryset.get(), actor=request.user)
        return _show_credentials(self, request, credentials)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["client", "key", "method", "path", "state", "response_status", "attempts", "created_at"]
    list_filter = ["client", "method", "state"]
    search_fields = ["key", "path"]
    list_select_related = ["client"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
