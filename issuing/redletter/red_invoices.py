"""Recording the red invoice of an effective form: the red ``Invoice`` (negative lines linked to the blue lines), the
blue invoice 已红冲 / 部分红冲, the application 已红冲 / 部分红冲 and its billing documents, the quota as
``IssuingPolicy.red_restores_quota`` says, and a new application for what is left after a full red for a partial
refund; one transaction, the form and the blue invoice locked.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_fsm import can_proceed

from invoicing.actors import Actor, actor_label
from invoicing.channels.base import IssueLine, IssueResult
from invoicing.events import event_record
from invoicing.models import TaxCategory
from issuing import workflow
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.base import LineProperty
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice, InvoiceLine, InvoiceStatus
from issuing.platform.rollup import rollup_invoice
from issuing.platform.services import invoice_files_queue
from issuing.redletter.application_moves import application_lock, application_sources_release, application_step
from issuing.redletter.blue import blue_lock, form_lock
from issuing.redletter.models import RedLetterForm

S = ApplicationStatus


CN = ZoneInfo("Asia/Shanghai")


def platform_time(dt: datetime | None) -> datetime | None:
    """A time the platform gave, aware (China time when it came naive)."""
    if dt is None:
        return None
    return dt if timezone.is_aware(dt) else timezone.make_aware(dt, CN)


def red_invoice_record(*, form_id: int, result: IssueResult, actor: Actor = None) -> Invoice:
    """The red Invoice (negative lines linked to the blue lines), the blue invoice's status and red total, the
    application, the billing documents and the quota, in one transaction with the blue invoice locked. Idempotent."""
    with transaction.atomic():
        form = form_lock(form_id)
        blue = blue_lock(form.blue_invoice_id)
        if form.red_invoice_id is not None:
            return Invoice.objects.get(pk=form.red_invoice_id)
        existing = Invoice.objects.filter(number=result.invoice_number).first()
        if existing is not None:
            if not existing.is_red or existing.blue_invoice_id != blue.pk:
                raise ValidationError(
                    gettext("发票号码 %(number)s 已存在且不是该蓝票的红字发票") % {"number": result.invoice_number}
                )
            form.red_invoice = existing
            form.save()
            return existing
        taxpayer = blue.taxpayer
        issued_at = platform_time(result.issued_at) or timezone.now()
        local = issued_at.astimezone(CN)
        amount = result.total_amount if result.total_amount is not None else form.amount
        tax = result.total_tax if result.total_tax is not None else form.tax
        red = Invoice.objects.create(
            taxpayer=taxpayer, application=blue.application, number=result.invoice_number,
            kind=result.kind or blue.kind, is_red=True, blue_invoice=blue,
            issue_date=local.date(), issued_at=issued_at,
            seller_name=blue.seller_name, seller_tax_id=blue.seller_tax_id, seller_address=blue.seller_address,
            seller_phone=blue.seller_phone, seller_bank_name=blue.seller_bank_name,
            seller_bank_account=blue.seller_bank_account, **blue.buyer_snapshot(),
            amount=amount, tax=tax, total=amount + tax,
            remark=f"被红冲蓝字数电发票号码：{blue.number} 红字发票信息确认单编号：{form.form_no or ''}",
            drawer=blue.drawer, specific_business=blue.specific_business,
            specific_business_data=blue.specific_business_data, status=InvoiceStatus.NORMAL,
            quota_month=f"{local:%Y-%m}", channel_serial=result.serial,
        )
        _red_lines(red, blue, form, result)
        rollup_invoice(red)
        # The red invoice gets its own PDF/OFD/XML and delivery, like a blue one (jobs written in this transaction).
        invoice_files_queue(red)
        form.red_invoice = red
        form.red_invoice_serial = result.serial
        form.save()
        # the blue invoice (locked above)
        if not can_proceed(blue.red_flush):
            raise ValidationError(
                gettext("蓝字发票 %(number)s 状态为「%(status)s」，不能记录红字发票 %(red)s")
                % {"number": blue.number, "status": blue.get_status_display(), "red": red.number}
            )
        before = blue.status
        blue.red_flush(red_total=-red.total)
        blue.save(update_fields=["status", "red_amount_total"])
        full = blue.status == InvoiceStatus.RED_FULL
        event_record(obj=blue, action="red_flushed", actor=actor, actor_label=actor_label(actor), from_state=before,
                     to_state=blue.status, data={"red": red.number, "form": form.form_no or form.request_no,
                                                 "red_total": str(blue.red_amount_total)})
        event_record(obj=form, action="red_invoice_recorded", actor=actor, actor_label=actor_label(actor),
                     from_state=form.status, to_state=form.status, data={"red": red.number, "total": str(red.total)})
        # the application and its billing documents
        app = application_lock(blue)
        doc_ids: list[int] = []
        if app is not None:
            if app.status in (S.ISSUED, S.PARTLY_RED):
                application_step(app, "start_red", actor=actor, data={"form": form.request_no})
            application_step(app, "finish_red", actor=actor, data={"red": red.number, "full": full}, args={"full": full})
            doc_ids = list(app.sources.values_list("billing_document_id", flat=True))
            if not full:
                application_sources_release(app, -red.total)
        for doc in workflow.lock_rows(BillingDocument, doc_ids) if doc_ids else []:
            application_services.billing_document_refresh_status(document=doc, actor=actor)
        quota.quota_restore(taxpayer=taxpayer, amount=red.amount, month=red.quota_month, actor=actor,
                            reference=red.number)
        if form.reissue_amount and app is not None:
            _reissue(form, app, actor=actor)
    return red


def _red_lines(red: Invoice, blue: Invoice, form: RedLetterForm, result: IssueResult) -> None:
    blue_lines = {ln.line_no: ln for ln in InvoiceLine.objects.filter(invoice=blue).select_related("tax_category")}
    form_lines = list(form.lines.order_by("blue_line_no"))
    source = list(result.lines) or [
        IssueLine(line_no=i, item_name=fl.item_name, amount=fl.amount, tax_rate=fl.tax_rate, tax=fl.tax,
                  tax_code="", quantity=fl.quantity, unit_price=fl.unit_price)
        for i, fl in enumerate(form_lines, start=1)
    ]
    categories = {c.code: c for c in TaxCategory.objects.filter(code__in={x.tax_code for x in source if x.tax_code})}
    rows = []
    for i, x in enumerate(source, start=1):
        fl = form_lines[i - 1] if i - 1 < len(form_lines) else None
        bl = blue_lines.get(fl.blue_line_no) if fl is not None else None
        category = categories.get(x.tax_code) or (bl.tax_category if bl else None)
        if category is None:
            raise ValidationError(
                gettext("红字发票 %(number)s 第%(line)s行：无法确定税收分类编码") % {"number": red.number, "line": i}
            )
        rows.append(InvoiceLine(
            invoice=red, line_no=i, item_name=x.item_name or (bl.item_name if bl else ""),
            short_name=x.short_name or (bl.short_name if bl else ""), spec=x.spec or (bl.spec if bl else ""),
            unit=x.unit or (bl.unit if bl else ""), quantity=x.quantity, unit_price=x.unit_price, amount=x.amount,
            tax_rate=x.tax_rate, tax=x.tax, tax_category=category, line_property=LineProperty.NORMAL,
            blue_line=bl,
        ))
    InvoiceLine.objects.bulk_create(rows)


def _reissue(form: RedLetterForm, app: InvoiceApplication, *, actor: Actor) -> None:
    """After a full red for a partial refund: a new application for what the billing documents may still take."""
    if form.reissue_application_id:
        return
    wanted = []
    for src in app.sources.select_related("billing_document").order_by("billing_document_id"):
        doc = src.billing_document
        bal = application_selectors.billing_document_balance(doc, applied=application_selectors.applied_amount(doc))
        take = min(bal.balance, src.amount - src.released_amount)
        if take > 0:
            wanted.append((doc, take))
    if not wanted:
        return
    try:
        # A system step: its refusal is written into the audit trail, in the default language.
        with translation.override(settings.LANGUAGE_CODE), transaction.atomic():
            new = application_services.application_create(
                actor=None, taxpayer=app.taxpayer, kind=app.kind, sources=wanted, counterparty=app.counterparty,
                buyer=app.buyer_snapshot() if app.counterparty is None else None,
                delivery_email=app.delivery_email, delivery_mobile=app.delivery_mobile, remark=app.remark,
                specific_business=app.specific_business, specific_business_data=app.specific_business_data,
            )
    except ValidationError as exc:
        event_record(obj=form, action="reissue_failed", actor_label="system", reason="；".join(exc.messages)[:500])
        return
    RedLetterForm.objects.filter(pk=form.pk).update(reissue_application=new)
    event_record(obj=form, action="reissue", actor=actor, actor_label=actor_label(actor) or "退款红冲",
                 data={"application": new.number, "total": str(new.total)})
