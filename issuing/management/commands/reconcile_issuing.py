"""``manage.py reconcile_issuing --entity <credit code or id> --date YYYY-MM-DD``: local invoices vs the platform."""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from invoicing.models import Taxpayer
from issuing.platform.reconcile import reconcile_all, reconcile_entity, taxpayer_lookup


class Command(BaseCommand):
    help = "Compare an entity's issued invoices of one day with the tax platform; bind orphans, flag unknowns."

    def add_arguments(self, parser):
        parser.add_argument("--entity", help="credit code or id of the entity (default: every active entity)")
        parser.add_argument("--date", required=True, help="YYYY-MM-DD (China time)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--strict", action="store_true", help="exit with an error if anything is left over")

    def handle(self, *args, **options):
        try:
            day = date.fromisoformat(options["date"])
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD: {options['date']!r}") from exc
        if options["entity"]:
            try:
                taxpayer = taxpayer_lookup(options["entity"])
            except Taxpayer.DoesNotExist as exc:
                raise CommandError(str(exc)) from exc
            reports = [reconcile_entity(taxpayer=taxpayer, day=day)]
        else:
            reports = reconcile_all(day=day)
        if options["json"]:
            self.stdout.write(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
        else:
            for r in reports:
                self.stdout.write(
                    f"{r.taxpayer} {r.day} ({r.mode}): local {r.local}, matched {r.matched}, bound {len(r.bound)}, "
                    f"orphans {len(r.orphans)}, unknown remotely {len(r.unknown_remote)}, "
                    f"mismatched {len(r.mismatched)}, pending {r.pending}, unchecked {len(r.unavailable)}"
                )
                for kind in ("bound", "orphans", "unknown_remote", "mismatched"):
                    for item in getattr(r, kind):
                        self.stdout.write(f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in item.items()))
                for serial in r.unavailable:
                    self.stdout.write(f"  unchecked (platform unavailable): {serial}")
        if options["strict"] and not all(r.clean for r in reports):
            raise CommandError("reconciliation found differences")
