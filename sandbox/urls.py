"""The sandbox platform's API, mounted at /sandbox/api/ (invoicing/urls.py). Every endpoint is a signed POST."""

from django.urls import path

from sandbox import views

app_name = "sandbox"

# operation name (as the client calls it) -> relative path
ROUTES = {
    "issue": "v1/issue/",
    "issue_query": "v1/issue/query/",
    "issued": "v1/issue/daily/",
    "red_form_apply": "v1/red-forms/apply/",
    "red_form_query": "v1/red-forms/query/",
    "red_form_confirm": "v1/red-forms/confirm/",
    "red_form_reject": "v1/red-forms/reject/",
    "red_form_revoke": "v1/red-forms/revoke/",
    "red_form_inbound": "v1/red-forms/inbound/",
    "void": "v1/invoices/void/",
    "quota": "v1/quota/",
    "files": "v1/invoices/files/",
    "verify": "v1/invoices/verify/",
    "received": "v1/invoices/received/",
    "received_book": "v1/invoices/received/book/",
    "deduction_select": "v1/deduction/select/",
    "deduction_statistics_apply": "v1/deduction/statistics/apply/",
    "deduction_statistics_undo": "v1/deduction/statistics/undo/",
    "deduction_confirm": "v1/deduction/confirm/",
    "deduction_confirm_undo": "v1/deduction/confirm/undo/",
    "deduction_statistics_query": "v1/deduction/statistics/query/",
}

_VIEWS = {
    "issue": views.issue,
    "issue_query": views.issue_query,
    "issued": views.issued,
    "red_form_apply": views.red_form_apply,
    "red_form_query": views.red_form_query,
    "red_form_confirm": views.red_form_confirm,
    "red_form_reject": views.red_form_reject,
    "red_form_revoke": views.red_form_revoke,
    "red_form_inbound": views.red_form_inbound,
    "void": views.void,
    "quota": views.quota,
    "files": views.files,
    "verify": views.verify_invoice,
    "received": views.received,
    "received_book": views.received_book,
    "deduction_select": views.deduction_select,
    "deduction_statistics_apply": views.deduction_statistics_apply,
    "deduction_statistics_undo": views.deduction_statistics_undo,
    "deduction_confirm": views.deduction_confirm,
    "deduction_confirm_undo": views.deduction_confirm_undo,
    "deduction_statistics_query": views.deduction_statistics_query,
}

urlpatterns = [path(route, _VIEWS[name], name=name) for name, route in ROUTES.items()]
