"""``manage.py schedule2 --entity CREDIT_CODE --period YYYYMM [--json] [--line N [--offset K] [--limit M]]``:
附列资料二 of a confirmed period (figures per line), or the drill-down of one line, a page at a time."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from deduction import schedule2
from deduction.models import TaxPeriod
from deduction.selectors import DRILL_PAGE, schedule2_drilldown, schedule2_of


class Command(BaseCommand):
    help = "附列资料（二）本期进项税额明细 of a confirmed tax period"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, help="the entity's 统一社会信用代码")
        parser.add_argument("--period", required=True, help="所属期 YYYYMM")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--line", help="print the drill-down of this line (e.g. 2, 8a, 12)")
        parser.add_argument("--offset", type=int, default=0, help="drill-down: skip this many items")
        parser.add_argument("--limit", type=int, default=DRILL_PAGE, help="drill-down: at most this many items")

    def handle(self, *args: Any, **options: Any) -> None:
        entity, period = options["entity"], options["period"]
        row = TaxPeriod.objects.filter(taxpayer__credit_code=entity, period=period).first()
        if row is None:
            raise CommandError(f"no tax period {period} for entity {entity}")
        try:
            if options["line"]:
                self._drill(row, options)
                return
            lines = schedule2_of(row)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if options["json"]:
            body = schedule2.as_json(lines, link=lambda n: (
                f"manage.py schedule2 --entity {entity} --period {period} --line {n} --json"))
            self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2))
            return
        for n in schedule2.LINES:
            line = lines[n]
            self.stdout.write(f"{n:>4} {line.count:>6} {line.amount:>16,.2f} {line.tax:>16,.2f}")

    def _drill(self, row: TaxPeriod, options: dict[str, Any]) -> None:
        page = schedule2_drilldown(row, options["line"], offset=options["offset"], limit=options["limit"])
        if options["json"]:
            body = {"line": page.line, "total": page.total, "offset": page.offset, "limit": page.limit,
                    "items": [i.as_dict() for i in page.items]}
            self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2))
            return
        for i in page.items:
            self.stdout.write(f"{i.invoice_id or '':>10} {i.number:<22} {i.count:>2} {i.amount:>16,.2f} {i.tax:>16,.2f}")
        self.stdout.write(f"{page.offset + len(page.items)}/{page.total}")
