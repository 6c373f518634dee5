"""The seller register of an entity (销售方名录): the blacklist with reasons, and each seller's verified status.

Managed in the admin and importable from Excel (``sellers_import``: columns 销售方纳税人识别号, 销售方名称, 列入原因;
every row checked first, nothing written unless all rows pass, each problem named by row and column). Each change
is an event, and the rules of that seller's invoices run again once it commits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from invoicing.actors import Actor
from invoicing.events import event_record
from invoicing.ids import compact_id, is_acceptable_tax_id
from invoicing.intake.issues import FileRejected, Issue, issue
from invoicing.intake.readers import open_table
from invoicing.models import Taxpayer
from receiving import rules
from receiving.control_models import Seller, SellerStatus
from receiving.services import authorize

P_SELLERS = "receiving.change_seller"

COLUMNS = {
    "tax_id": ("销售方纳税人识别号", "纳税人识别号", "税号", "统一社会信用代码"),
    "name": ("销售方名称", "名称", "销售方"),
    "reason": ("列入原因", "原因", "黑名单原因"),
}


def _tax_id(value: str) -> str:
    tax_id = compact_id(value or "")
    if not is_acceptable_tax_id(tax_id, sandbox=True, allow_legacy18=True).ok:
        raise ValidationError({"tax_id": gettext("纳税人识别号“%(value)s”不正确") % {"value": value}})
    return tax_id


def seller_blacklist_add(*, taxpayer: Taxpayer, tax_id: str, name: str = "", reason: str, actor: Actor) -> Seller:
    """Put a seller on the entity's blacklist, with the reason."""
    authorize(actor, taxpayer.pk, P_SELLERS)
    tax_id = _tax_id(tax_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("请填写列入黑名单的原因")})
    with transaction.atomic():
        seller = Seller.objects.select_for_update().filter(taxpayer=taxpayer, tax_id=tax_id).first()
        if seller is None:
            seller = Seller(taxpayer=taxpayer, tax_id=tax_id)
        before = seller.blacklisted
        seller.name = (name or seller.name)[:200]
        seller.blacklisted, seller.reason = True, reason[:300]
        seller.save()
        event_record(obj=seller, action="blacklist_add", actor=actor, from_state="blacklisted" if before else "",
                     to_state="blacklisted", reason=reason[:300], data={"tax_id": tax_id}, taxpayer=taxpayer)
        transaction.on_commit(rules.rerun_for_seller(taxpayer, tax_id, actor=actor))
    return seller


def seller_blacklist_remove(*, seller: Seller, reason: str, actor: Actor) -> Seller:
    authorize(actor, seller.taxpayer_id, P_SELLERS)
    with transaction.atomic():
        locked = Seller.objects.select_for_update().get(pk=seller.pk)
        if not locked.blacklisted:
            return locked
        locked.blacklisted = False
        locked.save(update_fields=["blacklisted", "updated_at"])
        event_record(obj=locked, action="blacklist_remove", actor=actor, from_state="blacklisted",
                     reason=(reason or "")[:300], data={"tax_id": locked.tax_id}, taxpayer=locked.taxpayer)
        transaction.on_commit(rules.rerun_for_seller(locked.taxpayer, locked.tax_id, actor=actor))
    return locked


def seller_status_set(*, taxpayer: Taxpayer, tax_id: str, status: str, actor: Actor, name: str = "",
                      checked_on: date | None = None) -> Seller:
    """Record a seller's verified status (正常, 非正常户, 已注销) and when it was checked."""
    authorize(actor, taxpayer.pk, P_SELLERS)
    if status not in SellerStatus.values:
        raise ValidationError({"status": gettext("纳税人状态不正确")})
    tax_id = _tax_id(tax_id)
    with transaction.atomic():
        seller = Seller.objects.select_for_update().filter(taxpayer=taxpayer, tax_id=tax_id).first()
        if seller is None:
            seller = Seller(taxpayer=taxpayer, tax_id=tax_id)
        before = seller.status
        seller.name = (name or seller.name)[:200]
        seller.status, seller.status_checked_at = status, checked_on or date.today()
        seller.save()
        event_record(obj=seller, action="seller_status", actor=actor, from_state=before, to_state=status,
                     data={"tax_id": tax_id}, taxpayer=taxpayer)
        transaction.on_commit(rules.rerun_for_seller(taxpayer, tax_id, actor=actor))
    return seller


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    issues: list[Issue]

    @property
    def ok(self) -> bool:
        return not self.issues


def sellers_import(*, taxpayer: Taxpayer, path: str | os.PathLike[str], filename: str, actor: Actor) -> ImportReport:
    """Blacklist entries from a workbook (.xlsx or .csv). All rows are checked first; any problem and nothing is
    written (the report names each row and column)."""
    authorize(actor, taxpayer.pk, P_SELLERS)
    try:
        table = open_table(path, filename)
    except FileRejected as exc:
        return ImportReport(0, 0, list(exc.issues))
    try:
        where: dict[str, int] = {}
        for i, header in enumerate(table.headers):
            for key, names in COLUMNS.items():
                if header.strip() in names and key not in where:
                    where[key] = i
        problems: list[Issue] = []
        for key in ("tax_id", "reason"):
            if key not in where:
                problems.append(issue("column.missing", sheet=table.sheet, column=COLUMNS[key][0]))
        if problems:
            return ImportReport(0, 0, problems)
        entries: dict[str, tuple[str, str]] = {}
        for row_no, cells in table.rows():
            def cell(key: str, cells: list[object] = list(cells)) -> str:  # noqa: B006 - bound per row
                i = where.get(key)
                value = cells[i] if i is not None and i < len(cells) else ""
                return "" if value is None else str(value).strip()
            raw_id, name, reason = cell("tax_id"), cell("name"), cell("reason")
            if not (raw_id or name or reason):
                continue
            tax_id = compact_id(raw_id)
            if not raw_id:
                problems.append(issue("cell.required", sheet=table.sheet, row=row_no, column=COLUMNS["tax_id"][0]))
            elif not is_acceptable_tax_id(tax_id, sandbox=True, allow_legacy18=True).ok:
                problems.append(issue("tax_id.invalid", sheet=table.sheet, row=row_no,
                                      column=COLUMNS["tax_id"][0], value=raw_id))
            if not reason:
                problems.append(issue("cell.required", sheet=table.sheet, row=row_no, column=COLUMNS["reason"][0]))
            elif len(reason) > 300:
                problems.append(issue("cell.too_long", sheet=table.sheet, row=row_no, column=COLUMNS["reason"][0],
                                      value=reason))
            if len(name) > 200:
                problems.append(issue("cell.too_long", sheet=table.sheet, row=row_no, column=COLUMNS["name"][0],
                                      value=name))
            entries[tax_id] = (name, reason)
    finally:
        table.close()
    if problems:
        return ImportReport(0, 0, problems)
    added = updated = 0
    with transaction.atomic():
        existing = {s.tax_id: s for s in Seller.objects.select_for_update().filter(
            taxpayer=taxpayer, tax_id__in=list(entries))}
        for tax_id, (name, reason) in entries.items():
            seller = existing.get(tax_id) or Seller(taxpayer=taxpayer, tax_id=tax_id)
            if seller.pk is None:
                added += 1
            elif seller.blacklisted and seller.reason == reason and (not name or seller.name == name):
                continue
            else:
                updated += 1
            seller.name = name or seller.name
            seller.blacklisted, seller.reason = True, reason
            seller.save()
            event_record(obj=seller, action="blacklist_add", actor=actor, to_state="blacklisted", reason=reason,
                         data={"tax_id": tax_id, "import": filename[:100]}, taxpayer=taxpayer)
        for tax_id in entries:
            transaction.on_commit(rules.rerun_for_seller(taxpayer, tax_id, actor=actor))
    return ImportReport(added, updated, [])
