"""Admin list of the import, collection and export jobs (``invoicing.models.Job``): read-only, scoped like the
dashboard card that links to it (``invoicing.intake.jobs.scoped_jobs``)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from invoicing.intake.jobs import problem_jobs, scoped_jobs
from invoicing.models import Job


class ErrorsFilter(admin.SimpleListFilter):
    title = _("失败或有错误行")
    parameter_name = "problem"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Job]) -> list[tuple[str, str]]:
        return [("1", str(_("是")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        if self.value() == "1":
            return queryset.filter(problem_jobs())
        return queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("created_at", "kind", "taxpayer", "user", "status", "processed", "total", "rows_in_error",
                    "filename", "message")
    list_filter = (ErrorsFilter, "status", "kind", "taxpayer")
    search_fields = ("id", "filename", "message")
    date_hierarchy = "created_at"
    list_select_related = ("taxpayer", "user")
    show_full_result_count = False
    exclude = ("details",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return scoped_jobs(request.user).select_related("taxpayer", "user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False
