"""Reads about applications: review queue, quota in use, compliance contexts, and what live applications take from
billing documents (the applied amount, and so each document's balance)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Case, DecimalField, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from invoicing.scoping import scope_queryset
from issuing.applications import compliance as applications_compliance
from issuing.applications.models import (
    INACTIVE_STATUSES,
    REVIEW_QUEUE_ORDER,
    ApplicationLine,
    ApplicationSource,
    ApplicationStatus,
    InvoiceApplication,
    QuotaPeriod,
)
from issuing.base import PAPER_KINDS, ZERO
from issuing.billing.models import BillingDocument, IssuingPolicy
from issuing.billing.selectors import Balance, balance_of, policy_for
from issuing.paperstock.selectors import paper_stock_counts, paper_stock_of

MONEY = DecimalField(max_digits=18, decimal_places=2)


# --- what applications take from billing documents -----------------------------------------------------------------


def active_sources() -> QuerySet[ApplicationSource]:
    return ApplicationSource.objects.exclude(application__status__in=INACTIVE_STATUSES)


def applied_subquery() -> Subquery:
    """Σ (amount − released) that active applications take from the billing document ``OuterRef("pk")``."""
    taken = (
        active_sources()
        .filter(billing_document=OuterRef("pk"))
        .order_by()
        .values("billing_document")
        .annotate(s=Sum(F("amount") - F("released_amount")))
        .values("s")
    )
    return Coalesce(Subquery(taken, output_field=MONEY), Value(ZERO), output_field=MONEY)


def billing_documents_with_applied(qs: QuerySet[BillingDocument] | None = None) -> QuerySet[BillingDocument]:
    qs = qs if qs is not None else BillingDocument.objects.all()
    return qs.annotate(applied=applied_subquery())


def applied_amount(document: BillingDocument) -> Decimal:
    total = active_sources().filter(billing_document=document).aggregate(
        s=Sum(F("amount") - F("released_amount"), output_field=MONEY)
    )["s"]
    return total or ZERO


def billing_document_balance(
    document: BillingDocument, *, policy: IssuingPolicy | None = None, applied: Decimal | None = None
) -> Balance:
    """What ``document`` may still be invoiced for. ``applied``: what live applications take from it, when the caller
    knows; otherwise the annotation's (``billing_documents_with_applied``) or one query."""
    if policy is None:
        policy = policy_for(document.taxpayer)
    if applied is None:
        applied = getattr(document, "applied", None)
    if applied is None:
        applied = applied_amount(document)
    return balance_of(document, policy=policy, applied=applied)


# --- quota ---------------------------------------------------------------------------------------------------------


def quota_month(at: datetime | None = None) -> str:
    at = timezone.localtime(at) if at is not None else timezone.localtime()
    return f"{at:%Y-%m}"


COMMITTED_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.ISSUING)


def quota_committed(taxpayer_id: int, *, exclude_ids: tuple[int, ...] = ()) -> Decimal:
    """合计金额 of applications approved or being issued, not yet counted in ``used``."""
    qs = InvoiceApplication.objects.filter(taxpayer_id=taxpayer_id, status__in=COMMITTED_STATUSES)
    if exclude_ids:
        qs = qs.exclude(pk__in=exclude_ids)
    return qs.aggregate(s=Sum("amount"))["s"] or ZERO


def quota_available(taxpayer_id: int, month: str, *, exclude_ids: tuple[int, ...] = ()) -> Decimal | None:
    """Remaining quota for new approvals: total − used − committed. None when the month's quota is not known.

    The quota counts 合计金额 (不含税), the common reading (domain.md §12.1, UNVERIFIED).
    """
    period = QuotaPeriod.objects.filter(taxpayer_id=taxpayer_id, month=month).first()
    if period is None:
        return None
    return period.total - period.used - quota_committed(taxpayer_id, exclude_ids=exclude_ids)


def compliance_context(application: InvoiceApplication, *, lines: list[Any] | None = None) -> applications_compliance.Context:
    """Gather what the rules need (the rules themselves run no queries)."""
    taxpayer = application.taxpayer
    if lines is None:
        lines = list(application.lines.select_related("tax_category").order_by("line_no")) if application.pk else []
    month = quota_month()
    exclude = (application.pk,) if application.pk else ()
    available = quota_available(taxpayer.pk, month, exclude_ids=exclude)
    return applications_compliance.Context(
        application=application,
        lines=lines,
        taxpayer=taxpayer,
        policy=policy_for(taxpayer),
        quota_available=available,
        quota_month=month,
        sandbox=taxpayer.channel == "sandbox",
        paper_stock=paper_stock_of(taxpayer.pk, application.kind) if application.kind in PAPER_KINDS else None,
    )


def lines_by_application(application_ids: list[int]) -> dict[int, list[ApplicationLine]]:
    """Each application's lines in order, with their ``tax_category``, in one query (an empty list for none)."""
    lines: dict[int, list[ApplicationLine]] = {pk: [] for pk in application_ids}
    for line in (ApplicationLine.objects.filter(application_id__in=application_ids).select_related("tax_category")
                 .order_by("application_id", "line_no")):
        lines[line.application_id].append(line)
    return lines


def compliance_contexts(applications: list[InvoiceApplication]) -> dict[int, applications_compliance.Context]:
    """``compliance_context`` for many saved applications at once (their ``taxpayer`` selected with them): the
    lines in one query, policy and quota once per entity. The same contexts the one-by-one function builds."""
    lines = lines_by_application([app.pk for app in applications])
    month = quota_month()
    policies: dict[int, IssuingPolicy] = {}
    quota: dict[int, tuple[Decimal, Decimal] | None] = {}  # taxpayer → (total − used, committed) or unknown
    out: dict[int, applications_compliance.Context] = {}
    paper = [app.taxpayer_id for app in applications if app.kind in PAPER_KINDS]
    stock = paper_stock_counts(set(paper)) if paper else {}
    for app in applications:
        taxpayer = app.taxpayer
        if taxpayer.pk not in policies:
            policies[taxpayer.pk] = policy_for(taxpayer)
            period = QuotaPeriod.objects.filter(taxpayer_id=taxpayer.pk, month=month).first()
            quota[taxpayer.pk] = (
                None if period is None else (period.total - period.used, quota_committed(taxpayer.pk))
            )
        known = quota[taxpayer.pk]
        available = None
        if known is not None:  # what quota_available(…, exclude_ids=(app.pk,)) answers
            left, committed = known
            available = left - (committed - (app.amount if app.status in COMMITTED_STATUSES else ZERO))
        out[app.pk] = applications_compliance.Context(
            application=app, lines=lines[app.pk], taxpayer=taxpayer, policy=policies[taxpayer.pk],
            quota_available=available, quota_month=month, sandbox=taxpayer.channel == "sandbox",
            paper_stock=stock.get((app.taxpayer_id, app.kind), 0) if app.kind in PAPER_KINDS else None,
        )
    return out


def application_failures(application: InvoiceApplication) -> list[applications_compliance.RuleFailure]:
    return applications_compliance.check(compliance_context(application))


def queue_order() -> Case:
    """待审核 first, then 审核中, and the rest; used by the admin queue and the API."""
    return Case(
        *[When(status=s, then=Value(i)) for i, s in enumerate(REVIEW_QUEUE_ORDER)],
        default=Value(len(REVIEW_QUEUE_ORDER)),
        output_field=IntegerField(),
    )


def application_queue(user: Any) -> QuerySet[InvoiceApplication]:
    qs = scope_queryset(InvoiceApplication.objects.select_related("taxpayer", "reviewer"), user)
    return qs.annotate(queue_rank=queue_order()).order_by("queue_rank", "created_at", "id")


def application_get(user: Any, *, number: str) -> InvoiceApplication:
    return scope_queryset(InvoiceApplication.objects.select_related("taxpayer"), user).get(number=number)
