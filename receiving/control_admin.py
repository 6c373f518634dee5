"""Admin for the pool's controls: verification and rule results on each pool record (columns, filters, the record
page's section, verify / re-verify / re-run rules actions, verify and override pages), the rules of each entity,
the seller register (blacklist, with its Excel import) and the bulk verification jobs.

Every write goes through ``receiving.verification``, ``receiving.rules`` and ``receiving.sellers``. Lists read the
results through one ``select_related``: a constant number of queries whatever the page holds.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing import formatting
from invoicing.actors import actor_label_words
from invoicing.admin import (
    AdminRequest,
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadOnlyAdminMixin,
    state_labels_register,
)
from invoicing.admin_messages import error_text, item_error, report_rows
from invoicing.formatting import local_time, person_name
from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayers
from receiving import rules, sellers, verification
from receiving.control_models import (
    InvoiceCheck,
    ReceivingRule,
    RulesOutcome,
    Seller,
    Severity,
    Verification,
    VerificationJob,
    VerifyOutcome,
)
from receiving.models import ReceivedInvoice

# --- on the pool ---------------------------------------------------------------------------------------------------


class VerifyResultFilter(admin.SimpleListFilter):
    title = _("查验结果")
    parameter_name = "verify"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("none", _("未查验")), ("pending", _("查验待完成")),
                *[(c.value, f"{c.value} {c.label}") for c in VerifyOutcome if c.value]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "none":
            return queryset.filter(Q(controls__isnull=True) | Q(controls__verify_code="", controls__verify_pending=False))
        if value == "pending":
            return queryset.filter(controls__verify_pending=True)
        if value in VerifyOutcome.values and value:
            return queryset.filter(controls__verify_code=value)
        return queryset


class RulesOutcomeFilter(admin.SimpleListFilter):
    title = _("规则结果")
    parameter_name = "rules"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("unchecked", _("未检查")), *[(c.value, c.label) for c in RulesOutcome if c.value],
                ("second", _("需第二审批人"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "unchecked":
            return queryset.filter(Q(controls__isnull=True) | Q(controls__rules_outcome=""))
        if value == "second":
            return queryset.filter(controls__needs_second_approver=True)
        if value in RulesOutcome.values and value:
            return queryset.filter(controls__rules_outcome=value)
        return queryset


class FailedRuleFilter(admin.SimpleListFilter):
    title = _("未通过的规则")
    parameter_name = "rule"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(code, spec.name) for code, spec in rules.SPECS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in rules.SPECS:
            # the stored JSON as text (the same spacing on PostgreSQL's jsonb and on SQLite)
            return queryset.filter(controls__rules_failures__icontains=f'"rule": "{value}"')
        return queryset


def _controls(obj: ReceivedInvoice) -> InvoiceCheck | None:
    try:
        return obj.controls
    except ObjectDoesNotExist:
        return None


# the pool's audit trail names the rule outcomes and verification results it records
state_labels_register(ReceivedInvoice, [*RulesOutcome.choices, *VerifyOutcome.choices])
state_labels_register(Seller, [("blacklisted", _("已列入黑名单"))])  # receiving.sellers: on and off the blacklist

OUTCOME_CLASS: dict[str, str] = {RulesOutcome.BLOCK: "fapiao-bad", RulesOutcome.WARN: "fapiao-warn",
                 RulesOutcome.OVERRIDDEN: "fapiao-warn", RulesOutcome.PASS: "fapiao-ok"}


class PoolControlsAdminMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Mixed into the pool's admin (``receiving.admin.ReceivedInvoiceAdmin``)."""

    control_list_display = ("verify_column", "rules_column")
    control_list_filter = (VerifyResultFilter, RulesOutcomeFilter, FailedRuleFilter)
    control_fields = ("verification_table", "rules_table")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # ChangeList adds list_select_related only to a queryset that has none: name both here
        related = self.list_select_related if isinstance(self.list_select_related, (list, tuple)) else ()
        return super().get_queryset(request).select_related("controls", *related)

    def get_list_display(self, request: HttpRequest) -> Any:
        base = list(super().get_list_display(request))
        at = base.index("taxpayer") if "taxpayer" in base else len(base)
        return [*base[:at], *self.control_list_display, *base[at:]]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [*super().get_list_filter(request), *self.control_list_filter]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The results' section goes before the audit trail."""
        sets = list(super().get_fieldsets(request, obj))
        at = next((i for i, (_name, options) in enumerate(sets) if "events_table" in options.get("fields", ())),
                  len(sets))
        return [*sets[:at], (_("查验与收票规则"), {"fields": self.control_fields}), *sets[at:]]

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not request.user.has_perm(verification.P_VERIFY):
            actions.pop("verify_selected", None)
            actions.pop("reverify_selected", None)
        return actions

    actions: Sequence[str] = ("verify_selected", "reverify_selected", "rerun_rules")

    # columns

    @admin.display(description=_("查验"))
    def verify_column(self, obj: ReceivedInvoice) -> str:
        check = _controls(obj)
        if check is None or (not check.verify_code and not check.verify_pending):
            return "-"
        if not check.verify_code:
            return gettext("待完成")
        css = "fapiao-ok" if check.verify_code == "00" else "fapiao-bad"
        return format_html('<span class="{}" title="{}">{}</span>', css, check.verify_message,
                           check.get_verify_code_display())

    @admin.display(description=_("规则"))
    def rules_column(self, obj: ReceivedInvoice) -> str:
        check = _controls(obj)
        if check is None or not check.rules_outcome:
            return "-"
        names = "；".join(f["message"] for f in check.rules_failures)
        return format_html('<span class="{}" title="{}">{}</span>', OUTCOME_CLASS.get(check.rules_outcome, ""),
                           names, check.get_rules_outcome_display())

    # the record page

    @admin.display(description=_("查验记录"))
    def verification_table(self, obj: ReceivedInvoice) -> str:
        if obj is None or obj.pk is None:
            return "-"
        rows = []
        for v in Verification.objects.filter(invoice=obj).select_related("requested_by")[:20]:
            who = person_name(v.requested_by) if v.requested_by_id else actor_label_words(v.actor_label or "system")
            when = v.verified_at or v.created_at
            result = v.get_code_display() if v.code else gettext("待完成：%(why)s") % {
                "why": verification.WAIT_WORDS.get(v.wait_reason, v.wait_reason or "-")}
            diffs = "；".join(
                gettext("%(label)s：记录 %(record)s，平台 %(platform)s") % d if d.get("platform")
                else gettext("%(label)s：记录 %(record)s") % d for d in v.differences)
            rows.append((local_time(when), who, result, v.get_state_display(),
                         v.status_code or "-", v.risk_level or "-", diffs or v.message or "-"))
        if not rows:
            return gettext("未查验")
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                             _("时间"), _("操作方"), _("结果"), _("状态"), _("发票状态代码"), _("风险等级"),
                             _("不一致的字段 / 信息"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                    "<td>{}</td></tr>", rows)
        return format_html('<table class="fapiao-verifications">{}{}</table>', header, body)

    @admin.display(description=_("收票规则"))
    def rules_table(self, obj: ReceivedInvoice) -> str:
        check = _controls(obj) if obj is not None and obj.pk else None
        if check is None or not check.rules_outcome:
            return gettext("未检查")
        if not check.rules_failures:
            return gettext("全部通过（%(at)s）") % {"at": local_time(check.rules_checked_at)}
        rows = [(str(rules.SPECS[f["rule"]].name) if f["rule"] in rules.SPECS else f["rule"], f["version"],
                 Severity(f["severity"]).label + (gettext("（已放行）") if f.get("overridden") else ""),
                 f["message"]) for f in check.rules_failures]
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", _("规则"), _("版本"),
                             _("级别"), _("说明"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html('<p>{}</p><table class="fapiao-rule-results">{}{}</table>',
                           check.get_rules_outcome_display(), header, body)

    # actions

    @admin.action(description=_("查验所选发票（沿用有效结果）"))
    def verify_selected(self, request: AdminRequest, queryset: QuerySet[Any]) -> None:
        self._verify(request, queryset, force=False)

    @admin.action(description=_("重新查验所选发票"))
    def reverify_selected(self, request: AdminRequest, queryset: QuerySet[Any]) -> None:
        self._verify(request, queryset, force=True)

    def _verify(self, request: AdminRequest, queryset: QuerySet[Any], *, force: bool) -> None:
        by_entity: dict[int, list[int]] = defaultdict(list)
        for pk, taxpayer_id in queryset.values_list("pk", "taxpayer_id"):
            by_entity[taxpayer_id].append(pk)
        failures: list[str] = []
        total = 0
        for taxpayer in Taxpayer.objects.filter(pk__in=list(by_entity)):
            try:
                job = verification.verification_job_start(taxpayer=taxpayer, invoice_ids=by_entity[taxpayer.pk],
                                                          actor=request.user, force=force)
            except (PermissionDenied, ValidationError) as exc:
                failures.append(item_error(taxpayer, error_text(exc)))
                continue
            total += job.total
            skipped = len(by_entity[taxpayer.pk]) - job.total
            if skipped:
                failures.append(item_error(taxpayer, ngettext("%(n)d 张发票缺少查验要素或不支持查验，未提交",
                                                              "%(n)d 张发票缺少查验要素或不支持查验，未提交",
                                                              skipped) % {"n": skipped}))
        report_rows(self, request, done=total, failures=failures,
                    done_text=lambda n: ngettext("已提交 %(n)d 张发票批量查验，进度见“批量查验”",
                                                 "已提交 %(n)d 张发票批量查验，进度见“批量查验”", n) % {"n": n})

    @admin.action(description=_("重新运行收票规则"))
    def rerun_rules(self, request: AdminRequest, queryset: QuerySet[Any]) -> None:
        by_entity: dict[int, list[int]] = defaultdict(list)
        for pk, taxpayer_id in queryset.values_list("pk", "taxpayer_id"):
            by_entity[taxpayer_id].append(pk)
        checked = blocked = 0
        failures: list[str] = []
        for taxpayer in Taxpayer.objects.filter(pk__in=list(by_entity)):
            try:
                report = rules.rules_run(taxpayer=taxpayer, actor=request.user, invoice_ids=by_entity[taxpayer.pk],
                                         purpose="asked", keep_verdicts=True)
            except PermissionDenied as exc:
                failures.append(item_error(taxpayer, error_text(exc)))
                continue
            checked += report.checked
            blocked += sum(1 for v in report.verdicts.values() if not v.usable)
        report_rows(self, request, done=checked, failures=failures,
                    done_text=lambda n: ngettext("已对 %(n)d 张发票运行收票规则，其中 %(b)d 张不可使用",
                                                 "已对 %(n)d 张发票运行收票规则，其中 %(b)d 张不可使用", n) % {
                        "n": n, "b": blocked})

    # pages

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/verify/", view(self.verify_view), name="receiving_receivedinvoice_verify"),
                path("<int:pk>/override/", view(self.override_view), name="receiving_receivedinvoice_override"),
                *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(verification.P_VERIFY):
            extra_context["verify_url"] = reverse("admin:receiving_receivedinvoice_verify", args=[object_id])
        check = InvoiceCheck.objects.filter(invoice_id=int(object_id)).only("rules_outcome").first() \
            if str(object_id).isdigit() else None
        if request.user.has_perm(rules.P_OVERRIDE) and check is not None and check.rules_outcome == RulesOutcome.BLOCK:
            extra_context["override_url"] = reverse("admin:receiving_receivedinvoice_override", args=[object_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def _page(self, request: HttpRequest, record: ReceivedInvoice, *, title: str, intro: str, form: forms.Form,
              submit: str, table: str = "") -> HttpResponse:
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta,
                   "original": record, "form": form, "intro": intro, "submit": submit, "table": table}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/control_form.html", context)

    def verify_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm(verification.P_VERIFY):
            raise PermissionDenied
        form = forms.Form(request.POST or None)
        if request.method == "POST":
            try:
                outcome = verification.received_invoice_verify(record=record, actor=request.user, force=True)
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                v = outcome.verification
                if v.code:
                    self.message_user(request, gettext("发票 %(invoice)s 查验结果：%(result)s") % {
                        "invoice": record, "result": v.get_code_display()},
                        messages.SUCCESS if v.code == "00" else messages.WARNING)
                else:
                    self.message_user(request, gettext("发票 %(invoice)s 暂未查验完成：%(why)s") % {
                        "invoice": record, "why": verification.WAIT_WORDS.get(v.wait_reason, v.wait_reason)},
                        messages.WARNING)
                return HttpResponseRedirect(reverse("admin:receiving_receivedinvoice_change", args=[record.pk]))
        return self._page(request, record, title=gettext("查验发票 %(invoice)s") % {"invoice": record},
                          intro=gettext("向税务平台查验这张发票。每张发票每天最多查验 %(n)d 次。") % {
                              "n": verification.per_invoice_daily()},
                          form=form, submit=gettext("查验"), table=self.verification_table(record))

    def override_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm(rules.P_OVERRIDE):
            raise PermissionDenied
        check = _controls(record)
        blocking = [f for f in (check.rules_failures if check else []) if f["severity"] == Severity.BLOCK
                    and not f.get("overridden")]
        form = OverrideForm(request.POST or None,
                            rule_choices=[(f["rule"], rules.SPECS[f["rule"]].name if f["rule"] in rules.SPECS
                                           else f["rule"]) for f in blocking])
        if request.method == "POST" and form.is_valid():
            try:
                rules.received_invoice_rule_override(record=record, rule=form.cleaned_data["rule"],
                                                     reason=form.cleaned_data["reason"], actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                self.message_user(request, gettext("已放行发票 %(invoice)s 的规则“%(rule)s”；发票如有变更，放行失效") % {
                    "invoice": record, "rule": rules.SPECS[form.cleaned_data["rule"]].name}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:receiving_receivedinvoice_change", args=[record.pk]))
        return self._page(request, record, title=gettext("放行规则：%(invoice)s") % {"invoice": record},
                          intro=gettext("放行后这张发票可以使用；放行会记录在事件中，发票信息如有变更，放行自动失效。"),
                          form=form, submit=gettext("放行"), table=self.rules_table(record))


class OverrideForm(forms.Form):
    rule = forms.ChoiceField(label=capfirst(_("规则")))
    reason = forms.CharField(label=capfirst(_("放行原因")), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, rule_choices: list[tuple[str, str | Promise]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["rule"]).choices = rule_choices  # the ChoiceField declared above


# --- rules ---------------------------------------------------------------------------------------------------------


class ReceivingRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    code = forms.ChoiceField(label=capfirst(_("规则")), choices=[(c, s.name) for c, s in rules.SPECS.items()])

    class Meta:
        model = ReceivingRule
        fields = ("taxpayer", "code", "severity", "params")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = data.get("code")
        if code:
            try:
                data["params"] = rules.clean_params(code, data.get("params") or {})
            except ValidationError as exc:
                self.add_error("params", exc.message_dict.get("params") or exc.messages)
        return data


def _params_help() -> str:
    lines = []
    for spec in rules.SPECS.values():
        if spec.params:
            described = gettext("，").join(
                gettext("%(name)s（%(label)s，默认 %(default)s）") % {"name": name, "label": p.label,
                                                                    "default": p.default}
                for name, p in spec.params.items())
            lines.append(gettext("%(rule)s：%(params)s") % {"rule": spec.name, "params": described})
    return gettext("；").join(lines)


def _param_words(value: Any, param: rules.Param) -> str:
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value) or "-"
    if param.kind == "money":
        return formatting.money(value)
    return str(value)


def _params_words(code: str, params: dict[str, Any]) -> str:
    """A rule's parameters in words: 价税合计超过：10,000.00；… ("" for a rule without any)."""
    spec = rules.SPECS.get(code)
    if spec is None:  # a rule no longer known: its stored parameters as they are
        return "；".join(f"{k}：{v}" for k, v in params.items())
    return "；".join(f"{spec.params[k].label}：{_param_words(v, spec.params[k])}" if k in spec.params else f"{k}：{v}"
                    for k, v in params.items())


@admin.register(ReceivingRule)
class ReceivingRuleAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = ReceivingRuleForm
    change_list_template = "admin/receiving/receivingrule/change_list.html"
    list_display = ("rule_name", "severity", "params_display", "version", "updated_at", "taxpayer")
    list_filter = ("severity", "taxpayer")
    list_select_related = ("taxpayer",)
    readonly_fields = ("version", "events_table")

    @admin.display(description=_("规则"), ordering="code")
    def rule_name(self, obj: ReceivingRule) -> str:
        spec = rules.SPECS.get(obj.code)
        return str(spec.name) if spec else obj.code

    @admin.display(description=_("参数"))
    def params_display(self, obj: ReceivingRule) -> str:
        return _params_words(obj.code, obj.params or {}) or "-"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("taxpayer", "code", "severity", "params", "version", "events_table") if obj else (
            "taxpayer", "code", "severity", "params")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("taxpayer", "code", "version", "events_table") if obj else ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if "params" in form.base_fields:
            form.base_fields["params"].help_text = _params_help()
            form.base_fields["params"].required = False
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a rule is turned off, never deleted: its results keep naming its version

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Above the saved rules: every rule in effect for each of the user's entities, defaults included (a rule
        nobody saved runs with its default severity and parameters)."""
        entities = list(allowed_taxpayers(request.user).order_by("pk"))
        effect = rules.rules_in_effect([e.pk for e in entities])
        severity_words = dict(Severity.choices)
        extra_context = {**(extra_context or {}), "rules_in_effect": [
            (entity, [(rules.SPECS[code].name, severity_words.get(rule.severity, rule.severity),
                       _params_words(code, rule.params),
                       rule.version or gettext("默认"))
                      for code, rule in effect[entity.pk].items()])
            for entity in entities]}
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: ReceivingRule, form: Any, change: bool) -> None:
        user = cast(AdminRequest, request).user  # the add and change pages are served behind admin_view
        saved = rules.receiving_rule_save(taxpayer=obj.taxpayer, code=obj.code, severity=obj.severity,
                                          params=form.cleaned_data.get("params") or {}, actor=user)
        obj.pk, obj.version = saved.pk, saved.version


# --- sellers -------------------------------------------------------------------------------------------------------


class SellerForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Seller
        fields = ("taxpayer", "tax_id", "name", "blacklisted", "reason", "status")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("blacklisted") and not (data.get("reason") or "").strip():
            self.add_error("reason", gettext("请填写列入黑名单的原因"))
        return data


class ImportForm(forms.Form):
    taxpayer = forms.ModelChoiceField(label=capfirst(_("主体")), queryset=Taxpayer.objects.none(), empty_label=None)
    file = forms.FileField(label=capfirst(_("文件")), help_text=_("Excel（.xlsx）或 CSV：销售方纳税人识别号、销售方名称、列入原因"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)  # type: ignore[attr-defined]


@admin.register(Seller)
class SellerAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = SellerForm
    list_display = ("tax_id", "name", "blacklisted", "reason", "status", "status_checked_at", "taxpayer")
    list_filter = ("blacklisted", "status", "taxpayer")
    search_fields = ("=tax_id", "name")
    list_select_related = ("taxpayer",)
    change_list_template = "admin/receiving/seller/change_list.html"
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        base = ("taxpayer", "tax_id", "name", "blacklisted", "reason", "status")
        return (*base, "status_checked_at", "events_table") if obj else base

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("taxpayer", "tax_id", "status_checked_at", "events_table") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # taken off the blacklist, never deleted: the events keep why it was on

    def save_model(self, request: HttpRequest, obj: Seller, form: Any, change: bool) -> None:
        user = cast(AdminRequest, request).user  # the add and change pages are served behind admin_view
        before = Seller.objects.filter(pk=obj.pk).first() if obj.pk else None
        data = form.cleaned_data
        taxpayer = obj.taxpayer
        saved = before
        if data["blacklisted"] and (before is None or not before.blacklisted or before.reason != data["reason"]
                                    or before.name != data["name"]):
            saved = sellers.seller_blacklist_add(taxpayer=taxpayer, tax_id=obj.tax_id, name=data["name"],
                                                 reason=data["reason"], actor=user)
        elif not data["blacklisted"] and before is not None and before.blacklisted:
            saved = sellers.seller_blacklist_remove(seller=before, reason=data.get("reason") or "", actor=user)
        if data["status"] != (before.status if before else "") or saved is None:
            saved = sellers.seller_status_set(taxpayer=taxpayer, tax_id=obj.tax_id, status=data["status"],
                                              name=data["name"], actor=user)
        obj.pk = saved.pk if saved is not None else obj.pk

    def get_urls(self) -> list[URLPattern]:
        return [path("import/", self.admin_site.admin_view(self.import_view), name="receiving_seller_import"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(sellers.P_SELLERS):
            extra_context["import_url"] = reverse("admin:receiving_seller_import")
        return super().changelist_view(request, extra_context)

    def import_view(self, request: AdminRequest) -> HttpResponse:
        if not request.user.has_perm(sellers.P_SELLERS):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
        issues: list[Any] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            suffix = os.path.splitext(upload.name)[1][:10]
            with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
                staged = fh.name
            try:
                report = sellers.sellers_import(taxpayer=form.cleaned_data["taxpayer"], path=staged,
                                                filename=upload.name, actor=request.user)
            except PermissionDenied as exc:
                form.add_error(None, error_text(exc))
                report = None
            finally:
                os.unlink(staged)
            if report is not None and report.ok:
                self.message_user(request, gettext("已导入黑名单：新增 %(added)d 家，更新 %(updated)d 家") % {
                    "added": report.added, "updated": report.updated}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:receiving_seller_changelist"))
            if report is not None:
                issues = report.issues
                form.add_error(None, ngettext("%(n)d 处问题，未导入任何数据", "%(n)d 处问题，未导入任何数据",
                                              len(issues)) % {"n": len(issues)})
        context = {**self.admin_site.each_context(request), "title": gettext("导入黑名单"),
                   "opts": self.model._meta, "form": form, "issues": issues[:200]}
        return TemplateResponse(request, "admin/receiving/seller/import.html", context)


# --- bulk verification jobs ----------------------------------------------------------------------------------------


@admin.register(VerificationJob)
class VerificationJobAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin,
                           admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "taxpayer", "status", "progress", "total", "done", "waiting", "calls", "created_at",
                    "who")
    list_filter = ("status", "taxpayer")
    list_select_related = ("taxpayer", "created_by")
    paginator = CappedCountPaginator
    show_full_result_count = False
    fields = ("taxpayer", "status", "force", "total", "done", "waiting", "calls", "message", "created_at",
              "finished_at", "events_table")
    readonly_fields = fields

    @admin.display(description=_("进度"))
    def progress(self, obj: VerificationJob) -> str:
        return f"{obj.percent}%"

    @admin.display(description=_("操作人"))
    def who(self, obj: VerificationJob) -> str:
        return person_name(obj.created_by) if obj.created_by_id else actor_label_words(obj.actor_label or "system")

