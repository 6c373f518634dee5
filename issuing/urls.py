"""Non-admin pages of the issuing side (file downloads, QR link pages)."""

from django.urls import path  # noqa: F401

app_name = "issuing"
urlpatterns: list = []
