"""The receiving statistics pages' numbers and their Excel: received invoices by month, kind, rate, supplier or
source (one aggregate on the monthly rollup), and reimbursement by claimant, department or ticket type (one
aggregate over the claims' lines, which people enter one by one). Both scoped to the user's entities."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.utils.translation import gettext
from openpyxl import Workbook
from openpyxl.styles import Font

from invoicing.formatting import rate
from invoicing.scoping import MaybeUser, scope_queryset
from receiving.claims_models import ClaimLine, ClaimState
from receiving.models import DataSource, ReceivedKind
from receiving.stats_models import NO_RATE, ReceivedMonthlyStat

ZERO = Decimal("0.00")
RECEIVED_BY = ("month", "kind", "rate", "seller", "source")
CLAIMS_BY = ("claimant", "department", "kind")


@dataclass(frozen=True)
class Report:
    headers: list[str]
    rows: list[list[Any]]
    total: list[Any]
    money_columns: frozenset[int]


def _by_words() -> dict[str, str]:
    return {"month": gettext("月份"), "kind": gettext("票种"), "rate": gettext("税率/征收率"),
            "seller": gettext("销售方"), "source": gettext("数据来源"), "claimant": gettext("报销人"),
            "department": gettext("部门")}


def received_report(user: MaybeUser, *, by: str, taxpayer_id: int | None = None, month_from: dt.date | None = None,
                    month_to: dt.date | None = None) -> Report:
    """收票统计 by one dimension and entity: 张数 (an invoice counts once per rate it carries), 金额, 税额."""
    if by not in RECEIVED_BY:
        by = "month"
    qs = scope_queryset(ReceivedMonthlyStat.objects.all(), user)
    if taxpayer_id:
        qs = qs.filter(taxpayer_id=taxpayer_id)
    if month_from:
        qs = qs.filter(month__gte=month_from.replace(day=1))
    if month_to:
        qs = qs.filter(month__lte=month_to.replace(day=1))
    column = {"month": "month", "kind": "kind", "rate": "tax_rate", "seller": "seller_tax_id",
              "source": "data_source"}[by]
    rows = (qs.values("taxpayer__name", column)
            .annotate(n=Sum("invoice_count"), amount=Sum("amount"), tax=Sum("tax"), name=Max("seller_name"))
            .order_by("taxpayer__name", column))
    kinds, sources = dict(ReceivedKind.choices), dict(DataSource.choices)

    def shown(r: dict[str, Any]) -> str:
        value = r[column]
        if by == "month":
            return f"{value:%Y-%m}"
        if by == "kind":
            return str(kinds.get(value, value))
        if by == "rate":
            return gettext("无税率") if value == NO_RATE else rate(value)
        if by == "source":
            return str(sources.get(value, value))
        return r["name"] or value or gettext("（未填）")

    body = [[r["taxpayer__name"], shown(r), r["n"], r["amount"], r["tax"]] for r in rows]
    total = [gettext("合计"), "", sum(r[2] for r in body), sum((r[3] for r in body), ZERO),
             sum((r[4] for r in body), ZERO)]
    return Report([gettext("主体"), _by_words()[by], gettext("张数"), gettext("金额"), gettext("税额")], body, total,
                  frozenset({3, 4}))


def claims_report(user: MaybeUser, *, by: str, taxpayer_id: int | None = None, date_from: dt.date | None = None,
                  date_to: dt.date | None = None) -> Report:
    """报销统计 by claimant, department or ticket type: claims, lines and the amount claimed (rejected claims left
    out), by the claim's creation date."""
    if by not in CLAIMS_BY:
        by = "claimant"
    qs = scope_queryset(ClaimLine.objects.exclude(claim__state=ClaimState.REJECTED), user, "claim__taxpayer")
    if taxpayer_id:
        qs = qs.filter(claim__taxpayer_id=taxpayer_id)
    if date_from:
        qs = qs.filter(claim__created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(claim__created_at__date__lte=date_to)
    column = {"claimant": "claim__claimant_name", "department": "claim__department", "kind": "invoice__kind"}[by]
    rows = (qs.values("claim__taxpayer__name", column)
            .annotate(claims=Count("claim", distinct=True), lines=Count("pk"), claimed=Sum("amount"),
                      paid=Sum("amount", filter=Q(claim__state=ClaimState.PAID)))
            .order_by("claim__taxpayer__name", column))
    kinds = dict(ReceivedKind.choices)
    body = [[r["claim__taxpayer__name"],
             str(kinds.get(r[column], r[column])) if by == "kind" else (r[column] or gettext("（未填）")),
             r["claims"], r["lines"], r["claimed"] or ZERO, r["paid"] or ZERO] for r in rows]
    total = [gettext("合计"), "", sum(r[2] for r in body), sum(r[3] for r in body),
             sum((r[4] for r in body), ZERO), sum((r[5] for r in body), ZERO)]
    words = {**_by_words(), "kind": gettext("票据类型")}
    return Report([gettext("主体"), words[by], gettext("报销单数"), gettext("发票张数"), gettext("报销金额"),
                   gettext("其中已付款")], body, total, frozenset({4, 5}))


def report_xlsx(report: Report, sheet_title: str) -> bytes:
    """The report as a small workbook (a bold header, money formatted, the total last)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title[:31]
    sheet.append(report.headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    rows: Sequence[list[Any]] = [*report.rows, report.total]
    for row in rows:
        sheet.append(row)
        for i in report.money_columns:
            sheet.cell(row=sheet.max_row, column=i + 1).number_format = "#,##0.00"
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
