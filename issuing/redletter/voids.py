"""Voiding a 数电纸票 (作废, domain.md §11.2): only one issued this month with nothing red-flushed, and only where the
platform agrees; otherwise a full red-letter form is opened and submitted instead. Electronic invoices are never
voided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django_fsm import can_proceed

from invoicing.actors import Actor, actor_label
from invoicing.channels.base import ChannelRejected, ChannelUnavailable
from invoicing.events import event_record
from issuing.applications import quota
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.base import PAPER_KINDS
from issuing.platform.models import Invoice, InvoiceStatus
from issuing.platform.rollup import rollup_invoice
from issuing.redletter.blue import blue_check, blue_lock
from issuing.redletter.forms import redletter_request
from issuing.redletter.models import RESERVING, RedLetterForm
from issuing.redletter.policy import P_DECIDE
from issuing.redletter.sync import channel_for
from issuing.workflow import authorize

S = ApplicationStatus


# The platform's answer "outside the month / not allowed to void" (sandbox 3401).
VOID_REFUSED_CODES = frozenset({"3401"})


@dataclass
class VoidOutcome:
    voided: bool
    form: RedLetterForm | None = None
    message: str = ""


def paper_invoice_void(*, invoice: Invoice, actor: Actor, reason: str = "", red_reason: str = "01",
                       channel: Any = None) -> VoidOutcome:
    """Void a 数电纸票 issued this month (China time) with no red-letter form; otherwise — or when the platform
    refuses the void — open a full red form instead (reason ``red_reason``) and submit it."""
    authorize(actor, invoice.taxpayer_id, P_DECIDE)
    blue = Invoice.objects.select_related("taxpayer").get(pk=invoice.pk)
    if blue.kind not in PAPER_KINDS:
        raise ValidationError(gettext("发票 %(number)s 是数电电子发票，不能作废，只能红冲") % {"number": blue.number})
    blue_check(blue)
    same_month = f"{timezone.localdate():%Y-%m}" == f"{blue.issue_date:%Y-%m}"
    clean = blue.status == InvoiceStatus.NORMAL and not RedLetterForm.objects.filter(
        blue_invoice=blue, status__in=RESERVING).exists()
    if same_month and clean:
        ch = channel_for(blue.taxpayer, channel)
        try:
            ch.void_paper(blue.number, reason=reason)
        except ChannelRejected as exc:
            if exc.code not in VOID_REFUSED_CODES:
                raise ValidationError(gettext("平台拒绝作废：%(error)s") % {"error": exc}) from exc
            same_month = False  # the platform's month (or its rules) says no: red instead
        except ChannelUnavailable as exc:
            raise ValidationError(gettext("平台暂不可用，请稍后再试：%(error)s") % {"error": exc.message}) from exc
        else:
            invoice_void_record(invoice=blue, actor=actor, reason=reason)
            return VoidOutcome(voided=True, message=gettext("发票 %(number)s 已作废") % {"number": blue.number})
    form = redletter_request(actor=actor, blue_invoice=blue, reason=red_reason, is_full=True, submit=True,
                             note=f"不能作废（跨月或不满足作废条件），改为红冲。{reason}"[:300], channel=channel)
    return VoidOutcome(
        voided=False, form=form, message=gettext("发票 %(number)s 不能作废，已提交红字确认单") % {"number": blue.number}
    )


def invoice_void_record(*, invoice: Invoice, actor: Actor, reason: str) -> None:
    """作废 recorded once the platform has voided ``invoice``: the invoice 已作废 (out of the 发票汇总表), its quota back,
    its application 已作废, with their Events; one transaction, the invoice locked. Nothing again for a void one."""
    with transaction.atomic():
        blue = blue_lock(invoice)
        if blue.status == InvoiceStatus.VOIDED:
            return
        if not can_proceed(blue.void):
            raise ValidationError(
                gettext("发票 %(number)s 状态为「%(status)s」，不能作废")
                % {"number": blue.number, "status": blue.get_status_display()}
            )
        before = blue.status
        blue.void()
        blue.save(update_fields=["status"])
        rollup_invoice(blue, sign=-1)  # a voided invoice leaves the 发票汇总表
        event_record(obj=blue, action="void", actor=actor, actor_label=actor_label(actor), from_state=before,
                     to_state=blue.status, reason=reason)
        quota.quota_restore(taxpayer=blue.taxpayer, amount=blue.amount, month=blue.quota_month, actor=actor,
                            reference=blue.number)
        # Its application is 已作废 too (not 已开票 with a void invoice): what it took from its billing documents is
        # free again for a correct application.
        app = InvoiceApplication.objects.select_for_update().filter(pk=blue.application_id).first()
        if app is not None and app.status == S.ISSUED:
            app.void()
            app.save()
            event_record(obj=app, action="void", actor=actor, actor_label=actor_label(actor), from_state=S.ISSUED,
                         to_state=app.status, reason=reason, data={"invoice": blue.number})
