"""File downloads for staff, batch printing, and the customer's public invoice link page.

Staff downloads need ``issuing.download_invoice_file`` (customer service never has it: 403 even with the URL) and the
invoice's entity in the user's scope (otherwise 404: we do not confirm that another entity's invoice exists).
The public link grants that one invoice's PDF/OFD/XML to whoever holds the unguessable token, until it expires.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from delivery.models import CONTENT_TYPES, DELIVERED_FORMATS, FILE_EXTENSIONS, InvoiceLink
from delivery.rendering import InvoiceFileUnavailable, batch_print_pdf, invoice_file_bytes
from invoicing.events import event_record
from invoicing.scoping import scope_queryset, user_may_act_on
from issuing.models import Invoice

DOWNLOAD_PERMISSION = "issuing.download_invoice_file"
PUBLIC_FORMATS = DELIVERED_FORMATS  # the customer's copy: no print variants through the public link


def user_may_download(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(DOWNLOAD_PERMISSION))


def _file_response(data: bytes, filename: str, content_type: str, *, inline: bool = False) -> FileResponse:
    response = FileResponse(io.BytesIO(data), as_attachment=not inline, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _unavailable(exc: Exception) -> HttpResponse:
    return HttpResponse(f"发票文件暂时无法生成：{exc}", status=503, content_type="text/plain; charset=utf-8")


@never_cache
@require_GET
def invoice_file_download(request: HttpRequest, invoice_id: int, fmt: str) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    if not user_may_download(request.user):
        raise PermissionDenied("无权下载发票文件")
    if fmt not in FILE_EXTENSIONS:
        raise Http404("unknown format")
    invoice = get_object_or_404(Invoice.objects.select_related("taxpayer"), pk=invoice_id)
    if not user_may_act_on(request.user, invoice.taxpayer_id):
        raise Http404("no such invoice")
    try:
        data = invoice_file_bytes(invoice, fmt)
    except InvoiceFileUnavailable as exc:
        return _unavailable(exc)
    event_record(obj=invoice, action="file.downloaded", actor=request.user, data={"format": fmt},
                 taxpayer=invoice.taxpayer)
    return _file_response(data, f"{invoice.number}.{FILE_EXTENSIONS[fmt]}", CONTENT_TYPES[fmt])


def invoices_batch_print_response(request: HttpRequest, queryset: QuerySet[Invoice], paper: str = "A4") -> HttpResponse:
    """One PDF with the selected invoices for printing (an admin action calls this). Finance only, scoped."""
    if not user_may_download(request.user):
        raise PermissionDenied("无权打印发票文件")
    if paper not in ("A4", "A5"):
        raise Http404("paper must be A4 or A5")
    invoices = list(
        scope_queryset(queryset, request.user).select_related("taxpayer", "blue_invoice").order_by("issue_date", "number")
    )
    if not invoices:
        raise Http404("no invoices selected")
    data = batch_print_pdf(invoices, paper=paper)
    for invoice in invoices:
        event_record(obj=invoice, action="file.printed", actor=request.user, data={"paper": paper, "batch": len(invoices)},
                     taxpayer=invoice.taxpayer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return _file_response(data, f"invoices-{paper}-{stamp}.pdf", "application/pdf", inline=True)


# --- the customer's link -----------------------------------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(request: HttpRequest) -> bool:
    """At most DELIVERY_LINK_RATE_LIMIT requests per client per minute across all links (guessing costs time)."""
    limit = int(getattr(settings, "DELIVERY_LINK_RATE_LIMIT", 30))
    key = f"delivery:link-rate:{_client_ip(request)}"
    cache.add(key, 0, timeout=60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        count = 1
    return count > limit


def _gone() -> HttpResponse:
    return HttpResponse("该发票链接已失效，请联系开票方重新发送。", status=410, content_type="text/plain; charset=utf-8")


def _too_many() -> HttpResponse:
    response = HttpResponse("请求过于频繁，请稍后再试。", status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response


def _live(now) -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=now)


@never_cache
@require_GET
def invoice_link_page(request: HttpRequest, token: str) -> HttpResponse:
    if _rate_limited(request):
        return _too_many()
    now = timezone.now()
    opened = (
        InvoiceLink.objects.filter(_live(now), token=token)
        .filter(Q(max_views__isnull=True) | Q(views__lt=F("max_views")))
        .update(views=F("views") + 1)
    )
    link = InvoiceLink.objects.filter(token=token).select_related("invoice").first()
    if link is None:
        raise Http404("no such link")
    if not opened:
        return _gone()
    response = TemplateResponse(request, "delivery/link.html", {
        "invoice": link.invoice,
        "link": link,
        "lines": link.invoice.lines.all().order_by("line_no")[:50],
        "formats": [(fmt, FILE_EXTENSIONS[fmt].upper()) for fmt in PUBLIC_FORMATS],
    })
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_GET
def invoice_link_file(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    if _rate_limited(request):
        return _too_many()
    if fmt not in PUBLIC_FORMATS:
        raise Http404("unknown format")
    link = InvoiceLink.objects.filter(token=token).select_related("invoice__taxpayer").first()
    if link is None:
        raise Http404("no such link")
    now = timezone.now()
    # Opening the page counts a view; the files stay available while the link lives (views == max is fine here).
    if link.revoked_at is not None or link.expires_at <= now or (link.max_views is not None and link.views > link.max_views):
        return _gone()
    invoice = link.invoice
    try:
        data = invoice_file_bytes(invoice, fmt)
    except InvoiceFileUnavailable as exc:
        return _unavailable(exc)
    event_record(obj=invoice, action="file.downloaded", actor_label="客户链接", data={"format": fmt, "link_id": link.pk},
                 taxpayer=invoice.taxpayer)
    return _file_response(data, f"{invoice.number}.{FILE_EXTENSIONS[fmt]}", CONTENT_TYPES[fmt])
