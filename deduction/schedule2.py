"""附列资料（二）本期进项税额明细, built from a confirmed period's snapshot and its transfers-out (domain.md §15).

Lines 1–36, each with 份数 / 金额 / 税额 and the ids of the invoices behind it (the drill-down). The mapping:

* 专票 (81, 85, 01, 08), 通行费 (14) and 机动车 → 1 = 2 + 3; every 勾选 of the period counts as 本期认证相符 → 2;
* 海关缴款书 → 5; 农产品 → 6, and the 1% 加计扣除 → 8a (税额 only); tickets → 8b and, as an "其中", 10;
* 4 = 5 + 6 + 7 + 8a + 8b; 12 = 1 + 4 + 11 (the current layout; the 2016 one is UNVERIFIED for your software);
* transfers-out → their line 14–23b (税额 only); 13 = 14 to 23b;
* 35 = the 专票 of line 2 (本期认证相符的增值税专用发票).

Only selections with the purpose 抵扣 are declared for deduction; the other purposes do not appear on lines 1–12.
Lines 3, 7, 9, 11 and 24–34, 36 stay empty: nothing here records them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from deduction import input_tax

ZERO = Decimal("0.00")

LINES: tuple[str, ...] = (
    "1", "2", "3", "4", "5", "6", "7", "8a", "8b", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "20", "21", "22", "23a", "23b", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36",
)
TRANSFER_LINES: tuple[str, ...] = ("14", "15", "16", "17", "18", "19", "20", "21", "22", "23a", "23b")


@dataclass
class Line:
    count: int = 0
    amount: Decimal = ZERO
    tax: Decimal = ZERO
    invoice_ids: list[int] = field(default_factory=list)
    # the ids already in ``invoice_ids``: membership in constant time (a period may hold 100,000 invoices)
    _seen: set[int] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen.update(self.invoice_ids)

    def add(self, *, invoice_id: int | None, amount: Decimal = ZERO, tax: Decimal = ZERO, count: bool = True) -> None:
        if count:
            self.count += 1
        self.amount += amount
        self.tax += tax
        if invoice_id is not None and invoice_id not in self._seen:
            self._seen.add(invoice_id)
            self.invoice_ids.append(invoice_id)

    def plus(self, *others: Line) -> Line:
        out = Line(self.count, self.amount, self.tax, list(self.invoice_ids))
        for o in others:
            out.count += o.count
            out.amount += o.amount
            out.tax += o.tax
            for i in o.invoice_ids:
                if i not in out._seen:
                    out._seen.add(i)
                    out.invoice_ids.append(i)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "amount": f"{self.amount:.2f}", "tax": f"{self.tax:.2f}",
                "invoice_ids": list(self.invoice_ids)}


def build(selections: Iterable[Mapping[str, Any]], transfers: Iterable[Mapping[str, Any]]) -> dict[str, Line]:
    """``selections``: the snapshot's rows (invoice_id, kind, purpose, amount, tax, extra_tax);
    ``transfers``: (line, tax, invoice_id or None)."""
    lines = {n: Line() for n in LINES}
    for s in selections:
        if s["purpose"] != "1":
            continue
        kind, inv = str(s["kind"]), int(s["invoice_id"])
        amount, tax = Decimal(str(s["amount"])), Decimal(str(s["tax"]))
        first = input_tax.schedule_line(kind)
        lines[first].add(invoice_id=inv, amount=amount, tax=tax)
        if first == "2" and kind in input_tax.SPECIAL_KINDS:
            lines["35"].add(invoice_id=inv, amount=amount, tax=tax)
        if first == "8b":
            lines["10"].add(invoice_id=inv, amount=amount, tax=tax)
        extra = Decimal(str(s.get("extra_tax") or "0"))
        if extra:
            lines["8a"].add(invoice_id=inv, tax=extra, count=False)
    for t in transfers:
        line = str(t["line"])
        if line not in TRANSFER_LINES:
            raise ValueError(f"not a transfer-out line: {line}")
        invoice_id = t.get("invoice_id")
        lines[line].add(invoice_id=int(invoice_id) if invoice_id is not None else None, tax=Decimal(str(t["tax"])),
                        count=False)
    lines["1"] = lines["2"].plus(lines["3"])
    lines["4"] = lines["5"].plus(lines["6"], lines["7"], lines["8a"], lines["8b"])
    lines["12"] = lines["1"].plus(lines["4"], lines["11"])
    lines["13"] = Line().plus(*(lines[n] for n in TRANSFER_LINES))
    return lines


@dataclass(frozen=True)
class Group:
    """The snapshot's selections of one kind and purpose, summed (by the database): the positions (in the snapshot)
    and ids of its invoices, and those with a 加计扣除."""

    kind: str
    purpose: str
    count: int
    amount: Decimal
    tax: Decimal
    extra_tax: Decimal
    positions: Sequence[int]
    invoice_ids: Sequence[int]
    extra_positions: Sequence[int]
    extra_invoice_ids: Sequence[int]


def _merged(parts: list[tuple[Sequence[int], Sequence[int]]]) -> list[int]:
    """The ids of several groups in snapshot order (each group's positions ascending)."""
    if len(parts) == 1:
        return list(parts[0][1])
    return [i for _, i in heapq.merge(*(zip(pos, ids, strict=True) for pos, ids in parts))]


def build_grouped(groups: Iterable[Group], transfers: Iterable[Mapping[str, Any]]) -> dict[str, Line]:
    """``build`` from the snapshot summed by kind and purpose: the same lines, the drill-down in the same order,
    without reading the selections one by one."""
    totals: dict[str, list[Group]] = {}
    for g in groups:
        if g.purpose != "1":
            continue
        totals.setdefault(input_tax.schedule_line(g.kind), []).append(g)

    def line_of(members: list[Group], *, extra: bool = False) -> Line:
        if extra:
            members = [g for g in members if g.extra_invoice_ids]
            ids = _merged([(g.extra_positions, g.extra_invoice_ids) for g in members]) if members else []
            return Line(0, ZERO, sum((g.extra_tax for g in members), ZERO), ids)
        ids = _merged([(g.positions, g.invoice_ids) for g in members]) if members else []
        return Line(sum(g.count for g in members), sum((g.amount for g in members), ZERO),
                    sum((g.tax for g in members), ZERO), ids)

    lines = {n: Line() for n in LINES}
    for first, members in totals.items():
        lines[first] = line_of(members)
    lines["35"] = line_of([g for g in totals.get("2", []) if g.kind in input_tax.SPECIAL_KINDS])
    lines["10"] = line_of(totals.get("8b", []))
    lines["8a"] = line_of([g for ms in totals.values() for g in ms], extra=True)
    for t in transfers:
        line = str(t["line"])
        if line not in TRANSFER_LINES:
            raise ValueError(f"not a transfer-out line: {line}")
        invoice_id = t.get("invoice_id")
        lines[line].add(invoice_id=int(invoice_id) if invoice_id is not None else None, tax=Decimal(str(t["tax"])),
                        count=False)
    lines["1"] = lines["2"].plus(lines["3"])
    lines["4"] = lines["5"].plus(lines["6"], lines["7"], lines["8a"], lines["8b"])
    lines["12"] = lines["1"].plus(lines["4"], lines["11"])
    lines["13"] = Line().plus(*(lines[n] for n in TRANSFER_LINES))
    return lines


def as_json(lines: Mapping[str, Line]) -> dict[str, Any]:
    return {"lines": {n: lines[n].as_dict() for n in LINES}}
