"""票仓 pages: the batches with what is left of each, receiving a batch, voiding blank sheets, the voids."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from invoicing.admin import EntityScopedAdminMixin, EventsReadonlyMixin, person_column
from invoicing.admin_messages import error_text
from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayer_ids, allowed_taxpayers
from issuing.paperstock.models import PaperBatch, PaperKind, PaperVoid, PaperVoidReason
from issuing.paperstock.selectors import paper_stock_counts
from issuing.paperstock.services import paper_batch_receive, paper_blank_void

P_RECEIVE = "issuing.add_paperbatch"
P_VOID = "issuing.void_paperbatch"


def _number_field(label: Any) -> forms.IntegerField:
    return forms.IntegerField(label=capfirst(label), min_value=1, max_value=99_999_999,
                              widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 10}),
                              error_messages={"required": _("请填写号码"), "invalid": _("号码必须是数字")})


class ReceiveForm(forms.Form):
    taxpayer = forms.ModelChoiceField(label=capfirst(_("开票主体")), queryset=Taxpayer.objects.none())
    kind = forms.ChoiceField(label=capfirst(_("发票种类")), choices=PaperKind.choices)
    code = forms.CharField(label=capfirst(_("纸质发票代码")), max_length=12)
    start_number = _number_field(_("起始号码"))
    end_number = _number_field(_("终止号码"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["taxpayer"].queryset = allowed_taxpayers(user)  # type: ignore[attr-defined]


class VoidForm(forms.Form):
    start_number = _number_field(_("起始号码"))
    end_number = _number_field(_("终止号码"))
    reason = forms.ChoiceField(label=capfirst(_("作废原因")), choices=PaperVoidReason.choices)
    note = forms.CharField(label=capfirst(_("说明")), max_length=200, required=False)


def _form_errors(form: forms.Form, exc: ValidationError | PermissionDenied) -> None:
    """The service's refusal on the field it names (a message without a field goes above the form)."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error_text(exc))


@admin.register(PaperBatch)
class PaperBatchAdmin(EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin):
    list_display = ("taxpayer", "kind", "code", "first_number", "last_number", "size_count", "issued_count",
                    "voided_count", "remaining", "received_at")
    list_filter = ("taxpayer", "kind")
    search_fields = ("code",)
    list_select_related = ("taxpayer",)
    actions = ("void_blank",)
    change_list_template = "admin/issuing/paperbatch/change_list.html"
    fields = ("taxpayer", "kind", "code", "first_number", "last_number", "size_count", "issued_count",
              "voided_count", "remaining", "received_at", "person_received_by", "events_table")
    readonly_fields = fields

    person_received_by = person_column("received_by", _("登记人"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaperBatch]:
        # voids counted in the same query as the page's batches
        return super().get_queryset(request).annotate(voided=Count("voids"))

    @admin.display(description=_("起始号码"), ordering="start_number")
    def first_number(self, obj: PaperBatch) -> str:
        return obj.first_label

    @admin.display(description=_("终止号码"), ordering="end_number")
    def last_number(self, obj: PaperBatch) -> str:
        return obj.last_label

    @admin.display(description=_("份数"))
    def size_count(self, obj: PaperBatch) -> int:
        return obj.size

    @admin.display(description=_("已开具"))
    def issued_count(self, obj: PaperBatch) -> int:
        return obj.size - obj.remaining - int(getattr(obj, "voided", 0))

    @admin.display(description=_("已作废"), ordering="voided")
    def voided_count(self, obj: PaperBatch) -> int:
        return int(getattr(obj, "voided", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(P_RECEIVE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a batch is the record of its sheets

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(P_VOID)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/void/", view(self.void_view), name="issuing_paperbatch_void")] + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The stock per entity and kind above the list (one query), for the user's entities only."""
        ids = allowed_taxpayer_ids(request.user)
        counts = paper_stock_counts(ids)
        names = dict(allowed_taxpayers(request.user).filter(pk__in={pk for pk, _ in counts})
                     .values_list("pk", "name"))
        labels = dict(PaperKind.choices)
        stock = [{"taxpayer": names.get(pk, pk), "kind": labels.get(kind, kind), "remaining": left}
                 for (pk, kind), left in sorted(counts.items())]
        return super().changelist_view(request, {**(extra_context or {}), "paper_stock": stock})

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
                 ) -> HttpResponse:
        """领用纸票: the service checks the range against the batches of the same code."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ReceiveForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                batch = paper_batch_receive(taxpayer=data["taxpayer"], kind=data["kind"], code=data["code"],
                                            start_number=data["start_number"], end_number=data["end_number"],
                                            actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                _form_errors(form, exc)
            else:
                self.message_user(request, ngettext(
                    "已登记纸票 %(code)s 号码 %(start)s–%(end)s，共 %(count)s 份",
                    "已登记纸票 %(code)s 号码 %(start)s–%(end)s，共 %(count)s 份", batch.size,
                ) % {"code": batch.code, "start": batch.first_label, "end": batch.last_label, "count": batch.size},
                    messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_paperbatch_changelist"))
        context = {**self.admin_site.each_context(request), "title": _("登记领用纸票"), "opts": self.model._meta,
                   "form": form}
        return TemplateResponse(request, "admin/issuing/paperbatch/form.html", context)

    def void_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """空白发票作废: a run of the batch's blank numbers, with the reason."""
        batch = get_object_or_404(self.get_queryset(request), pk=pk)  # scoped: another entity's is a 404
        if not self.has_void_permission(request):
            raise PermissionDenied
        initial = {"start_number": batch.next_number, "end_number": batch.next_number}
        form = VoidForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                count = paper_blank_void(batch=batch, start_number=data["start_number"],
                                         end_number=data["end_number"], reason=data["reason"], note=data["note"],
                                         actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                _form_errors(form, exc)
            else:
                self.message_user(request, ngettext("已作废 %(count)s 份空白纸票", "已作废 %(count)s 份空白纸票", count)
                                  % {"count": count}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:issuing_paperbatch_changelist"))
        context = {**self.admin_site.each_context(request), "title": _("空白纸票作废"), "opts": self.model._meta,
                   "original": batch, "form": form}
        return TemplateResponse(request, "admin/issuing/paperbatch/form.html", context)

    @admin.action(description=_("空白纸票作废"), permissions=["void"])
    def void_blank(self, request: HttpRequest, queryset: QuerySet[PaperBatch]) -> HttpResponse | None:
        """Opens the void form of the one batch selected (a run of numbers belongs to one batch)."""
        batches = list(queryset[:2])
        if len(batches) != 1:
            self.message_user(request, gettext("请只选择一批纸票进行空白作废"), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:issuing_paperbatch_void", args=[batches[0].pk]))


@admin.register(PaperVoid)
class PaperVoidAdmin(EntityScopedAdminMixin, admin.ModelAdmin):
    list_display = ("batch_code", "paper_number", "taxpayer", "reason", "note", "voided_at", "person_voided_by")
    list_filter = ("taxpayer", "reason")
    search_fields = ("batch__code",)
    list_select_related = ("batch", "taxpayer", "voided_by")

    person_voided_by = person_column("voided_by", _("操作人"))

    @admin.display(description=_("纸质发票代码"), ordering="batch__code")
    def batch_code(self, obj: PaperVoid) -> str:
        return obj.batch.code

    @admin.display(description=_("纸质发票号码"), ordering="number")
    def paper_number(self, obj: PaperVoid) -> str:
        return PaperBatch.number_text(obj.number)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
