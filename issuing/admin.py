"""The issuing admin: a thin face over ``issuing.services``.

Buttons and bulk actions call the services (which lock, check permissions and record events) and end with a counted
message. Changelists run a fixed number of queries whatever the number of rows (``list_select_related``, annotations).
Customer service never sees invoice file links; the download URL answers 403 without ``download_invoice_file``.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from invoicing.admin import (
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    flag_column,
    money_column,
    person_column,
)
from invoicing.admin_messages import report_rows
from invoicing.events import event_record
from invoicing.formatting import money
from invoicing.models import Counterparty, CounterpartyKind, TaxCategory
from invoicing.scoping import allowed_taxpayers, scope_queryset
from invoicing.validators import add_text_validators
from issuing import admin_issuing, issuing, selectors, services, splitting
from issuing.admin_import_export import BillingImportAdminMixin, StreamingExportAdminMixin
from issuing.models import (
    PAPER_KINDS,
    ApplicationLine,
    ApplicationSource,
    ApplicationStatus,
    BillingDocument,
    BillingDocumentLine,
    Invoice,
    InvoiceApplication,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    IssuingPolicy,
    QuotaPeriod,
)

S = ApplicationStatus
PRE_APPROVAL = (S.DRAFT, S.PENDING_REVIEW, S.IN_REVIEW)



def _delivery_admin():
    """The delivery app's pieces for the Invoice page (file links, deliveries, print and send actions), if present."""
    try:
        from delivery import admin as delivery_admin
    except ImportError:  # pragma: no cover
        return None
    return delivery_admin


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return gettext("；").join(exc.messages)
    return str(exc) or gettext("没有执行此操作的权限")


def _item_error(item, error: str) -> str:
    """One failed row of a bulk action: "number：reason"."""
    return gettext("%(item)s：%(error)s") % {"item": item, "error": error}


def _join(items) -> str:
    """Numbers in a message, joined with 、 (", " in English)."""
    return gettext("、").join(str(item) for item in items)


class ReadonlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- billing documents -----------------------------------------------------------------------------------------------


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
        return selectors.billing_documents_with_applied(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # billing documents arrive by import or API (or billing_document_create)

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return False  # no bulk delete of financial records
        return super().has_delete_permission(request, obj) and not obj.application_sources.exists()

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
        bal = selectors.billing_document_balance(obj, policy=selectors.policy_for(obj.taxpayer))
        if bal.over_invoiced:
            note = gettext("（超开 %(amount)s，需红冲）") % {"amount": money(bal.over_invoiced)}
            return format_html("{} <span style='color:#ba2121'>{}</span>", money(bal.balance), note)
        return money(bal.balance)

    def _apply(self, request, queryset, *, merged: bool, merge_lines: bool = False):
        docs = list(queryset.order_by("pk"))
        created, failed = 0, []
        if merged:
            try:
                app = services.applications_merge(actor=request.user, documents=docs,
                                                  merge_identical_lines=merge_lines)
                created = 1
                self.message_user(request, ngettext("已为 %(n)d 张单据创建 1 张申请单 %(number)s",
                                                    "已为 %(n)d 张单据创建 1 张申请单 %(number)s", len(docs))
                                  % {"n": len(docs), "number": app.number}, messages.SUCCESS)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, gettext("合并开票失败：%(error)s") % {"error": _error_text(exc)},
                                  messages.ERROR)
            return
        for doc in docs:
            try:
                services.application_create(actor=request.user, taxpayer=doc.taxpayer, sources=[doc])
                created += 1
            except (ValidationError, PermissionDenied) as exc:
                failed.append(_item_error(doc.external_no, _error_text(exc)))
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
        for event in (services.DocumentEvent.PAID, services.DocumentEvent.DELIVERED):
            app = InvoiceApplication.objects.filter(trigger_key=services.trigger_key(doc, event)).first()
            if app is not None and app.pk not in seen:
                self.message_user(request, gettext("已按开票设置自动生成开票申请 %(number)s（%(status)s）")
                                  % {"number": app.number, "status": app.get_status_display()}, messages.SUCCESS)

    def _seen_auto_apps(self, doc) -> set[int]:
        keys = [services.trigger_key(doc, e) for e in (services.DocumentEvent.PAID, services.DocumentEvent.DELIVERED)]
        return set(InvoiceApplication.objects.filter(trigger_key__in=keys).values_list("pk", flat=True))

    def delivered_view(self, request, pk):
        doc = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("issuing.change_billingdocument"):
            raise PermissionDenied
        form = DeliveredForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            seen = self._seen_auto_apps(doc)
            try:
                services.billing_document_mark_delivered(document=doc, actor=request.user,
                                                         delivered_on=form.cleaned_data["delivered_on"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, _error_text(exc))
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
                if service is services.billing_document_refund:
                    kwargs["reason"] = form.cleaned_data["reason"]
                seen = self._seen_auto_apps(doc)
                service(**kwargs)
            except ValidationError as exc:
                form.add_error(None, _error_text(exc))
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
        return self._amount_view(request, pk, title=_("登记退款"), service=services.billing_document_refund,
                                 done=gettext("已登记退款 1 笔：%(amount)s"))

    def payment_view(self, request, pk):
        return self._amount_view(request, pk, title=_("登记收款"), service=services.billing_document_record_payment,
                                 done=gettext("已登记收款 1 笔：%(amount)s"))


# --- applications ------------------------------------------------------------------------------------------------------


class ApplicationLineInline(ReadonlyInline):
    model = ApplicationLine
    fields = ("line_no", "face_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_rate", "tax",
              "tax_category", "line_property")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tax_category")

    @admin.display(description=_("项目名称"))
    def face_name(self, obj):
        return obj.face_name


class ApplicationSourceInline(ReadonlyInline):
    model = ApplicationSource
    fields = ("billing_document", "amount", "released_amount")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("billing_document")


class ApplicationChangeForm(forms.ModelForm):
    class Meta:
        model = InvoiceApplication
        fields = ("delivery_email", "delivery_mobile", "remark", "buyer_kind", "buyer_name", "buyer_tax_id",
                  "buyer_address", "buyer_phone", "buyer_bank_name", "buyer_bank_account")


class LineForm(forms.Form):
    item_name = forms.CharField(label=_("项目名称"), max_length=300, required=False)
    spec = forms.CharField(label=_("规格型号"), max_length=150, required=False)
    unit = forms.CharField(label=_("单位"), max_length=30, required=False)
    quantity = forms.DecimalField(label=_("数量"), required=False, max_digits=25, decimal_places=13)
    unit_price = forms.DecimalField(label=_("单价（含税）"), required=False, max_digits=25, decimal_places=13)
    amount = forms.DecimalField(label=_("金额（含税）"), required=False, max_digits=18, decimal_places=2)
    tax_category = forms.CharField(label=_("税收分类编码"), max_length=19, required=False)
    tax_rate = forms.DecimalField(label=_("税率"), required=False, max_digits=7, decimal_places=4)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_text_validators(self)


LineFormSet = forms.formset_factory(LineForm, extra=3, max_num=50)


class ApplicationAddForm(forms.Form):
    """为客户申请开票: from billing documents (by order number) or entered lines, for a buyer title."""

    taxpayer = forms.ModelChoiceField(label=_("主体"), queryset=None)
    kind = forms.ChoiceField(label=_("发票种类"), choices=[(k, InvoiceKind(k).label) for k in ("82", "81", "86", "85")])
    counterparty = forms.ModelChoiceField(label=_("购买方（客户档案）"), queryset=None, required=False)
    buyer_kind = forms.ChoiceField(label=_("购买方类型"), choices=CounterpartyKind.choices, required=False)
    buyer_name = forms.CharField(label=_("购买方名称"), max_length=150, required=False)
    buyer_tax_id = forms.CharField(label=_("纳税人识别号"), max_length=20, required=False)
    buyer_address = forms.CharField(label=_("地址"), max_length=300, required=False)
    buyer_phone = forms.CharField(label=_("电话"), max_length=60, required=False)
    buyer_bank_name = forms.CharField(label=_("开户行"), max_length=120, required=False)
    buyer_bank_account = forms.CharField(label=_("银行账号"), max_length=100, required=False)
    documents = forms.CharField(label=_("业务单据号"), required=False, help_text=_("外部单号，多个用逗号或空格分隔；留空则按下方明细开票"))
    delivery_email = forms.EmailField(label=_("交付邮箱"), required=False)
    delivery_mobile = forms.CharField(label=_("交付手机"), max_length=20, required=False)
    remark = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    submit = forms.BooleanField(label=_("直接提交审核"), required=False, initial=True)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)
        self.fields["counterparty"].queryset = scope_queryset(Counterparty.objects.select_related("taxpayer"), user)
        add_text_validators(self)


@admin.register(InvoiceApplication)
class InvoiceApplicationAdmin(StreamingExportAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin,
                              admin.ModelAdmin):
    export_spec_name = "applications"
    form = ApplicationChangeForm
    list_display = ("number", "status_display", "taxpayer", "buyer_name", "buyer_tax_id", "kind", "money_total",
                    "person_reviewer", "created_at")
    list_display_links = ("number",)
    list_filter = ("status", "taxpayer", "kind", "auto_approved",
                   admin_issuing.NeedsAttentionFilter,
                   ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "buyer_name", "buyer_tax_id", "sources__billing_document__external_no", "issue_serial")
    list_select_related = ("taxpayer", "reviewer")
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = (ApplicationLineInline, ApplicationSourceInline)
    actions = ["claim_selected", "approve_selected", "reject_selected", "withdraw_selected",
               admin_issuing.submit_issue, admin_issuing.retry_same_serial, admin_issuing.query_platform_now]
    change_form_template = "admin/issuing/invoiceapplication/change_form.html"
    fieldsets = (
        (None, {"fields": ("number", "status", "customer_status_display", "taxpayer", "kind", "source",
                           "specific_business", "specific_business_data")}),
        (_("购买方"), {"fields": ("counterparty", "buyer_kind", "buyer_name", "buyer_tax_id", "buyer_address",
                                 "buyer_phone", "buyer_bank_name", "buyer_bank_account")}),
        (_("交付与备注"), {"fields": ("delivery_email", "delivery_mobile", "remark")}),
        (_("金额"), {"fields": ("amount", "tax", "total")}),
        (_("审核"), {"fields": ("person_reviewer", "claimed_at", "reviewed_at", "flag_auto_approved",
                                "reject_reason")}),
        (_("开票"), {"fields": ("issue_serial", "issue_attempts", "flag_needs_attention", "last_error", "fail_reason",
                                "issued_at", "split_from")}),
        (_("事件记录"), {"fields": ("events_table",)}),
    )

    EDITABLE = ("delivery_email", "delivery_mobile", "remark", "buyer_kind", "buyer_name", "buyer_tax_id",
                "buyer_address", "buyer_phone", "buyer_bank_name", "buyer_bank_account")

    def get_ordering(self, request):
        return (selectors.queue_order().asc(), "created_at", "id")  # 待审核 first

    def get_readonly_fields(self, request, obj=None):
        every = [f.name for f in InvoiceApplication._meta.fields] + ["customer_status_display", "events_table",
                                                                     "person_reviewer", "flag_auto_approved",
                                                                     "flag_needs_attention"]
        if obj is not None and obj.status in PRE_APPROVAL and self.has_change_permission(request, obj):
            return [f for f in every if f not in self.EDITABLE]
        return every

    @admin.display(description=_("状态"), ordering="status")
    def status_display(self, obj):
        return obj.get_status_display()

    money_total = money_column(InvoiceApplication, "total")
    person_reviewer = person_column("reviewer", _("审核人"))
    flag_auto_approved = flag_column(InvoiceApplication, "auto_approved")
    flag_needs_attention = flag_column(InvoiceApplication, "needs_attention")

    @admin.display(description=_("客户看到的状态"))
    def customer_status_display(self, obj):
        return gettext(obj.customer_status) if obj and obj.pk else "-"  # a plain label, marked in CUSTOMER_STATUS

    def has_delete_permission(self, request, obj=None):
        if obj is None or obj.status != S.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        services.application_delete(application=obj, actor=request.user)

    def save_model(self, request, obj, form, change):
        """Edits before approval (buyer title, delivery, remark) go through a locked save with an event."""
        if not change:
            raise PermissionDenied  # additions go through add_view → application_create
        changed = {f: str(getattr(obj, f)) for f in form.changed_data if f in self.EDITABLE}
        if not changed:
            return
        with transaction.atomic():
            locked = services.lock_rows(InvoiceApplication, [obj.pk])[0]
            services.authorize(request.user, locked.taxpayer_id, services.P_CHANGE_APPLICATION)
            if locked.status not in PRE_APPROVAL:
                raise PermissionDenied
            InvoiceApplication.objects.filter(pk=obj.pk).update(**{f: getattr(obj, f) for f in changed})
            event_record(obj=locked, action="edit", actor=request.user, data=changed)

    def save_related(self, request, form, formsets, change):
        pass  # lines and sources are written by the services only

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, [], add)  # the read-only inlines saved nothing

    # --- permissions of the buttons --------------------------------------------------------------------------------

    def has_review_permission(self, request):
        u = request.user
        return u.has_perm("issuing.review_invoiceapplication") or u.has_perm("issuing.approve_invoiceapplication")

    def has_issue_permission(self, request):
        return request.user.has_perm("issuing.issue_invoiceapplication")

    BUTTONS = (
        # (transition, label, permission kind, needs a reason)
        ("claim", _("领取审核"), "review", False),
        ("release", _("放弃审核"), "review", False),
        ("approve", _("批准"), "review", False),
        ("reject", pgettext_lazy("button", "驳回"), "review", True),  # 驳回 alone is the status label
        ("withdraw", _("撤销"), "change", False),
        ("submit", _("提交审核"), "change", False),
        ("start_issuing", _("发起开票"), "issue", False),
        ("retry", _("重新开票"), "issue", False),
    )

    # Buttons that the compliance check decides: offered disabled, with the reasons, while it would refuse.
    CHECKED_BUTTONS = ("approve", "start_issuing")

    def available_buttons(self, request, obj, failures=None):
        allowed = {
            "review": self.has_review_permission(request),
            "change": self.has_change_permission(request, obj),
            "issue": self.has_issue_permission(request),
        }
        out = []
        for name, label, kind, needs_reason in self.BUTTONS:
            if allowed[kind] and can_proceed(getattr(obj, name)):
                if name == "release" and obj.reviewer_id != request.user.pk and not request.user.has_perm(
                    "issuing.approve_invoiceapplication"
                ):
                    continue
                button = {"name": name, "label": label, "needs_reason": needs_reason}
                if failures and name in self.CHECKED_BUTTONS:
                    button["refused"] = gettext("；").join(f.message for f in failures)
                out.append(button)
        if obj.status in services.SPLITTABLE and allowed["change"]:
            out.append({"name": "split", "label": _("拆分"), "needs_reason": False})
        if allowed["issue"] and obj.status == S.ISSUING and obj.needs_attention:
            out.append({"name": "reissue", "label": _("换流水号重开"), "needs_reason": False})
        return out

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            failures = []
            if obj.status in (S.PENDING_REVIEW, S.IN_REVIEW, S.APPROVED):
                # The same check 批准 / 发起开票 run, read-only: their buttons say why they would refuse.
                failures = selectors.application_failures(obj)
                extra_context["compliance_failures"] = failures
            buttons = self.available_buttons(request, obj, failures)
            extra_context["transition_buttons"] = buttons
            extra_context["refused_buttons"] = [b for b in buttons if b.get("refused")]
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/transition/<str:name>/", view(self.transition_view),
                 name="issuing_invoiceapplication_transition"),
            path("<int:pk>/split/", view(self.split_view), name="issuing_invoiceapplication_split"),
            path("<int:pk>/reject/", view(self.reject_view), name="issuing_invoiceapplication_reject"),
            path("<int:pk>/reissue/", view(functools.partial(admin_issuing.reissue_view, self)),
                 name="issuing_invoiceapplication_reissue"),
        ] + urls

    SERVICES = {  # (service, message when done: "已领取 1 张申请单：number")
        "claim": (services.application_claim, _("已领取 1 张申请单：%(number)s")),
        "release": (services.application_release, _("已放弃审核 1 张申请单：%(number)s")),
        "approve": (admin_issuing.approve_service,
                    _("已批准 1 张申请单：%(number)s")),
        "reject": (services.application_reject, _("已驳回 1 张申请单：%(number)s")),
        "withdraw": (services.application_withdraw, _("已撤销 1 张申请单：%(number)s")),
        "submit": (services.application_submit, _("已提交 1 张申请单：%(number)s")),
        "start_issuing": (
            admin_issuing.submit_issue_service,
            _("已发起开票 1 张申请单：%(number)s"),
        ),
        "retry": (services.application_retry, _("已转为待开票 1 张申请单：%(number)s")),
    }

    def transition_view(self, request, pk, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's is a 404
        if name not in self.SERVICES:
            raise PermissionDenied
        service, done = self.SERVICES[name]
        kwargs = {"application": obj, "actor": request.user}
        if name == "reject":
            kwargs["reason"] = request.POST.get("reason", "")
        elif name == "withdraw":
            kwargs["reason"] = request.POST.get("reason", "")
        try:
            service(**kwargs)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, gettext("申请单 %(number)s：%(error)s")
                              % {"number": obj.number, "error": _error_text(exc)}, messages.ERROR)
        else:
            self.message_user(request, done % {"number": obj.number}, messages.SUCCESS)
            if name in ("approve", "start_issuing", "retry"):
                self._report_issuing(request, obj)
        return HttpResponseRedirect(reverse("admin:issuing_invoiceapplication_change", args=[obj.pk]))

    def _report_issuing(self, request, obj):
        """After 批准 (which also issues for finance) or 发起开票: the platform's answer if it came at once (the
        issuing task may already have run), else where to watch for it."""
        obj.refresh_from_db()
        if obj.status == S.FAILED:
            self.message_user(request, gettext("申请单 %(number)s 开票失败：%(error)s")
                              % {"number": obj.number, "error": obj.fail_reason or obj.last_error}, messages.ERROR)
        elif obj.status == S.ISSUING and obj.needs_attention:
            self.message_user(request, gettext("申请单 %(number)s 需人工处理：%(error)s")
                              % {"number": obj.number, "error": obj.last_error}, messages.WARNING)
        elif obj.status == S.ISSUING:
            self.message_user(request, gettext("正在向税务平台开具，几秒后刷新本页查看结果（开票中 → 已开票）"),
                              messages.INFO)

    def reject_view(self, request, pk):
        """驳回 with the reason the customer reads: a page of its own (its form is not inside the change form)."""
        obj = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's is a 404
        if not self.has_review_permission(request):
            raise PermissionDenied
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.application_reject(application=obj, actor=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, _error_text(exc))
            else:
                self.message_user(request, gettext("已驳回 1 张申请单：%(number)s") % {"number": obj.number},
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_invoiceapplication_change", args=[obj.pk]))
        context = {**self.admin_site.each_context(request), "title": pgettext_lazy("page title", "驳回申请单"),
                   "opts": self.model._meta, "original": obj, "applications": [obj], "form": form}
        return TemplateResponse(request, "admin/issuing/invoiceapplication/reject.html", context)

    def split_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = SplitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                parts = services.application_split(application=obj, actor=request.user, plan=form.plan())
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, _error_text(exc))
            else:
                self.message_user(request, ngettext("已拆分为 %(n)d 张申请单：%(numbers)s",
                                                    "已拆分为 %(n)d 张申请单：%(numbers)s", len(parts))
                                  % {"n": len(parts), "numbers": _join(p.number for p in parts)}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_invoiceapplication_changelist"))
        context = {**self.admin_site.each_context(request), "title": _("拆分申请单"), "opts": self.model._meta,
                   "original": obj, "form": form}
        return TemplateResponse(request, "admin/issuing/split_form.html", context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApplicationAddForm(request.POST or None, user=request.user)
        formset = LineFormSet(request.POST or None, prefix="lines")
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            app = self._create_from_form(request, form, formset)
            if app is not None:
                self.message_user(request, gettext("已创建 1 张申请单：%(number)s（%(status)s）")
                                  % {"number": app.number, "status": app.get_status_display()}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_invoiceapplication_change", args=[app.pk]))
        context = {**self.admin_site.each_context(request), "title": _("为客户申请开票"), "opts": self.model._meta,
                   "form": form, "formset": formset, "add": True}
        return TemplateResponse(request, "admin/issuing/application_add.html", context)

    def _create_from_form(self, request, form, formset):
        data = form.cleaned_data
        taxpayer = data["taxpayer"]
        numbers = [n for n in data["documents"].replace("，", ",").replace(",", " ").split() if n]
        docs = list(scope_queryset(BillingDocument.objects.filter(taxpayer=taxpayer, external_no__in=numbers),
                                   request.user))
        missing = set(numbers) - {d.external_no for d in docs}
        if missing:
            form.add_error("documents", gettext("找不到业务单据：%(numbers)s") % {"numbers": _join(sorted(missing))})
            return None
        lines = []
        for row in formset.cleaned_data:
            if not row or not row.get("item_name"):
                continue
            category = TaxCategory.objects.filter(code=row.get("tax_category") or "").first()
            lines.append({**row, "tax_category": category or row.get("tax_category"), "tax_inclusive": True})
        buyer = None
        if data.get("counterparty") is None and data.get("buyer_name"):
            buyer = {k: data.get(k) or "" for k in services.BUYER_KEYS}
        try:
            return services.application_create(
                actor=request.user,
                taxpayer=taxpayer,
                kind=data["kind"],
                sources=docs,
                lines=lines or None,
                counterparty=data.get("counterparty"),
                buyer=buyer,
                delivery_email=data.get("delivery_email") or "",
                delivery_mobile=data.get("delivery_mobile") or "",
                remark=data.get("remark") or "",
                submit=bool(data.get("submit")),
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, _error_text(exc))
            return None

    # --- bulk actions -------------------------------------------------------------------------------------------

    def _each(self, request, queryset, service, done_text, failed_text, **kwargs):
        """Call ``service`` for each selected application; ``done_text(n)`` / ``failed_text(n)`` say how many."""
        done, errors = 0, []
        for app in queryset.order_by("pk"):
            try:
                service(application=app, actor=request.user, **kwargs)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                errors.append(_item_error(app.number, _error_text(exc)))
        report_rows(self, request, done=done, failures=errors, done_text=done_text, failed_text=failed_text)

    @admin.action(description=_("领取审核"), permissions=["review"])
    def claim_selected(self, request, queryset):
        self._each(request, queryset, services.application_claim,
                   lambda n: ngettext("已领取 %(n)d 张申请单", "已领取 %(n)d 张申请单", n) % {"n": n},
                   lambda n: ngettext("%(n)d 张未能领取", "%(n)d 张未能领取", n) % {"n": n})

    @admin.action(description=_("驳回（填写原因）"), permissions=["review"])
    def reject_selected(self, request, queryset):
        """Like Django's delete confirmation: a page asks for the reason, then each is rejected with it."""
        form = RejectForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._each(request, queryset, services.application_reject,
                       lambda n: ngettext("已驳回 %(n)d 张申请单", "已驳回 %(n)d 张申请单", n) % {"n": n},
                       lambda n: ngettext("%(n)d 张未能驳回", "%(n)d 张未能驳回", n) % {"n": n},
                       reason=form.cleaned_data["reason"])
            return None
        applications = list(queryset.order_by("pk"))
        context = {**self.admin_site.each_context(request), "title": pgettext_lazy("page title", "驳回申请单"),
                   "opts": self.model._meta, "applications": applications, "form": form, "bulk": True,
                   "action_name": "reject_selected", "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/issuing/invoiceapplication/reject.html", context)

    @admin.action(description=_("批准（检查额度）"), permissions=["review"])
    def approve_selected(self, request, queryset):
        issue = request.user.has_perm(services.P_ISSUE)
        with transaction.atomic():
            result = services.applications_approve_batch(applications=list(queryset.values_list("pk", flat=True)),
                                                         actor=request.user)
            # As the 批准 button: whoever may also issue (finance) approves and issues at once, in batches.
            started = (issuing.applications_submit_issue(applications=result.approved,
                                                                       actor=request.user)
                       if issue and result.approved else None)
        # result.summary's text, translated here: 已批准 n 张，未批准 m 张[；额度不足：numbers]
        summary = gettext("已批准 %(approved)d 张，未批准 %(refused)d 张") % {
            "approved": len(result.approved), "refused": len(result.refused)}
        if result.not_fitting:
            summary += gettext("；额度不足：%(numbers)s") % {"numbers": _join(result.not_fitting)}
        level = messages.SUCCESS if not result.refused else messages.WARNING if result.approved else messages.ERROR
        self.message_user(request, summary, level)
        for number, failures in list(result.refused.items())[:20]:
            self.message_user(request, _item_error(number, gettext("；").join(f.message for f in failures)), messages.ERROR)
        if started is not None:
            admin_issuing.report_batch(self, request, started)
            return admin_issuing.watch_started(self, request, started)
        return None

    @admin.action(description=_("撤销"), permissions=["change"])
    def withdraw_selected(self, request, queryset):
        self._each(request, queryset, services.application_withdraw,
                   lambda n: ngettext("已撤销 %(n)d 张申请单", "已撤销 %(n)d 张申请单", n) % {"n": n},
                   lambda n: ngettext("%(n)d 张未能撤销", "%(n)d 张未能撤销", n) % {"n": n})


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=capfirst(_("驳回原因")), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("客户会看到这段话，请写明要改什么（如抬头与税号不一致）"),
        error_messages={"required": _("驳回必须填写原因")},
    )


class SplitForm(forms.Form):
    group_by = forms.ChoiceField(
        label=_("按税收分类分组"), required=False,
        choices=[("", _("不分组")), ("category", _("按税收分类大类")), ("code", _("按税收分类编码")),
                 ("rate", _("按税率"))],
    )
    max_lines = forms.IntegerField(label=_("每张最多行数"), required=False, min_value=2)
    amount_limit = forms.DecimalField(label=_("每张金额上限（不含税）"), required=False, max_digits=18, decimal_places=2)
    amounts = forms.CharField(label=_("按金额拆分（价税合计，逗号分隔）"), required=False)
    quantities = forms.CharField(label=_("按数量拆分（逗号分隔）"), required=False)

    def _numbers(self, name):
        text = self.cleaned_data.get(name) or ""
        try:
            return tuple(Decimal(x) for x in text.replace("，", ",").split(",") if x.strip())
        except ArithmeticError as exc:
            raise ValidationError({name: gettext("请输入数字，用逗号分隔")}) from exc

    def clean(self):
        data = super().clean()
        data["amounts_list"] = self._numbers("amounts")
        data["quantities_list"] = self._numbers("quantities")
        return data

    def plan(self) -> splitting.SplitPlan:
        d = self.cleaned_data
        return splitting.SplitPlan(
            group_by=d.get("group_by") or "",
            max_lines=d.get("max_lines"),
            amount_limit=d.get("amount_limit"),
            amounts=d["amounts_list"],
            quantities=d["quantities_list"],
        )


# --- invoices --------------------------------------------------------------------------------------------------------


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
        from issuing.admin_red import is_red_form_lookup, red_flushable_invoices

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
        delivery_admin = _delivery_admin()
        if delivery_admin is not None:
            extra = [delivery_admin.invoices_send_email]
            if self.has_download_permission(request):  # printing hands out the files: not for customer service
                extra += [delivery_admin.invoices_print_a4, delivery_admin.invoices_print_a5]
            for func in extra:
                name, description = func.__name__, getattr(func, "short_description", func.__name__)
                actions[name] = (func, name, description)
        return actions

    def has_download_permission(self, request) -> bool:
        """The one decision about invoice files: customer service does not hold ``download_invoice_file``."""
        return request.user.has_perm("issuing.download_invoice_file")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/download/<str:fmt>/", view(self.download_view), name="issuing_invoice_download"),
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
        from issuing import redletter
        from issuing.models_red import RedFormState

        invoice = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's is a 404
        if not request.user.has_perm(self.P_VOID):
            raise PermissionDenied
        form = VoidForm(request.POST or None)
        change = reverse("admin:issuing_invoice_change", args=[invoice.pk])
        if request.method == "POST" and form.is_valid():
            try:
                outcome = redletter.paper_invoice_void(invoice=invoice, actor=request.user,
                                                       reason=form.cleaned_data["reason"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, _error_text(exc))
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

    def download_view(self, request, pk, fmt):
        if not self.has_download_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            target = reverse("delivery:invoice_file", args=[invoice.pk, fmt])
        except NoReverseMatch:
            return TemplateResponse(request, "admin/issuing/invoice/no_file.html",
                                    {**self.admin_site.each_context(request), "original": invoice,
                                     "opts": self.model._meta, "fmt": fmt}, status=404)
        return HttpResponseRedirect(target)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        may_download = self.has_download_permission(request)
        extra_context["show_file_links"] = may_download
        delivery_admin = _delivery_admin()
        obj = self.get_object(request, object_id)
        extra_context["may_void"] = obj is not None and self.may_void(request, obj)
        if obj is not None and delivery_admin is not None:
            extra_context["file_links_html"] = delivery_admin.invoice_file_links_html(request, obj) if may_download else ""
            extra_context["deliveries_html"] = delivery_admin.invoice_deliveries_html(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)


class VoidForm(forms.Form):
    reason = forms.CharField(label=capfirst(_("作废原因")), max_length=200, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                             error_messages={"required": _("作废必须填写原因")})


# --- quota and policy ----------------------------------------------------------------------------------------------


@admin.register(QuotaPeriod)
class QuotaPeriodAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):
    list_display = ("taxpayer", "month", "money_total", "money_used", "money_remaining", "committed_display",
                    "synced_at")
    list_filter = ("taxpayer", "month")
    search_fields = ("month", "taxpayer__name")
    list_select_related = ("taxpayer",)
    readonly_fields = ("used", "synced_at", "committed_display", "events_table")
    fields = ("taxpayer", "month", "total", "used", "committed_display", "synced_at", "events_table")

    money_total = money_column(QuotaPeriod, "total")
    money_used = money_column(QuotaPeriod, "used")
    money_remaining = money_column(QuotaPeriod, "remaining", _("剩余额度"))

    @admin.display(description=_("剩余额度"))
    def remaining_display(self, obj):
        return money(obj.remaining)

    @admin.display(description=_("已批准待开票占用"))
    def committed_display(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return money(selectors.quota_committed(obj.taxpayer_id))

    def get_list_display(self, request):
        return [f for f in self.list_display if f != "committed_display"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        period = services.quota_set(actor=request.user, taxpayer=obj.taxpayer, month=obj.month, total=obj.total)
        obj.pk = period.pk


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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        event_record(obj=obj, action="policy_change", actor=request.user, taxpayer=obj.taxpayer,
                     data={f: str(form.cleaned_data.get(f)) for f in form.changed_data})

