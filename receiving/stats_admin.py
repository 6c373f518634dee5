"""The admin pages of the receiving statistics (收票统计) and the reimbursement statistics (报销统计), each with its
Excel. Thin views over ``receiving.stats_report``; every number is of the user's entities."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.scoping import allowed_taxpayers
from receiving import stats_report

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Filters(forms.Form):
    taxpayer: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("主体"), queryset=None, required=False,
                                      empty_label=capfirst(_("全部主体")))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)  # type: ignore[attr-defined]


class ReceivedFilters(_Filters):
    month_from = forms.CharField(label=_("月份从"), required=False,
                                 widget=forms.TextInput(attrs={"type": "month"}))
    month_to = forms.CharField(label=_("至"), required=False, widget=forms.TextInput(attrs={"type": "month"}))

    def _month(self, name: str) -> dt.date | None:
        value = (self.cleaned_data.get(name) or "").strip()
        if not value:
            return None
        try:
            return dt.date.fromisoformat(f"{value[:7]}-01")
        except ValueError:
            self.add_error(name, gettext("月份格式应为 YYYY-MM：%(month)s") % {"month": value})
            return None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["month_from_date"] = self._month("month_from")
        data["month_to_date"] = self._month("month_to")
        return data


class ClaimFilters(_Filters):
    date_from = forms.DateField(label=_("创建日期从"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _page(request: HttpRequest, *, title: str, form: forms.Form, report: stats_report.Report, by: str,
          choices: list[tuple[str, str]], sheet: str, filename: str) -> HttpResponse:
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(stats_report.report_xlsx(report, sheet), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="{filename}-{timezone.localdate():%Y%m%d}.xlsx"'
        return response
    query = request.GET.copy()
    query.pop("format", None)
    query.pop("by", None)
    base = query.urlencode()
    context = {**admin.site.each_context(request), "title": title, "form": form, "report": report, "by": by,
               "choices": [(key, word, f"?{base}&by={key}" if base else f"?by={key}") for key, word in choices],
               "xlsx_url": f"?{base}&by={by}&format=xlsx" if base else f"?by={by}&format=xlsx"}
    return TemplateResponse(request, "admin/receiving/statistics.html", context)


def received_statistics_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("receiving.view_receivedinvoice"):
        raise PermissionDenied
    params = request.GET.copy()
    if not any(params.get(k) for k in ("taxpayer", "month_from", "month_to")):
        params["month_from"] = f"{timezone.localdate():%Y}-01"  # this year so far
    form = ReceivedFilters(params, user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    by = request.GET.get("by", "month")
    tp = data.get("taxpayer")
    report = stats_report.received_report(request.user, by=by, taxpayer_id=tp.pk if tp else None,
                                          month_from=data.get("month_from_date"), month_to=data.get("month_to_date"))
    words = {"month": gettext("按月份"), "kind": gettext("按票种"), "rate": gettext("按税率"),
             "seller": gettext("按销售方"), "source": gettext("按数据来源")}
    return _page(request, title=gettext("收票统计"), form=form, report=report,
                 by=by if by in stats_report.RECEIVED_BY else "month",
                 choices=[(k, words[k]) for k in stats_report.RECEIVED_BY], sheet=gettext("收票统计"),
                 filename="received-statistics")


def claims_statistics_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("receiving.view_expenseclaim"):
        raise PermissionDenied
    form = ClaimFilters(request.GET, user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    by = request.GET.get("by", "claimant")
    tp = data.get("taxpayer")
    report = stats_report.claims_report(request.user, by=by, taxpayer_id=tp.pk if tp else None,
                                        date_from=data.get("date_from"), date_to=data.get("date_to"))
    words = {"claimant": gettext("按报销人"), "department": gettext("按部门"), "kind": gettext("按票据类型")}
    return _page(request, title=gettext("报销统计"), form=form, report=report,
                 by=by if by in stats_report.CLAIMS_BY else "claimant",
                 choices=[(k, words[k]) for k in stats_report.CLAIMS_BY], sheet=gettext("报销统计"),
                 filename="claim-statistics")
