"""Reconciliation: our issued invoices against the platform's ledger, for one entity and one day.

* Platform invoices unknown locally (the platform issued, our transaction was lost or never ran) are bound to their
  application by serial through ``invoice_record_issued`` (the same idempotent path as the task), or reported when no
  application carries that serial.
* Local invoices the platform does not know, or knows with another number or other totals, are flagged: an Event on
  the invoice and ``needs_attention`` with the reason on its application.

The channel contract has no "list the invoices a seller issued on a day" operation yet. When a channel offers
``list_issued(day=...)`` (returning ``IssueResult``s) it is used and the comparison is complete. Otherwise the
comparison runs over the serials we know: every local invoice of the day, every application still 开票中, every
application 已开票 without its invoice row, and serials a person replaced. An invoice issued under a serial we never
recorded cannot be found that way; the report says which mode ran.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelRejected, ChannelUnavailable, ChannelUnsupported, IssueResult
from invoicing.events import event_record
from invoicing.models import Event, Taxpayer
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform.models import Invoice
from issuing.platform.services import NOT_FOUND_CODE, invoice_record_issued

logger = logging.getLogger(__name__)
S = ApplicationStatus
CN = ZoneInfo("Asia/Shanghai")
FLAG_ACTION = "reconcile_flagged"
BOUND_ACTION = "reconcile_bound"


@dataclass
class ReconcileReport:
    taxpayer: str
    day: date
    mode: str = "serials"  # "ledger" when the channel lists the day's invoices, else "serials"
    local: int = 0
    matched: int = 0
    bound: list[dict[str, str]] = field(default_factory=list)  # platform invoices bound to their application
    orphans: list[dict[str, str]] = field(default_factory=list)  # platform invoices we could not bind
    unknown_remote: list[dict[str, str]] = field(default_factory=list)  # local invoices the platform does not know
    mismatched: list[dict[str, str]] = field(default_factory=list)
    pending: int = 0
    unavailable: list[str] = field(default_factory=list)  # serials we could not check (try again)

    @property
    def clean(self) -> bool:
        return not (self.orphans or self.unknown_remote or self.mismatched or self.unavailable)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["clean"] = self.clean
        return data


def _yesterday() -> date:
    return timezone.now().astimezone(CN).date() - timedelta(days=1)


def _flag(invoice: Invoice, *, problem: str, data: dict[str, Any]) -> None:
    """An Event on the invoice (once per problem) and needs_attention on its application."""
    with transaction.atomic():
        already = Event.objects.filter(
            content_type__app_label="issuing", content_type__model="invoice", object_id=str(invoice.pk),
            action=FLAG_ACTION, reason=problem,
        ).exists()
        if not already:
            event_record(obj=invoice, action=FLAG_ACTION, actor_label="reconcile", reason=problem, data=data)
        if invoice.application_id:
            InvoiceApplication.objects.filter(pk=invoice.application_id).update(
                needs_attention=True, last_error=f"对账：{problem}"
            )


def _compare(invoice: Invoice, result: IssueResult, report: ReconcileReport) -> None:
    if result.status != "issued":
        report.mismatched.append({"number": invoice.number, "serial": invoice.channel_serial,
                                  "problem": f"platform status {result.status}"})
        _flag(invoice, problem="平台未开具完成", data={"platform_status": result.status})
        return
    diffs = {}
    if result.invoice_number != invoice.number:
        diffs["platform_number"] = result.invoice_number
    if result.total_with_tax is not None and result.total_with_tax != invoice.total:
        diffs["platform_total"] = str(result.total_with_tax)
    if result.total_tax is not None and result.total_tax != invoice.tax:
        diffs["platform_tax"] = str(result.total_tax)
    if diffs:
        report.mismatched.append({"number": invoice.number, "serial": invoice.channel_serial, **diffs})
        _flag(invoice, problem="与平台台账不一致", data={"platform": diffs})
    else:
        report.matched += 1


def _bind(result: IssueResult, report: ReconcileReport, taxpayer: Taxpayer) -> None:
    """A platform invoice for ``result.serial``: make sure it is ours locally (idempotent)."""
    app = InvoiceApplication.objects.filter(taxpayer=taxpayer, issue_serial=result.serial).first()
    if app is None:
        report.orphans.append({"serial": result.serial, "number": result.invoice_number,
                               "problem": "no application carries this serial"})
        return
    if Invoice.objects.filter(application=app, is_red=False).exists():
        return
    try:
        invoice = invoice_record_issued(application_id=app.pk, result=result, action=BOUND_ACTION)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the rest of the day still gets checked
        logger.exception("reconcile: could not bind %s", result.serial)
        report.orphans.append({"serial": result.serial, "number": result.invoice_number, "problem": str(exc)})
        return
    report.bound.append({"serial": result.serial, "number": invoice.number, "application": app.number})


def _list_issued(channel: Any, day: date) -> list[IssueResult] | None:
    lister = getattr(channel, "list_issued", None)
    if lister is None:
        return None
    try:
        return list(lister(day=day))
    except ChannelUnsupported:
        return None


def reconcile_entity(*, taxpayer: Taxpayer, day: date, channel: Any = None) -> ReconcileReport:
    """Compare ``taxpayer``'s blue invoices of ``day`` with the platform; bind what is missing, flag the rest."""
    channel = channel or get_channel(taxpayer)
    report = ReconcileReport(taxpayer=taxpayer.credit_code, day=day)
    local = list(Invoice.objects.filter(taxpayer=taxpayer, issue_date=day, is_red=False).order_by("id"))
    report.local = len(local)

    remote = _list_issued(channel, day)
    if remote is not None:
        report.mode = "ledger"
        by_serial = {r.serial: r for r in remote if r.status == "issued"}
        by_number = {r.invoice_number: r for r in by_serial.values()}
        for inv in local:
            result = by_serial.get(inv.channel_serial) or by_number.get(inv.number)
            if result is None:
                report.unknown_remote.append({"number": inv.number, "serial": inv.channel_serial})
                _flag(inv, problem="平台台账中不存在", data={"serial": inv.channel_serial})
            else:
                _compare(inv, result, report)
        known_numbers = {inv.number for inv in local}
        for result in by_serial.values():
            if result.invoice_number not in known_numbers and not result.is_red:
                _bind(result, report, taxpayer)
        return report

    # Serial mode: every serial we know about.
    for inv in local:
        try:
            result = channel.query_issue(inv.channel_serial)
        except ChannelUnavailable:
            report.unavailable.append(inv.channel_serial)
            continue
        except ChannelRejected as exc:
            if exc.code == NOT_FOUND_CODE:
                report.unknown_remote.append({"number": inv.number, "serial": inv.channel_serial})
                _flag(inv, problem="平台台账中不存在", data={"serial": inv.channel_serial})
            else:
                report.unavailable.append(inv.channel_serial)
            continue
        _compare(inv, result, report)

    candidates = list(
        InvoiceApplication.objects.filter(taxpayer=taxpayer, status=S.ISSUING).exclude(issue_serial=None)
    ) + list(
        InvoiceApplication.objects.filter(taxpayer=taxpayer, status=S.ISSUED, invoices__isnull=True)
        .exclude(issue_serial=None)
    )
    for app in candidates:
        try:
            result = channel.query_issue(app.issue_serial)
        except ChannelUnavailable:
            report.unavailable.append(app.issue_serial)
            continue
        except ChannelRejected:
            continue  # never reached the platform: the poller and the person handle it
        if result.status == "issued":
            _bind(result, report, taxpayer)
        elif result.status == "pending":
            report.pending += 1

    # Serials a person replaced: the platform must not hold an invoice under them.
    replaced = Event.objects.filter(
        taxpayer=taxpayer, action="issue_reissued_new_serial", content_type__app_label="issuing",
        content_type__model="invoiceapplication",
    ).values_list("object_id", "data")
    for object_id, data in replaced:
        old = (data or {}).get("old_serial")
        if not old:
            continue
        try:
            result = channel.query_issue(old)
        except ChannelUnavailable:
            report.unavailable.append(old)
            continue
        except ChannelRejected:
            continue
        if result.status == "issued":
            report.orphans.append({"serial": old, "number": result.invoice_number,
                                   "problem": f"issued under a replaced serial (application id {object_id})"})
    return report


def taxpayer_lookup(entity: str) -> Taxpayer:
    """An entity by credit code or by id."""
    qs = Taxpayer.objects.all()
    found = qs.filter(credit_code=entity.strip().upper()).first()
    if found is None and entity.strip().isdigit():
        found = qs.filter(pk=int(entity)).first()
    if found is None:
        raise Taxpayer.DoesNotExist(f"no entity {entity!r}")
    return found


def reconcile_all(*, day: date | None = None, taxpayer_id: int | None = None) -> list[ReconcileReport]:
    """Every active entity (or one) for ``day`` (default yesterday, China time). One entity's failure is logged."""
    day = day or _yesterday()
    qs = Taxpayer.objects.filter(is_active=True)
    if taxpayer_id is not None:
        qs = qs.filter(pk=taxpayer_id)
    reports = []
    for taxpayer in qs.order_by("id"):
        if not taxpayer.channel_app_key:
            continue
        try:
            report = reconcile_entity(taxpayer=taxpayer, day=day)
        except Exception:  # noqa: BLE001
            logger.exception("reconcile %s %s failed", taxpayer.credit_code, day)
            continue
        if not report.clean:
            logger.warning("reconcile %s %s: %s", taxpayer.credit_code, day, report.as_dict())
        reports.append(report)
    return reports
