"""Refund-driven red-flush (domain.md §12): a refund on a billing document turns into red-letter forms for what it
leaves over-invoiced, once per refund key; refunds recorded from any face are found and handled by
``refunds_scan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_label
from invoicing.events import event_record
from invoicing.models import Event
from invoicing.tax import q2, to_decimal
from issuing import workflow
from issuing.applications import selectors as application_selectors
from issuing.applications.models import ApplicationSource, ApplicationStatus
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.blue import blue_remaining_total
from issuing.redletter.forms import redletter_request, redletter_submit
from issuing.redletter.lines import ZERO
from issuing.redletter.models import RESERVING, RedFormState, RedLetterForm, RefundPolicy
from issuing.redletter.policy import P_REQUEST_ANY, policy_for, reason_allows_partial
from issuing.redletter.sync import FULL_ONLY_CODES
from issuing.workflow import authorize

F = RedFormState
S = ApplicationStatus


@dataclass
class RefundOutcome:
    forms: list[RedLetterForm] = field(default_factory=list)
    already: bool = False
    nothing_to_flush: bool = False
    messages: list[str] = field(default_factory=list)


def _refund_candidates(doc: BillingDocument) -> list[tuple[ApplicationSource, Invoice]]:
    """(source, blue invoice) pairs through which ``doc`` has been invoiced, newest invoice first."""
    out = []
    sources = ApplicationSource.objects.filter(
        billing_document=doc, application__status__in=(S.ISSUED, S.PARTLY_RED, S.RED_PENDING)
    ).select_related("application")
    for src in sources:
        blue = Invoice.objects.filter(application=src.application, is_red=False).order_by("-issued_at").first()
        if blue is not None and blue.status in (InvoiceStatus.NORMAL, InvoiceStatus.RED_PARTIAL):
            out.append((src, blue))
    out.sort(key=lambda p: (p[1].issued_at, p[1].pk), reverse=True)
    return out


def _pending_red_for(doc: BillingDocument) -> Decimal:
    """Red already asked for this document (drafts included) and not yet recorded: it still counts as invoiced."""
    total = RedLetterForm.objects.filter(
        billing_document=doc, status__in=(F.DRAFT, *RESERVING), red_invoice__isnull=True
    ).aggregate(s=Sum("total"))["s"] or ZERO
    return -total


@dataclass
class _Plan:
    blue: Invoice
    gross: Decimal
    full: bool
    reissue: Decimal | None = None


def refund_red_flush(*, document: BillingDocument, refund_key: str, amount: Decimal | str | None = None,
                     actor: Actor = None, channel: Any = None) -> RefundOutcome:
    """Red-flush what a refund leaves over-invoiced on ``document``. Once per ``refund_key``.

    The amount to red is the document's 超开 (invoiced beyond paid − refunded) not already covered by other forms,
    at most the refund. Per blue invoice, newest first: all that is left of it → full red (or the rest, when it was
    partly red before); less → partial red when the entity's refund reason allows it and its policy is
    ``partial_where_allowed``, otherwise full red and a new application for what remains. When the platform
    answers that the buyer has not used the invoice (partial red impossible), the same fallback applies.

    The forms are written under the billing document's lock (so two refunds never red the same amount twice) and
    sent to the platform after commit.
    """
    key = (refund_key or "").strip()
    if not key:
        raise ValidationError(gettext("退款键不能为空"))
    outcome = RefundOutcome()
    with transaction.atomic():
        doc = workflow.lock_rows(BillingDocument, [document.pk])[0]
        if actor is not None:
            authorize(actor, doc.taxpayer_id, *P_REQUEST_ANY, any_of=True)
        done = list(RedLetterForm.objects.filter(refund_key__startswith=f"{key}:").order_by("id"))
        if done:
            outcome.forms, outcome.already = done, True
            return outcome
        policy = policy_for(doc.taxpayer)
        bal = application_selectors.billing_document_balance(doc, applied=application_selectors.applied_amount(doc))
        need = bal.over_invoiced - _pending_red_for(doc)
        if amount is not None:
            need = min(need, q2(to_decimal(amount, "amount")))
        if need <= 0:
            outcome.nothing_to_flush = True
            event_record(obj=doc, action="refund_red_none", actor=actor, actor_label=actor_label(actor) or "退款红冲",
                         data={"refund_key": key, "over_invoiced": str(bal.over_invoiced)})
            return outcome
        plans: list[_Plan] = []
        for src, blue in _refund_candidates(doc):
            if need <= 0:
                break
            left = blue_remaining_total(blue)
            share = min(need, src.amount - src.released_amount, left)
            if share <= 0:
                continue
            need -= share
            if share == left:
                plans.append(_Plan(blue, share, True))
            elif policy.refund_policy == RefundPolicy.PARTIAL_WHERE_ALLOWED and reason_allows_partial(
                policy.refund_reason, policy
            ):
                plans.append(_Plan(blue, share, False))
            else:
                plans.append(_Plan(blue, left, True, left - share))
        drafts = [(p, _refund_form(doc, p, key=f"{key}:{p.blue.pk}", reason=policy.refund_reason, outcome=outcome))
                  for p in plans]
    if not policy.auto_submit:
        return outcome
    for plan, form in drafts:
        if form is None:
            continue
        sent = _submit_quietly(form, channel, outcome)
        if sent is None or plan.full or sent.status != F.SUBMIT_FAILED:
            continue
        if not any(code in sent.last_error for code in FULL_ONLY_CODES):
            continue
        # The buyer has neither used nor booked the invoice: only full red is possible (§11.1). Red it all and
        # apply again for what the documents may still be invoiced for.
        with transaction.atomic():
            workflow.lock_rows(BillingDocument, [doc.pk])
            left = blue_remaining_total(plan.blue)
            full_plan = _Plan(plan.blue, left, True, left - plan.gross)
            form2 = _refund_form(doc, full_plan, key=f"{key}:{plan.blue.pk}:full", reason=policy.refund_reason,
                                 outcome=outcome)
        if form2 is not None:
            _submit_quietly(form2, channel, outcome)
            outcome.messages.append(f"蓝字发票 {plan.blue.number}：购方未用票，改为全额红冲并就剩余金额重新申请")
    return outcome


def _submit_quietly(form: RedLetterForm, channel: Any, outcome: RefundOutcome) -> RedLetterForm | None:
    try:
        sent = redletter_submit(form=form, actor=None, channel=channel)
    except ValidationError as exc:
        outcome.messages.append(f"{form}: {'；'.join(exc.messages)}")
        return None
    outcome.forms = [sent if f.pk == sent.pk else f for f in outcome.forms]
    return sent


def _refund_form(doc: BillingDocument, plan: _Plan, *, key: str, reason: str,
                 outcome: RefundOutcome) -> RedLetterForm | None:
    """A draft for one blue invoice of a refund (inside the caller's transaction, the document locked)."""
    existing = RedLetterForm.objects.filter(refund_key=key).first()
    if existing is not None:
        outcome.forms.append(existing)
        return existing
    blue = plan.blue
    use_reason = reason
    if plan.full and blue.red_amount_total > 0 and not reason_allows_partial(reason, policy_for(blue.taxpayer)):
        use_reason = "02"  # the rest of a partly red invoice goes as partial lines: 开票有误 cannot
    try:
        # A system step: its refusal is written into the audit trail, in the default language.
        with translation.override(settings.LANGUAGE_CODE):
            form = redletter_request(
                actor=None, blue_invoice=blue, reason=use_reason, is_full=plan.full,
                amount_with_tax=None if plan.full else plan.gross, refund_key=key, billing_document=doc,
                reissue_amount=plan.reissue if plan.reissue and plan.reissue > 0 else None,
                note=f"退款红冲：业务单据 {doc.external_no}",
            )
    except ValidationError as exc:
        outcome.messages.append(f"蓝字发票 {blue.number}：{'；'.join(exc.messages)}")
        event_record(obj=doc, action="refund_red_refused", actor_label="退款红冲", reason="；".join(exc.messages)[:500],
                     data={"refund_key": key.split(":", 1)[0], "blue": blue.number})
        return None
    outcome.forms.append(form)
    return form


REFUND_SCAN_DAYS = 7


def refunds_scan(*, channel: Any = None, days: int = REFUND_SCAN_DAYS, limit: int = 200) -> list[RefundOutcome]:
    """Refunds are recorded by ``billing_document_refund`` with an ``Event`` (action "refund"); each one not yet
    red-flushed is handled here with the event as its refund key, so a refund from any face (admin, API, import)
    red-flushes on its own within one poll. Idempotent: the key is the event's id. A refund whose invoice is still
    being issued opens nothing yet and is looked at again on the next run (for ``days``)."""
    ct = ContentType.objects.get_for_model(BillingDocument)
    since = timezone.now() - timedelta(days=days)
    events = Event.objects.filter(content_type=ct, action="refund", created_at__gte=since).order_by("id")
    handled = set(
        RedLetterForm.objects.filter(refund_key__startswith="refund-event-", created_at__gte=since - timedelta(days=1))
        .values_list("refund_key", flat=True)
    )
    handled_events = {k.split(":", 1)[0] for k in handled}
    handled_events |= set(
        Event.objects.filter(content_type=ct, action__in=("refund_red_none", "refund_red_refused"),
                             created_at__gte=since).values_list("data__refund_key", flat=True)
    )
    out = []
    for event in events[: limit * 5]:
        key = f"refund-event-{event.pk}"
        if key in handled_events:
            continue
        doc = BillingDocument.objects.filter(pk=int(event.object_id)).first()
        if doc is None:
            continue
        out.append(refund_red_flush(document=doc, refund_key=key, amount=(event.data or {}).get("amount"),
                                    channel=channel))
        if len(out) >= limit:
            break
    return out
