"""What the application and its billing documents do as its invoice's red-letter forms move: 红冲中 when a form is
on its way, back (已开票 / 部分红冲) when the last open form is void, 已红冲 / 部分红冲 with the red invoice, and
what a partial red takes off the billing documents released.
"""

from __future__ import annotations

from decimal import Decimal

from django_fsm import can_proceed

from invoicing.actors import Actor, actor_label
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationSource, ApplicationStatus, InvoiceApplication
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.redletter.blue import blue_open_forms
from issuing.redletter.models import RedLetterForm

S = ApplicationStatus


def application_lock(blue: Invoice) -> InvoiceApplication | None:
    """The blue invoice's application, locked (None for an invoice without one)."""
    if not blue.application_id:
        return None
    return InvoiceApplication.objects.select_for_update().get(pk=blue.application_id)


def application_step(app: InvoiceApplication | None, name: str, *, actor: Actor, data: dict,
                     args: dict | None = None) -> None:
    """The application's transition ``name`` with its Event, when it may take it (a locked ``app``)."""
    if app is None or not can_proceed(getattr(app, name)):
        return
    application_services.application_transition(app, name, actor=actor, actor_label=actor_label(actor), data=data,
                                                args=args or {})


def application_start_red(blue: Invoice, form: RedLetterForm, actor: Actor) -> None:
    """A form on its way: the application is 红冲中 (once)."""
    application_step(application_lock(blue), "start_red", actor=actor,
                     data={"form": form.request_no, "blue": blue.number})


def application_cancel_red(blue: Invoice, form: RedLetterForm, actor: Actor) -> None:
    """``form`` will not red-flush: back to 已开票 / 部分红冲, unless another form of the blue invoice is open."""
    app = application_lock(blue)
    if app is None or app.status != S.RED_PENDING or blue_open_forms(blue, exclude_form=form.pk).exists():
        return
    application_step(app, "cancel_red", actor=actor, data={"form": form.request_no, "status": form.status},
                     args={"partly_red_before": blue.status == InvoiceStatus.RED_PARTIAL})


def application_sources_release(app: InvoiceApplication, gross: Decimal) -> list[int]:
    """Give ``gross`` (positive) back to the application's billing documents, in document order."""
    left = gross
    doc_ids = []
    for src in ApplicationSource.objects.select_for_update().filter(application=app).order_by("billing_document_id"):
        if left <= 0:
            break
        take = min(left, src.amount - src.released_amount)
        if take <= 0:
            continue
        ApplicationSource.objects.filter(pk=src.pk).update(released_amount=src.released_amount + take)
        left -= take
        doc_ids.append(src.billing_document_id)
    return doc_ids
