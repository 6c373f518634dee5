"""Collect invoice files (files, folders, ZIP archives) into one entity's pool from the command line.

    python manage.py collect_invoices --entity 91310115MA1K4ABC2B ~/inbox/2026-03 archive.zip a.pdf

Prints one JSON object per file on its own line::

    {"file": ..., "outcome": "created|attached|duplicate|review|rejected",
     "invoice": {"kind", "number", "code", "issue_date", "seller_name", "seller_tax_id", "buyer_name",
                 "buyer_tax_id", "amount", "tax", "total", "lines"} or null, "rule": ..., "reason": ...}

``invoice`` is what was read from that file (for a duplicate: the pool record it duplicates). Amounts are strings
("1060.00"): exact, never floats. The exit status is 1 when any file was rejected, 0 otherwise. Each ZIP archive is
held to the upload limits (``RECEIVING_MAX_UPLOAD_FILES``, ``RECEIVING_MAX_UPLOAD_BYTES``); a run may hold many
archives and folders of any size, read one file at a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext

from invoicing.actors import Actor, SystemActor
from invoicing.models import Taxpayer
from receiving import bundles, collecting, services
from receiving.models import CollectionItem, Method, Outcome, ReceivedInvoice

CLI = SystemActor("cli")


def record_json(record: ReceivedInvoice) -> dict[str, Any]:
    def money(value: Any) -> str | None:
        return None if value is None else f"{value:f}"

    return {
        "kind": record.kind, "number": record.number, "code": record.code,
        "issue_date": record.issue_date.isoformat(), "seller_name": record.seller_name,
        "seller_tax_id": record.seller_tax_id, "buyer_name": record.buyer_name, "buyer_tax_id": record.buyer_tax_id,
        "amount": money(record.amount), "tax": money(record.tax), "total": money(record.total),
        "lines": [{"item_name": ln.item_name, "spec": ln.spec, "unit": ln.unit,
                   "quantity": None if ln.quantity is None else f"{ln.quantity.normalize():f}",
                   "unit_price": None if ln.unit_price is None else f"{ln.unit_price.normalize():f}",
                   "amount": money(ln.amount), "tax_rate": None if ln.tax_rate is None else f"{ln.tax_rate.normalize():f}",
                   "tax_rate_text": ln.tax_rate_text, "tax": money(ln.tax), "tax_code": ln.tax_code}
                  for ln in record.lines.all()],
    }


def item_json(item: CollectionItem) -> dict[str, Any]:
    invoice = None
    if item.outcome != Outcome.REJECTED:
        invoice = (item.detail or {}).get("invoice")
        if invoice is None and item.invoice_id is not None:
            invoice = record_json(ReceivedInvoice.objects.get(pk=item.invoice_id))
    return {"file": item.name, "outcome": item.outcome, "invoice": invoice, "rule": item.rule, "reason": item.reason}


class Command(BaseCommand):
    help = ("Collect invoice files (PDF, OFD, XML, images; folders and ZIP archives are expanded) into an entity's "
            "receiving pool. Prints one JSON object per file; exits 1 when any file was rejected.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, help="the receiving entity's 统一社会信用代码 (credit code)")
        parser.add_argument("--user", default="", help="act as this user (their permissions and entities apply)")
        parser.add_argument("paths", nargs="+", help="files, folders or ZIP archives")

    def handle(self, *args: Any, **options: Any) -> None:
        entity = Taxpayer.objects.filter(credit_code=options["entity"].strip().upper()).first()
        if entity is None:
            raise CommandError(f"no entity with credit code {options['entity']!r}")
        actor: Actor = CLI
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"no user {options['user']!r}")
        paths = [Path(p) for p in options["paths"]]
        collection = services.collection_start(taxpayer=entity, method=Method.CLI, actor=actor,
                                               note=" ".join(options["paths"])[:300])
        limits = bundles.Limits.from_settings()
        for path in paths:
            if not path.exists():
                item = services.collection_item_reject(collection=collection, name=str(path), rule="not_found",
                                                       reason=gettext("文件或文件夹不存在"), actor=actor)
                self._print(item)
                continue
            for item in collecting.collect_entries(collection=collection, actor=actor,
                                                   entries=bundles.entries([path], limits=limits)):
                self._print(item)
        collection = services.collection_finish(collection=collection, actor=actor)
        counts = ", ".join(f"{outcome.value} {getattr(collection, f'{outcome.value}_count')}" for outcome in Outcome)
        self.stderr.write(f"collection #{collection.pk}: {collection.processed} files ({counts})")
        if collection.rejected_count:
            raise CommandError(f"{collection.rejected_count} file(s) rejected", returncode=1)

    def _print(self, item: CollectionItem) -> None:
        self.stdout.write(json.dumps(item_json(item), ensure_ascii=False))
        self.stdout.flush()
