"""Admin for issued invoices: lines and paper voids.

The delivery app extends this page with the invoice's files, deliveries and the send and print actions: it
registers its subclass of ``InvoiceAdmin`` in place of this one (``delivery/admin.py``). Issuing never imports
delivery.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import (
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadonlyInline,
    money_column,
)
from invoicing.admin_messages import error_text
from issuing.base import PAPER_KINDS
from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.redletter.admin import is_red_form_lookup, red_flushable_invoices
from issuing.redletter.models import RedFormState
from issuing.redletter.voids import paper_invoice_void
from issuing.reports.admin import StreamingExportAdminMixin


class InvoiceLineInline(ReadonlyInline):
    model = InvoiceLine
    fields = ("line_no", "face_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_rate", "tax",
              "line_property")
    readonly_fields = fields

    @admin.display(description=_("项目名称"))
    def face_name(self, obj):
        """As on the PDF: *信息技术服务*软件开发."""
        return obj.face_name


@admin.register(Invoice)
class InvoiceAdmin(StreamingExportAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):
    export_spec_name = "invoices"
    list_display = ("number", "taxpayer", "kind", "red_mark", "buyer_name", "buyer_tax_id", "money_total",
                    "issue_date", "status", "application_number")
    list_filter = ("status", "kind", "is_red", "taxpayer", "issue_date")
    search_fields = ("number", "buyer_name", "buyer_tax_id", "application__number")
    list_select_related = ("taxpayer", "application")
    show_full_result_count = False
    paginator = CappedCountPaginator
    # No date_hierarchy: its MIN/MAX and DISTINCT-month scans cost a quarter of a second per page at a million
    # invoices. The issue_date list filter (today / 7 days / this month / this year) narrows by date without them.
    inlines = (InvoiceLineInline,)
    change_form_template = "admin/issuing/invoice/change_form.html"

    money_total = money_column(Invoice, "total")

    @admin.display(description=_("红字发票"), ordering="is_red")
    def red_mark(self, obj):
        """红字 for a red invoice, nothing for a blue one (a ✖ would read as an error)."""
        return format_html('<span class="fapiao-red">{}</span>', gettext("红字")) if obj.is_red else ""

    @admin.display(description=_("开票申请"), ordering="application__number")
    def application_number(self, obj):
        """The application's number only: its buyer is already a column (the list fits 1440 px)."""
        return obj.application.number if obj.application_id else "-"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Invoice._meta.fields] + ["red_mark", "events_table"]

    def get_search_results(self, request, queryset, search_term):
        if is_red_form_lookup(request):  # the red-letter form's blue invoice: only what may be red-flushed
            queryset = queryset & red_flushable_invoices(request.user)
        return super().get_search_results(request, queryset, search_term)

    def get_fields(self, request, obj=None):
        return [("red_mark" if f.name == "is_red" else f.name) for f in Invoice._meta.fields
                if f.name != "id"] + ["events_table"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # issued invoices are never deleted

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_download_permission(self, request) -> bool:
        """The one decision about invoice files: customer service does not hold ``download_invoice_file``."""
        return request.user.has_perm("issuing.download_invoice_file")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/void/", view(self.void_view), name="issuing_invoice_void"),
        ] + super().get_urls()

    # --- 作废 (数电纸票) ----------------------------------------------------------------------------------------

    P_VOID = "issuing.confirm_redletterform"  # the service's own check (redletter.P_DECIDE): finance

    def may_void(self, request, invoice) -> bool:
        return (request.user.has_perm(self.P_VOID) and invoice.kind in PAPER_KINDS and not invoice.is_red
                and invoice.status == InvoiceStatus.NORMAL)

    def void_view(self, request, pk):
        """作废 a 数电纸票, after a confirmation with the reason; the service voids it this month, or else (or when the
        platform refuses the void) opens and submits a full red-letter form instead, and says so."""

        invoice = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's is a 404
        if not request.user.has_perm(self.P_VOID):
            raise PermissionDenied
        form = VoidForm(request.POST or None)
        change = reverse("admin:issuing_invoice_change", args=[invoice.pk])
        if request.method == "POST" and form.is_valid():
            try:
                outcome = paper_invoice_void(invoice=invoice, actor=request.user,
                                                       reason=form.cleaned_data["reason"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                if outcome.voided:
                    self.message_user(request, outcome.message, messages.SUCCESS)
                    return HttpResponseRedirect(change)
                red = outcome.form
                self.message_user(request, outcome.message, messages.WARNING)  # not voided: a red form instead
                if red is not None and red.last_error:
                    self.message_user(request, gettext("红字确认单 %(form)s：%(error)s")
                                      % {"form": red, "error": red.last_error},
                                      messages.ERROR if red.status == RedFormState.SUBMIT_FAILED else messages.WARNING)
                target = reverse("admin:issuing_redletterform_change", args=[red.pk]) if red is not None else change
                return HttpResponseRedirect(target)
        context = {**self.admin_site.each_context(request), "title": _("作废发票"), "opts": self.model._meta,
                   "original": invoice, "form": form}
        return TemplateResponse(request, "admin/issuing/invoice/void.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self.change_page_context(request, obj)}
        return super().change_view(request, object_id, form_url, context)

    def change_page_context(self, request, obj) -> dict:
        """What the change page shows beside the fields (``obj`` is None for a missing or out-of-scope invoice). A
        subclass adds its own parts to it."""
        return {"may_void": obj is not None and self.may_void(request, obj)}


class VoidForm(forms.Form):
    reason = forms.CharField(label=capfirst(_("作废原因")), max_length=200, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                             error_messages={"required": _("作废必须填写原因")})
