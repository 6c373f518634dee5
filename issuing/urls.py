"""Issuing's pages outside any ModelAdmin: imports, job pages and reports, each behind the admin's login; and the
endpoint Nuonuo posts issue results to (no login: its address carries its proof, ``issuing/platform/callbacks.py``)."""

from django.contrib import admin
from django.urls import path

from issuing.intake import admin as intake_admin
from issuing.platform import callbacks
from issuing.reports import admin as reports_admin

app_name = "issuing"

urlpatterns = [
    path("issuing/import/", admin.site.admin_view(intake_admin.fast_import), name="import"),
    path("issuing/import/template.xlsx", admin.site.admin_view(intake_admin.template_download), name="import_template"),
    path("issuing/jobs/<str:job_id>/", admin.site.admin_view(intake_admin.job_page), name="job"),
    path("issuing/jobs/<str:job_id>/status.json", admin.site.admin_view(intake_admin.job_status), name="job_status"),
    path("issuing/jobs/<str:job_id>/<str:what>/", admin.site.admin_view(intake_admin.job_download),
         name="job_download"),
    path("issuing/reports/", admin.site.admin_view(reports_admin.reports_view), name="reports"),
    # NUONUO_CALLBACK_URL is https://<host>/channels/nuonuo/callback (the kernel adds "<entity id>/<token>/").
    path("channels/nuonuo/callback/<int:taxpayer_id>/<str:token>/", callbacks.nuonuo_callback,
         name="nuonuo_callback"),
]
