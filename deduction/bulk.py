"""Bulk 勾选 by filter, as a job: every selectable invoice of a kind / seller / issue-date range (or all of them) is
selected for one purpose through ``services.deduction_select``, a chunk at a time, with progress in a job record and,
at the end, a per-invoice result workbook (accepted / refused / pending and the platform's reason).

The job never talks to the platform itself and never holds a transaction: each chunk is one ``deduction_select``
call, which commits its intent before the channel call. A chunk the service refuses as a whole (one of its invoices
fails our own checks) is split in halves down to single invoices, each refused with the service's own words.

Running a job again (a worker that died, a task delivered twice) selects nothing twice: first the pending selections
of the job's invoices are sent again (the service's recovery: "already selected in this period" counts as accepted),
then every invoice that already holds a selection in this period since the job began is skipped; an invoice has at
most one active selection (a database constraint) whatever happens.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, QuerySet
from django.utils.translation import gettext, gettext_noop
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from deduction import input_tax, services
from deduction.models import (
    ACTIVE_SELECTION_STATES,
    NotDeductReason,
    PeriodState,
    Purpose,
    Selection,
    SelectionState,
    TaxPeriod,
)
from deduction.periods import NO_DEADLINE_FROM, period_last_day
from invoicing.actors import Actor
from invoicing.intake import jobs
from invoicing.models import Taxpayer
from invoicing.scoping import user_may_act_on
from receiving.models import PlatformStatus, ReceivedInvoice
from receiving.services import authorize

logger = logging.getLogger(__name__)

KIND = "deduction_select"
CHUNK = 500
P_VIEW = "deduction.view_selection"


@dataclass(frozen=True)
class BulkFilter:
    """Which selectable invoices: all of them, or those of a kind, a seller (tax id) and an issue-date range."""

    kind: str = ""
    seller_tax_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def as_json(self) -> dict[str, str]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) or "" for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> BulkFilter:
        def day(v: str) -> dt.date | None:
            return dt.date.fromisoformat(v) if v else None
        return cls(kind=data.get("kind", ""), seller_tax_id=data.get("seller_tax_id", ""),
                   date_from=day(data.get("date_from", "")), date_to=day(data.get("date_to", "")))


def selectable_invoices(period: TaxPeriod) -> QuerySet[ReceivedInvoice]:
    """The pool's candidates (a first filter: an unverified one is verified when selected; the service checks each
    again, the rules included). None while the period does not take 勾选 (not the current 所属期, or past its
    filing deadline: §14.4, §14.5); otherwise only invoices issued by the period's last day and from 2017-01-01
    (an invoice issued later belongs to a later 所属期; older ones go through 逾期抵扣, §14.4)."""
    if services.period_window_refusal(period):
        return ReceivedInvoice.objects.none()
    return (ReceivedInvoice.objects.filter(taxpayer_id=period.taxpayer_id, kind__in=sorted(input_tax.DEDUCTIBLE_KINDS),
                                           is_red=False,
                                           platform_status__in=[PlatformStatus.NORMAL, PlatformStatus.RED_PARTIAL,
                                                                PlatformStatus.UNKNOWN],
                                           issue_date__gte=NO_DEADLINE_FROM,
                                           issue_date__lte=period_last_day(period.period))
            .exclude(deduction_selections__state__in=ACTIVE_SELECTION_STATES).order_by("issue_date", "pk"))


def candidates(period: TaxPeriod, flt: BulkFilter) -> QuerySet[ReceivedInvoice]:
    qs = selectable_invoices(period)
    if flt.kind:
        qs = qs.filter(kind=flt.kind)
    if flt.seller_tax_id:
        qs = qs.filter(seller_tax_id=flt.seller_tax_id)
    if flt.date_from:
        qs = qs.filter(issue_date__gte=flt.date_from)
    if flt.date_to:
        qs = qs.filter(issue_date__lte=flt.date_to)
    return qs


def _clean(flt: BulkFilter, purpose: str, reason: str) -> None:
    errors: dict[str, list[str]] = {}
    if flt.kind and flt.kind not in input_tax.DEDUCTIBLE_KINDS:
        errors["kind"] = [gettext("票种：不能勾选抵扣的票种 %(value)s") % {"value": flt.kind}]
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        errors["date_to"] = [gettext("开票日期止：不能早于开票日期起")]
    if purpose not in Purpose.values:
        errors["purpose"] = [gettext("用途不正确：%(value)s") % {"value": purpose}]
    elif purpose == Purpose.NOT_DEDUCT and reason not in NotDeductReason.values:
        errors["reason"] = [gettext("不抵扣须选择原因（1–5）")]
    if errors:
        raise ValidationError(errors)


def deduction_bulk_select_start(*, tax_period: TaxPeriod, flt: BulkFilter, purpose: str, actor: Actor,
                                reason: str = "", enqueue: bool = True) -> jobs.Job:
    """Start a bulk selection: the matching invoices are fixed now (their ids kept in the job record), the work runs
    as a Celery job. Refused when nothing matches."""
    authorize(actor, tax_period.taxpayer_id, services.P_SELECT)
    _clean(flt, purpose, reason if purpose == Purpose.NOT_DEDUCT else "")
    window = services.period_window_refusal(tax_period)
    if window:
        raise ValidationError(window, code="period_closed")
    ids = list(candidates(tax_period, flt).values_list("pk", flat=True))
    if not ids:
        raise ValidationError(gettext("没有符合条件的可勾选发票"))
    floor = Selection.objects.aggregate(m=Max("pk"))["m"] or 0
    job_id = jobs.create(KIND, user_id=getattr(actor, "pk", None), total=len(ids), taxpayer_id=tax_period.taxpayer_id,
                         tax_period_id=tax_period.pk, period=tax_period.period, filter=flt.as_json(),
                         purpose=purpose, reason=reason if purpose == Purpose.NOT_DEDUCT else "", invoice_ids=ids,
                         selection_floor=floor, next_index=0, local_refusals={})
    if enqueue:
        from deduction import tasks  # cycle: tasks import this module

        tasks.bulk_select_task.delay(job_id)
    job = jobs.read(job_id)
    assert job is not None
    return job


def _mine(period: TaxPeriod, job: jobs.Job, ids: Sequence[int]) -> QuerySet[Selection]:
    """The selections of ``ids`` made in ``period`` since the job began (by it, or by a run of it that died)."""
    return Selection.objects.filter(tax_period=period, invoice_id__in=list(ids), pk__gt=int(job["selection_floor"]))


def _select(period: TaxPeriod, items: list[services.SelectionInput], actor: Actor, channel: Any,
            refusals: dict[str, str]) -> None:
    """``deduction_select`` on ``items``; a chunk refused as a whole is split down to the invoices at fault."""
    try:
        services.deduction_select(tax_period=period, items=items, actor=actor, channel=channel)
    except ValidationError as exc:
        if len(items) == 1:
            refusals[str(items[0].invoice_id)] = "；".join(exc.messages)[:500]
            return
        half = len(items) // 2
        _select(period, items[:half], actor, channel, refusals)
        _select(period, items[half:], actor, channel, refusals)


def deduction_bulk_select_run(*, job_id: str, actor: Actor, channel: Any = None, chunk: int = CHUNK,
                              progress: Callable[[int, int], None] | None = None) -> jobs.Job:
    """Run (or resume) the job ``job_id``: never inside a transaction; see the module's docstring."""
    job = jobs.read(job_id)
    if job is None or job.get("kind") != KIND:
        raise ValueError(f"no bulk selection job {job_id}")
    if job.get("status") in (jobs.SUCCEEDED, jobs.FAILED):
        return job
    period = TaxPeriod.objects.select_related("taxpayer").get(pk=job["tax_period_id"])
    authorize(actor, period.taxpayer_id, services.P_SELECT)
    ids: list[int] = [int(i) for i in job["invoice_ids"]]
    refusals: dict[str, str] = dict(job.get("local_refusals") or {})
    report = progress or jobs.Progress(job_id)
    if period.state != PeriodState.OPEN:
        message = gettext("所属期 %(period)s 状态为「%(state)s」，不能勾选") % {
            "period": period.period, "state": period.get_state_display()}
        return jobs.update(job_id, status=jobs.FAILED, message=message)
    jobs.update(job_id, status=jobs.RUNNING)
    # 1. what an earlier run committed but never heard back about: asked again with the same request numbers
    pending = sorted(set(_mine(period, job, ids).filter(state=SelectionState.PENDING)
                         .values_list("request_no", flat=True)))
    for request_no in pending:
        services.deduction_selection_send(tax_period=period, request_no=request_no, channel=channel)
    # 2. the rest, a chunk at a time, from where the last run stopped
    start = int(job.get("next_index") or 0)
    for at in range(start, len(ids), chunk):
        part = ids[at:at + chunk]
        done = set(_mine(period, job, part).values_list("invoice_id", flat=True))
        todo = [i for i in part if i not in done and str(i) not in refusals]
        if todo:
            items = [services.SelectionInput(invoice_id=i, purpose=job["purpose"], reason=job.get("reason", ""))
                     for i in todo]
            try:
                _select(period, items, actor, channel, refusals)
            except PermissionDenied as exc:
                jobs.update(job_id, status=jobs.FAILED, message=str(exc), local_refusals=refusals)
                raise
        jobs.update(job_id, next_index=at + len(part), local_refusals=refusals)
        report(at + len(part), len(ids))
    name, counts = jobs.write_file(job_id, "result.xlsx", lambda target: write_result(period, job, refusals, target))
    message = gettext("已接受 %(accepted)d 张，拒绝 %(refused)d 张，待平台确认 %(pending)d 张") % counts
    return jobs.update(job_id, status=jobs.SUCCEEDED, processed=len(ids), result=counts, output_file=name,
                       message=message, local_refusals=refusals)


RESULT_HEADERS = (gettext_noop("发票 ID"), gettext_noop("发票号码"), gettext_noop("票种"), gettext_noop("销方名称"),
                  gettext_noop("销方税号"), gettext_noop("开票日期"), gettext_noop("金额"), gettext_noop("税额"),
                  gettext_noop("结果"), gettext_noop("平台代码"), gettext_noop("原因"))


def outcome_rows(period: TaxPeriod, job: jobs.Job, refusals: dict[str, str]) -> list[list[Any]]:
    """One row per invoice of the job, in the job's order: its latest selection in the period since the job began,
    or our own refusal."""
    ids = [int(i) for i in job["invoice_ids"]]
    latest: dict[int, Selection] = {}
    for row in _mine(period, job, ids).order_by("pk"):
        latest[row.invoice_id] = row
    invoices = ReceivedInvoice.objects.in_bulk(ids)
    words = {"accepted": gettext("已接受"), "refused": gettext("已拒绝"), "pending": gettext("待平台确认")}
    out = []
    for i in ids:
        inv = invoices.get(i)
        sel = latest.get(i)
        if sel is not None and sel.state in (SelectionState.ACCEPTED, SelectionState.UNDO_PENDING,
                                             SelectionState.UNDONE):
            result, code, why = "accepted", sel.platform_code, sel.platform_message
        elif sel is not None and sel.state == SelectionState.PENDING:
            result, code, why = "pending", "", sel.platform_message
        elif sel is not None:
            result, code, why = "refused", sel.platform_code, sel.platform_message
        else:
            result, code, why = "refused", "", refusals.get(str(i), gettext("未处理"))
        out.append([i, inv.number if inv else "", inv.kind if inv else "", inv.seller_name if inv else "",
                    inv.seller_tax_id if inv else "", inv.issue_date if inv else None, inv.amount if inv else None,
                    inv.tax if inv else None, words[result], code, why, result])
    return out


def write_result(period: TaxPeriod, job: jobs.Job, refusals: dict[str, str], target: Path) -> dict[str, int]:
    """The result workbook (write-only openpyxl); returns the counts by result."""
    rows = outcome_rows(period, job, refusals)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(gettext("勾选结果"))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in RESULT_HEADERS:
        cell = WriteOnlyCell(sheet, value=gettext(title))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    counts = {"accepted": 0, "refused": 0, "pending": 0}
    for row in rows:
        counts[row[-1]] += 1
        cells = []
        for n, value in enumerate(row[:-1]):
            if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
                value = "'" + value  # never let a spreadsheet evaluate what came from outside
            cell = WriteOnlyCell(sheet, value=value)
            if n in (6, 7):
                cell.number_format = "#,##0.00"
            elif n == 5:
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    book.save(str(target))
    return counts


def job_visible_to(job: jobs.Job | None, user: Any) -> bool:
    """A bulk selection job (its page and its file) is seen by whoever may see the entity's selections."""
    if not job or job.get("kind") != KIND or not getattr(user, "is_authenticated", False):
        return False
    if not (user.has_perm(P_VIEW) or user.has_perm(services.P_SELECT)):
        return False
    taxpayer_id = job.get("taxpayer_id")
    return isinstance(taxpayer_id, int) and Taxpayer.objects.filter(pk=taxpayer_id).exists() and user_may_act_on(
        user, taxpayer_id)
