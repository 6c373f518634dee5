"""附列资料（二）本期进项税额明细, built from a confirmed period's snapshot and its transfers-out (domain.md §15).

Lines 1–36, each with 份数 / 金额 / 税额; the invoices behind a line (its drill-down) are read on their own. The mapping:

* 专票 (81, 85, 01, 08), 通行费 (14) and 机动车 → 1 = 2 + 3; every 勾选 of the period counts as 本期认证相符 → 2;
* 海关缴款书 → 5; 农产品 → 6, and the 1% 加计扣除 → 8a (税额 only); tickets → 8b and, as an "其中", 10;
* 4 = 5 + 6 + 7 + 8a + 8b; 12 = 1 + 4 + 11 (the current layout; the 2016 one is UNVERIFIED for your software);
* transfers-out → their line 14–23b (税额 only); 13 = 14 to 23b;
* 35 = the 专票 of line 2 (本期认证相符的增值税专用发票).

Only selections with the purpose 抵扣 are declared for deduction; the other purposes do not appear on lines 1–12.
Lines 3, 7, 9, 11 and 24–34, 36 stay empty: nothing here records them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    """One line's figures. The invoices behind it (the drill-down) are read on their own, a page at a time
    (``drill`` here, ``schedule2_drilldown`` in the selectors): a report of 100,000 selections stays small."""

    count: int = 0
    amount: Decimal = ZERO
    tax: Decimal = ZERO

    def add(self, *, amount: Decimal = ZERO, tax: Decimal = ZERO, count: bool = True) -> None:
        if count:
            self.count += 1
        self.amount += amount
        self.tax += tax

    def plus(self, *others: Line) -> Line:
        out = Line(self.count, self.amount, self.tax)
        for o in others:
            out.count += o.count
            out.amount += o.amount
            out.tax += o.tax
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "amount": f"{self.amount:.2f}", "tax": f"{self.tax:.2f}"}


def build(selections: Iterable[Mapping[str, Any]], transfers: Iterable[Mapping[str, Any]]) -> dict[str, Line]:
    """``selections``: the snapshot's rows (invoice_id, kind, purpose, amount, tax, extra_tax);
    ``transfers``: (line, tax, invoice_id or None)."""
    lines = {n: Line() for n in LINES}
    for s in selections:
        if s["purpose"] != "1":
            continue
        kind = str(s["kind"])
        amount, tax = Decimal(str(s["amount"])), Decimal(str(s["tax"]))
        first = input_tax.schedule_line(kind)
        lines[first].add(amount=amount, tax=tax)
        if first == "2" and kind in input_tax.SPECIAL_KINDS:
            lines["35"].add(amount=amount, tax=tax)
        if first == "8b":
            lines["10"].add(amount=amount, tax=tax)
        extra = Decimal(str(s.get("extra_tax") or "0"))
        if extra:
            lines["8a"].add(tax=extra, count=False)
    for t in transfers:
        line = str(t["line"])
        if line not in TRANSFER_LINES:
            raise ValueError(f"not a transfer-out line: {line}")
        lines[line].add(tax=Decimal(str(t["tax"])), count=False)
    lines["1"] = lines["2"].plus(lines["3"])
    lines["4"] = lines["5"].plus(lines["6"], lines["7"], lines["8a"], lines["8b"])
    lines["12"] = lines["1"].plus(lines["4"], lines["11"])
    lines["13"] = Line().plus(*(lines[n] for n in TRANSFER_LINES))
    return lines


@dataclass(frozen=True)
class Group:
    """The snapshot's selections of one kind and purpose, summed (by the database)."""

    kind: str
    purpose: str
    count: int
    amount: Decimal
    tax: Decimal
    extra_tax: Decimal


def build_grouped(groups: Iterable[Group], transfers: Iterable[Mapping[str, Any]]) -> dict[str, Line]:
    """``build`` from the snapshot summed by kind and purpose: the same lines without reading the selections one by
    one."""
    totals: dict[str, list[Group]] = {}
    for g in groups:
        if g.purpose != "1":
            continue
        totals.setdefault(input_tax.schedule_line(g.kind), []).append(g)

    def line_of(members: list[Group]) -> Line:
        return Line(sum(g.count for g in members), sum((g.amount for g in members), ZERO),
                    sum((g.tax for g in members), ZERO))

    lines = {n: Line() for n in LINES}
    for first, members in totals.items():
        lines[first] = line_of(members)
    lines["35"] = line_of([g for g in totals.get("2", []) if g.kind in input_tax.SPECIAL_KINDS])
    lines["10"] = line_of(totals.get("8b", []))
    lines["8a"] = Line(0, ZERO, sum((g.extra_tax for ms in totals.values() for g in ms), ZERO))
    for t in transfers:
        line = str(t["line"])
        if line not in TRANSFER_LINES:
            raise ValueError(f"not a transfer-out line: {line}")
        lines[line].add(tax=Decimal(str(t["tax"])), count=False)
    lines["1"] = lines["2"].plus(lines["3"])
    lines["4"] = lines["5"].plus(lines["6"], lines["7"], lines["8a"], lines["8b"])
    lines["12"] = lines["1"].plus(lines["4"], lines["11"])
    lines["13"] = Line().plus(*(lines[n] for n in TRANSFER_LINES))
    return lines


def as_json(lines: Mapping[str, Line], link: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The report: figures per line and, with ``link``, where each line's drill-down is read."""
    return {"lines": {n: {**lines[n].as_dict(), **({"drilldown": link(n)} if link else {})} for n in LINES}}


# --- the drill-down: the invoices behind one line, each with what it adds to the line's figures --------------------

# the lines made of other lines (the drill-down of 12 lists line 1's invoices, then line 4's)
COMPOSED: dict[str, tuple[str, ...]] = {
    "1": ("2", "3"), "4": ("5", "6", "7", "8a", "8b"), "12": ("2", "3", "5", "6", "7", "8a", "8b", "11"),
    "13": TRANSFER_LINES,
}


def parts(line: str) -> tuple[str, ...]:
    return COMPOSED.get(line, (line,))


@dataclass(frozen=True)
class Membership:
    """Which snapshot rows and transfers make up a line, and in which order: each row's part is the first part of the
    line it belongs to (by its kind, or by its 加计扣除 for 8a); rows are listed by part, then snapshot order."""

    kind_part: Mapping[str, int]
    extra_part: int | None
    transfer_part: Mapping[str, int]


def membership(line: str) -> Membership:
    if line not in LINES:
        raise ValueError(f"not a line of schedule 2: {line}")
    own = parts(line)
    kind_part: dict[str, int] = {}
    for kind in sorted(input_tax.DEDUCTIBLE_KINDS):
        first = input_tax.schedule_line(kind)
        for i, p in enumerate(own):
            if p == first or (p == "35" and first == "2" and kind in input_tax.SPECIAL_KINDS) or (
                    p == "10" and first == "8b"):
                kind_part[kind] = i
                break
    extra = own.index("8a") if "8a" in own else None
    transfers = {p: i for i, p in enumerate(own) if p in TRANSFER_LINES}
    return Membership(kind_part=kind_part, extra_part=extra, transfer_part=transfers)


@dataclass(frozen=True)
class Item:
    """One invoice (or one transfer-out) of a line's drill-down, with what it adds to the line: the sums of a
    line's items are the line's figures."""

    invoice_id: int | None
    number: str
    kind: str
    count: int
    amount: Decimal
    tax: Decimal
    source: str  # "selection" or "transfer"

    def as_dict(self) -> dict[str, Any]:
        return {"invoice_id": self.invoice_id, "number": self.number, "kind": self.kind, "count": self.count,
                "amount": f"{self.amount:.2f}", "tax": f"{self.tax:.2f}", "source": self.source}


def selection_item(m: Membership, *, invoice_id: int, number: str, kind: str, amount: Decimal, tax: Decimal,
                   extra: Decimal) -> tuple[int, Item] | None:
    """A snapshot row (purpose 抵扣) as an item of the line ``m`` describes, with its part; None when not in it."""
    by_kind = m.kind_part.get(kind)
    by_extra = m.extra_part if extra else None
    if by_kind is None and by_extra is None:
        return None
    part = min(p for p in (by_kind, by_extra) if p is not None)
    mine = by_kind is not None
    return part, Item(invoice_id=invoice_id, number=number, kind=kind, count=1 if mine else 0,
                      amount=amount if mine else ZERO, tax=(tax if mine else ZERO) + (extra if by_extra is not None
                                                                                      else ZERO),
                      source="selection")


def drill(selections: Sequence[Mapping[str, Any]], transfers: Iterable[Mapping[str, Any]], line: str) -> list[Item]:
    """The whole drill-down of ``line`` from the snapshot's rows and the transfers-out (as for ``build``)."""
    m = membership(line)
    keyed: list[tuple[int, int, Item]] = []
    for pos, s in enumerate(selections):
        if s["purpose"] != "1":
            continue
        got = selection_item(m, invoice_id=int(s["invoice_id"]), number=str(s.get("number") or ""),
                             kind=str(s["kind"]), amount=Decimal(str(s["amount"])), tax=Decimal(str(s["tax"])),
                             extra=Decimal(str(s.get("extra_tax") or "0")))
        if got is not None:
            keyed.append((got[0], pos, got[1]))
    for pos, t in enumerate(transfers):
        part = m.transfer_part.get(str(t["line"]))
        if part is not None:
            invoice_id = t.get("invoice_id")
            keyed.append((part, pos, Item(invoice_id=int(invoice_id) if invoice_id is not None else None,
                                          number=str(t.get("number") or ""), kind="", count=0, amount=ZERO,
                                          tax=Decimal(str(t["tax"])), source="transfer")))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [item for _, _, item in keyed]
