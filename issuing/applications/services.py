"""Invoice applications: create (from documents or by hand), merge, split, review (claim, approve, reject), withdraw,
reapply, delete, and the automatic application when a document is paid or delivered."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django_fsm import can_proceed

from invoicing.actors import Actor, actor_user
from invoicing.events import event_record, events_record_many
from invoicing.formatting import money
from invoicing.models import Counterparty, TaxCategory, Taxpayer
from invoicing.tax import q2, to_decimal
from invoicing.validators import (
    document_lines_problem,
)
from issuing.applications import compliance as applications_compliance
from issuing.applications import selectors as application_selectors
from issuing.applications import splitting as applications_splitting
from issuing.applications.models import (
    EDITABLE_STATUSES,
    ApplicationLine,
    ApplicationSource,
    ApplicationStatus,
    InvoiceApplication,
)
from issuing.applications.signals import auto_application_approved
from issuing.base import ISSUABLE_KINDS, ZERO, InvoiceKind, Source
from issuing.billing.models import ApplicationTrigger as Trigger
from issuing.billing.models import BillingDocument, BillingDocumentLine, BillingDocumentStatus, IssuingPolicy
from issuing.billing.selectors import policy_for
from issuing.inputs import (
    BUYER_KEYS,
    buyer_from_counterparty,
    buyer_from_dict,
    check_line_text,
    input_lines,
    lines_with_categories,
)
from issuing.workflow import (
    P_ADD_APPLICATION,
    P_APPROVE,
    P_CHANGE_APPLICATION,
    P_ISSUE,
    P_REVIEW,
    authorize,
    lock_rows,
    next_number,
)

S = ApplicationStatus


ACTION_LABELS = {
    "submit": pgettext_lazy("action", "提交"),
    "auto_approve": pgettext_lazy("action", "自动审核"),
    "claim": pgettext_lazy("action", "领取审核"),
    "release": pgettext_lazy("action", "放弃审核"),
    "approve": pgettext_lazy("action", "批准"),
    "reject": pgettext_lazy("action", "驳回"),
    "withdraw": pgettext_lazy("action", "撤销"),
    "start_issuing": pgettext_lazy("action", "发起开票"),
    "mark_issued": pgettext_lazy("action", "开票成功"),
    "mark_failed": pgettext_lazy("action", "开票失败"),
    "retry": pgettext_lazy("action", "重新开票"),
    "start_red": pgettext_lazy("action", "申请红冲"),
    "finish_red": pgettext_lazy("action", "红冲完成"),
    "cancel_red": pgettext_lazy("action", "红冲撤销"),
}


def application_lock(application: InvoiceApplication | int) -> InvoiceApplication:
    """The application re-read under its row lock (inside the caller's transaction)."""
    pk = application if isinstance(application, int) else application.pk
    return lock_rows(InvoiceApplication, [pk])[0]


def _status_label(status: str) -> str:
    return str(S(status).label)


def application_ensure_can(app: InvoiceApplication, name: str) -> None:
    """Refuse (ValidationError, code ``transition_not_allowed``) unless the transition ``name`` may run now."""
    if not can_proceed(getattr(app, name)):
        raise ValidationError(
            gettext("申请单 %(number)s 当前状态为「%(status)s」，不能%(action)s")
            % {"number": app.number, "status": _status_label(app.status), "action": ACTION_LABELS.get(name, name)},
            code="transition_not_allowed",
        )


def application_transition(
    app: InvoiceApplication,
    name: str,
    *,
    actor: Actor,
    reason: str = "",
    data: dict | None = None,
    actor_label: str = "",
    args: dict[str, Any] | None = None,
) -> InvoiceApplication:
    """Run the transition ``name`` with ``args``, save, and record the event (action, from, to, reason). The caller
    holds the row lock (``application_lock``); the services of this module and the platform's and red-letter's
    moves of an application all go through here."""
    application_ensure_can(app, name)
    before = app.status
    getattr(app, name)(**(args or {}))
    app.save()
    event_record(
        obj=app,
        action=name,
        actor=actor,
        actor_label=actor_label,
        from_state=before,
        to_state=app.status,
        reason=reason,
        data=data,
    )
    return app


def _document_line_input(bl: BillingDocumentLine) -> dict[str, Any]:
    return {
        "item_name": bl.item_name,
        "spec": bl.spec,
        "unit": bl.unit,
        "quantity": bl.quantity,
        "unit_price": bl.unit_price,
        "amount": bl.amount,
        "tax_inclusive": bl.tax_inclusive,
        "discount": bl.discount,
        "tax_rate": bl.tax_rate,
        "tax_category": bl.tax_category,
        "ref": bl.pk,
    }


def _document_lines(document: BillingDocument) -> list[applications_splitting.Line]:
    out: list[applications_splitting.Line] = []
    for bl in document.lines.select_related("tax_category").order_by("line_no"):
        out.extend(input_lines(_document_line_input(bl), no=bl.line_no))
    return out


def _take_from_document(document: BillingDocument, amount: Decimal) -> list[applications_splitting.Line]:
    """The invoice lines for ``amount`` (价税合计) of a document: all its lines, or a pro-rata cut of each."""
    lines = _document_lines(document)
    units = applications_splitting.to_units(lines)
    whole = sum((applications_splitting.unit_total(u) for u in units), ZERO)
    if amount == whole:
        return lines
    weights = [applications_splitting.unit_total(u) for u in units]
    shares = applications_splitting.allocate_decimal(amount, weights, 2)
    taken: list[applications_splitting.Line] = []
    for unit, share in zip(units, shares, strict=True):
        if share == 0:
            continue
        rest = applications_splitting.unit_total(unit) - share
        if rest == 0:
            taken.extend(unit)
        else:
            taken.extend(applications_splitting.cut_unit(unit, [share, rest])[0])
    return taken


def _lines_to_rows(
    application: InvoiceApplication, lines: Sequence[applications_splitting.Line], categories: dict[str, TaxCategory]
) -> list[ApplicationLine]:
    rows = []
    for i, ln in enumerate(lines, start=1):
        ref = ln.ref
        if isinstance(ref, list):
            distinct = {r for r in ref if r is not None}
            ref = next(iter(distinct)) if len(distinct) == 1 else None
        rows.append(
            ApplicationLine(
                application=application,
                line_no=i,
                item_name=ln.item_name,
                short_name=ln.short_name,
                spec=ln.spec,
                unit=ln.unit,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                amount=ln.amount,
                tax_rate=ln.rate,
                tax=ln.tax,
                tax_category=categories[ln.tax_code],
                line_property=int(ln.line_property),
                favoured_policy=ln.favoured_policy,
                source_line_id=ref if isinstance(ref, int) else None,
            )
        )
    return rows


def application_lines_as_split_lines(application: InvoiceApplication) -> list[applications_splitting.Line]:
    return [
        applications_splitting.Line(
            item_name=ln.item_name,
            amount=ln.amount,
            tax=ln.tax,
            rate=ln.tax_rate,
            tax_code=ln.tax_category.code,
            short_name=ln.short_name,
            spec=ln.spec,
            unit=ln.unit,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            line_property=ln.line_property,
            favoured_policy=ln.favoured_policy,
            ref=ln.source_line_id,
        )
        for ln in application.lines.select_related("tax_category").order_by("line_no")
    ]


def billing_documents_auto_apply(*, documents: Iterable[BillingDocument | int]) -> list[InvoiceApplication]:
    """Documents just recorded (one by one, or an import's): each paid or delivered one applies as its entity's
    申请时机 says. Entities on 客户申请 cost one query in all."""
    ids = [getattr(d, "pk", d) for d in documents]
    triggered = dict(
        IssuingPolicy.objects.filter(taxpayer__billing_documents__pk__in=ids)
        .exclude(application_trigger=Trigger.MANUAL)
        .values_list("taxpayer_id", "application_trigger")
        .distinct()
    )
    if not triggered:
        return []
    events = {Trigger.ON_PAYMENT: DocumentEvent.PAID, Trigger.ON_DELIVERY: DocumentEvent.DELIVERED}
    created = []
    for doc in BillingDocument.objects.filter(pk__in=ids, taxpayer_id__in=triggered).order_by("pk"):
        app = billing_document_auto_apply(document=doc, event=events[triggered[doc.taxpayer_id]])
        if app is not None:
            created.append(app)
    return created


class DocumentEvent:
    PAID = "paid"  # the document is fully paid: 实收 − 退款 ≥ 订单金额
    DELIVERED = "delivered"  # the document has a delivery date


_EVENT_TRIGGER = {DocumentEvent.PAID: Trigger.ON_PAYMENT, DocumentEvent.DELIVERED: Trigger.ON_DELIVERY}


def _event_happened(doc: BillingDocument, event: str) -> bool:
    if event == DocumentEvent.PAID:
        return doc.order_amount > 0 and doc.paid_amount - doc.refunded_amount >= doc.order_amount
    return doc.delivered_on is not None


def trigger_key(document: BillingDocument | int, event: str) -> str:
    return f"{event}:{getattr(document, 'pk', document)}"


def billing_document_auto_apply(*, document: BillingDocument, event: str) -> InvoiceApplication | None:
    """The entity's 申请时机 at work: when ``document`` is paid (付款后自动申请) or delivered (交付后申请), apply for
    its whole invoiceable balance with its buyer title and delivery contacts, once per document and event.

    Every entrance (admin, API, import) calls this after recording the payment or the delivery; it locks the
    document (so concurrent payments see each other) and the application's unique ``trigger_key`` backs that up.
    The entity's auto-approval rule applies; an auto-approved application is announced
    (``issuing.applications.signals.auto_application_approved``), and the platform issues it at once when the
    entity's ``IssuingPolicy.auto_issue`` says so (the channel call after commit). A refusal (no balance, a
    compliance rule) never undoes the payment: it is written into the document's audit trail. Returns the
    application created, if any.
    """
    if event not in _EVENT_TRIGGER:
        raise ValueError(f"unknown document event {event!r}")
    with transaction.atomic():
        doc = lock_rows(BillingDocument, [document.pk])[0]
        policy = policy_for(doc.taxpayer)
        if policy.application_trigger != _EVENT_TRIGGER[event] or not _event_happened(doc, event):
            return None
        if doc.status == BillingDocumentStatus.CLOSED:
            return None
        key = trigger_key(doc, event)
        if InvoiceApplication.objects.filter(trigger_key=key).exists():
            return None
        bal = application_selectors.billing_document_balance(
            doc, policy=policy, applied=application_selectors.applied_amount(doc))
        if bal.balance <= 0:
            return None
        try:
            with transaction.atomic():
                app = application_create(
                    actor=None, taxpayer=doc.taxpayer, sources=[(doc, bal.balance)],
                    delivery_email=doc.buyer_email, delivery_mobile=doc.buyer_mobile, source=Source.AUTO,
                )
                app.trigger_key = key
                app.save(update_fields=["trigger_key", "updated_at"])
        except ValidationError as exc:
            event_record(obj=doc, action="auto_apply_failed", actor_label="自动申请", reason="；".join(exc.messages)[:500],
                         data={"event": event})
            return None
        event_record(obj=doc, action="auto_apply", actor_label="自动申请",
                      data={"event": event, "application": app.number, "total": str(app.total)})
        if app.status == S.APPROVED:
            auto_application_approved.send(sender=InvoiceApplication, application=app, policy=policy, actor=None)
            app.refresh_from_db()  # a listener may have moved it on (开票中)
    return app


def _auto_approval_applies(app: InvoiceApplication) -> bool:
    """Entity rules: 数电普票 below the configured amount go straight to 待开票; 专票 are always reviewed."""
    policy = policy_for(app.taxpayer)
    if not policy.auto_approve or app.kind != InvoiceKind.SHUDIAN_NORMAL:
        return False
    limit = policy.auto_approve_person_limit if app.buyer_is_person else policy.auto_approve_company_limit
    return limit is not None and app.total <= limit


def _after_submit(app: InvoiceApplication, *, actor: Actor) -> InvoiceApplication:
    """Apply the entity's auto-approval rules to a freshly submitted application (only if it passes compliance)."""
    if app.status == S.PENDING_REVIEW and _auto_approval_applies(app):
        if not application_selectors.application_failures(app):
            application_transition(
                app, "auto_approve", actor=None, actor_label="自动审核规则", args={"at": timezone.now()},
                data={"rule": "auto_approve", "total": str(app.total)},
            )
    return app


@dataclass
class _Draft:
    lines: list[applications_splitting.Line]
    sources: list[tuple[BillingDocument, Decimal]]


def _insert_application(
    *,
    actor: Actor,
    taxpayer: Taxpayer,
    kind: str,
    buyer_fields: dict[str, str],
    draft: _Draft,
    counterparty: Counterparty | None,
    delivery_email: str,
    delivery_mobile: str,
    remark: str,
    specific_business: str,
    specific_business_data: dict | None,
    source: str,
    submit: bool,
    split_from: InvoiceApplication | None = None,
    event_data: dict | None = None,
    reapplication_of: InvoiceApplication | None = None,
) -> InvoiceApplication:
    if not draft.lines:
        raise ValidationError({"lines": gettext("申请单没有明细行")})
    totals = applications_splitting.totals(draft.lines)
    if totals.total <= 0:
        raise ValidationError({"total": gettext("申请开票的价税合计必须大于0")})
    app = InvoiceApplication(
        number=next_number("SQ"),
        taxpayer=taxpayer,
        counterparty=counterparty,
        kind=kind,
        status=S.PENDING_REVIEW if submit else S.DRAFT,
        source=source,
        delivery_email=delivery_email,
        delivery_mobile=delivery_mobile,
        remark=remark,
        specific_business=specific_business or "",
        specific_business_data=specific_business_data or {},
        amount=totals.amount,
        tax=totals.tax,
        total=totals.total,
        split_from=split_from,
        reapplication_of=reapplication_of,
        created_by=actor_user(actor),
        **buyer_fields,
    )
    app.full_clean(exclude=["number", "status"])
    app.save()
    codes = {ln.tax_code for ln in draft.lines}
    categories = {c.code: c for c in TaxCategory.objects.filter(code__in=codes)}
    ApplicationLine.objects.bulk_create(_lines_to_rows(app, draft.lines, categories))
    ApplicationSource.objects.bulk_create(
        ApplicationSource(application=app, billing_document=doc, amount=amount) for doc, amount in draft.sources
    )
    event_record(
        obj=app,
        action="create",
        actor=actor,
        to_state=app.status,
        data={
            "total": str(app.total),
            "documents": {doc.external_no: str(amount) for doc, amount in draft.sources},
            **(event_data or {}),
        },
    )
    for doc, _amount in draft.sources:
        billing_document_refresh_status(document=doc, actor=actor)
    if submit:
        _after_submit(app, actor=actor)
    return app


def _normalise_sources(
    sources: Iterable[BillingDocument | tuple[BillingDocument, Decimal | str | None]],
) -> list[tuple[BillingDocument, Decimal | None]]:
    out: list[tuple[BillingDocument, Decimal | None]] = []
    for entry in sources:
        doc, amount = entry if isinstance(entry, tuple) else (entry, None)
        out.append((doc, q2(to_decimal(amount, "amount")) if amount is not None else None))
    if len({d.pk for d, _ in out}) != len(out):
        raise ValidationError({"sources": gettext("同一业务单据不能重复出现")})
    return out


def _same_buyer(a: dict[str, str], b: dict[str, str]) -> bool:
    return (a["buyer_name"].strip(), a["buyer_tax_id"].strip().upper()) == (
        b["buyer_name"].strip(),
        b["buyer_tax_id"].strip().upper(),
    )


def application_create(
    *,
    actor: Actor,
    taxpayer: Taxpayer,
    kind: str = InvoiceKind.SHUDIAN_NORMAL,
    sources: Sequence[BillingDocument | tuple[BillingDocument, Decimal | str | None]] = (),
    lines: Sequence[dict[str, Any]] | None = None,
    counterparty: Counterparty | None = None,
    buyer: dict[str, Any] | None = None,
    delivery_email: str = "",
    delivery_mobile: str = "",
    remark: str = "",
    specific_business: str = "",
    specific_business_data: dict | None = None,
    source: str = Source.MANUAL,
    submit: bool = True,
    merge_identical_lines: bool = False,
) -> InvoiceApplication:
    """Create an application, from billing documents (each whole balance, or an amount of it) or from entered lines.

    With documents, the amount taken from each is locked in against its invoiceable balance (paid − refunded − what
    active applications cover; or the order amount for 先票后款), under a row lock. Lines come from the documents
    (pro rata when only part is taken) unless ``lines`` are given, which must then add up to the amounts taken.
    ``submit=False`` leaves a draft. The entity's auto-approval rules apply on submission.
    """
    authorize(actor, taxpayer.pk, P_ADD_APPLICATION)
    if kind not in ISSUABLE_KINDS:
        raise ValidationError({"kind": gettext("发票种类 %(kind)s 不能在本系统开具") % {"kind": kind}})
    wanted = _normalise_sources(sources)
    if not wanted and not lines:
        raise ValidationError({"lines": gettext("请选择业务单据或填写明细")})
    if counterparty is not None and counterparty.taxpayer_id != taxpayer.pk:
        raise ValidationError({"counterparty": gettext("购买方不属于该主体")})
    with transaction.atomic():
        docs = lock_rows(BillingDocument, [d.pk for d, _ in wanted]) if wanted else []
        by_pk = {d.pk: d for d in docs}
        policy = policy_for(taxpayer)
        taken: list[tuple[BillingDocument, Decimal]] = []
        errors: list[str] = []
        for doc_in, amount in wanted:
            doc = by_pk[doc_in.pk]
            if doc.taxpayer_id != taxpayer.pk:
                raise ValidationError({"sources": gettext("业务单据 %(number)s 不属于该主体") % {"number": doc.external_no}})
            if doc.status == BillingDocumentStatus.CLOSED:
                errors.append(gettext("业务单据 %(number)s 已关闭") % {"number": doc.external_no})
                continue
            bal = application_selectors.billing_document_balance(
                doc, policy=policy, applied=application_selectors.applied_amount(doc))
            take = bal.balance if amount is None else amount
            if take <= 0:
                errors.append(
                    gettext("业务单据 %(number)s 没有可开票余额") % {"number": doc.external_no}
                    if amount is None
                    else gettext("申请金额必须大于0")
                )
            elif take > bal.balance:
                errors.append(
                    gettext("业务单据 %(number)s 申请金额 %(amount)s 超过可开票余额 %(balance)s")
                    % {"number": doc.external_no, "amount": money(take), "balance": money(bal.balance)}
                )
            else:
                taken.append((doc, take))
        if errors:
            raise ValidationError({"sources": errors})
        # The buyer: the chosen counterparty, an entered title, or the documents' (which must all agree).
        if counterparty is not None:
            buyer_fields = buyer_from_counterparty(counterparty)
        elif buyer:
            buyer_fields = buyer_from_dict(buyer)
        elif taken:
            buyer_fields = {k: getattr(taken[0][0], k) for k in BUYER_KEYS}
            counterparty = taken[0][0].counterparty
        else:
            raise ValidationError({"buyer_name": gettext("请选择购买方或填写购买方抬头")})
        for doc, _ in taken:
            if not _same_buyer(buyer_fields, {k: getattr(doc, k) for k in BUYER_KEYS}):
                raise ValidationError(
                    {"sources": gettext("业务单据 %(number)s 的购买方与申请单不一致，不能合并") % {"number": doc.external_no}}
                )
        if lines:
            problem = document_lines_problem(len(lines))
            if problem:
                raise ValidationError({"lines": problem})
            lines = lines_with_categories(lines)
            for no, raw in enumerate(lines, start=1):
                check_line_text(raw, no=no)
            split_lines = [ln for no, raw in enumerate(lines, start=1) for ln in input_lines(raw, no=no)]
            if taken:
                entered = applications_splitting.totals(split_lines).total
                wanted_total = sum((a for _, a in taken), ZERO)
                if entered != wanted_total:
                    raise ValidationError(
                        {"lines": gettext("明细价税合计 %(lines)s 与所选单据申请金额 %(wanted)s 不符")
                         % {"lines": entered, "wanted": wanted_total}}
                    )
        else:
            split_lines = [ln for doc, amount in taken for ln in _take_from_document(doc, amount)]
        if merge_identical_lines:
            split_lines = applications_splitting.merge_identical(split_lines)
        first_doc = taken[0][0] if taken else None
        return _insert_application(
            actor=actor,
            taxpayer=taxpayer,
            kind=kind,
            buyer_fields=buyer_fields,
            draft=_Draft(lines=split_lines, sources=taken),
            counterparty=counterparty,
            delivery_email=delivery_email
            or (counterparty.email if counterparty else "")
            or (first_doc.buyer_email if first_doc else ""),
            delivery_mobile=delivery_mobile
            or (counterparty.mobile if counterparty else "")
            or (first_doc.buyer_mobile if first_doc else ""),
            remark=remark,
            specific_business=specific_business,
            specific_business_data=specific_business_data,
            source=source,
            submit=submit,
        )


def applications_merge(
    *,
    actor: Actor,
    documents: Sequence[BillingDocument],
    kind: str = InvoiceKind.SHUDIAN_NORMAL,
    merge_identical_lines: bool = False,
    **kwargs: Any,
) -> InvoiceApplication:
    """One application for the whole balance of several billing documents of one entity and one buyer."""
    if len(documents) < 2:
        raise ValidationError({"sources": gettext("合并开票至少需要两张业务单据")})
    taxpayers = {d.taxpayer_id for d in documents}
    if len(taxpayers) != 1:
        raise ValidationError({"sources": gettext("只能合并同一主体的业务单据")})
    return application_create(
        actor=actor,
        taxpayer=documents[0].taxpayer,
        kind=kind,
        sources=list(documents),
        merge_identical_lines=merge_identical_lines,
        **kwargs,
    )


# What may be edited on an application before approval: the buyer title, the delivery contacts and the remark.
EDITABLE_FIELDS = ("delivery_email", "delivery_mobile", "remark", *BUYER_KEYS)
EDITABLE_UNTIL_APPROVAL = (S.DRAFT, S.PENDING_REVIEW, S.IN_REVIEW)


def application_edit(*, application: InvoiceApplication, actor: Actor, changes: dict[str, Any]) -> InvoiceApplication:
    """Correct an application before approval (``EDITABLE_FIELDS`` only); the event records the new values. Lines,
    amounts and documents are never edited: split, withdraw or reject and reapply instead."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValueError(f"not editable on an application: {', '.join(unknown)}")
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_CHANGE_APPLICATION)
        if app.status not in EDITABLE_UNTIL_APPROVAL:
            raise ValidationError(
                gettext("申请单 %(number)s 当前状态为「%(status)s」，审核通过后不能修改")
                % {"number": app.number, "status": _status_label(app.status)},
                code="transition_not_allowed",
            )
        if not changes:
            return app
        for name, value in changes.items():
            setattr(app, name, value)
        app.full_clean(exclude=[f.name for f in InvoiceApplication._meta.fields if f.name not in changes])
        app.save(update_fields=[*changes, "updated_at"])
        event_record(obj=app, action="edit", actor=actor, data={name: str(value) for name, value in changes.items()})
        return app


def application_submit(*, application: InvoiceApplication, actor: Actor) -> InvoiceApplication:
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_CHANGE_APPLICATION)
        application_transition(app, "submit", actor=actor)
        return _after_submit(app, actor=actor)


def application_claim(*, application: InvoiceApplication, actor: Actor) -> InvoiceApplication:
    """A reviewer takes an application from the queue (待审核 → 审核中)."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_REVIEW, P_APPROVE, any_of=True)
        return application_transition(app, "claim", actor=actor, args={"by": actor, "at": timezone.now()})


def application_release(*, application: InvoiceApplication, actor: Actor) -> InvoiceApplication:
    """Put a claimed application back in the queue (the claimer, or anyone who may approve)."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_REVIEW, P_APPROVE, any_of=True)
        _check_claim(app, actor)
        return application_transition(app, "release", actor=actor)


def _check_claim(app: InvoiceApplication, actor: Actor) -> None:
    """Review perm: only on one's own claim. Approve perm: also from the queue and over someone else's claim."""
    if actor is None or actor.has_perm(P_APPROVE):
        return
    if app.status == S.PENDING_REVIEW:
        raise PermissionDenied(gettext("请先领取该申请单再审核"))
    if app.status == S.IN_REVIEW and app.reviewer_id != actor.pk:
        raise PermissionDenied(gettext("该申请单已被其他审核人领取"))


def application_approve(*, application: InvoiceApplication, actor: Actor, note: str = "") -> InvoiceApplication:
    """Approve (→ 待开票) after every compliance rule passes; otherwise refuse with all failures at once."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_REVIEW, P_APPROVE, any_of=True)
        application_ensure_can(app, "approve")
        _check_claim(app, actor)
        applications_compliance.raise_failures(application_selectors.application_failures(app))
        return application_transition(app, "approve", actor=actor, reason=note,
                                      args={"by": actor, "at": timezone.now()})


def application_reject(*, application: InvoiceApplication, actor: Actor, reason: str) -> InvoiceApplication:
    """Reject with a reason the customer will read (→ 驳回); the billing documents get their balance back."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reject_reason": gettext("驳回必须填写原因")})
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_REVIEW, P_APPROVE, any_of=True)
        application_ensure_can(app, "reject")
        _check_claim(app, actor)
        application_transition(app, "reject", actor=actor, reason=reason,
                               args={"by": actor, "at": timezone.now(), "reason": reason})
        _refresh_sources(app, actor=actor)
        return app


# The transition that brings a billing document to each status it may be refreshed to.
DOCUMENT_STATUS_TRANSITIONS = {
    BillingDocumentStatus.OPEN: "mark_open",
    BillingDocumentStatus.PARTLY: "mark_partly_applied",
    BillingDocumentStatus.FULLY: "mark_fully_applied",
}


def billing_document_refresh_status(
    *, document: BillingDocument, actor: Actor = None, applied: Decimal | None = None
) -> BillingDocument:
    """A billing document's status follows what live applications take from it: nothing → 未开票, all it may be
    invoiced for → 已全部申请, some → 部分开票; a closed one stays closed. Called after every change of that amount
    or of the document's ceiling (an application created, withdrawn, rejected, red-flushed; a payment, a refund).
    A change is the document's transition, with its event. The caller holds the document's row lock (``document``
    was read under it). ``applied``: what live applications take, when the caller has just read it."""
    if document.status == BillingDocumentStatus.CLOSED:
        return document
    if applied is None:
        applied = application_selectors.applied_amount(document)
    bal = application_selectors.billing_document_balance(document, applied=applied)
    if bal.applied == 0:
        status = BillingDocumentStatus.OPEN
    elif bal.balance == 0:
        status = BillingDocumentStatus.FULLY
    else:
        status = BillingDocumentStatus.PARTLY
    if status == document.status:
        return document
    name = DOCUMENT_STATUS_TRANSITIONS[status]
    before = document.status
    getattr(document, name)()
    document.save(update_fields=["status"])
    event_record(obj=document, action=name, actor=actor, from_state=before, to_state=document.status,
                 data={"applied": str(bal.applied), "balance": str(bal.balance)})
    return document


def _refresh_sources(app: InvoiceApplication, *, actor: Actor) -> None:
    doc_ids = list(app.sources.values_list("billing_document_id", flat=True))
    for doc in lock_rows(BillingDocument, doc_ids) if doc_ids else []:
        billing_document_refresh_status(document=doc, actor=actor)


def application_withdraw(*, application: InvoiceApplication, actor: Actor, reason: str = "") -> InvoiceApplication:
    """Withdraw before issuing (→ 已撤销); the billing documents get their balance back."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_CHANGE_APPLICATION)
        application_transition(app, "withdraw", actor=actor, reason=reason)
        _refresh_sources(app, actor=actor)
        return app


def application_reapply(
    *,
    application: InvoiceApplication,
    actor: Actor,
    buyer: dict[str, Any] | None = None,
    delivery_email: str | None = None,
    delivery_mobile: str | None = None,
    remark: str | None = None,
    source: str = Source.MANUAL,
) -> InvoiceApplication:
    """A new application after a rejection: the rejected one's lines and billing documents (the same amounts), with
    the corrected buyer title, submitted for review and linked to the rejected one (``reapplication_of``).

    The corrected title replaces the documents' buyer on purpose: correcting it is the point. Each rejected
    application is reapplied at most once; the documents' balance is checked again under a row lock.
    """
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_ADD_APPLICATION)
        if app.status != S.REJECTED:
            raise ValidationError(
                gettext("只有已驳回的申请才能重新申请（当前状态：%(status)s）") % {"status": _status_label(app.status)},
                code="transition_not_allowed",
            )
        if InvoiceApplication.objects.filter(reapplication_of=app).exists():
            raise ValidationError(gettext("该申请已经重新申请过"), code="transition_not_allowed")
        sources = list(app.sources.select_related("billing_document").order_by("pk"))
        docs = {d.pk: d for d in lock_rows(BillingDocument, [s.billing_document_id for s in sources])} if sources else {}
        policy = policy_for(app.taxpayer)
        taken: list[tuple[BillingDocument, Decimal]] = []
        errors: list[str] = []
        for src in sources:
            doc = docs[src.billing_document_id]
            bal = application_selectors.billing_document_balance(
                doc, policy=policy, applied=application_selectors.applied_amount(doc))
            if doc.status == BillingDocumentStatus.CLOSED:
                errors.append(gettext("业务单据 %(number)s 已关闭") % {"number": doc.external_no})
            elif src.amount > bal.balance:
                errors.append(
                    gettext("业务单据 %(number)s 申请金额 %(amount)s 超过可开票余额 %(balance)s")
                    % {"number": doc.external_no, "amount": src.amount, "balance": bal.balance}
                )
            else:
                taken.append((doc, src.amount))
        if errors:
            raise ValidationError({"sources": errors})
        buyer_fields = buyer_from_dict(buyer) if buyer else {k: getattr(app, k) for k in BUYER_KEYS}
        return _insert_application(
            actor=actor,
            taxpayer=app.taxpayer,
            kind=app.kind,
            buyer_fields=buyer_fields,
            draft=_Draft(lines=application_lines_as_split_lines(app), sources=taken),
            counterparty=None if buyer else app.counterparty,
            delivery_email=app.delivery_email if delivery_email is None else delivery_email,
            delivery_mobile=app.delivery_mobile if delivery_mobile is None else delivery_mobile,
            remark=app.remark if remark is None else remark,
            specific_business=app.specific_business,
            specific_business_data=app.specific_business_data,
            source=source,
            submit=True,
            reapplication_of=app,
            event_data={"reapplication_of": app.number, "previous_buyer": app.buyer_name},
        )


@dataclass
class BatchResult:
    approved: list[InvoiceApplication] = field(default_factory=list)
    refused: dict[str, list[applications_compliance.RuleFailure]] = field(default_factory=dict)
    not_fitting: list[str] = field(default_factory=list)  # numbers refused because the quota would not cover them

    @property
    def summary(self) -> str:
        text = gettext("已批准 %(approved)d 张，未批准 %(refused)d 张") % {
            "approved": len(self.approved), "refused": len(self.refused)}
        if self.not_fitting:
            text += gettext("；额度不足：%(numbers)s") % {"numbers": gettext("、").join(self.not_fitting)}
        return text


def applications_approve_batch(
    *, applications: Iterable[InvoiceApplication | int], actor: Actor, note: str = ""
) -> BatchResult:
    """Approve many at once (in primary-key order). Each is checked on its own; quota is counted cumulatively
    (each approval commits quota that the next one sees), so the result says which applications would not fit in
    what is left of the month's quota."""
    ids = [a if isinstance(a, int) else a.pk for a in applications]
    result = BatchResult()
    with transaction.atomic():
        for app in lock_rows(InvoiceApplication, ids):
            try:
                authorize(actor, app.taxpayer_id, P_REVIEW, P_APPROVE, any_of=True)
                application_ensure_can(app, "approve")
                _check_claim(app, actor)
            except (PermissionDenied, ValidationError) as exc:
                message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
                result.refused[app.number] = [applications_compliance.RuleFailure("not_allowed", "status", message)]
                continue
            failures = application_selectors.application_failures(app)
            if failures:
                result.refused[app.number] = failures
                if any(f.code == "quota" for f in failures):
                    result.not_fitting.append(app.number)
                continue
            application_transition(
                app, "approve", actor=actor, reason=note, data={"batch": True}, args={"by": actor, "at": timezone.now()}
            )
            result.approved.append(app)
    return result


def application_mark_issuing(
    *, application: InvoiceApplication, actor: Actor, locked: bool = False
) -> InvoiceApplication:
    """待开票 → 开票中: compliance is checked again, and a stable request serial is fixed (reused on every retry).

    The caller queues the channel call with ``transaction.on_commit`` so that the intent is committed first.
    ``locked``: the caller already holds this very row's lock (``select_for_update`` in its transaction).
    """
    with transaction.atomic():
        app = application if locked else application_lock(application)
        authorize(actor, app.taxpayer_id, P_ISSUE)
        application_ensure_can(app, "start_issuing")
        applications_compliance.raise_failures(application_selectors.application_failures(app))
        return application_transition(
            app, "start_issuing", actor=actor, data={"attempt": app.issue_attempts + 1},
            args={"serial": app.issue_serial or app.number},
        )


def application_request_issuing(*, application: InvoiceApplication, actor: Actor) -> bool:
    """A single submission of a 待开票 application for the grouped path: it waits (``issue_requested_at``) for
    the next drain, which starts it with others in one batch (``applications_mark_issuing(on_behalf=True)``: the
    state and compliance checked again, the serial, the ``start_issuing`` event naming ``actor``).

    Cheap on purpose, as it runs once per paid order: the permission, then one conditional UPDATE (the row's lock
    and the state check in one statement), no event of its own. Returns True when this call made the request (the
    caller arms a drain on commit); False, changing nothing, when it was waiting already or the application is
    开票中 or 已开票 (a double click, an API retry). Any other state is refused as ``application_mark_issuing``
    refuses it.
    """
    authorize(actor, application.taxpayer_id, P_ISSUE)
    user = actor_user(actor)
    if _request_issuing_update(application.pk, user.pk if user is not None else None, timezone.now()):
        return True
    app = InvoiceApplication.objects.filter(pk=application.pk).first()
    if app is None:
        raise ValidationError(gettext("%(model)s不存在或已被删除") % {"model": InvoiceApplication._meta.verbose_name})
    if app.status not in (S.APPROVED, S.ISSUING, S.ISSUED):
        application_ensure_can(app, "start_issuing")
    return False


def _request_issuing_sql() -> tuple[str, list[Any]]:
    """The request's conditional UPDATE as SQL and its prepared fields, built once from the model: this runs once
    per paid order, and building the query through the ORM costs several times the statement itself."""
    global _REQUEST_SQL  # noqa: PLW0603 - built on first use (needs the database backend), then constant
    if _REQUEST_SQL is None:
        meta = InvoiceApplication._meta
        quote = connection.ops.quote_name
        col = {name: quote(meta.get_field(name).column) for name in (
            "id", "status", "issue_requested_at", "issue_requested_by", "needs_attention", "last_error",
            "updated_at")}
        sql = (f"UPDATE {quote(meta.db_table)} SET {col['issue_requested_at']} = %s, "
               f"{col['issue_requested_by']} = %s, {col['needs_attention']} = %s, {col['last_error']} = %s, "
               f"{col['updated_at']} = %s WHERE {col['id']} = %s AND {col['status']} = %s "
               f"AND {col['issue_requested_at']} IS NULL")
        _REQUEST_SQL = (sql, [meta.get_field("issue_requested_at"), meta.get_field("needs_attention"),
                              meta.get_field("updated_at")])
    return _REQUEST_SQL


_REQUEST_SQL: tuple[str, list[Any]] | None = None


def _request_issuing_update(application_id: int, user_id: int | None, now: Any) -> int:
    """待开票 and not yet waiting → waiting since ``now`` (one statement: the row's lock and the state check in
    one, atomic on its own, in the caller's transaction if any). The rows it changed: 1 or 0."""
    sql, (at_field, flag_field, updated_field) = _request_issuing_sql()
    at = at_field.get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, user_id, flag_field.get_db_prep_save(False, connection), "",
                             updated_field.get_db_prep_save(now, connection), application_id, S.APPROVED.value])
        return int(cursor.rowcount)


@dataclass
class BatchMarked:
    """What ``applications_mark_issuing`` did: the applications now 开票中, and why the others were left."""

    marked: list[InvoiceApplication] = field(default_factory=list)
    refused: dict[str, list[applications_compliance.RuleFailure]] = field(default_factory=dict)
    already: list[InvoiceApplication] = field(default_factory=list)  # 开票中 or 已开票 before: left as they were
    # the lines the compliance check read, by application id (the marked ones' included): a caller that issues
    # them at once (the drain) builds its requests from these instead of reading them again
    lines: dict[int, list[ApplicationLine]] = field(default_factory=dict, repr=False)


ISSUING_FIELDS = ("status", "issue_serial", "issue_attempts", "fail_reason", "needs_attention", "last_error",
                  "issue_requested_at", "issue_requested_by", "updated_at")


def applications_mark_issuing(*, applications: Sequence[InvoiceApplication], actor: Actor,
                              on_behalf: bool = False) -> BatchMarked:
    """待开票 → 开票中 for many applications in the caller's transaction: what ``application_mark_issuing`` does
    for one (permission, state, compliance checked again, a stable serial, one event each), in a few statements.

    The caller holds the rows' locks (taken in primary-key order, with ``taxpayer`` selected) and queues the calls
    on commit. An application that may not start is left unchanged and reported, the others go on.
    ``on_behalf``: the grouped path of single submissions (``actor`` is the system): each event names the one who
    asked (``issue_requested_by``, checked when they asked) and says how long the request waited.
    """
    result = BatchMarked()
    allowed: dict[int, PermissionDenied | None] = {}
    candidates = []
    for app in applications:
        if app.taxpayer_id not in allowed:
            try:
                authorize(actor, app.taxpayer_id, P_ISSUE)
                allowed[app.taxpayer_id] = None
            except PermissionDenied as exc:
                allowed[app.taxpayer_id] = exc
        try:
            if allowed[app.taxpayer_id] is not None:
                raise allowed[app.taxpayer_id]
            application_ensure_can(app, "start_issuing")
        except (PermissionDenied, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            result.refused[app.number] = [applications_compliance.RuleFailure("not_allowed", "status", message)]
            continue
        candidates.append(app)
    contexts = application_selectors.compliance_contexts(candidates)
    now = timezone.now()
    events = []
    for app in candidates:
        failures = applications_compliance.check(contexts[app.pk])
        if failures:
            result.refused[app.number] = failures
            continue
        before = app.status
        data: dict[str, Any] = {"batch": True}
        by: Actor = actor
        if on_behalf:
            by = app.issue_requested_by
            if app.issue_requested_at is not None:
                data["waited_ms"] = max(0, int((now - app.issue_requested_at).total_seconds() * 1000))
        app.start_issuing(serial=app.issue_serial or app.number)
        app.updated_at = now
        result.marked.append(app)
        events.append({"obj": app, "action": "start_issuing", "actor": by, "from_state": before,
                       "to_state": app.status, "data": {"attempt": app.issue_attempts, **data}})
    if result.marked:
        _save_started(result.marked)
        events_record_many(events)
    result.lines = {pk: context.lines for pk, context in contexts.items()}
    return result


def _save_started(applications: list[InvoiceApplication]) -> None:
    """Write ``ISSUING_FIELDS`` of applications just moved 待开票 → 开票中 (rows locked by the caller, so each
    in-memory value is the row's value after ``start_issuing``) in one UPDATE per group of equal values, not
    Django's ``bulk_update`` (a CASE per field and row, whose building costs more than the statement): the serial
    set now is the row's own number, written as ``F("number")``, and the attempt count the row's plus one, so
    a batch is usually one group. A kept serial of another form (a reissue's ``-R1``) goes through ``bulk_update``."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    others: list[InvoiceApplication] = []
    for app in applications:
        if app.issue_serial != app.number or app.issue_requested_at is not None or app.issue_requested_by_id:
            others.append(app)
            continue
        key = (app.status, app.issue_attempts, app.fail_reason, app.needs_attention, app.last_error, app.updated_at)
        groups.setdefault(key, []).append(app.pk)
    for (status, attempts, fail_reason, needs_attention, last_error, updated_at), ids in groups.items():
        InvoiceApplication.objects.filter(pk__in=ids).update(
            status=status, issue_serial=F("number"), issue_attempts=attempts, fail_reason=fail_reason,
            needs_attention=needs_attention, last_error=last_error, issue_requested_at=None,
            issue_requested_by=None, updated_at=updated_at)
    if others:
        InvoiceApplication.objects.bulk_update(others, ISSUING_FIELDS)


def application_retry(*, application: InvoiceApplication, actor: Actor) -> InvoiceApplication:
    """开票失败 → 待开票; the next 发起开票 reuses the same request serial."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_ISSUE)
        return application_transition(app, "retry", actor=actor)


SPLITTABLE = (S.DRAFT, S.PENDING_REVIEW, S.IN_REVIEW)


def application_split(
    *,
    application: InvoiceApplication,
    actor: Actor,
    plan: applications_splitting.SplitPlan | None = None,
    use_entity_limits: bool = True,
) -> list[InvoiceApplication]:
    """Split an application not yet approved into several; the original is withdrawn (已撤销, reason: 拆分).

    ``plan`` says how (by category group, max lines, amount limit, the 1.27 tolerance, explicit amounts or
    quantities). With ``use_entity_limits`` the entity's single-invoice limit and line maximum always apply.
    The parts add up exactly to the original, line by line, and take exactly what it took from each document.
    """
    plan = plan or applications_splitting.SplitPlan()
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, P_CHANGE_APPLICATION)
        if app.status not in SPLITTABLE:
            raise ValidationError(
                gettext("申请单 %(number)s 当前状态为「%(status)s」，只有审核通过前的申请单可以拆分")
                % {"number": app.number, "status": _status_label(app.status)}
            )
        sources = list(app.sources.order_by("billing_document_id"))
        docs = lock_rows(BillingDocument, [s.billing_document_id for s in sources]) if sources else []
        taxpayer = app.taxpayer
        if use_entity_limits:
            max_lines = min(taxpayer.max_lines_per_invoice or applications_compliance.SHUDIAN_MAX_LINES, applications_compliance.SHUDIAN_MAX_LINES)
            plan = applications_splitting.SplitPlan(
                group_by=plan.group_by,
                amount_limit=plan.amount_limit if plan.amount_limit is not None else taxpayer.single_invoice_limit,
                max_lines=min(plan.max_lines, max_lines) if plan.max_lines else max_lines,
                tolerance=plan.tolerance,
                amounts=plan.amounts,
                quantities=plan.quantities,
            )
        try:
            parts = applications_splitting.plan_split(application_lines_as_split_lines(app), plan)
        except applications_splitting.SplitError as exc:
            raise ValidationError(str(exc)) from exc
        if len(parts) < 2:
            raise ValidationError(gettext("按所选方式无需拆分：结果只有一张"))
        part_totals = [applications_splitting.totals(p).total for p in parts]
        matrix = applications_splitting.allocate_sources(part_totals, [s.amount - s.released_amount for s in sources]) if sources else []
        doc_by_pk = {d.pk: d for d in docs}
        was_submitted = app.status != S.DRAFT
        application_transition(app, "withdraw", actor=actor, reason=f"拆分为 {len(parts)} 张",
                               data={"split_into": len(parts)})
        created = []
        for i, lines in enumerate(parts):
            taken = [
                (doc_by_pk[s.billing_document_id], matrix[i][j]) for j, s in enumerate(sources) if matrix[i][j] != 0
            ]
            created.append(
                _insert_application(
                    actor=actor,
                    taxpayer=taxpayer,
                    kind=app.kind,
                    buyer_fields=app.buyer_snapshot(),
                    draft=_Draft(lines=lines, sources=taken),
                    counterparty=app.counterparty,
                    delivery_email=app.delivery_email,
                    delivery_mobile=app.delivery_mobile,
                    remark=app.remark,
                    specific_business=app.specific_business,
                    specific_business_data=app.specific_business_data,
                    source=app.source,
                    submit=was_submitted,
                    split_from=app,
                    event_data={"split_from": app.number, "part": i + 1, "of": len(parts)},
                )
            )
        return created


def application_delete(*, application: InvoiceApplication, actor: Actor) -> None:
    """Delete a draft (nothing past draft is ever deleted)."""
    with transaction.atomic():
        app = application_lock(application)
        authorize(actor, app.taxpayer_id, "issuing.delete_invoiceapplication")
        if app.status not in EDITABLE_STATUSES:
            raise ValidationError(gettext("申请单 %(number)s 已提交，不能删除；请撤销") % {"number": app.number})
        event_record(obj=app, action="delete", actor=actor, from_state=app.status)
        doc_ids = list(app.sources.values_list("billing_document_id", flat=True))
        app.delete()
        for doc in lock_rows(BillingDocument, doc_ids) if doc_ids else []:
            billing_document_refresh_status(document=doc, actor=actor)
