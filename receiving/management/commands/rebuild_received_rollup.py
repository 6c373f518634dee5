"""``manage.py rebuild_received_rollup [--entity X] [--from YYYY-MM] [--to YYYY-MM] [--check]``.

Recomputes the receiving statistics' monthly rollup from the pool: after an upgrade, or after records were loaded
in bulk without the services. ``--check`` only compares and exits with an error when they differ.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoicing.models import Taxpayer
from receiving.stats import rebuild_received_rollup, received_rollup_differences


def _month(value: str | None, flag: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(f"{value}-01" if len(value) == 7 else value).replace(day=1)
    except ValueError as exc:
        raise CommandError(f"{flag} must be YYYY-MM: {value!r}") from exc


def _entity(value: str) -> Taxpayer:
    found = Taxpayer.objects.filter(credit_code=value).first()
    if found is None and value.isdigit():
        found = Taxpayer.objects.filter(pk=int(value)).first()
    if found is None:
        raise CommandError(f"no entity with credit code or id {value!r}")
    return found


class Command(BaseCommand):
    help = "Recompute the receiving statistics' monthly rollup from the pool (or --check it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", action="append", help="credit code or id (repeatable; default: all)")
        parser.add_argument("--from", dest="month_from", help="first month, YYYY-MM")
        parser.add_argument("--to", dest="month_to", help="last month, YYYY-MM")
        parser.add_argument("--check", action="store_true", help="compare only; exit with an error on differences")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = [_entity(e).pk for e in options["entity"]] if options["entity"] else None
        month_from, month_to = _month(options["month_from"], "--from"), _month(options["month_to"], "--to")
        started = time.perf_counter()
        if options["check"]:
            diffs = received_rollup_differences(ids, month_from, month_to)
            for key, have, want in diffs[:50]:
                self.stdout.write(f"  {key}: rollup {have}, records {want}")
            if diffs:
                raise CommandError(f"{len(diffs)} month bucket(s) differ; run rebuild_received_rollup")
            self.stdout.write(f"rollup matches the pool ({time.perf_counter() - started:.1f} s)")
            return
        written = rebuild_received_rollup(ids, month_from, month_to)
        self.stdout.write(f"rollup rebuilt: {written} month bucket(s) in {time.perf_counter() - started:.1f} s")
