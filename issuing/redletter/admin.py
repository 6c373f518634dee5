"""The red-letter admin: finance's queue of 红字确认单 with the 72-hour countdown, and buttons over the services.

* The changelist puts forms waiting for our confirmation first, then forms waiting for the buyer by deadline. The
  countdown reads the platform's deadline (its clock may run ahead of ours; the poller applies what it decides).
* Customer service sees the list and raises drafts ("申请红冲"); only holders of ``issuing.confirm_redletterform``
  see submit / confirm / reject / revoke, and the services check the same permission again.
* Every button and action calls ``issuing.redletter`` and ends with a counted message.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import EntityScopedAdminMixin, EventsReadonlyMixin, money_column, person_column
from invoicing.admin_messages import error_text, report_rows
from invoicing.scoping import scope_queryset
from invoicing.validators import add_text_validators
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.forms import (
    redletter_check_partial,
    redletter_confirm,
    redletter_discard,
    redletter_reject,
    redletter_request,
    redletter_revoke,
    redletter_submit,
)
from issuing.redletter.models import (
    EFFECTIVE,
    WAITING,
    Initiator,
    RedFlushPolicy,
    RedFormState,
    RedLetterForm,
    RedLetterFormLine,
    RedReasonCode,
    red_form_due_soon_q,
)
from issuing.redletter.policy import red_flush_policy_save
from issuing.redletter.sync import redletter_sync

F = RedFormState
P_DECIDE = "issuing.confirm_redletterform"


class QueueFilter(admin.SimpleListFilter):
    title = _("处理队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return (
            ("ours", _("待我方确认（购方发起）")),
            ("buyer", _("待购方确认（我方发起）")),
            ("open", _("未完成")),
            ("no_red", _("已生效待入账红票")),
            ("failed", _("提交失败")),
            ("due", _("24小时内到期")),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "ours":
            return queryset.filter(status=F.BUYER_ENTERED, initiator=Initiator.BUYER)
        if value == "buyer":
            return queryset.filter(status=F.SELLER_ENTERED)
        if value == "open":
            return queryset.filter(status__in=(F.DRAFT, F.SUBMITTING, *WAITING))
        if value == "due":
            return queryset.filter(red_form_due_soon_q(timezone.now()))
        if value == "no_red":
            return queryset.filter(status__in=EFFECTIVE, red_invoice__isnull=True)
        if value == "failed":
            return queryset.filter(status=F.SUBMIT_FAILED)
        return queryset


class RedLetterFormLineInline(admin.TabularInline):
    model = RedLetterFormLine
    extra = 0
    can_delete = False
    fields = ("blue_line_no", "item_name", "quantity", "unit_price", "tax_rate", "amount", "tax")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def red_flushable_invoices(user):
    """The blue invoices ``user`` may raise a red-letter form against: its entities', issued and not (fully) red or
    void. The red-letter form's autocomplete searches only these."""
    return scope_queryset(
        Invoice.objects.filter(is_red=False, status__in=(InvoiceStatus.NORMAL, InvoiceStatus.RED_PARTIAL)), user
    )


def is_red_form_lookup(request) -> bool:
    """The admin autocomplete asking for the blue invoice of a red-letter form."""
    get = request.GET
    return (get.get("app_label"), get.get("model_name"), get.get("field_name")) == (
        RedLetterForm._meta.app_label, RedLetterForm._meta.model_name, "blue_invoice")


class RedRequestForm(forms.Form):
    blue_invoice = forms.ModelChoiceField(
        label=_("蓝字发票"), queryset=Invoice.objects.none(),
        help_text=_("输入发票号码、购买方名称或税号搜索；只列出可红冲的蓝字发票"),
        error_messages={"invalid_choice": _("未找到该蓝字发票（或已红冲、已作废，或无权操作其主体）")},
    )
    reason = forms.ChoiceField(label=_("冲红原因"), choices=RedReasonCode.choices, initial=RedReasonCode.SALES_RETURN)
    amount_with_tax = forms.DecimalField(
        label=_("部分红冲价税合计"), required=False, max_digits=18, decimal_places=2, min_value=Decimal("0.01"),
        help_text=_("为空表示全额红冲；按各行剩余金额分摊。开票有误只能全额；购方未用途确认或入账确认的发票只能全额"),
    )
    lines = forms.CharField(
        label=_("按行部分红冲"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=_("每行“蓝字明细序号,不含税金额[,数量]”，如 1,100.00,1；折扣行不填，只填被折扣行序号"),
    )
    note = forms.CharField(label=_("说明"), required=False, max_length=300)

    def __init__(self, *args, user, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        add_text_validators(self)
        field = self.fields["blue_invoice"]
        field.widget = AutocompleteSelect(RedLetterForm._meta.get_field("blue_invoice"), admin_site,
                                          attrs={"style": "width: 32em"})
        field.queryset = red_flushable_invoices(user)

    @property
    def is_partial(self) -> bool:
        data = self.cleaned_data
        return bool(data.get("lines")) or data.get("amount_with_tax") is not None

    def clean_lines(self):
        out = []
        for n, raw in enumerate((self.cleaned_data.get("lines") or "").splitlines(), start=1):
            parts = [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]
            if not parts:
                continue
            if len(parts) not in (2, 3):
                raise ValidationError(gettext("第%(n)d行格式应为“序号,金额[,数量]”") % {"n": n})
            try:
                item = {"blue_line_no": int(parts[0]), "amount": Decimal(parts[1])}
                if len(parts) == 3:
                    item["quantity"] = Decimal(parts[2])
            except (ValueError, ArithmeticError) as exc:
                raise ValidationError(gettext("第%(n)d行不是有效的数字") % {"n": n}) from exc
            out.append(item)
        return out


@admin.register(RedLetterForm)
class RedLetterFormAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):
    list_display = ("number_display", "taxpayer", "blue_invoice", "initiator", "reason", "is_full", "money_total",
                    "status", "countdown_display", "red_invoice", "created_at")
    list_filter = (QueueFilter, "status", "reason", "initiator", "taxpayer")
    search_fields = ("form_no", "request_no", "blue_invoice__number", "blue_invoice__buyer_name")
    list_select_related = ("taxpayer", "blue_invoice", "red_invoice")
    show_full_result_count = False
    inlines = (RedLetterFormLineInline,)
    autocomplete_fields = ("blue_invoice",)
    actions = ("submit_selected", "confirm_selected", "reject_selected", "revoke_selected", "sync_selected")
    change_form_template = "admin/issuing/redletterform/change_form.html"
    money_total = money_column(RedLetterForm, "total")
    person_requested_by = person_column("requested_by", _("申请人"))
    fieldsets = (
        (None, {"fields": ("taxpayer", "blue_invoice", "initiator", "reason", "is_full", "status",
                           "countdown_display", "form_no", "request_no")}),
        (_("金额（负数）"), {"fields": ("amount", "tax", "total")}),
        (_("结果"), {"fields": ("red_invoice", "red_invoice_serial", "expires_at", "confirmed_at", "decided_at",
                                "last_error", "submit_attempts")}),
        (_("来源"), {"fields": ("person_requested_by", "note", "refund_key", "billing_document", "reissue_amount",
                                "reissue_application", "created_at")}),
        (_("事件记录"), {"fields": ("events_table",)}),
    )

    # --- list ------------------------------------------------------------------------------------------------

    def get_queryset(self, request):
        # Annotated before ordering (ModelAdmin.get_queryset orders first), then scoped like every entity admin.
        qs = scope_queryset(self.model._default_manager.get_queryset(), request.user, self.entity_field)
        qs = qs.annotate(
            queue_rank=Case(
                When(status=F.BUYER_ENTERED, then=Value(0)),
                When(status=F.SELLER_ENTERED, then=Value(1)),
                When(status__in=(F.DRAFT, F.SUBMIT_FAILED, F.SUBMITTING), then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        return qs.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ("queue_rank", "expires_at", "-created_at")

    @admin.display(description=_("确认单"), ordering="form_no")
    def number_display(self, obj):
        return obj.form_no or obj.request_no

    @admin.display(description=_("确认剩余时间"))
    def countdown_display(self, obj):
        if obj is None or obj.status not in WAITING or obj.expires_at is None:
            return "-"
        left = obj.expires_at - timezone.now()
        seconds = int(left.total_seconds())
        if seconds <= 0:
            return format_html('<span class="fapiao-countdown expired" style="color:#ba2121">{}</span>',
                               gettext("已超72小时，待平台作废"))
        hours, minutes = divmod(seconds // 60, 60)
        urgent = seconds < 12 * 3600
        return format_html(
            '<span class="fapiao-countdown" style="{}" title="{}">{}</span>',
            "color:#ba2121;font-weight:bold" if urgent else "",
            gettext("截止 %(deadline)s（平台时钟）") % {"deadline": f"{timezone.localtime(obj.expires_at):%Y-%m-%d %H:%M}"},
            gettext("%(hours)d小时%(minutes)s分") % {"hours": hours, "minutes": f"{minutes:02d}"},
        )

    # --- permissions -----------------------------------------------------------------------------------------

    def has_confirm_permission(self, request, obj=None):
        return request.user.has_perm(P_DECIDE)

    def has_request_permission(self, request):
        u = request.user
        return u.has_perm("issuing.add_redletterform") or u.has_perm("issuing.request_red_flush")

    def has_add_permission(self, request):
        return self.has_request_permission(request)

    def has_change_permission(self, request, obj=None):
        return False  # forms change only through the buttons (services)

    def has_delete_permission(self, request, obj=None):
        return False  # drafts are discarded with their own button

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RedLetterForm._meta.fields] + ["countdown_display", "events_table",
                                                                "person_requested_by"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- buttons ---------------------------------------------------------------------------------------------

    BUTTONS = (
        # (name, label, permission kind)
        ("submit", _("提交平台"), "confirm"),
        ("confirm", _("确认（同意红冲）"), "confirm"),
        ("reject", _("拒绝"), "confirm"),
        ("revoke", _("撤销"), "confirm"),
        ("sync", _("刷新平台状态"), "view"),
        ("discard", _("删除草稿"), "request"),
    )

    def _can(self, name: str, obj: RedLetterForm) -> bool:
        if name == "submit":
            return obj.status in (F.DRAFT, F.SUBMIT_FAILED, F.SUBMITTING)
        if name in ("confirm", "reject"):
            return obj.waits_for_us
        if name == "revoke":
            return obj.initiator == Initiator.SELLER and obj.red_invoice_id is None and obj.status in (
                F.SELLER_ENTERED, F.NO_CONFIRMATION, F.CONFIRMED)
        if name == "sync":
            return obj.status in (F.SUBMITTING, *WAITING) or (obj.status in EFFECTIVE and not obj.red_invoice_id)
        if name == "discard":
            return obj.status == F.DRAFT
        return False

    def available_buttons(self, request, obj):
        allowed = {
            "confirm": self.has_confirm_permission(request),
            "view": self.has_view_permission(request, obj),
            "request": self.has_request_permission(request),
        }
        return [{"name": n, "label": label} for n, label, kind in self.BUTTONS if allowed[kind] and self._can(n, obj)]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["red_buttons"] = self.available_buttons(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/act/<str:name>/", view(self.act_view), name="issuing_redletterform_act"),
        ] + super().get_urls()

    @staticmethod
    def failure_of(form: RedLetterForm):
        """What a form's state says after a call that did not raise: ``None`` when it went through, else
        ``(level, reason)`` — refused by the platform (提交失败: an error with its words) or not reached yet
        (提交中 with an error: a warning, it is retried with the same request number)."""
        if form.status == F.SUBMIT_FAILED:
            return messages.ERROR, form.last_error or str(form.get_status_display())
        if form.status == F.SUBMITTING and form.last_error:
            return messages.WARNING, form.last_error
        return None

    def _service(self, name: str, obj: RedLetterForm, user) -> tuple[str, tuple | None]:
        """(what it did, ``failure_of`` the form after it)."""
        if name == "submit":
            if not obj.is_full and obj.status in (F.DRAFT, F.SUBMIT_FAILED):
                redletter_check_partial(blue_invoice=obj.blue_invoice)
            form = redletter_submit(form=obj, actor=user)
        elif name == "confirm":
            form = redletter_confirm(form=obj, actor=user)
        elif name == "reject":
            form = redletter_reject(form=obj, actor=user)
        elif name == "revoke":
            form = redletter_revoke(form=obj, actor=user)
        elif name == "sync":
            form = redletter_sync(form=obj)
        elif name == "discard":
            redletter_discard(form=obj, actor=user)
            return gettext("已删除草稿"), None
        else:
            raise PermissionDenied
        if form.red_invoice_id:
            return gettext("%(status)s，红字发票 %(number)s") % {"status": form.get_status_display(),
                                                               "number": form.red_invoice.number}, None
        return str(form.get_status_display()), self.failure_of(form)

    def act_view(self, request, pk, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's form is a 404
        if name == "sync" and not self.has_view_permission(request, obj):
            raise PermissionDenied
        try:
            text, failure = self._service(name, obj, request.user)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, gettext("红字确认单 %(form)s：%(error)s") % {"form": obj, "error": error_text(exc)},
                              messages.ERROR)
        else:
            if failure is not None:
                level, reason = failure
                self.message_user(request, self.failure_text(obj, level, reason), level)
            else:
                self.message_user(request, gettext("已处理 1 张红字确认单 %(form)s：%(result)s")
                                  % {"form": obj, "result": text}, messages.SUCCESS)
            if name == "discard":
                return HttpResponseRedirect(reverse("admin:issuing_redletterform_changelist"))
        return HttpResponseRedirect(reverse("admin:issuing_redletterform_change", args=[obj.pk]))

    @staticmethod
    def failure_text(form, level, reason: str) -> str:  # noqa: ANN001
        if level == messages.ERROR:
            return gettext("红字确认单 %(form)s 提交失败：%(reason)s") % {"form": form, "reason": reason}
        return gettext("红字确认单 %(form)s 暂未送达平台，将以同一流水号自动重试：%(reason)s") % {"form": form,
                                                                                    "reason": reason}

    # --- bulk actions ----------------------------------------------------------------------------------------

    def _each(self, request, queryset, name: str, done_message):
        """``done_message(n)``: the message for n forms done."""
        done, failed = 0, []
        for obj in queryset.order_by("pk"):
            if not self._can(name, obj):
                failed.append(gettext("%(form)s：状态为「%(status)s」") % {"form": obj, "status": obj.get_status_display()})
                continue
            try:
                _text, failure = self._service(name, obj, request.user)
            except (ValidationError, PermissionDenied) as exc:
                failed.append(gettext("%(item)s：%(error)s") % {"item": obj, "error": error_text(exc)})
            else:
                if failure is None:
                    done += 1
                else:
                    failed.append(self.failure_text(obj, *failure))
        report_rows(self, request, done=done, failures=failed, done_text=done_message,
                    failed_text=lambda n: ngettext("%(n)d 张红字确认单未能处理", "%(n)d 张红字确认单未能处理", n) % {"n": n})

    @admin.action(description=_("提交平台"), permissions=["confirm"])
    def submit_selected(self, request, queryset):
        self._each(request, queryset, "submit",
                   lambda n: ngettext("已提交 %(n)d 张红字确认单", "已提交 %(n)d 张红字确认单", n) % {"n": n})

    @admin.action(description=_("确认所选（购方发起）"), permissions=["confirm"])
    def confirm_selected(self, request, queryset):
        self._each(request, queryset, "confirm",
                   lambda n: ngettext("已确认 %(n)d 张红字确认单", "已确认 %(n)d 张红字确认单", n) % {"n": n})

    @admin.action(description=_("拒绝所选（购方发起）"), permissions=["confirm"])
    def reject_selected(self, request, queryset):
        self._each(request, queryset, "reject",
                   lambda n: ngettext("已拒绝 %(n)d 张红字确认单", "已拒绝 %(n)d 张红字确认单", n) % {"n": n})

    @admin.action(description=_("撤销所选（我方发起）"), permissions=["confirm"])
    def revoke_selected(self, request, queryset):
        self._each(request, queryset, "revoke",
                   lambda n: ngettext("已撤销 %(n)d 张红字确认单", "已撤销 %(n)d 张红字确认单", n) % {"n": n})

    @admin.action(description=_("刷新平台状态"), permissions=["view"])
    def sync_selected(self, request, queryset):
        self._each(request, queryset, "sync",
                   lambda n: ngettext("已刷新 %(n)d 张红字确认单", "已刷新 %(n)d 张红字确认单", n) % {"n": n})

    # --- request (add) ---------------------------------------------------------------------------------------

    def _initial_blue(self, request) -> dict:
        """``?blue=<number>`` (the invoice page's 申请红冲 link) or ``?blue_invoice=<id>`` preselects the invoice."""
        number = request.GET.get("blue", "").strip()
        if number:
            blue = red_flushable_invoices(request.user).filter(number=number).first()
            return {"blue_invoice": blue.pk} if blue else {}
        pk = request.GET.get("blue_invoice", "")
        return {"blue_invoice": pk} if pk.isdigit() else {}

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        data = None
        if request.method == "POST":
            data = request.POST.copy()
            number = data.get("blue_number", "").strip()
            if number and not data.get("blue_invoice"):  # a scripted post by number, as before the autocomplete
                blue = red_flushable_invoices(request.user).filter(number=number).first()
                data["blue_invoice"] = str(blue.pk) if blue else "0"
        form = RedRequestForm(data, initial=self._initial_blue(request), user=request.user,
                              admin_site=self.admin_site)
        may_submit = self.has_confirm_permission(request)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            blue = data["blue_invoice"]
            submit = may_submit and "_submit_now" in request.POST
            try:
                if form.is_partial:
                    # Before anything is written or sent: where the platform tells the buyer's status, a partial
                    # red of an invoice the buyer has neither confirmed nor booked is refused here (§11.1).
                    redletter_check_partial(blue_invoice=blue)
                red = redletter_request(
                    actor=request.user, blue_invoice=blue, reason=data["reason"],
                    amount_with_tax=data.get("amount_with_tax"), lines=data.get("lines") or None,
                    note=data.get("note", ""), submit=submit,
                )
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                done = (gettext("已提交 1 张红字确认单：%(form)s（%(status)s）") if submit
                        else gettext("已保存草稿 1 张红字确认单：%(form)s（%(status)s）"))
                failure = self.failure_of(red) if submit else None
                if failure is not None:  # refused by the platform, or not reached yet: never a success
                    self.message_user(request, self.failure_text(red, *failure), failure[0])
                else:
                    self.message_user(request, done % {"form": red, "status": red.get_status_display()},
                                      messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_redletterform_change", args=[red.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("申请红冲"),
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "may_submit": may_submit,
        }
        return TemplateResponse(request, "admin/issuing/redletterform/request_form.html", context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "blue_invoice":
            kwargs["queryset"] = red_flushable_invoices(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(RedFlushPolicy)
class RedFlushPolicyAdmin(EntityScopedAdminMixin, admin.ModelAdmin):
    list_display = ("taxpayer", "refund_policy", "refund_reason", "service_stop_allows_partial", "auto_submit",
                    "updated_at")
    list_select_related = ("taxpayer",)

    def save_model(self, request, obj, form, change):
        red_flush_policy_save(policy=obj, actor=request.user, changed=form.changed_data)

    def has_delete_permission(self, request, obj=None):
        return False
