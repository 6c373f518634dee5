"""File downloads for staff, batch printing, and the customer's public invoice link page.

Staff downloads need ``issuing.download_invoice_file`` (customer service never has it: 403 even with the URL) and the
invoice's entity in the user's scope (otherwise 404: we do not confirm that another entity's invoice exists).
The public link grants that one invoice's PDF/OFD/XML to whoever holds the unguessable token, until it expires.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from delivery import printing
from delivery.models import CONTENT_TYPES, DELIVERED_FORMATS, FILE_EXTENSIONS, InvoiceLink, PrintJob, RenderStatus
from delivery.rendering import InvoiceFileUnavailable, batch_print_pdf, invoice_file_bytes
from delivery.services import invoice_file_record_download, invoice_link_open
from invoicing.scoping import scope_queryset, user_may_act_on
from invoicing.stored_files import stored_file_response
from issuing.platform.models import Invoice

DOWNLOAD_PERMISSION = "issuing.download_invoice_file"
logger = logging.getLogger(__name__)
PUBLIC_FORMATS = DELIVERED_FORMATS  # the customer's copy: no print variants through the public link


def user_may_download(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(DOWNLOAD_PERMISSION))


def _file_response(data: bytes, filename: str, content_type: str, *, inline: bool = False) -> FileResponse:
    response = FileResponse(io.BytesIO(data), as_attachment=not inline, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _unavailable(invoice: Invoice, fmt: str, exc: Exception) -> HttpResponse:
    """A generic answer: why rendering failed (an exception's text) goes to the log, never to the client."""
    logger.error("invoice %s: the %s file is unavailable: %s", invoice.pk, fmt, exc)
    return HttpResponse(gettext("发票文件暂时无法生成，请稍后再试；如一直无法下载，请联系开票方"), status=503,
                        content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
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
        return _unavailable(invoice, fmt, exc)
    invoice_file_record_download(invoice=invoice, fmt=fmt, actor=request.user)
    return _file_response(data, f"{invoice.number}.{FILE_EXTENSIONS[fmt]}", CONTENT_TYPES[fmt])


def invoices_batch_print_response(request: HttpRequest, queryset: QuerySet[Invoice], paper: str = "A4") -> HttpResponse:
    """One PDF with the selected invoices for printing (an admin action calls this). Finance only, scoped.

    Up to ``DELIVERY_BATCH_PRINT_INLINE_MAX`` invoices (20) the PDF is the response; more become a ``PrintJob``
    and the response is a redirect to its progress page.
    """
    if not user_may_download(request.user):
        raise PermissionDenied("无权打印发票文件")
    if paper not in ("A4", "A5"):
        raise Http404("paper must be A4 or A5")
    scoped = scope_queryset(queryset, request.user)
    ids = list(scoped.order_by().values_list("pk", flat=True)[: printing.inline_max() + 1])
    if not ids:
        raise Http404("no invoices selected")
    if len(ids) > printing.inline_max():
        job = printing.print_job_create(user=request.user, paper=paper,
                                        invoice_ids=list(scoped.order_by("pk").values_list("pk", flat=True)))
        return redirect("delivery:print_job", job.pk)
    invoices = printing.invoices_for_print(Invoice.objects.filter(pk__in=ids))
    data = batch_print_pdf(invoices, paper=paper)
    printing.record_printed(invoices, request.user, paper)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return _file_response(data, f"invoices-{paper}-{stamp}.pdf", "application/pdf", inline=True)


def _own_print_job(request: HttpRequest, job_id: int) -> PrintJob:
    if not user_may_download(request.user):
        raise PermissionDenied("无权打印发票文件")
    job = get_object_or_404(PrintJob, pk=job_id)
    if job.created_by_id != request.user.pk and not request.user.is_superuser:
        raise Http404("no such print job")  # a print job shows invoices of its creator's entities
    return job


@never_cache
@require_safe
def print_job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    job = _own_print_job(request, job_id)
    title = gettext("批量打印（{paper}）").format(paper=job.paper)
    context = {**admin.site.each_context(request), "job": job, "title": title}
    return TemplateResponse(request, "delivery/print_job.html", context)


@never_cache
@require_safe
def print_job_file(request: HttpRequest, job_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    job = _own_print_job(request, job_id)
    if job.status != RenderStatus.DONE or not job.file:
        raise Http404("not ready")
    try:
        return stored_file_response(job.file.name, filename=f"invoices-{job.paper}-{job.pk}.pdf",
                                    content_type="application/pdf", inline=True)
    except FileNotFoundError:
        raise Http404("file missing") from None


# --- the customer's link -----------------------------------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR must be the client's address: behind a proxy, have the proxy set it (not X-Forwarded-For here).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limit() -> int:
    return int(getattr(settings, "DELIVERY_LINK_RATE_LIMIT", 30))


def _hit(key: str) -> int:
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        return 1


def _guessing(request: HttpRequest) -> bool:
    """A client that asked for too many unknown tokens this minute gets 429 for every token, hit or miss."""
    return (cache.get(f"delivery:link-miss:{_client_ip(request)}") or 0) >= _rate_limit()


def _link_or_limit(request: HttpRequest, token: str) -> InvoiceLink | HttpResponse:
    """The link, or a 429 (too many requests) / 404 (unknown token) response.

    Two budgets per minute: unknown tokens per client address (guessing costs time, and once spent every answer is
    429, so a lucky guess is not revealed), and requests per client for one link (a customer behind a shared
    address is not blocked by another customer's link).
    """
    if _guessing(request):
        return _too_many()
    link = InvoiceLink.objects.filter(token=token).select_related("invoice__taxpayer").first()
    if link is None:
        _hit(f"delivery:link-miss:{_client_ip(request)}")
        raise Http404("no such link")
    if _hit(f"delivery:link:{_client_ip(request)}:{link.pk}") > _rate_limit():
        return _too_many()
    return link


def _gone() -> HttpResponse:
    return HttpResponse(gettext("该发票链接已失效，请联系开票方重新发送。"), status=410,
                        content_type="text/plain; charset=utf-8")


def _too_many() -> HttpResponse:
    response = HttpResponse(gettext("请求过于频繁，请稍后再试。"), status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response


@never_cache
@require_safe
def invoice_link_page(request: HttpRequest, token: str) -> HttpResponse:
    link = _link_or_limit(request, token)
    if isinstance(link, HttpResponse):
        return link
    if not invoice_link_open(link=link):
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
@require_safe
def invoice_link_file(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    link = _link_or_limit(request, token)
    if isinstance(link, HttpResponse):
        return link
    if fmt not in PUBLIC_FORMATS:
        raise Http404("unknown format")
    # Opening the page counts a view; the files stay available while the link lives (views == max is fine here).
    if (link.revoked_at is not None or link.expires_at <= timezone.now()
            or (link.max_views is not None and link.views > link.max_views)):
        return _gone()
    invoice = link.invoice
    try:
        data = invoice_file_bytes(invoice, fmt)
    except InvoiceFileUnavailable as exc:
        return _unavailable(invoice, fmt, exc)
    invoice_file_record_download(invoice=invoice, fmt=fmt, actor=None, link=link)
    response = _file_response(data, f"{invoice.number}.{FILE_EXTENSIONS[fmt]}", CONTENT_TYPES[fmt])
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
