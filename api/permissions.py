"""Who may call the API: an active ApiClient, acting only on its own entities (querysets are scoped in the views)."""

from __future__ import annotations

from rest_framework import permissions

from api.models import ApiClient


def client_of(request) -> ApiClient | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiClient) else None


class IsApiClient(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        client = client_of(request)
        return client is not None and client.is_active


class CanDownloadFiles(permissions.BasePermission):
    """The API's counterpart of the admin's issuing.download_invoice_file permission."""

    def has_permission(self, request, view) -> bool:
        client = client_of(request)
        return client is not None and client.can_download_files
