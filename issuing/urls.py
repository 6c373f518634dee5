"""Non-admin pages of the issuing side (file downloads, QR link pages)."""

from django.urls import path  # noqa: F401

app_name = "issuing"
urlpatterns: list = []

# Imports, exports and reports: admin pages outside any ModelAdmin (issuing/admin_import_export.py).
from django.contrib import admin as _admin  # noqa: E402

from issuing import admin_import_export as _iex  # noqa: E402

urlpatterns += [
    path("issuing/import/", _admin.site.admin_view(_iex.fast_import), name="import"),
    path("issuing/import/template.xlsx", _admin.site.admin_view(_iex.template_download), name="import_template"),
    path("issuing/jobs/<str:job_id>/", _admin.site.admin_view(_iex.job_page), name="job"),
    path("issuing/jobs/<str:job_id>/status.json", _admin.site.admin_view(_iex.job_status), name="job_status"),
    path("issuing/jobs/<str:job_id>/<str:what>/", _admin.site.admin_view(_iex.job_download), name="job_download"),
    path("issuing/reports/", _admin.site.admin_view(_iex.reports_view), name="reports"),
]
