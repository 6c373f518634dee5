"""Billing documents: create, record payment and delivery, refund; each locks, checks and records its event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_user
from invoicing.events import event_record
from invoicing.models import Counterparty, Item, TaxCategory, Taxpayer
from invoicing.tax import q2, to_decimal
from invoicing.validators import (
    business_date_problem,
    category_rate_problem,
    document_lines_problem,
    tax_rate_problem,
)
from issuing.applications.services import DocumentEvent, billing_document_auto_apply, billing_documents_auto_apply
from issuing.base import Source
from issuing.billing import selectors as billing_selectors
from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.billing.status import billing_document_status_refresh
from issuing.inputs import (
    _buyer_from_counterparty,
    _buyer_from_dict,
    _category,
    _check_line_text,
    _input_lines,
    _opt_decimal,
    _with_categories,
)
from issuing.workflow import P_ADD_DOCUMENT, P_CHANGE_DOCUMENT, ZERO, authorize, lock_rows


def billing_document_create(
    *,
    actor: Actor,
    taxpayer: Taxpayer,
    external_no: str,
    lines: Sequence[dict[str, Any]],
    counterparty: Counterparty | None = None,
    buyer: dict[str, Any] | None = None,
    source: str = Source.MANUAL,
    source_system: str = "",
    order_amount: Decimal | str | None = None,
    paid_amount: Decimal | str = ZERO,
    refunded_amount: Decimal | str = ZERO,
    invoicing_basis: str = "",
    business_date: date | None = None,
    buyer_email: str = "",
    buyer_mobile: str = "",
    remark: str = "",
    delivered_on: date | None = None,
) -> BillingDocument:
    """Record an order / 流水单 with its lines. ``order_amount`` defaults to the lines' 价税合计 and must match it.
    A document recorded already paid or delivered is an event for the entity's 申请时机 like a later payment."""
    authorize(actor, taxpayer.pk, P_ADD_DOCUMENT)
    if counterparty is not None and counterparty.taxpayer_id != taxpayer.pk:
        raise ValidationError({"counterparty": gettext("购买方不属于该主体")})
    if counterparty is None and not buyer:
        raise ValidationError({"buyer_name": gettext("请选择购买方或填写购买方抬头")})
    buyer_fields = _buyer_from_counterparty(counterparty) if counterparty else _buyer_from_dict(buyer or {})
    if not lines:
        raise ValidationError({"lines": gettext("业务单据至少要有一行明细")})
    problem = document_lines_problem(len(lines))
    if problem:
        raise ValidationError({"lines": problem})
    problem = business_date_problem(business_date)
    if problem:
        raise ValidationError({"business_date": problem})
    lines = _with_categories(lines)
    computed: list[tuple[dict[str, Any], Decimal]] = []
    for no, raw in enumerate(lines, start=1):
        _check_line_text(raw, no=no)
        invoice_lines = _input_lines(raw, no=no)
        category = raw.get("tax_category")
        problem = tax_rate_problem(invoice_lines[0].rate, taxpayer.taxpayer_type) or category_rate_problem(
            invoice_lines[0].rate, category.allowed_rates if isinstance(category, TaxCategory) else (),
            taxpayer.taxpayer_type)
        if problem:
            raise ValidationError({"tax_rate": gettext("第%(line)s行：%(error)s") % {"line": no, "error": problem}})
        computed.append((raw, sum((ln.total for ln in invoice_lines), ZERO)))
    lines_total = sum((t for _, t in computed), ZERO)
    order = q2(to_decimal(order_amount, "order_amount")) if order_amount is not None else lines_total
    if order != lines_total:
        raise ValidationError(
            {"order_amount": gettext("订单金额 %(order)s 与明细价税合计 %(lines)s 不符") % {"order": order, "lines": lines_total}}
        )
    with transaction.atomic():
        doc = BillingDocument(
            taxpayer=taxpayer,
            counterparty=counterparty,
            source=source,
            source_system=source_system.strip(),
            external_no=external_no.strip(),
            business_date=business_date,
            invoicing_basis=invoicing_basis,
            order_amount=order,
            paid_amount=q2(to_decimal(paid_amount, "paid_amount")),
            refunded_amount=q2(to_decimal(refunded_amount, "refunded_amount")),
            buyer_email=buyer_email or (counterparty.email if counterparty else ""),
            buyer_mobile=buyer_mobile or (counterparty.mobile if counterparty else ""),
            remark=remark,
            delivered_on=delivered_on,
            created_by=actor_user(actor),
            **buyer_fields,
        )
        doc.full_clean()
        doc.save()
        rows = []
        for no, (raw, total) in enumerate(computed, start=1):
            item = raw.get("item")
            rows.append(
                BillingDocumentLine(
                    document=doc,
                    line_no=no,
                    item=item if isinstance(item, Item) else None,
                    item_name=str(raw["item_name"]).strip(),
                    spec=str(raw.get("spec") or ""),
                    unit=str(raw.get("unit") or ""),
                    quantity=_opt_decimal(raw.get("quantity"), "quantity"),
                    unit_price=_opt_decimal(raw.get("unit_price"), "unit_price"),
                    amount=q2(to_decimal(raw["amount"], "amount")) if raw.get("amount") not in (None, "") else q2(
                        _opt_decimal(raw.get("quantity"), "quantity") * _opt_decimal(raw.get("unit_price"), "unit_price")  # type: ignore[operator]
                    ),
                    tax_inclusive=bool(raw.get("tax_inclusive", True)),
                    discount=_opt_decimal(raw.get("discount"), "discount") or ZERO,
                    tax_category=_category(raw.get("tax_category")),
                    tax_rate=to_decimal(raw["tax_rate"], "tax_rate"),
                    total=total,
                )
            )
        BillingDocumentLine.objects.bulk_create(rows)
        event_record(
            obj=doc,
            action="create",
            actor=actor,
            to_state=doc.status,
            data={"order_amount": str(order), "paid_amount": str(doc.paid_amount), "source": source},
        )
        billing_documents_auto_apply(documents=[doc])
    return doc


def billing_document_record_payment(*, document: BillingDocument, actor: Actor, amount: Decimal | str) -> BillingDocument:
    """Add a received payment (实收) to a document."""
    value = q2(to_decimal(amount, "amount"))
    if value <= 0:
        raise ValidationError({"amount": gettext("收款金额必须大于0")})
    with transaction.atomic():
        doc = lock_rows(BillingDocument, [document.pk])[0]
        authorize(actor, doc.taxpayer_id, P_CHANGE_DOCUMENT)
        doc.paid_amount += value
        doc.save(update_fields=["paid_amount", "updated_at"])
        billing_document_status_refresh(doc)
        event_record(obj=doc, action="payment", actor=actor, data={"amount": str(value), "paid": str(doc.paid_amount)})
        billing_document_auto_apply(document=doc, event=DocumentEvent.PAID)
    return doc


def billing_document_mark_delivered(
    *, document: BillingDocument, actor: Actor, delivered_on: date | None = None
) -> BillingDocument:
    """Record that the goods or services of a document were delivered (交付). Once: a second call changes nothing."""
    with transaction.atomic():
        doc = lock_rows(BillingDocument, [document.pk])[0]
        authorize(actor, doc.taxpayer_id, P_CHANGE_DOCUMENT)
        if doc.delivered_on is None:
            doc.delivered_on = delivered_on or timezone.localdate()
            doc.save(update_fields=["delivered_on", "updated_at"])
            event_record(obj=doc, action="delivered", actor=actor, data={"delivered_on": doc.delivered_on.isoformat()})
            billing_document_auto_apply(document=doc, event=DocumentEvent.DELIVERED)
    return doc


def billing_document_refund(
    *, document: BillingDocument, actor: Actor, amount: Decimal | str, reason: str = ""
) -> BillingDocument:
    """Record a refund. Only a record: red-letter invoices for what was already invoiced are another flow.

    The event carries ``over_invoiced``: how much more is invoiced than the document now allows.
    """
    value = q2(to_decimal(amount, "amount"))
    if value <= 0:
        raise ValidationError({"amount": gettext("退款金额必须大于0")})
    with transaction.atomic():
        doc = lock_rows(BillingDocument, [document.pk])[0]
        authorize(actor, doc.taxpayer_id, P_CHANGE_DOCUMENT)
        if doc.refunded_amount + value > doc.paid_amount:
            raise ValidationError(
                {"amount": gettext("退款后累计退款 %(refunded)s 将超过实收金额 %(paid)s")
                 % {"refunded": doc.refunded_amount + value, "paid": doc.paid_amount}}
            )
        doc.refunded_amount += value
        doc.save(update_fields=["refunded_amount", "updated_at"])
        billing_document_status_refresh(doc)
        bal = billing_selectors.billing_document_balance(doc, applied=billing_selectors.applied_amount(doc))
        event_record(
            obj=doc,
            action="refund",
            actor=actor,
            reason=reason,
            data={"amount": str(value), "refunded": str(doc.refunded_amount), "over_invoiced": str(bal.over_invoiced)},
        )
    return doc
