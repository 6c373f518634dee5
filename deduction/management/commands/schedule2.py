"""``manage.py schedule2 --entity CREDIT_CODE --period YYYYMM [--json]``: 附列资料二 of a confirmed period."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from deduction import schedule2
from deduction.models import TaxPeriod
from deduction.selectors import schedule2_of


class Command(BaseCommand):
    help = "附列资料（二）本期进项税额明细 of a confirmed tax period"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, help="the entity's 统一社会信用代码")
        parser.add_argument("--period", required=True, help="所属期 YYYYMM")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        row = TaxPeriod.objects.filter(taxpayer__credit_code=options["entity"], period=options["period"]).first()
        if row is None:
            raise CommandError(f"no tax period {options['period']} for entity {options['entity']}")
        try:
            lines = schedule2_of(row)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(schedule2.as_json(lines), ensure_ascii=False, indent=2))
            return
        for n in schedule2.LINES:
            line = lines[n]
            self.stdout.write(f"{n:>4} {line.count:>6} {line.amount:>16,.2f} {line.tax:>16,.2f}")
