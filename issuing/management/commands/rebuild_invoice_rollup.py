"""``manage.py rebuild_invoice_rollup [--entity X] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--check]``.

Recomputes the 发票汇总表's daily rollup from the invoice lines: after an upgrade, or after invoices were loaded
in bulk without the services. ``--check`` only compares and exits with an error when they differ.
"""

from __future__ import annotations

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from invoicing.models import Taxpayer
from issuing.platform.reconcile import taxpayer_lookup
from issuing.platform.rollup import rebuild_rollup, rollup_differences


def _day(value: str | None, flag: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{flag} must be YYYY-MM-DD: {value!r}") from exc


class Command(BaseCommand):
    help = "Recompute the invoice summary's daily rollup from the invoice lines (or --check it)."

    def add_arguments(self, parser):
        parser.add_argument("--entity", action="append", help="credit code or id (repeatable; default: all)")
        parser.add_argument("--from", dest="date_from", help="first issue date, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", help="last issue date, YYYY-MM-DD")
        parser.add_argument("--check", action="store_true", help="compare only; exit with an error on differences")

    def handle(self, *args, **options):
        ids = None
        if options["entity"]:
            try:
                ids = [taxpayer_lookup(e).pk for e in options["entity"]]
            except Taxpayer.DoesNotExist as exc:
                raise CommandError(str(exc)) from exc
        date_from, date_to = _day(options["date_from"], "--from"), _day(options["date_to"], "--to")
        started = time.perf_counter()
        if options["check"]:
            diffs = rollup_differences(ids, date_from, date_to)
            for key, have, want in diffs[:50]:
                self.stdout.write(f"  {key}: rollup {have}, lines {want}")
            if diffs:
                raise CommandError(f"{len(diffs)} day bucket(s) differ; run rebuild_invoice_rollup")
            self.stdout.write(f"rollup matches the invoice lines ({time.perf_counter() - started:.1f} s)")
            return
        written = rebuild_rollup(ids, date_from, date_to)
        self.stdout.write(f"rollup rebuilt: {written} day bucket(s) in {time.perf_counter() - started:.1f} s")
