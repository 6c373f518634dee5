"""The blue invoice a red-letter form works on: its units, the forms holding part of it, what is left of it and its
open forms; and the row locks every red-letter write takes (``blue_lock``: the invoice's row only, never its
entity's; ``form_lock``).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils.translation import gettext

from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.redletter.lines import ZERO, RedLine, Unit, remaining_units, units_from_lines
from issuing.redletter.models import EFFECTIVE, RESERVING, WAITING, RedFormState, RedLetterForm, RedLetterFormLine

F = RedFormState


def blue_units(blue: Invoice) -> list[Unit]:
    """The blue invoice's lines as red-flushing sees them (discount lines joined to the lines they discount)."""
    return units_from_lines(list(InvoiceLine.objects.filter(invoice=blue).order_by("line_no")))


def blue_reserving_lines(blue: Invoice, *, exclude_form: int | None = None) -> list[RedLine]:
    """The red lines of every form that holds part of ``blue`` (but ``exclude_form``)."""
    qs = RedLetterFormLine.objects.filter(form__blue_invoice=blue, form__status__in=RESERVING)
    if exclude_form is not None:
        qs = qs.exclude(form_id=exclude_form)
    return [RedLine(ln.blue_line_no, ln.amount, ln.tax, ln.quantity) for ln in qs]


def blue_remaining(blue: Invoice, *, exclude_form: int | None = None) -> list[Unit]:
    """What may still be red-flushed of ``blue``: its units minus every form that holds part of it."""
    return remaining_units(blue_units(blue), blue_reserving_lines(blue, exclude_form=exclude_form))


def blue_remaining_total(blue: Invoice) -> Decimal:
    """价税合计 still red-flushable of ``blue``."""
    return sum((u.total for u in blue_remaining(blue)), ZERO)


def blue_open_forms(blue: Invoice, *, exclude_form: int | None = None):  # noqa: ANN202
    """``blue``'s forms not finished yet: on their way to the platform, waiting for a decision, or effective without
    their red invoice (a blue invoice has at most one at a time)."""
    qs = RedLetterForm.objects.filter(blue_invoice=blue).filter(
        Q(status__in=(F.SUBMITTING, *WAITING)) | Q(status__in=EFFECTIVE, red_invoice__isnull=True)
    )
    return qs.exclude(pk=exclude_form) if exclude_form else qs


def blue_check(blue: Invoice, taxpayer_id: int | None = None) -> None:
    """Refuse a red invoice, a blue one fully red-flushed or void, or (with ``taxpayer_id``) another entity's."""
    if blue.is_red:
        raise ValidationError(gettext("发票 %(number)s 是红字发票，不能再红冲") % {"number": blue.number})
    if blue.status not in (InvoiceStatus.NORMAL, InvoiceStatus.RED_PARTIAL):
        raise ValidationError(
            gettext("蓝字发票 %(number)s 状态为「%(status)s」，不能红冲")
            % {"number": blue.number, "status": blue.get_status_display()}
        )
    if taxpayer_id is not None and blue.taxpayer_id != taxpayer_id:
        raise PermissionDenied(gettext("无权操作该主体的数据"))


def blue_lock(blue: Invoice | int) -> Invoice:
    """The blue invoice, re-read under a row lock (inside the caller's transaction)."""
    pk = blue if isinstance(blue, int) else blue.pk
    # The invoice's row only, never its entity's: see issuing/platform/rollup.py, "Lock order".
    return Invoice.objects.select_for_update(of=("self",)).select_related("taxpayer").get(pk=pk)


def form_lock(form: RedLetterForm | int) -> RedLetterForm:
    """The form, re-read under a row lock (inside the caller's transaction)."""
    pk = form if isinstance(form, int) else form.pk
    return RedLetterForm.objects.select_for_update().get(pk=pk)
