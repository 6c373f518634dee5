"""Reads of the api app: what a client may see, shaped for the API's serializers.

Each list takes ``taxpayer_ids``, the entities the client may act on (``ApiClient.taxpayer_ids()``): an object of
any other entity is not there, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from django.db.models import Count, DecimalField, Prefetch, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from api.models import ApiClient, WebhookSubscription
from deduction.models import TaxPeriod
from invoicing.models import Taxpayer
from issuing.applications import selectors as application_selectors
from issuing.applications.models import ApplicationLine, ApplicationSource, InvoiceApplication
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceLine
from issuing.redletter.models import RedLetterForm
from receiving.claims_models import ClaimLine, ExpenseClaim
from receiving.models import (
    Carrier,
    CollectionItem,
    ReceivedInvoice,
    ReceivedInvoiceLine,
    Source,
)
from receiving.models import Collection as ReceivingCollection


def billing_documents(*, taxpayer_ids: Collection[int]) -> QuerySet[BillingDocument]:
    """Billing documents with their lines and the amount already applied for, newest first."""
    qs = application_selectors.billing_documents_with_applied(BillingDocument.objects.all())
    return qs.filter(taxpayer__in=taxpayer_ids).select_related("taxpayer", "taxpayer__issuing_policy").prefetch_related(
        "lines__tax_category"
    ).order_by("-created_at", "-id")


def billing_document_exists(*, taxpayer: Taxpayer, source_system: str, external_no: str) -> bool:
    """Whether ``source_system`` already submitted ``external_no`` for ``taxpayer`` (compared stripped)."""
    return BillingDocument.objects.filter(
        taxpayer=taxpayer, source_system=source_system, external_no=external_no.strip()
    ).exists()


def applications(*, taxpayer_ids: Collection[int]) -> QuerySet[InvoiceApplication]:
    """Applications with their lines, source documents and invoices, newest first."""
    return InvoiceApplication.objects.filter(taxpayer__in=taxpayer_ids).select_related(
        "taxpayer", "reapplication"
    ).prefetch_related(
        Prefetch("lines", queryset=ApplicationLine.objects.select_related("tax_category").order_by("line_no")),
        Prefetch("sources", queryset=ApplicationSource.objects.select_related("billing_document")),
        "invoices",
    ).distinct().order_by("-created_at", "-id")


def invoices(*, taxpayer_ids: Collection[int]) -> QuerySet[Invoice]:
    """Invoices with their lines, newest first."""
    return Invoice.objects.filter(taxpayer__in=taxpayer_ids).select_related(
        "taxpayer", "application", "blue_invoice"
    ).prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.select_related("tax_category").order_by("line_no"))
    ).order_by("-issued_at", "-id")


def invoice_get(*, taxpayer_ids: Collection[int], invoice_id: int) -> Invoice | None:
    """One invoice the client may act on, or None."""
    return Invoice.objects.select_related("taxpayer").filter(taxpayer__in=taxpayer_ids, pk=invoice_id).first()


def red_letter_forms(*, taxpayer_ids: Collection[int]) -> QuerySet[RedLetterForm]:
    """Red-letter forms (the API's red-flush requests), newest first."""
    return RedLetterForm.objects.filter(taxpayer__in=taxpayer_ids).select_related(
        "taxpayer", "blue_invoice", "red_invoice"
    ).order_by("-created_at", "-id")


def webhook_subscriptions(*, client: ApiClient | None) -> QuerySet[WebhookSubscription]:
    """The client's active subscriptions, for entities it may still act on, newest first (none without a client:
    the schema is being generated)."""
    if client is None:
        return WebhookSubscription.objects.none()
    return WebhookSubscription.objects.filter(
        client=client, endpoint__is_active=True, endpoint__taxpayer_id__in=client.taxpayer_ids()
    ).select_related("endpoint__taxpayer").order_by("-created_at", "-id")


def received_invoices(*, taxpayer_ids: Collection[int]) -> QuerySet[ReceivedInvoice]:
    """The pool of received invoices, newest first (one query per page: no per-row reads)."""
    return ReceivedInvoice.objects.filter(taxpayer__in=taxpayer_ids).select_related("taxpayer").order_by(
        "-created_at", "-id")


def received_invoice_details(*, taxpayer_ids: Collection[int]) -> QuerySet[ReceivedInvoice]:
    """Received invoices with their lines, sources (the batches that brought each) and files."""
    return received_invoices(taxpayer_ids=taxpayer_ids).prefetch_related(
        Prefetch("lines", queryset=ReceivedInvoiceLine.objects.order_by("line_no")),
        Prefetch("sources", queryset=Source.objects.order_by("created_at", "id")),
        Prefetch("carriers", queryset=Carrier.objects.order_by("created_at", "id")),
    )


def collection_items(*, collection: ReceivingCollection) -> QuerySet[CollectionItem]:
    """A batch's items in order, with the record each one names."""
    return CollectionItem.objects.filter(collection=collection).select_related("invoice").order_by("position")


def tax_periods(*, taxpayer_ids: Collection[int]) -> QuerySet[TaxPeriod]:
    """The deduction periods (所属期) of the client's entities, newest first."""
    return (TaxPeriod.objects.filter(taxpayer__in=taxpayer_ids).select_related("taxpayer").defer("snapshot")
            .order_by("-period", "-id"))
def claims(*, taxpayer_ids: Collection[int]) -> QuerySet[ExpenseClaim]:
    """Expense claims with their totals, newest first (one query per page)."""
    return (ExpenseClaim.objects.filter(taxpayer__in=taxpayer_ids).select_related("taxpayer")
            .annotate(claimed_total=Coalesce(Sum("lines__amount"), Value(Decimal("0.00")),
                                             output_field=DecimalField(max_digits=18, decimal_places=2)),
                      line_count=Count("lines"))
            .order_by("-created_at", "-id"))


def claim_details(*, taxpayer_ids: Collection[int]) -> QuerySet[ExpenseClaim]:
    """Expense claims with their lines and each line's invoice."""
    return claims(taxpayer_ids=taxpayer_ids).prefetch_related(
        Prefetch("lines", queryset=ClaimLine.objects.select_related("invoice").order_by("id")))
