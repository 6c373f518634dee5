"""Admin for invoice files, deliveries, webhook endpoints and customer links.

Customer service sees and resends deliveries but never sees files or links (they grant the invoice's files).
Finance sees everything here. ``invoice_file_links_html`` and ``invoice_deliveries_html`` are for the Invoice
change page (issuing admin).
"""

from __future__ import annotations

import io

import segno
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from delivery.models import (
    DELIVERED_FORMATS,
    FILE_EXTENSIONS,
    PRINT_FORMATS,
    Delivery,
    DeliveryStatus,
    InvoiceFile,
    InvoiceLink,
    PrintJob,
    RenderStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from delivery.rendering import invoice_file_rerender
from delivery.services import (
    clean_delivery_target,
    default_delivery_target,
    delivery_resend,
    delivery_send,
    invoice_link_url,
    webhook_retry,
)
from delivery.views import invoices_batch_print_response, user_may_download
from invoicing.admin import EntityScopedAdminMixin, EventsReadonlyMixin
from invoicing.admin_messages import item_error, report_rows
from invoicing.scoping import user_may_act_on


def invoice_file_links_html(request, invoice) -> str:
    """Download links for the Invoice change page, or an empty string for users without the download permission."""
    if invoice is None or invoice.pk is None or not user_may_download(request.user):
        return ""
    if not user_may_act_on(request.user, invoice.taxpayer_id):
        return ""
    states = dict(InvoiceFile.objects.filter(invoice=invoice).values_list("format", "status"))
    items = []
    for fmt in (*DELIVERED_FORMATS, *PRINT_FORMATS):
        url = reverse("delivery:invoice_file", args=[invoice.pk, fmt])
        status = states.get(fmt)
        note = ("" if status in (None, RenderStatus.DONE)
                else gettext("（%(status)s）") % {"status": RenderStatus(status).label})
        items.append((url, FILE_EXTENSIONS[fmt].upper(), note))
    return format_html_join(" ", '<a class="button" href="{}">{}</a>{}', items)


def qr_svg(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=3, border=2, xmldecl=False, svgns=True)
    return buf.getvalue().decode("utf-8")


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FinanceFilesOnlyMixin:
    """Rows that reveal or grant invoice files: only for users who may download them."""

    def has_view_permission(self, request, obj=None):
        return user_may_download(request.user) and super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return user_may_download(request.user) and super().has_module_permission(request)


@admin.register(InvoiceFile)
class InvoiceFileAdmin(FinanceFilesOnlyMixin, ReadOnlyAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin):
    entity_field = "invoice__taxpayer"
    list_display = ("invoice", "format", "status", "attempts", "size", "short_sha", "rendered_at", "message_short")
    list_filter = ("status", "format")
    list_select_related = ("invoice",)
    search_fields = ("invoice__number",)
    raw_id_fields = ("invoice",)
    readonly_fields = ("invoice", "format", "status", "message", "attempts", "file", "sha256", "size", "rendered_at",
                       "created_at", "updated_at", "download")
    fields = readonly_fields
    actions = ["rerender"]
    show_full_result_count = False

    @admin.display(description=_("SHA-256"))
    def short_sha(self, obj):
        return obj.sha256[:12]

    @admin.display(description=_("说明"))
    def message_short(self, obj):
        return obj.message[:80]

    @admin.display(description=_("下载"))
    def download(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("delivery:invoice_file", args=[obj.invoice_id, obj.format]),
                           obj.download_name)

    def has_rerender_permission(self, request):
        return user_may_download(request.user)

    @admin.action(description=_("重新生成所选文件"), permissions=["rerender"])
    def rerender(self, request, queryset):
        queued = sum(1 for file in queryset if invoice_file_rerender(file=file))
        skipped = queryset.count() - queued
        text = ngettext("已排队重新生成 %(n)d 个文件", "已排队重新生成 %(n)d 个文件", queued) % {"n": queued}
        if skipped:
            text += ngettext("，%(n)d 个正在生成已跳过", "，%(n)d 个正在生成已跳过", skipped) % {"n": skipped}
        self.message_user(request, text, messages.SUCCESS if queued and not skipped else messages.WARNING)


class DeliveryAddForm(forms.ModelForm):
    """Send an invoice: the service validates the target; the form shows its errors on the right field."""

    class Meta:
        model = Delivery
        fields = ("invoice", "channel", "target")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].required = False
        self.fields["target"].help_text = _("留空则使用申请单上的交付邮箱/手机、本主体的推送地址或 A4 纸")

    def clean(self):
        data = super().clean()
        invoice, channel = data.get("invoice"), data.get("channel")
        if invoice is not None and channel:
            try:
                target = data.get("target") or default_delivery_target(invoice, channel)
                data["target"] = clean_delivery_target(invoice, channel, target)
            except ValidationError as exc:
                raise ValidationError(exc.message_dict.get("target", exc.messages)) from None
        return data


@admin.register(Delivery)
class DeliveryAdmin(EventsReadonlyMixin, ReadOnlyAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin):
    entity_field = "invoice__taxpayer"
    list_display = ("invoice", "channel", "target_display", "status", "attempts", "sent_at", "created_by", "created_at",
                    "last_error_short")
    list_filter = ("status", "channel", "created_at")
    list_select_related = ("invoice", "created_by")
    search_fields = ("invoice__number", "target")
    raw_id_fields = ("invoice", "resend_of")
    readonly_fields = ("invoice", "channel", "target_display", "status", "attempts", "last_error", "provider_message_id",
                       "sent_at", "created_by", "resend_of", "created_at", "events_table")
    fields = readonly_fields
    actions = ["resend"]
    date_hierarchy = "created_at"

    @admin.display(description=_("发送目标"))
    def target_display(self, obj):
        return obj.target

    @admin.display(description=_("发送目标"))
    def target_masked(self, obj):
        # A QR/short-link target is the link itself, which grants the files: only downloaders see it.
        return gettext("（客户链接）") if obj.channel == "qr" else obj.target

    def role_unreadable_fields(self, request) -> set[str]:
        # The lookup guard (invoicing/admin_guard.py): no filtering, search or sorting by a target the user may not
        # read (a QR/short-link target is the customer link).
        return set() if user_may_download(request.user) else {"target"}

    def _target_field(self, request) -> str:
        return "target_display" if user_may_download(request.user) else "target_masked"

    def get_list_display(self, request):
        return [self._target_field(request) if f == "target_display" else f for f in self.list_display]

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(DeliveryAddForm._meta.fields)
        return [self._target_field(request) if f == "target_display" else f for f in self.fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DeliveryAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("delivery.add_delivery")

    def save_model(self, request, obj, form, change):
        delivery = delivery_send(invoice=form.cleaned_data["invoice"], channel=form.cleaned_data["channel"],
                                 target=form.cleaned_data["target"], actor=request.user)
        obj.pk = obj.id = delivery.pk
        obj.target, obj.status = delivery.target, delivery.status

    @admin.display(description=_("最近错误"))
    def last_error_short(self, obj):
        return obj.last_error[:80]

    def has_resend_permission(self, request):
        return request.user.has_perm("delivery.resend_delivery")

    @admin.action(description=_("重发所选交付"), permissions=["resend"])
    def resend(self, request, queryset):
        done, errors = 0, []
        for delivery in queryset.select_related("invoice__taxpayer"):
            try:
                delivery_resend(delivery=delivery, actor=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                errors.append(item_error(delivery.invoice, _reason(exc)))
        report_rows(self, request, done=done, failures=errors,
                    done_text=lambda n: ngettext("已重发 %(n)d 条交付", "已重发 %(n)d 条交付", n) % {"n": n},
                    failed_text=lambda n: ngettext("%(n)d 条交付未能重发", "%(n)d 条交付未能重发", n) % {"n": n})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(EntityScopedAdminMixin, admin.ModelAdmin):
    list_display = ("taxpayer", "name", "url", "events", "is_active", "created_at")
    list_filter = ("is_active", "taxpayer")
    search_fields = ("name", "url")

    def save_model(self, request, obj, form, change):
        generated = not change and not form.cleaned_data.get("secret")
        super().save_model(request, obj, form, change)
        if generated:
            # Shown once, like an API client's credentials: the form never shows a stored secret again.
            self.message_user(request, gettext("已生成签名密钥（只显示这一次，请交给接收方验签）：%(secret)s")
                              % {"secret": obj.secret}, messages.WARNING)

    def has_delete_permission(self, request, obj=None):
        return False  # deliveries keep pointing at it; switch it off instead


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin):
    entity_field = "endpoint__taxpayer"
    list_display = ("event", "endpoint", "status", "attempts", "response_status", "sent_at", "created_at")
    list_filter = ("status", "event")
    list_select_related = ("endpoint",)
    readonly_fields = ("endpoint", "event", "payload", "status", "attempts", "response_status", "last_error", "sent_at",
                       "created_at", "updated_at")
    fields = readonly_fields
    actions = ["retry"]

    def has_retry_permission(self, request):
        return request.user.has_perm("delivery.change_webhookdelivery")

    @admin.action(description=_("重新推送失败的记录"), permissions=["retry"])
    def retry(self, request, queryset):
        rows = list(queryset)
        queued = sum(1 for row in rows if webhook_retry(row=row))
        text = ngettext("已重新排队 %(n)d 条推送", "已重新排队 %(n)d 条推送", queued) % {"n": queued}
        left = len(rows) - queued
        if left:  # only failed deliveries are sent again
            text += gettext("；") + ngettext("%(n)d 条不是失败状态，未重新推送", "%(n)d 条不是失败状态，未重新推送", left) % {"n": left}
        self.message_user(request, text, messages.SUCCESS if queued and not left else messages.WARNING)


@admin.register(InvoiceLink)
class InvoiceLinkAdmin(FinanceFilesOnlyMixin, EntityScopedAdminMixin, admin.ModelAdmin):
    entity_field = "invoice__taxpayer"
    list_display = ("invoice", "expires_at", "views", "max_views", "revoked_at", "created_by", "created_at")
    list_select_related = ("invoice", "created_by")
    search_fields = ("invoice__number",)
    raw_id_fields = ("invoice",)
    readonly_fields = ("url", "qr", "views", "revoked_at", "created_by", "created_at")
    actions = ["revoke"]

    @admin.display(description=_("链接"))
    def url(self, obj):
        if obj.pk is None:
            return "-"
        link = invoice_link_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', link, link)

    @admin.display(description=_("二维码"))
    def qr(self, obj):
        if obj.pk is None:
            return "-"
        return mark_safe(qr_svg(invoice_link_url(obj)))  # noqa: S308 - SVG generated by segno from our own URL

    def get_changeform_initial_data(self, request):
        from datetime import timedelta

        from django.utils import timezone

        from delivery.services import link_days

        return {**super().get_changeform_initial_data(request), "expires_at": timezone.now() + timedelta(days=link_days())}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("撤销所选链接"))
    def revoke(self, request, queryset):
        from django.utils import timezone

        selected = queryset.count()
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        text = ngettext("已撤销 %(n)d 个链接", "已撤销 %(n)d 个链接", count) % {"n": count}
        if selected > count:
            left = selected - count
            text += gettext("；") + ngettext("%(n)d 个此前已撤销", "%(n)d 个此前已撤销", left) % {"n": left}
        self.message_user(request, text, messages.SUCCESS if count == selected else messages.WARNING)


@admin.register(PrintJob)
class PrintJobAdmin(FinanceFilesOnlyMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each user sees their own batch prints (a job holds invoices of its creator's entities)."""

    list_display = ("created_at", "paper", "total", "status", "progress", "open_link")
    list_filter = ("status", "paper")
    fields = ("created_by", "paper", "total", "done_count", "status", "message", "size", "created_at", "open_link")
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("created_by")
        return qs if request.user.is_superuser else qs.filter(created_by=request.user)

    @admin.display(description=_("进度"))
    def progress(self, obj):
        return f"{obj.percent}%"

    @admin.display(description=_("打印文件"))
    def open_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("delivery:print_job", args=[obj.pk]), _("查看"))


def delivery_status_counts(invoice) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Delivery.objects.filter(invoice=invoice).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def invoice_deliveries_html(request, invoice) -> str:
    """A short list of the invoice's deliveries (for the Invoice change page), linking to the delivery admin."""
    if invoice is None or invoice.pk is None or not request.user.has_perm("delivery.view_delivery"):
        return ""
    rows = format_html_join(
        "",
        '<li><a href="{}">{} → {}</a>：{}</li>',
        (
            (reverse("admin:delivery_delivery_change", args=[d.pk]), d.get_channel_display(),
             d.target if d.channel != "qr" or user_may_download(request.user) else gettext("（客户链接）"),
             DeliveryStatus(d.status).label)
            for d in Delivery.objects.filter(invoice=invoice).order_by("-created_at")[:20]
        ),
    )
    return format_html("<ul>{}</ul>", rows) if rows else ""


# --- actions for the Invoice changelist (issuing admin: ``actions = [..., invoices_print_a4, ...]``) -------------


def _print_action(paper: str):
    # format_lazy: the description is translated when the changelist shows it, not once at import.
    @admin.action(description=format_lazy(_("批量打印（{paper}）"), paper=paper))
    def action(modeladmin, request, queryset):
        if not user_may_download(request.user):
            modeladmin.message_user(request, _("无权打印发票文件"), messages.ERROR)
            return None
        response = invoices_batch_print_response(request, queryset, paper)
        if response.status_code == 302:  # too many for one response: a print job, its page shows the progress
            n = queryset.count()
            modeladmin.message_user(request, format_html(
                "{} <a href=\"{}\">{}</a>",
                ngettext("已开始生成 %(n)d 张发票的打印文件：本页显示进度，完成后在此打开 PDF；也可以离开，稍后在",
                         "已开始生成 %(n)d 张发票的打印文件：本页显示进度，完成后在此打开 PDF；也可以离开，稍后在", n)
                % {"n": n},
                reverse("admin:delivery_printjob_changelist"), gettext("「打印任务」中找到它"),
            ), messages.INFO)
        return response

    action.__name__ = f"invoices_print_{paper.lower()}"
    return action


invoices_print_a4 = _print_action("A4")
invoices_print_a5 = _print_action("A5")


@admin.action(description=_("按申请单邮箱发送发票"))
def invoices_send_email(modeladmin, request, queryset):
    sent, skipped = 0, []
    for invoice in queryset.select_related("application", "taxpayer"):
        try:
            delivery_send(invoice=invoice, channel="email", actor=request.user)
            sent += 1
        except (ValidationError, PermissionDenied) as exc:
            skipped.append(item_error(invoice.number, _reason(exc)))
    report_rows(modeladmin, request, done=sent, failures=skipped,
                done_text=lambda n: ngettext("已排队发送 %(n)d 张发票", "已排队发送 %(n)d 张发票", n) % {"n": n},
                failed_text=lambda n: ngettext("%(n)d 张发票未能发送", "%(n)d 张发票未能发送", n) % {"n": n})


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return gettext("；").join(exc.messages)
    return str(exc) or gettext("没有执行此操作的权限")
