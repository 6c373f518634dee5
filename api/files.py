"""Short-lived signed links to invoice files for API clients: issued invoices' files, and the files received
invoices came in (carriers, ``carrier_link``), each with its own salt.

A link names one client, one invoice and one format, is signed with the project's secret key and lives
``FILE_LINK_SECONDS``. Fetching it needs no header (a browser or a download tool can follow it), and re-checks the
same rules as the admin's download at that moment: the client is active, may download files (the API's
counterpart of ``issuing.download_invoice_file``) and may act on the invoice's entity. Any failure reads 404, an
expired link 410.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from api.models import ApiClient
from issuing.platform.models import Invoice
from receiving.models import Carrier

FILE_LINK_SECONDS = 600
_SALT = "api.invoice-file-link"
_CARRIER_SALT = "api.carrier-file-link"


class LinkExpired(Exception):  # noqa: N818 - a state, like Http404
    pass


class LinkInvalid(Exception):  # noqa: N818
    pass


def file_link_token(*, client: ApiClient, invoice: Invoice, fmt: str) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object({"c": client.pk, "i": invoice.pk, "f": fmt}, compress=True)


def file_link(request, *, client: ApiClient, invoice: Invoice, fmt: str) -> tuple[str, datetime]:
    token = file_link_token(client=client, invoice=invoice, fmt=fmt)
    url = request.build_absolute_uri(reverse("api-file", args=[token]))
    return url, timezone.now() + timedelta(seconds=FILE_LINK_SECONDS)


def file_link_resolve(token: str) -> tuple[ApiClient, Invoice, str]:
    """The client, invoice and format a link grants, if it is genuine, fresh and still allowed."""
    signer = signing.TimestampSigner(salt=_SALT)
    try:
        data = signer.unsign_object(token, max_age=FILE_LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkInvalid from None
    if not isinstance(data, dict):
        raise LinkInvalid
    client = ApiClient.objects.filter(pk=data.get("c"), is_active=True, can_download_files=True).first()
    if client is None:
        raise LinkInvalid
    invoice = (
        Invoice.objects.select_related("taxpayer")
        .filter(pk=data.get("i"), taxpayer_id__in=client.taxpayer_ids())
        .first()
    )
    if invoice is None:
        raise LinkInvalid
    return client, invoice, str(data.get("f"))


def _allowed_client(client_id: object) -> ApiClient:
    client = ApiClient.objects.filter(pk=client_id, is_active=True, can_download_files=True).first()
    if client is None:
        raise LinkInvalid
    return client


def carrier_link_token(*, client: ApiClient, carrier: Carrier) -> str:
    return signing.TimestampSigner(salt=_CARRIER_SALT).sign_object({"c": client.pk, "r": carrier.pk}, compress=True)


def carrier_link(request, *, client: ApiClient, carrier: Carrier) -> tuple[str, datetime]:
    """A link to one received file, under the same rules and lifetime as an issued invoice's file."""
    token = carrier_link_token(client=client, carrier=carrier)
    url = request.build_absolute_uri(reverse("api-received-file", args=[token]))
    return url, timezone.now() + timedelta(seconds=FILE_LINK_SECONDS)


def carrier_link_resolve(token: str) -> tuple[ApiClient, Carrier]:
    """The client and carrier a link grants, if it is genuine, fresh and still allowed."""
    try:
        data = signing.TimestampSigner(salt=_CARRIER_SALT).unsign_object(token, max_age=FILE_LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkInvalid from None
    if not isinstance(data, dict):
        raise LinkInvalid
    client = _allowed_client(data.get("c"))
    carrier = (Carrier.objects.select_related("taxpayer", "invoice")
               .filter(pk=data.get("r"), taxpayer_id__in=client.taxpayer_ids()).first())
    if carrier is None:
        raise LinkInvalid
    return client, carrier
