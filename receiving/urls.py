"""Receiving's pages outside any ModelAdmin: the statistics (收票统计, 报销统计), behind the admin's login."""

from django.contrib import admin
from django.urls import path

from receiving import stats_admin

app_name = "receiving"

urlpatterns = [
    path("receiving/statistics/", admin.site.admin_view(stats_admin.received_statistics_view), name="statistics"),
    path("receiving/claim-statistics/", admin.site.admin_view(stats_admin.claims_statistics_view),
         name="claim_statistics"),
]
