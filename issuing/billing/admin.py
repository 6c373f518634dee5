"""Admin for billing documents (业务单据) and the entity's issuing policy."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import (
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadonlyInline,
    money_column,
)
from invoicing.admin_messages import error_text, item_error, report_rows
from invoicing.formatting import money
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import (
    InvoiceApplication,
)
from issuing.billing import selectors as billing_selectors
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument, BillingDocumentLine, IssuingPolicy
from issuing.intake.admin import BillingImportAdminMixin
from issuing.reports.admin import StreamingExportAdminMixin


class BillingDocumentLineInline(ReadonlyInline):
    model = BillingDocumentLine
    fields = ("line_no", "item_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_inclusive",
              "discount", "tax_category", "tax_rate", "total")
    readonly_fields = fields


class AmountForm(forms.Form):
    amount = forms.DecimalField(label=_("金额"), max_digits=18, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(label=_("原因"), required=False, max_length=200)


class DeliveredForm(forms.Form):
    delivered_on = forms.DateField(label=_("交付日期"), required=False, help_text=_("为空取今天"),
                                   widget=forms.DateInput(attrs={"type": "date"}))


@admin.register(BillingDocument)
class BillingDocumentAdmin(BillingImportAdminMixin, StreamingExportAdminMixin, EntityScopedAdminMixin,
                           EventsReadonlyMixin, admin.ModelAdmin):
    export_spec_name = "billing_documents"
    list_display = ("external_no", "buyer_name", "taxpayer", "source", "money_order_amount", "money_paid_amount",
                    "money_refunded_amount", "money_applied", "money_balance", "status", "created_at")
    list_filter = ("status", "taxpayer", "source", ("created_at", admin.DateFieldListFilter))
    search_fields = ("external_no", "buyer_name", "buyer_tax_id")
    list_select_related = ("taxpayer", "taxpayer__issuing_policy")
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = (BillingDocumentLineInline,)
    actions = ("apply_each", "apply_merged", "apply_merged_lines")
    fieldsets = (
        (None, {"fields": ("taxpayer", "external_no", "source", "source_system", "business_date", "status")}),
        (_("购买方"), {"fields": ("counterparty", "buyer_kind", "buyer_name", "buyer_tax_id", "buyer_address",
                                 "buyer_phone", "buyer_bank_name", "buyer_bank_account", "buyer_email",
                                 "buyer_mobile")}),
        (_("金额"), {"fields": ("invoicing_basis", "order_amount", "paid_amount", "refunded_amount",
                                "balance_display", "delivered_on", "remark")}),
        (_("事件记录"), {"fields": ("events_table",)}),
    )
    change_form_template = "admin/issuing/billingdocument/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in BillingDocument._meta.fields] + ["balance_display", "events_table"]

    def get_queryset(self, request):
        return application_selectors.billing_documents_with_applied(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # billing documents arrive by import or API (or billing_document_create)

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return False  # no bulk delete of financial records
        return super().has_delete_permission(request, obj) and not obj.application_sources.exists()

    def delete_model(self, request, obj):
        billing_services.billing_document_delete(document=obj, actor=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    money_order_amount = money_column(BillingDocument, "order_amount")
    money_paid_amount = money_column(BillingDocument, "paid_amount")
    money_refunded_amount = money_column(BillingDocument, "refunded_amount")
    money_applied = money_column(BillingDocument, "applied", _("已申请"))

    @admin.display(description=_("已申请"))
    def applied_display(self, obj):
        return money(getattr(obj, "applied", None))

    @admin.display(description=_("可开票余额"))
    def money_balance(self, obj):
        return self.balance_display(obj)

    @admin.display(description=_("可开票余额"))
    def balance_display(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        bal = application_selectors.billing_document_balance(obj, policy=billing_selectors.policy_for(obj.taxpayer))
        if bal.over_invoiced:
            note = gettext("（超开 %(amount)s，需红冲）") % {"amount": money(bal.over_invoiced)}
            return format_html("{} <span style='color:#ba2121'>{}</span>", money(bal.balance), note)
        return money(bal.balance)

    def _apply(self, request, queryset, *, merged: bool, merge_lines: bool = False):
        docs = list(queryset.order_by("pk"))
        created, failed = 0, []
        if merged:
            try:
                app = application_services.applications_merge(actor=request.user, documents=docs,
                                                  merge_identical_lines=merge_lines)
                created = 1
                self.message_user(request, ngettext("已为 %(n)d 张单据创建 1 张申请单 %(number)s",
                                                    "已为 %(n)d 张单据创建 1 张申请单 %(number)s", len(docs))
                                  % {"n": len(docs), "number": app.number}, messages.SUCCESS)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, gettext("合并开票失败：%(error)s") % {"error": error_text(exc)},
                                  messages.ERROR)
            return
        for doc in docs:
            try:
                application_services.application_create(actor=request.user, taxpayer=doc.taxpayer, sources=[doc])
                created += 1
            except (ValidationError, PermissionDenied) as exc:
                failed.append(item_error(doc.external_no, error_text(exc)))
        report_rows(self, request, done=created, failures=failed,
                    done_text=lambda n: ngettext("已创建 %(n)d 张申请单", "已创建 %(n)d 张申请单", n) % {"n": n},
                    failed_text=lambda n: ngettext("%(n)d 张单据未能申请开票", "%(n)d 张单据未能申请开票", n) % {"n": n})

    @admin.action(description=_("逐张申请开票"), permissions=["add_application"])
    def apply_each(self, request, queryset):
        self._apply(request, queryset, merged=False)

    @admin.action(description=_("合并开票（同一购买方）"), permissions=["add_application"])
    def apply_merged(self, request, queryset):
        self._apply(request, queryset, merged=True)

    @admin.action(description=_("合并开票并合并相同明细"), permissions=["add_application"])
    def apply_merged_lines(self, request, queryset):
        self._apply(request, queryset, merged=True, merge_lines=True)

    def has_add_application_permission(self, request):
        return request.user.has_perm("issuing.add_invoiceapplication")

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/refund/", view(self.refund_view), name="issuing_billingdocument_refund"),
            path("<int:pk>/payment/", view(self.payment_view), name="issuing_billingdocument_payment"),
            path("<int:pk>/delivered/", view(self.delivered_view), name="issuing_billingdocument_delivered"),
        ] + urls

    def _auto_applied(self, request, doc, seen: set[int]) -> None:
        """Say so when the entity's 申请时机 turned this payment or delivery into an application."""
        for event in (application_services.DocumentEvent.PAID, application_services.DocumentEvent.DELIVERED):
            app = InvoiceApplication.objects.filter(trigger_key=application_services.trigger_key(doc, event)).first()
            if app is not None and app.pk not in seen:
                self.message_user(request, gettext("已按开票设置自动生成开票申请 %(number)s（%(status)s）")
                                  % {"number": app.number, "status": app.get_status_display()}, messages.SUCCESS)

    def _seen_auto_apps(self, doc) -> set[int]:
        keys = [application_services.trigger_key(doc, e) for e in (application_services.DocumentEvent.PAID, application_services.DocumentEvent.DELIVERED)]
        return set(InvoiceApplication.objects.filter(trigger_key__in=keys).values_list("pk", flat=True))

    def delivered_view(self, request, pk):
        doc = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("issuing.change_billingdocument"):
            raise PermissionDenied
        form = DeliveredForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            seen = self._seen_auto_apps(doc)
            try:
                billing_services.billing_document_mark_delivered(document=doc, actor=request.user,
                                                         delivered_on=form.cleaned_data["delivered_on"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                doc.refresh_from_db()
                self.message_user(request, gettext("已登记交付：%(date)s") % {"date": doc.delivered_on},
                                  messages.SUCCESS)
                self._auto_applied(request, doc, seen)
                return HttpResponseRedirect(reverse("admin:issuing_billingdocument_change", args=[doc.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("登记交付"),
            "opts": self.model._meta,
            "original": doc,
            "form": form,
        }
        return TemplateResponse(request, "admin/issuing/amount_form.html", context)

    def _amount_view(self, request, pk, *, title, service, done):
        doc = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("issuing.change_billingdocument"):
            raise PermissionDenied
        form = AmountForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                kwargs = {"document": doc, "actor": request.user, "amount": form.cleaned_data["amount"]}
                if service is billing_services.billing_document_refund:
                    kwargs["reason"] = form.cleaned_data["reason"]
                seen = self._seen_auto_apps(doc)
                service(**kwargs)
            except ValidationError as exc:
                form.add_error(None, error_text(exc))
            else:
                self.message_user(request, done % {"amount": money(form.cleaned_data["amount"])}, messages.SUCCESS)
                self._auto_applied(request, doc, seen)
                return HttpResponseRedirect(reverse("admin:issuing_billingdocument_change", args=[doc.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "original": doc,
            "form": form,
        }
        return TemplateResponse(request, "admin/issuing/amount_form.html", context)

    def refund_view(self, request, pk):
        return self._amount_view(request, pk, title=_("登记退款"), service=billing_services.billing_document_refund,
                                 done=gettext("已登记退款 1 笔：%(amount)s"))

    def payment_view(self, request, pk):
        return self._amount_view(request, pk, title=_("登记收款"), service=billing_services.billing_document_record_payment,
                                 done=gettext("已登记收款 1 笔：%(amount)s"))


@admin.register(IssuingPolicy)
class IssuingPolicyAdmin(EntityScopedAdminMixin, admin.ModelAdmin):
    list_display = ("taxpayer", "invoicing_basis", "application_trigger", "auto_approve",
                    "money_auto_approve_person_limit", "money_auto_approve_company_limit", "auto_issue",
                    "enforce_quota", "red_restores_quota")
    list_select_related = ("taxpayer",)
    money_auto_approve_person_limit = money_column(IssuingPolicy, "auto_approve_person_limit")
    money_auto_approve_company_limit = money_column(IssuingPolicy, "auto_approve_company_limit")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("taxpayer",) if obj is not None else ()  # the settings of one entity, never moved to another

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data.get(f) for f in form.changed_data if f != "taxpayer"}
        policy = billing_services.issuing_policy_set(actor=request.user, taxpayer=obj.taxpayer, changes=changes)
        obj.pk = policy.pk
