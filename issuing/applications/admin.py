"""Admin for invoice applications (申请单): review queue, transitions, split, reject, and the monthly quota."""

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
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from invoicing.admin import (
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadonlyInline,
    flag_column,
    money_column,
    person_column,
)
from invoicing.admin_messages import error_text, item_error, join_items, report_rows
from invoicing.formatting import money
from invoicing.models import Counterparty, CounterpartyKind, TaxCategory
from invoicing.scoping import allowed_taxpayers, scope_queryset
from invoicing.validators import add_text_validators
from issuing import inputs, workflow
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications import splitting as applications_splitting
from issuing.applications.models import (
    ApplicationLine,
    ApplicationSource,
    ApplicationStatus,
    InvoiceApplication,
    QuotaPeriod,
)
from issuing.base import InvoiceKind
from issuing.billing.models import BillingDocument
from issuing.platform import actions as issue_actions
from issuing.platform import services as platform_services
from issuing.reports.admin import StreamingExportAdminMixin

S = ApplicationStatus


PRE_APPROVAL = application_services.EDITABLE_UNTIL_APPROVAL


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
                   issue_actions.NeedsAttentionFilter,
                   ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "buyer_name", "buyer_tax_id", "sources__billing_document__external_no", "issue_serial")
    list_select_related = ("taxpayer", "reviewer")
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = (ApplicationLineInline, ApplicationSourceInline)
    actions = ["claim_selected", "approve_selected", "reject_selected", "withdraw_selected",
               issue_actions.submit_issue, issue_actions.retry_same_serial, issue_actions.query_platform_now]
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

    EDITABLE = application_services.EDITABLE_FIELDS

    def get_ordering(self, request):
        return (application_selectors.queue_order().asc(), "created_at", "id")  # 待审核 first

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
        application_services.application_delete(application=obj, actor=request.user)

    def save_model(self, request, obj, form, change):
        """Edits before approval (buyer title, delivery, remark) go through ``application_edit``."""
        if not change:
            raise PermissionDenied  # additions go through add_view → application_create
        changes = {f: getattr(obj, f) for f in form.changed_data if f in self.EDITABLE}
        if not changes:
            return
        try:
            application_services.application_edit(application=obj, actor=request.user, changes=changes)
        except ValidationError as exc:  # approved meanwhile: its fields are read-only now
            raise PermissionDenied(error_text(exc)) from exc

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
        if obj.status in application_services.SPLITTABLE and allowed["change"]:
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
                failures = application_selectors.application_failures(obj)
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
            path("<int:pk>/reissue/", view(functools.partial(issue_actions.reissue_view, self)),
                 name="issuing_invoiceapplication_reissue"),
        ] + urls

    SERVICES = {  # (service, message when done: "已领取 1 张申请单：number")
        "claim": (application_services.application_claim, _("已领取 1 张申请单：%(number)s")),
        "release": (application_services.application_release, _("已放弃审核 1 张申请单：%(number)s")),
        "approve": (issue_actions.approve_service,
                    _("已批准 1 张申请单：%(number)s")),
        "reject": (application_services.application_reject, _("已驳回 1 张申请单：%(number)s")),
        "withdraw": (application_services.application_withdraw, _("已撤销 1 张申请单：%(number)s")),
        "submit": (application_services.application_submit, _("已提交 1 张申请单：%(number)s")),
        "start_issuing": (
            platform_services.application_submit_issue,
            _("已发起开票 1 张申请单：%(number)s"),
        ),
        "retry": (application_services.application_retry, _("已转为待开票 1 张申请单：%(number)s")),
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
                              % {"number": obj.number, "error": error_text(exc)}, messages.ERROR)
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
                application_services.application_reject(application=obj, actor=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
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
                parts = application_services.application_split(application=obj, actor=request.user, plan=form.plan())
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                self.message_user(request, ngettext("已拆分为 %(n)d 张申请单：%(numbers)s",
                                                    "已拆分为 %(n)d 张申请单：%(numbers)s", len(parts))
                                  % {"n": len(parts), "numbers": join_items(p.number for p in parts)}, messages.SUCCESS)
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
            form.add_error("documents", gettext("找不到业务单据：%(numbers)s") % {"numbers": join_items(sorted(missing))})
            return None
        lines = []
        for row in formset.cleaned_data:
            if not row or not row.get("item_name"):
                continue
            category = TaxCategory.objects.filter(code=row.get("tax_category") or "").first()
            lines.append({**row, "tax_category": category or row.get("tax_category"), "tax_inclusive": True})
        buyer = None
        if data.get("counterparty") is None and data.get("buyer_name"):
            buyer = {k: data.get(k) or "" for k in inputs.BUYER_KEYS}
        try:
            return application_services.application_create(
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
            form.add_error(None, error_text(exc))
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
                errors.append(item_error(app.number, error_text(exc)))
        report_rows(self, request, done=done, failures=errors, done_text=done_text, failed_text=failed_text)

    @admin.action(description=_("领取审核"), permissions=["review"])
    def claim_selected(self, request, queryset):
        self._each(request, queryset, application_services.application_claim,
                   lambda n: ngettext("已领取 %(n)d 张申请单", "已领取 %(n)d 张申请单", n) % {"n": n},
                   lambda n: ngettext("%(n)d 张未能领取", "%(n)d 张未能领取", n) % {"n": n})

    @admin.action(description=_("驳回（填写原因）"), permissions=["review"])
    def reject_selected(self, request, queryset):
        """Like Django's delete confirmation: a page asks for the reason, then each is rejected with it."""
        form = RejectForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._each(request, queryset, application_services.application_reject,
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
        issue = request.user.has_perm(workflow.P_ISSUE)
        with transaction.atomic():
            result = application_services.applications_approve_batch(applications=list(queryset.values_list("pk", flat=True)),
                                                         actor=request.user)
            # As the 批准 button: whoever may also issue (finance) approves and issues at once, in batches.
            started = (platform_services.applications_submit_issue(applications=result.approved,
                                                                       actor=request.user)
                       if issue and result.approved else None)
        # result.summary's text, translated here: 已批准 n 张，未批准 m 张[；额度不足：numbers]
        summary = gettext("已批准 %(approved)d 张，未批准 %(refused)d 张") % {
            "approved": len(result.approved), "refused": len(result.refused)}
        if result.not_fitting:
            summary += gettext("；额度不足：%(numbers)s") % {"numbers": join_items(result.not_fitting)}
        level = messages.SUCCESS if not result.refused else messages.WARNING if result.approved else messages.ERROR
        self.message_user(request, summary, level)
        for number, failures in list(result.refused.items())[:20]:
            self.message_user(request, item_error(number, gettext("；").join(f.message for f in failures)), messages.ERROR)
        if started is not None:
            issue_actions.report_batch(self, request, started)
            return issue_actions.watch_started(self, request, started)
        return None

    @admin.action(description=_("撤销"), permissions=["change"])
    def withdraw_selected(self, request, queryset):
        self._each(request, queryset, application_services.application_withdraw,
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

    def plan(self) -> applications_splitting.SplitPlan:
        d = self.cleaned_data
        return applications_splitting.SplitPlan(
            group_by=d.get("group_by") or "",
            max_lines=d.get("max_lines"),
            amount_limit=d.get("amount_limit"),
            amounts=d["amounts_list"],
            quantities=d["quantities_list"],
        )


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
        return money(application_selectors.quota_committed(obj.taxpayer_id))

    def get_list_display(self, request):
        return [f for f in self.list_display if f != "committed_display"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        period = quota.quota_set(actor=request.user, taxpayer=obj.taxpayer, month=obj.month, total=obj.total)
        obj.pk = period.pk
