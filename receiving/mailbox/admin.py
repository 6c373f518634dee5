"""Admin for mailboxes and the pending queue.

- 收票邮箱: each entity's mailboxes with their last and next run, counts and last error, a 'fetch now' button (and
  action); the settings form writes through ``mailbox_create`` / ``mailbox_update``, the password is write-only.
- 邮件待处理: what messages did not give, grouped by what to do (retry the link, download by hand, ask the sender),
  each with its message shown, and the remedies on its page (retry link, upload by hand, ignore).

Lists are scoped to the user's entities and cost a constant number of queries whatever their size.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import AdminRequest, CappedCountPaginator, EntityScopedAdminMixin, EventsReadonlyMixin
from invoicing.admin_messages import error_text
from invoicing.fields import masked
from invoicing.scoping import scope_queryset
from receiving.mailbox import services
from receiving.mailbox.models import IssueState, Mailbox, MailIssue, Remedy
from receiving.mailbox.tasks import mailbox_fetch_task

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices
    from django.contrib.admin.options import _FieldGroups, _FieldsetSpec
    from django.contrib.admin.views.main import ChangeList
    from django.utils.datastructures import _ListOrTuple
    from django_stubs_ext import StrOrPromise

STATE_FIELDS = ("uidvalidity", "last_uid", "last_run_at", "last_success_at", "next_run_at", "failures", "last_error",
                "message_count", "file_count", "pending_count")


def _fetch_now(request: AdminRequest, mailbox: Mailbox) -> Mailbox:
    fresh = services.mailbox_fetch_request(mailbox=mailbox, actor=request.user)
    transaction.on_commit(lambda: mailbox_fetch_task.delay(fresh.pk))
    return fresh


class MailboxForm(forms.ModelForm[Mailbox]):
    class Meta:
        model = Mailbox
        fields = ("taxpayer", "name", "host", "port", "security", "username", "password", "folder", "enabled",
                  "interval_minutes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "password" in self.fields:
            self.fields["password"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        values = {f: data.get(f, getattr(self.instance, f)) for f in services.EDITABLE}
        try:
            services.mailbox_settings_check(values)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, errors)
        return data


@admin.register(Mailbox)
class MailboxAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin[Mailbox]):
    form = MailboxForm
    list_display = ("name", "taxpayer", "account", "enabled", "last_run_at", "next_run_at", "message_count",
                    "file_count", "pending_link", "health")
    list_select_related = ("taxpayer",)
    list_filter = ("taxpayer", "enabled")
    search_fields = ("name", "username", "host")
    paginator = CappedCountPaginator
    actions = ["fetch_now"]
    change_form_template = "admin/receiving/mailbox/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Mailbox | None = None) -> _ListOrTuple[str]:
        if obj is None:
            return ()
        return ("taxpayer", "password_shown", *STATE_FIELDS, "events_table")

    def get_fieldsets(self, request: HttpRequest, obj: Mailbox | None = None) -> _FieldsetSpec:
        settings_fields: _FieldGroups = ["taxpayer", "name", "host", "port", "security", "username",
                                         "password" if obj is None else "password_shown", "folder", "enabled",
                                         "interval_minutes"]
        if obj is None:
            return [(None, {"fields": settings_fields})]
        return [(None, {"fields": settings_fields}),
                (_("新密码"), {"fields": ["password"]}),  # the field's help says it is kept when left blank
                (_("收取情况"), {"fields": list(STATE_FIELDS)}),
                (_("事件记录"), {"fields": ["events_table"]})]

    def get_form(self, request: HttpRequest, obj: Mailbox | None = None, change: bool = False,
                 **kwargs: Any) -> type[forms.ModelForm[Mailbox]]:
        kwargs["fields"] = [f for f in MailboxForm.Meta.fields if not (obj is not None and f == "taxpayer")]
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Mailbox | None = None) -> bool:
        return False  # a mailbox is disabled, not deleted: its messages and queue stay

    @admin.display(description=_("密码"))
    def password_shown(self, obj: Mailbox) -> str:
        return masked(obj.password) if obj.password else "-"

    @admin.display(description=_("账号"))
    def account(self, obj: Mailbox) -> str:
        return f"{obj.username} @ {obj.host}:{obj.port} / {obj.folder}"

    @admin.display(description=_("待处理"), ordering="pending_count")
    def pending_link(self, obj: Mailbox) -> str:
        if not obj.pending_count:
            return "0"
        query: dict[str, int | str] = {"message__mailbox__id__exact": obj.pk, "state__exact": IssueState.OPEN}
        url = reverse("admin:receiving_mailissue_changelist") + "?" + urlencode(query)
        return format_html('<a href="{}">{}</a>', url, obj.pending_count)

    @admin.display(description=_("状态"))
    def health(self, obj: Mailbox) -> str:
        if not obj.enabled:
            return gettext("已停用")
        if obj.last_error:
            return format_html('<span class="errornote mailbox-error" style="display:inline-block;max-width:24em;margin:0;padding:2px 6px">{}</span>',
                               gettext("连续失败 %(n)d 次：%(error)s") % {"n": obj.failures,
                                                                         "error": obj.last_error[:120]})
        return gettext("正常") if obj.last_success_at else gettext("尚未收取")

    def save_model(self, request: HttpRequest, obj: Mailbox, form: MailboxForm, change: bool) -> None:
        user = cast(AdminRequest, request).user  # the add and change pages are served behind admin_view
        data = form.cleaned_data
        values = {f: data[f] for f in services.EDITABLE if f in data}
        if change:
            saved = services.mailbox_update(mailbox=obj, actor=user, password=data.get("password") or "",
                                            **values)
        else:
            saved = services.mailbox_create(taxpayer=data["taxpayer"], password=data.get("password") or "",
                                            actor=user, **values)
        obj.pk = obj.id = saved.pk
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, PermissionDenied) as exc:
            if request.method != "POST":
                raise  # the page itself is refused (a role without the right): no redirect back to it, no loop
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/fetch/", view(self.fetch_view), name="receiving_mailbox_fetch")] + super().get_urls()

    def fetch_view(self, request: AdminRequest, pk: int) -> HttpResponseRedirect:
        if request.method != "POST":
            raise PermissionDenied
        mailbox = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            _fetch_now(request, mailbox)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
        else:
            self.message_user(request, gettext("已安排立即收取邮箱“%(box)s”，稍后刷新查看结果") % {"box": mailbox},
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:receiving_mailbox_change", args=[mailbox.pk]))

    @admin.action(description=_("立即收取所选邮箱"))
    def fetch_now(self, request: AdminRequest, queryset: QuerySet[Mailbox]) -> None:
        done = 0
        errors: list[str] = []
        for mailbox in queryset.order_by("pk"):
            try:
                _fetch_now(request, mailbox)
            except (ValidationError, PermissionDenied) as exc:
                errors.append(f"{mailbox}：{error_text(exc)}")
            else:
                done += 1
        if done:
            self.message_user(request, ngettext("已安排立即收取 %(n)d 个邮箱", "已安排立即收取 %(n)d 个邮箱", done) % {
                "n": done}, messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)


class IssueStateFilter(admin.SimpleListFilter):
    """待处理 by default: the queue is what is left to do."""

    title = _("状态")
    parameter_name = "state__exact"

    def lookups(self, request: HttpRequest,
                model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        return [(IssueState.OPEN, IssueState.OPEN.label), (IssueState.RESOLVED, IssueState.RESOLVED.label),
                (IssueState.IGNORED, IssueState.IGNORED.label), ("all", _("全部"))]

    def value(self) -> str:
        return super().value() or IssueState.OPEN

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "query_string": changelist.get_query_string(
                {self.parameter_name: lookup}), "display": title}

    def queryset(self, request: HttpRequest, queryset: QuerySet[MailIssue]) -> QuerySet[MailIssue]:
        value = self.value()
        return queryset if value == "all" else queryset.filter(state=value)


class MailboxFilter(admin.SimpleListFilter):
    """The user's entities' mailboxes only (a mailbox's name is its entity's data)."""

    title = _("收票邮箱")
    parameter_name = "message__mailbox__id__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        boxes = scope_queryset(Mailbox.objects.all(), request.user).only("id", "name", "username", "host")
        return [(str(box.pk), str(box)) for box in boxes.order_by("name", "pk")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MailIssue]) -> QuerySet[MailIssue]:
        value = self.value()
        return queryset.filter(message__mailbox_id=value) if value and value.isdigit() else queryset


class UploadForm(forms.Form):
    file = forms.FileField(label=_("发票文件"), help_text=_("PDF、OFD、XML，或它们的 ZIP"))


class IgnoreForm(forms.Form):
    note = forms.CharField(label=_("忽略原因"), max_length=300, widget=forms.TextInput(attrs={"size": 60}))


@admin.register(MailIssue)
class MailIssueAdmin(EntityScopedAdminMixin, admin.ModelAdmin[MailIssue]):
    # fits 1440 px with the navigation sidebar (the state column on screen): the time found is the list's order,
    # not a column; the message's own time is
    list_display = ("remedy", "reason_short", "subject", "sender", "sent_at", "mailbox", "state")
    list_display_links = ("reason_short",)
    list_select_related = ("message__mailbox", "taxpayer")
    list_filter = (IssueStateFilter, "remedy", "rule", "taxpayer", MailboxFilter)
    search_fields = ("message__subject", "message__sender", "url")
    ordering = ("remedy", "-created_at", "-id")
    paginator = CappedCountPaginator

    def has_add_permission(self, request: HttpRequest, obj: MailIssue | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MailIssue | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MailIssue | None = None) -> bool:
        return request.user.has_perm(services.P_COLLECT)

    @admin.display(description=_("原因"))
    def reason_short(self, obj: MailIssue) -> str:
        return obj.reason[:80] + ("…" if len(obj.reason) > 80 else "")

    @admin.display(description=_("主题"), ordering="message__subject")
    def subject(self, obj: MailIssue) -> str:
        return obj.message.subject or "-"

    @admin.display(description=_("发件人"))
    def sender(self, obj: MailIssue) -> str:
        return obj.message.sender or "-"

    @admin.display(description=_("发送时间"), ordering="message__sent_at")
    def sent_at(self, obj: MailIssue) -> datetime | None:
        return obj.message.sent_at

    @admin.display(description=_("收票邮箱"))
    def mailbox(self, obj: MailIssue) -> str:
        return str(obj.message.mailbox)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        extra_context["title"] = gettext("邮件待处理（按处理方式分组）")
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        issue = get_object_or_404(self.get_queryset(request).select_related("message__mailbox", "collection"),
                                  pk=object_id)
        may_act = issue.state == IssueState.OPEN and request.user.has_perm(services.P_COLLECT)
        upload = UploadForm(request.POST or None, request.FILES or None) if request.POST.get("do") == "upload" \
            else UploadForm()
        ignore = IgnoreForm(request.POST or None) if request.POST.get("do") == "ignore" else IgnoreForm()
        if request.method == "POST":
            if not may_act:
                raise PermissionDenied
            # the change page is served behind admin_view: a signed-in staff user
            done = self._act(cast(AdminRequest, request), issue, request.POST.get("do"), upload, ignore)
            if done is not None:
                return done
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": issue,
                   "title": gettext("邮件待处理：%(remedy)s") % {"remedy": issue.get_remedy_display()},
                   "message": issue.message, "may_act": may_act, "upload_form": upload, "ignore_form": ignore,
                   "retry_possible": bool(issue.url), "Remedy": Remedy,
                   "others": issue.message.issues.exclude(pk=issue.pk).order_by("pk")}
        return TemplateResponse(request, "admin/receiving/mailissue/change_form.html", context)

    def _act(self, request: AdminRequest, issue: MailIssue, action: str | None, upload: UploadForm,
             ignore: IgnoreForm) -> HttpResponseRedirect | None:
        back = HttpResponseRedirect(request.get_full_path())
        try:
            if action == "retry":
                done = services.mail_issue_retry(issue=issue, actor=request.user)
                if done.state == IssueState.RESOLVED:
                    self.message_user(request, gettext("已重新取得发票文件：%(note)s") % {"note": done.note},
                                      messages.SUCCESS)
                else:
                    self.message_user(request, gettext("仍未取得文件：%(reason)s") % {"reason": done.reason},
                                      messages.WARNING)
                return back
            if action == "upload" and upload.is_valid():
                f = upload.cleaned_data["file"]
                services.mail_issue_upload(issue=issue, files=[(f.name, f.read())], actor=request.user)
                self.message_user(request, gettext("已上传并收取"), messages.SUCCESS)
                return back
            if action == "ignore" and ignore.is_valid():
                services.mail_issue_ignore(issue=issue, note=ignore.cleaned_data["note"], actor=request.user)
                self.message_user(request, gettext("已忽略"), messages.SUCCESS)
                return back
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return back
        return None


