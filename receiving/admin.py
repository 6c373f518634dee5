"""Admin for receiving: the pool (with the review queue as a filter), its files, the batches, and the upload page.

Nothing here writes by itself: uploads go through ``collecting.upload_stage`` (a Celery job), review through
``services.received_invoice_review_resolve``. Lists are scoped to the user's entities and cost a constant number of
queries whatever their size (capped count, select_related, one query for the seller filter's choices); the pool's
default order, its filters and a search by number or tax id follow indexes (bench/bench_receiving.py measures them
at a million records).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Reverse
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.actors import actor_label_words
from invoicing.admin import (
    AdminRequest,
    CappedCountPaginator,
    EntityScopedAdminMixin,
    EventsReadonlyMixin,
    ReadOnlyAdminMixin,
    ReadonlyInline,
    admin_change_link,
    money_column,
    person_column,
    state_labels_register,
)
from invoicing.admin_messages import error_text
from invoicing.documents.model import parse_rate
from invoicing.events import event_record
from invoicing.formatting import person_name, rate
from invoicing.models import Taxpayer
from invoicing.scoping import MaybeUser, allowed_taxpayers, scope_queryset
from invoicing.stored_files import stored_file_response
from invoicing.validators import invoice_rate_problem, money_range_problem
from receiving import (
    admin_platform,
    admin_redforms,  # noqa: F401  # registers the red-letter queue
    bundles,
    claims_admin,  # noqa: F401  # registers the expense claims
    collecting,
    services,
)
from receiving.admin_bookkeeping import BookkeepingAdminMixin
from receiving.control_admin import PoolControlsAdminMixin
from receiving.models import (
    CARRIER_CONTENT_TYPES,
    Carrier,
    Collection,
    CollectionItem,
    CollectionStatus,
    Method,
    Outcome,
    PlatformStatus,
    ReceivedInvoice,
    ReceivedInvoiceLine,
    ReceivedKind,
    ReviewState,
    Source,
)

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups
    from django.utils.datastructures import _ListOrTuple
    from django_stubs_ext import StrOrPromise

P_DOWNLOAD = "receiving.download_carrier"

# the pool's audit trail also records the platform's 发票状态 as it changes (normal → voided ...): named in words
state_labels_register(ReceivedInvoice, PlatformStatus.choices)
# A search term that is an invoice number or a tax id (8 to 20 letters and digits, at least one digit): looked up in
# the indexed exact fields only, never by a scan of the names.
IDENTIFIER_TERM = re.compile(r"(?=[0-9A-Za-z]*[0-9])[0-9A-Za-z]{8,20}")
# Digits alone, 4 to 20 of them: the end of an invoice number (finance quotes the last digits).
DIGITS_TERM = re.compile(r"[0-9]{4,20}")


def may_download(request: HttpRequest) -> bool:
    """Files of received invoices: like issued invoice files, only for those who hold the download permission."""
    return request.user.has_perm(P_DOWNLOAD)


def carrier_download_url(carrier: Carrier, *, inline: bool = False) -> str:
    url = reverse("admin:receiving_carrier_download", args=[carrier.pk])
    return f"{url}?inline=1" if inline else url


# --- the pool ------------------------------------------------------------------------------------------------------


class SourceFilter(admin.SimpleListFilter):
    """采集方式: records delivered at least once that way (EXISTS, so a record with two sources is listed once)."""

    title = _("采集方式")
    parameter_name = "source"

    def lookups(self, request: HttpRequest,
                model_admin: admin.ModelAdmin[Any]) -> Sequence[tuple[str, StrOrPromise]]:
        return Method.choices

    def queryset(self, request: HttpRequest,
                 queryset: QuerySet[ReceivedInvoice]) -> QuerySet[ReceivedInvoice]:
        if self.value() in Method.values:
            return queryset.filter(Exists(Source.objects.filter(invoice=OuterRef("pk"), method=self.value())))
        return queryset


class SellerFilter(admin.SimpleListFilter):
    """销售方, by tax id. The choices are the sellers of the newest records (one bounded query); any seller is one
    click away from its name in the list."""

    title = _("销售方")
    parameter_name = "seller"
    RECENT = 500
    SHOWN = 15

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        recent = model_admin.get_queryset(request).order_by("-created_at", "-id").values_list(
            "seller_tax_id", "seller_name")[: self.RECENT]
        choices: dict[str, str] = {}
        for tax_id, name in recent:
            if tax_id and tax_id not in choices and len(choices) < self.SHOWN:
                choices[tax_id] = name or tax_id
        value = self.value()
        if value and value not in choices:
            choices[value] = value
        return list(choices.items())

    def queryset(self, request: HttpRequest,
                 queryset: QuerySet[ReceivedInvoice]) -> QuerySet[ReceivedInvoice]:
        return queryset.filter(seller_tax_id=self.value()) if self.value() else queryset


class ReceivedInvoiceLineInline(ReadonlyInline[ReceivedInvoiceLine, ReceivedInvoice]):
    model = ReceivedInvoiceLine
    fields = ("line_no", "item_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_rate_shown", "tax",
              "tax_code")
    readonly_fields = fields

    @admin.display(description=_("税率/征收率"))
    def tax_rate_shown(self, obj: ReceivedInvoiceLine) -> str:
        return rate(obj.tax_rate) if obj.tax_rate is not None else (obj.tax_rate_text or "-")


class CarrierInline(ReadonlyInline[Carrier, ReceivedInvoice]):
    model = Carrier
    fk_name = "invoice"
    verbose_name_plural = _("发票文件（载体）")

    @staticmethod
    def _fields(request: HttpRequest) -> list[str]:
        base = ["format", "original_name", "reader", "read_problems", "size", "created_at"]
        return [*base, "file_links"] if may_download(request) else base

    def get_fields(self, request: HttpRequest, obj: ReceivedInvoice | None = None) -> _FieldGroups:
        return [*self._fields(request)]

    def get_readonly_fields(self, request: HttpRequest, obj: ReceivedInvoice | None = None) -> _ListOrTuple[str]:
        return self._fields(request)

    @admin.display(description=_("读取问题"))
    def read_problems(self, obj: Carrier) -> str:
        if not obj.review_reasons:
            return "-"
        return format_html_join("", "<div>{}</div>", ((r.get("message", ""),) for r in obj.review_reasons))

    @admin.display(description=_("文件"))
    def file_links(self, obj: Carrier) -> str:
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a> · <a href="{}">{}</a>',
                           carrier_download_url(obj, inline=True), gettext("预览"), carrier_download_url(obj),
                           gettext("下载"))


class SourceInline(ReadonlyInline[Source, ReceivedInvoice]):
    model = Source
    fields = ("method", "batch", "who", "created_at")
    readonly_fields = fields
    verbose_name_plural = _("来源")
    _request: HttpRequest

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        # An inline is made for each request (ModelAdmin.get_inline_instances): the rows' links are the user's.
        self._request = request
        return super().get_queryset(request).select_related("actor", "collection")

    @admin.display(description=_("采集批次"))
    def batch(self, obj: Source) -> str:
        return admin_change_link(self._request, Collection, obj.collection_id, f"#{obj.collection_id}")

    @admin.display(description=_("操作方"))
    def who(self, obj: Source) -> str:
        return person_name(obj.actor) if obj.actor_id else actor_label_words(obj.actor_label or "system")


@admin.register(ReceivedInvoice)
class ReceivedInvoiceAdmin(PoolControlsAdminMixin, BookkeepingAdminMixin, ReadOnlyAdminMixin, EntityScopedAdminMixin,
                           EventsReadonlyMixin,
                           admin.ModelAdmin[ReceivedInvoice]):
    # Invoices come in through batches (upload, scanner, manual entry, the command line) and are never deleted.
    list_display = ("invoice_key", "kind", "seller_link", "money_total", "issue_date", "review_state", "use_state",
                    "taxpayer")
    list_filter = ("review_state", "use_state", "kind", "platform_status", SourceFilter, SellerFilter, "issue_date",
                   "other_buyer", "taxpayer")
    search_fields = ("=number", "seller_name", "=seller_tax_id", "=buyer_tax_id")
    search_help_text = _("按发票号码（可只输后几位，至少 4 位）、销售方名称或纳税人识别号查找")
    list_select_related = ("taxpayer",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    inlines = (ReceivedInvoiceLineInline, CarrierInline, SourceInline)
    # both mixins' bulk actions (verification and rules; bookkeeping), each behind its own permission
    actions: Sequence[str] = ("verify_selected", "reverify_selected", "rerun_rules", "book_selected", "unbook_selected")
    change_form_template = "admin/receiving/receivedinvoice/change_form.html"
    fieldsets = (
        (None, {"fields": ("taxpayer", "kind", ("code", "number"), ("paper_code", "paper_number"), "issue_date",
                           "check_code", "red_mark", "blue_number")}),
        (_("购销双方"), {"fields": (("seller_name", "seller_tax_id"), ("buyer_name", "buyer_tax_id"),
                                 "other_buyer_mark")}),
        (_("金额"), {"fields": ("amount", "tax", "total", "remark")}),
        (_("复核与使用"), {"fields": ("review_state", "reasons_table", "use_state", "data_source",
                                  ("platform_status", "platform_status_code", "risk_level"))}),
        (_("旅客运输"), {"classes": ("collapse",),
                      "fields": ("passenger_name", "passenger_id_number", "travel_date", ("travel_from", "travel_to"),
                                 ("vehicle_number", "seat_class"), "deductible_tax")}),
        (_("事件记录"), {"fields": ("events_table",)}),
    )

    money_total = money_column(ReceivedInvoice, "total")

    @admin.display(description=_("发票代码/号码"), ordering="number")
    def invoice_key(self, obj: ReceivedInvoice) -> str:
        return str(obj)

    @admin.display(description=_("销售方"), ordering="seller_name")
    def seller_link(self, obj: ReceivedInvoice) -> str:
        if not obj.seller_tax_id:
            return obj.seller_name or "-"
        return format_html('<a href="?{}" title="{}">{}</a>', urlencode({"seller": obj.seller_tax_id}),
                           obj.seller_tax_id, obj.seller_name or obj.seller_tax_id)

    @admin.display(description=_("购买方非本主体"), ordering="other_buyer")
    def other_buyer_mark(self, obj: ReceivedInvoice) -> str:
        """是 when flagged, nothing when not (a red cross would read as an error)."""
        return gettext("是") if obj.other_buyer else ""

    @admin.display(description=_("红字发票"), ordering="is_red")
    def red_mark(self, obj: ReceivedInvoice) -> str:
        return gettext("红字") if obj.is_red else ""

    @admin.display(description=_("复核原因"))
    def reasons_table(self, obj: ReceivedInvoice) -> str:
        if not obj.review_reasons:
            return "-"
        rows: list[tuple[str, str, str, str, str]] = []
        for r in obj.review_reasons:
            values = r.get("values") or {}
            shown = (gettext("记录：%(record)s；文件：%(file)s") % {"record": values.get("record", ""),
                                                             "file": values.get("file", "")}) if values else ""
            code = r.get("code", "")
            rows.append((str(services.FIELD_WORDS.get(r.get("field", ""), r.get("field", ""))), r.get("message", ""),
                         shown, code, str(services.REVIEW_CODE_WORDS.get(code, code))))
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", _("字段"), _("原因"),
                             _("两边的值"), _("规则"))
        # the rule in words; its code (what support and the API name it by) on hover
        return format_html('<table class="fapiao-review-reasons">{}{}</table>', header,
                           format_html_join("", '<tr><td>{}</td><td>{}</td><td>{}</td><td title="{}">{}</td></tr>',
                                            rows))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[ReceivedInvoice],
                           search_term: str) -> tuple[QuerySet[ReceivedInvoice], bool]:
        """A number or a tax id is one index look-up per field (numbers are typed or scanned far more often than
        names); digits alone (4 to 20) find the numbers that end with them, as finance reads an invoice by its last
        digits (and a whole number ends with itself); anything else searches the fields as ``search_fields`` says
        (the seller's name by part)."""
        term = search_term.strip()
        if DIGITS_TERM.fullmatch(term):
            # the end of the number is the start of the reversed number: a range on the index
            # recv_number_reversed (migration 0010, PostgreSQL), not a LIKE '%…' over every row
            found = Q(number_reversed__startswith=term[::-1])
            if IDENTIFIER_TERM.fullmatch(term):  # an old 15-digit tax id is digits too
                found |= Q(seller_tax_id=term) | Q(buyer_tax_id=term)
            return queryset.alias(number_reversed=Reverse("number")).filter(found), False
        if IDENTIFIER_TERM.fullmatch(term):
            upper = term.upper()
            return queryset.filter(Q(number=term) | Q(seller_tax_id=upper) | Q(buyer_tax_id=upper)), False
        return super().get_search_results(request, queryset, search_term)

    def get_readonly_fields(self, request: HttpRequest, obj: ReceivedInvoice | None = None) -> list[str]:
        return [f.name for f in ReceivedInvoice._meta.fields] + ["reasons_table", "events_table", "red_mark",
                                                                  "other_buyer_mark", *self.control_fields]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(services.P_COLLECT):
            extra_context["upload_url"] = reverse("admin:receiving_collection_upload")
            extra_context["scanner_url"] = reverse("admin:receiving_collection_scanner")
            extra_context["manual_url"] = reverse("admin:receiving_receivedinvoice_manual")
            extra_context["excel_url"] = reverse("admin:receiving_collection_excel")
            extra_context["platform_url"] = reverse("admin:receiving_platformsync_changelist")
        return super().changelist_view(request, extra_context)

    def may_review(self, request: HttpRequest, obj: ReceivedInvoice | None) -> bool:
        return (obj is not None and obj.review_state == ReviewState.NEEDS_REVIEW
                and request.user.has_perm(services.P_REVIEW))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/review/", view(self.review_view), name="receiving_receivedinvoice_review"),
                path("manual/", view(self.manual_view), name="receiving_receivedinvoice_manual")] + \
            super().get_urls()

    def manual_view(self, request: AdminRequest) -> HttpResponse:
        """手工录入: an invoice typed from paper, or from a file the readers could not read (``?carrier=``, shown
        beside the form). Checked like a reader's result by ``received_invoice_create_manual``."""
        if not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        carrier = None
        carrier_id = request.GET.get("carrier") or request.POST.get("carrier")
        if carrier_id:
            carrier = get_object_or_404(scope_queryset(Carrier.objects.all(), request.user), pk=carrier_id,
                                        invoice__isnull=True)
        initial = manual_initial(carrier)
        form = ManualForm(request.POST or None, user=request.user, initial=initial)
        lines = ManualLineFormSet(request.POST or None, prefix="lines", initial=initial.get("lines"))
        if request.method == "POST" and form.is_valid() and lines.is_valid():
            data = form.cleaned_data
            rows = [row for row in lines.cleaned_data if row and row.get("amount") is not None]
            try:
                record = services.received_invoice_create_manual(
                    taxpayer=data["taxpayer"], actor=request.user, kind=data["kind"], number=data["number"],
                    code=data["code"], issue_date=data["issue_date"], seller_name=data["seller_name"],
                    seller_tax_id=data["seller_tax_id"], buyer_name=data["buyer_name"],
                    buyer_tax_id=data["buyer_tax_id"], amount=data["amount"], tax=data["tax"], total=data["total"],
                    check_code=data["check_code"], remark=data["remark"], is_red=data["is_red"],
                    blue_number=data["blue_number"], lines=rows, carrier=carrier)
            except (ValidationError, PermissionDenied) as exc:
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                    for name, errors in exc.message_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, error_text(exc))
            else:
                self.message_user(request, gettext("发票 %(invoice)s 已录入发票池") % {"invoice": record},
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:receiving_receivedinvoice_change", args=[record.pk]))
        preview = carrier_download_url(carrier, inline=True) if carrier is not None and may_download(request) \
            and carrier.format == "pdf" else ""
        context = {**self.admin_site.each_context(request), "title": gettext("手工录入发票"),
                   "opts": self.model._meta, "form": form, "lines": lines, "carrier": carrier, "preview_url": preview,
                   "media": self.media + form.media}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/manual.html", context)

    def review_view(self, request: AdminRequest, pk: int) -> HttpResponse:
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.may_review(request, record):
            raise PermissionDenied
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.received_invoice_review_resolve(record=record, actor=request.user,
                                                         note=form.cleaned_data["note"])
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, error_text(exc))
            else:
                self.message_user(request, gettext("发票 %(invoice)s 已复核并入池") % {"invoice": record},
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:receiving_receivedinvoice_change", args=[record.pk]))
        context = {**self.admin_site.each_context(request), "title": gettext("复核发票 %(invoice)s") % {"invoice": record},
                   "opts": self.model._meta, "original": record, "form": form,
                   "reasons": self.reasons_table(record)}
        return TemplateResponse(request, "admin/receiving/receivedinvoice/review.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        extra_context["may_review"] = self.may_review(request, obj)
        preview = None
        if obj is not None and may_download(request) and obj.review_state == ReviewState.NEEDS_REVIEW:
            preview = obj.carriers.filter(format="pdf").order_by("pk").first()
        extra_context["preview_url"] = carrier_download_url(preview, inline=True) if preview else ""
        return super().change_view(request, object_id, form_url, extra_context)


def _limit_taxpayers(form: forms.Form, user: MaybeUser) -> None:
    """The form's 收票主体 choices: the entities the user may act on (the field is declared without a queryset)."""
    cast("forms.ModelChoiceField[Taxpayer]", form.fields["taxpayer"]).queryset = allowed_taxpayers(user)


class ManualForm(forms.Form):
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(label=capfirst(_("收票主体")), queryset=None,
                                                                        empty_label=None)
    kind = forms.ChoiceField(label=capfirst(_("票种")), choices=ReceivedKind.choices)
    code = forms.CharField(label=capfirst(_("发票代码")), max_length=12, required=False,
                           help_text=_("税控发票 10 或 12 位；数电发票为空"))
    number = forms.CharField(label=capfirst(_("发票号码")), max_length=30)
    issue_date = forms.DateField(label=capfirst(_("开票日期")), widget=forms.DateInput(attrs={"type": "date"}))
    check_code = forms.CharField(label=capfirst(_("校验码")), max_length=20, required=False)
    seller_name = forms.CharField(label=capfirst(_("销售方名称")), max_length=200, required=False)
    seller_tax_id = forms.CharField(label=capfirst(_("销售方纳税人识别号")), max_length=20, required=False)
    buyer_name = forms.CharField(label=capfirst(_("购买方名称")), max_length=200, required=False)
    buyer_tax_id = forms.CharField(label=capfirst(_("购买方纳税人识别号")), max_length=20, required=False)
    amount = forms.DecimalField(label=capfirst(_("合计金额")), max_digits=18, decimal_places=2, required=False)
    tax = forms.DecimalField(label=capfirst(_("合计税额")), max_digits=18, decimal_places=2, required=False)
    total = forms.DecimalField(label=capfirst(_("价税合计")), max_digits=18, decimal_places=2, required=False)
    is_red = forms.BooleanField(label=capfirst(_("红字发票")), required=False,
                                help_text=_("红字发票的金额、税额、价税合计为负数"))
    blue_number = forms.CharField(label=capfirst(_("对应蓝字发票号码")), max_length=20, required=False,
                                  help_text=_("红字发票所冲销的蓝字发票号码，可留空"))
    remark = forms.CharField(label=capfirst(_("备注")), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _limit_taxpayers(self, user)

    def clean_amount(self) -> Decimal | None:
        return _money_in_range(self.cleaned_data.get("amount"))

    def clean_tax(self) -> Decimal | None:
        return _money_in_range(self.cleaned_data.get("tax"))

    def clean_total(self) -> Decimal | None:
        return _money_in_range(self.cleaned_data.get("total"))


def _money_in_range(value: Decimal | None) -> Decimal | None:
    """A money field's value, refused here (beside the field) when no money column keeps it exactly."""
    problem = money_range_problem(value) if value is not None else None
    if problem:
        raise ValidationError(problem, code="money_range")
    return value


class ManualLineForm(forms.Form):
    item_name = forms.CharField(label=capfirst(_("项目名称")), max_length=300, required=False)
    amount = forms.DecimalField(label=capfirst(_("金额")), max_digits=18, decimal_places=2, required=False)
    tax_rate = forms.CharField(label=capfirst(_("税率")), max_length=10, required=False,
                               help_text=_("如 6% 或 0.06；免税留空"))
    tax = forms.DecimalField(label=capfirst(_("税额")), max_digits=18, decimal_places=2, required=False)

    def clean_tax_rate(self) -> Decimal | None:
        text = self.cleaned_data.get("tax_rate") or ""
        if not text.strip():
            return None
        rate = parse_rate(text)
        if rate is None:
            raise ValidationError(gettext("税率应写成 6% 或 0.06"))
        problem = invoice_rate_problem(rate)
        if problem:
            raise ValidationError(problem, code="rate_unknown")
        return rate

    def clean_amount(self) -> Decimal | None:
        return _money_in_range(self.cleaned_data.get("amount"))

    def clean_tax(self) -> Decimal | None:
        return _money_in_range(self.cleaned_data.get("tax"))


ManualLineFormSet = forms.formset_factory(ManualLineForm, extra=3, max_num=50)


def manual_initial(carrier: Carrier | None) -> dict[str, Any]:
    """What a file the readers could not fully read did give (its QR code, say), to start the entry from."""
    if carrier is None:
        return {}
    read = (carrier.read_data or {}).get("invoice") or {}
    initial = {name: read.get(name) for name in ("kind", "code", "number", "issue_date", "seller_name",
                                                  "seller_tax_id", "buyer_name", "buyer_tax_id", "amount", "tax",
                                                  "total") if read.get(name) not in (None, "")}
    initial["taxpayer"] = carrier.taxpayer_id
    lines = [{"item_name": ln.get("item_name", ""), "amount": ln.get("amount"), "tax_rate": ln.get("tax_rate") or "",
              "tax": ln.get("tax")} for ln in read.get("lines") or []]
    if lines:
        initial["lines"] = lines
    return initial


class ReviewForm(forms.Form):
    note = forms.CharField(label=capfirst(_("复核说明")), max_length=500,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           help_text=_("写明核对了什么，例如“已与 PDF 核对金额，OFD 读取有误”"),
                           error_messages={"required": _("请填写复核说明")})


# --- files ---------------------------------------------------------------------------------------------------------


class AwaitingEntryFilter(admin.SimpleListFilter):
    title = _("关联发票")
    parameter_name = "linked"

    def lookups(self, request: HttpRequest,
                model_admin: admin.ModelAdmin[Any]) -> tuple[tuple[str, StrOrPromise], ...]:
        return (("no", _("待人工录入")), ("yes", _("已关联发票")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Carrier]) -> QuerySet[Carrier]:
        if self.value() == "no":
            return queryset.filter(invoice__isnull=True)
        if self.value() == "yes":
            return queryset.filter(invoice__isnull=False)
        return queryset


@admin.register(Carrier)
class CarrierAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin[Carrier]):
    list_display = ("original_name", "format", "invoice_link", "reader", "needs_review", "created_at", "taxpayer")
    list_filter = (AwaitingEntryFilter, "format", "needs_review", "taxpayer")
    search_fields = ("original_name", "=invoice__number")
    list_select_related = ("taxpayer", "invoice")
    show_full_result_count = False
    paginator = CappedCountPaginator
    fields = ("taxpayer", "invoice", "original_name", "format", "size", "sha256", "reader", "needs_review",
              "problems", "created_at")
    readonly_fields = fields

    @admin.display(description=_("发票"), ordering="invoice__number")
    def invoice_link(self, obj: Carrier) -> str:
        if obj.invoice_id is None:
            return format_html('<a href="{}?{}">{}</a>', reverse("admin:receiving_receivedinvoice_manual"),
                               urlencode({"carrier": obj.pk}), gettext("待人工录入：去录入"))
        return format_html('<a href="{}">{}</a>', reverse("admin:receiving_receivedinvoice_change",
                                                          args=[obj.invoice_id]), obj.invoice)

    @admin.display(description=_("读取问题"))
    def problems(self, obj: Carrier) -> str:
        return format_html_join("", "<div>{}</div>", ((r.get("message", ""),) for r in obj.review_reasons)) or "-"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("<int:pk>/download/", view(self.download_view), name="receiving_carrier_download")] + \
            super().get_urls()

    def download_view(self, request: AdminRequest, pk: int) -> HttpResponseBase:
        """The file as received, for those who may download files, of an entity they may see (else 404)."""
        if not may_download(request):
            raise PermissionDenied
        carrier = get_object_or_404(self.get_queryset(request).select_related("invoice"), pk=pk)
        inline = request.GET.get("inline") == "1" and carrier.format == "pdf"
        try:
            response = stored_file_response(
                carrier.file.name, filename=carrier.download_name, inline=inline,
                content_type=CARRIER_CONTENT_TYPES.get(carrier.format, "application/octet-stream"))
        except FileNotFoundError:
            raise Http404("file missing") from None
        event_record(obj=carrier.invoice or carrier, action="carrier.downloaded", actor=request.user,
                     data={"carrier": carrier.pk, "format": carrier.format}, taxpayer=carrier.taxpayer)
        if inline:
            response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response


# --- batches and the upload page -----------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.ofd,.xml,.zip,.png,.jpg,.jpeg"}))
        kwargs.setdefault("allow_empty_file", True)  # an empty file is one rejected item, not a refused upload
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(
        label=capfirst(_("收票主体")), queryset=None, help_text=_("发票的购买方；购买方不是该主体的发票也会保留并标记"))
    # The form's metaclass takes declared fields out of the class, so this field does not shadow BaseForm.files (the
    # submitted files), which the stubs cannot tell.
    files = MultipleFileField(label=capfirst(_("文件")),  # type: ignore[assignment]
                              help_text=_("可一次选择多个 PDF、OFD、XML 或图片，或一个 ZIP 压缩包"))

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _limit_taxpayers(self, user)


class ScannerForm(forms.Form):
    taxpayer: forms.ModelChoiceField[Taxpayer] = forms.ModelChoiceField(label=capfirst(_("收票主体")), queryset=None,
                                                                        empty_label=None)
    payload = forms.CharField(label=capfirst(_("二维码内容")), max_length=500, required=False, strip=False,
                              widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "size": 80}),
                              help_text=_("把光标放在这里，用扫码枪扫发票上的二维码；也可以粘贴二维码内容后按回车"))
    collection = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: MaybeUser = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _limit_taxpayers(self, user)


class ItemPayload(TypedDict):
    """One batch item as the batch pages' scripts read it."""

    position: int
    name: str
    outcome: str
    outcome_label: str
    reason: str
    invoice: str
    invoice_url: str
    carrier_url: str


def _items_payload(items: Iterable[CollectionItem]) -> list[ItemPayload]:
    out: list[ItemPayload] = []
    for item in items:
        out.append({
            "position": item.position, "name": item.name, "outcome": item.outcome,
            "outcome_label": str(item.get_outcome_display()), "reason": item.reason,
            "invoice": str(item.invoice) if item.invoice_id else "",
            "invoice_url": reverse("admin:receiving_receivedinvoice_change", args=[item.invoice_id])
            if item.invoice_id else "",
            "carrier_url": reverse("admin:receiving_carrier_change", args=[item.carrier_id]) if item.carrier_id else "",
        })
    return out


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdminMixin, EntityScopedAdminMixin, EventsReadonlyMixin, admin.ModelAdmin[Collection]):
    list_display = ("__str__", "taxpayer", "method", "status", "progress", "created_count", "attached_count",
                    "duplicate_count", "review_count", "rejected_count", "person_created_by", "created_at")
    list_filter = ("method", "status", "taxpayer")
    list_select_related = ("taxpayer", "created_by")
    show_full_result_count = False
    paginator = CappedCountPaginator
    change_form_template = "admin/receiving/collection/change_form.html"
    fields = ("taxpayer", "method", "status", "note", "progress", "created_count", "attached_count",
              "duplicate_count", "review_count", "rejected_count", "message", "person_created_by", "created_at",
              "finished_at", "events_table")
    readonly_fields = fields

    person_created_by = person_column("created_by", _("操作人"))

    @admin.display(description=_("进度"))
    def progress(self, obj: Collection) -> str:
        return f"{obj.processed}/{obj.total}"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("upload/", view(self.upload_view), name="receiving_collection_upload"),
            path("scanner/", view(self.scanner_view), name="receiving_collection_scanner"),
            path("scanner/scan/", view(self.scan_view), name="receiving_collection_scan"),
            path("<int:pk>/status/", view(self.status_view), name="receiving_collection_status"),
            path("excel/", view(self.excel_view), name="receiving_collection_excel"),
            path("excel/template.xlsx", view(admin_platform.excel_template_view),
                 name="receiving_collection_excel_template"),
            path("excel/errors/<str:job_id>/", view(admin_platform.excel_errors_view),
                 name="receiving_collection_excel_errors"),
        ] + super().get_urls()

    def excel_view(self, request: AdminRequest) -> HttpResponse:
        return admin_platform.excel_import_view(request, self.admin_site, self.model._meta)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm(services.P_COLLECT):
            extra_context["upload_url"] = reverse("admin:receiving_collection_upload")
            extra_context["scanner_url"] = reverse("admin:receiving_collection_scanner")
            extra_context["excel_url"] = reverse("admin:receiving_collection_excel")
        return super().changelist_view(request, extra_context)

    def status_view(self, request: AdminRequest, pk: int) -> JsonResponse:
        """The batch's progress and its items after ``?after=<position>``, for the page that follows a job."""
        collection = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            after = int(request.GET.get("after", "0"))
        except ValueError:
            after = 0
        items = collection.items.filter(position__gt=after).select_related("invoice").order_by("position")[:200]
        return JsonResponse({
            "status": collection.status, "status_label": str(collection.get_status_display()),
            "processed": collection.processed, "total": collection.total, "percent": collection.percent,
            "done": collection.status in (CollectionStatus.DONE, CollectionStatus.FAILED),
            "message": collection.message,
            "counts": {o.value: getattr(collection, f"{o.value}_count") for o in Outcome},
            "items": _items_payload(items),
        })

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            items = obj.items.select_related("invoice").order_by("position")[:2000]
            extra_context["items"] = _items_payload(items)
            extra_context["status_url"] = reverse("admin:receiving_collection_status", args=[obj.pk])
            extra_context["running"] = obj.status in (CollectionStatus.OPEN, CollectionStatus.QUEUED,
                                                      CollectionStatus.RUNNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def scanner_view(self, request: AdminRequest) -> TemplateResponse:
        """扫码枪: one field; the scanner types an invoice's QR payload and Enter, the page posts it and shows the
        result without reloading. The batch starts with the first scan and is closed by the button."""
        if not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        form = ScannerForm(user=request.user)
        context = {**self.admin_site.each_context(request), "title": gettext("扫码录入"), "opts": self.model._meta,
                   "form": form, "scan_url": reverse("admin:receiving_collection_scan")}
        return TemplateResponse(request, "admin/receiving/scanner.html", context)

    def scan_view(self, request: AdminRequest) -> JsonResponse:
        """One scan (POST taxpayer, payload, and the batch once there is one), or ``finish=1`` to close the batch.
        Answers JSON: the item's outcome, reason and the invoice's link."""
        if request.method != "POST":
            return JsonResponse({"error": "POST only"}, status=405)
        if not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        form = ScannerForm(request.POST, user=request.user)
        if not form.is_valid():
            problems = [f"{form.fields[name].label if name in form.fields else ''}：{message}" for name, messages_ in
                        form.errors.items() for message in messages_]
            return JsonResponse({"error": "；".join(problems)}, status=400)
        taxpayer = form.cleaned_data["taxpayer"]
        batch_id = form.cleaned_data.get("collection")
        collection = None
        if batch_id:
            collection = self.get_queryset(request).filter(pk=batch_id, taxpayer=taxpayer, method=Method.SCANNER,
                                                           status=CollectionStatus.OPEN).first()
        try:
            if request.POST.get("finish") == "1":
                if collection is not None:
                    services.collection_finish(collection=collection, actor=request.user)
                return JsonResponse({"finished": True, "collection": batch_id})
            if collection is None:
                collection = services.collection_start(taxpayer=taxpayer, method=Method.SCANNER, actor=request.user)
            item = services.collection_add_qr(collection=collection, payload=form.cleaned_data["payload"],
                                              actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            return JsonResponse({"error": error_text(exc)}, status=400)
        (payload,) = _items_payload([item])
        return JsonResponse({**payload, "collection": collection.pk,
                             "collection_url": reverse("admin:receiving_collection_change", args=[collection.pk])})

    def upload_view(self, request: AdminRequest) -> HttpResponse:
        """Many files or a ZIP → one batch read by a Celery job → its page with the progress and each file's result."""
        if not request.user.has_perm(services.P_COLLECT):
            raise PermissionDenied
        limits = bundles.Limits.from_settings()
        form = UploadForm(user=request.user)
        if request.method == "POST":
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length > limits.max_bytes + 1024 * 1024:  # refused before the body is read into temporary files
                form = UploadForm(user=request.user)
                form.add_error(None, bundles.Measure(0, length).problem(limits))
            else:
                form = UploadForm(request.POST, request.FILES, user=request.user)
                if form.is_valid():
                    try:
                        collection = collecting.upload_stage(taxpayer=form.cleaned_data["taxpayer"],
                                                             files=form.cleaned_data["files"], actor=request.user,
                                                             limits=limits)
                    except (ValidationError, PermissionDenied) as exc:
                        form.add_error(None, error_text(exc))
                    else:
                        self.message_user(request, gettext("已开始处理 %(n)d 个文件") % {"n": collection.total},
                                          messages.INFO)
                        return HttpResponseRedirect(reverse("admin:receiving_collection_change",
                                                            args=[collection.pk]))
        context = {**self.admin_site.each_context(request), "title": gettext("上传发票文件"),
                   "opts": self.model._meta, "form": form, "max_files": limits.max_files,
                   "max_mb": limits.max_bytes // (1024 * 1024), "max_file_mb": limits.max_file_bytes // (1024 * 1024),
                   "media": self.media + form.media}
        return TemplateResponse(request, "admin/receiving/upload.html", context)



# The mailboxes' pages live in their sub-package; Django's autodiscovery loads this module.
from receiving.mailbox import admin as mailbox_admin  # noqa: E402, F401
