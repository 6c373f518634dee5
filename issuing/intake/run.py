"""The fast path: read a file, validate it, write it in one transaction, all or nothing.

Used by the Celery task (``issuing.tasks_import``) and ``manage.py import_billing``. Documents are handed to the
writer chunk by chunk while validation goes on, so memory stays flat; once any error is found nothing more is
written, and at the end the transaction is rolled back if there was any error at all.

It runs in the default language (``LANGUAGE_CODE``, Chinese) whichever language the thread was left in (a task run
eagerly inside a request, say): its issues go into job files and error workbooks read later, like the job's own
messages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from invoicing.actors import Actor
from invoicing.intake.issues import FileRejected, Issue, issue
from invoicing.intake.readers import open_table
from invoicing.models import Taxpayer
from issuing.billing import services as billing_services
from issuing.intake.validate import BillingValidator, Report
from issuing.intake.writer import BillingWriter

logger = logging.getLogger(__name__)


@dataclass
class ImportOutcome:
    filename: str
    sheet: str = ""
    ok: bool = False
    dry_run: bool = False
    rows: int = 0
    documents: int = 0
    lines: int = 0
    written_documents: int = 0
    written_lines: int = 0
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0
    totals: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "filename": self.filename, "sheet": self.sheet, "ok": self.ok, "dry_run": self.dry_run,
            "rows": self.rows, "documents": self.documents, "lines": self.lines,
            "written_documents": self.written_documents, "written_lines": self.written_lines,
            "issue_count": self.issue_count, "totals": self.totals,
        }


class _RollbackError(Exception):
    pass


def import_billing_file(path: str | os.PathLike, *, user, taxpayer: Taxpayer | None = None, filename: str = "",
                        dry_run: bool = False, progress: Callable[[int, int], None] | None = None,
                        chunk_rows: int = 5000, on_written: Callable[[Report], None] | None = None) -> ImportOutcome:
    """Import a billing file, all or nothing. ``on_written`` is called inside the import's transaction once every row
    is written, so what it records (a job's outcome) commits with the rows or not at all."""
    with translation.override(settings.LANGUAGE_CODE):
        return _import_billing_file(path, user=user, taxpayer=taxpayer, filename=filename, dry_run=dry_run,
                                    progress=progress, chunk_rows=chunk_rows, on_written=on_written)


def _import_billing_file(path: str | os.PathLike, *, user, taxpayer: Taxpayer | None, filename: str, dry_run: bool,
                         progress: Callable[[int, int], None] | None, chunk_rows: int,
                         on_written: Callable[[Report], None] | None = None) -> ImportOutcome:
    filename = filename or os.path.basename(str(path))
    outcome = ImportOutcome(filename=filename, dry_run=dry_run)
    if getattr(user, "pk", None) and not user.has_perm("issuing.add_billingdocument"):
        outcome.issues = [issue("user.permission", sheet=filename)]
        outcome.issue_count = 1
        return outcome
    try:
        table = open_table(path, filename)
    except FileRejected as exc:
        outcome.issues = exc.issues
        outcome.issue_count = len(exc.issues)
        return outcome
    outcome.sheet = table.sheet
    validator = BillingValidator(user=user, taxpayer=taxpayer, chunk_rows=chunk_rows, sheet=table.sheet)
    writer = BillingWriter(user=user)

    def on_chunk(plans):
        if not dry_run and validator.ok:
            writer(plans)

    report: Report | None = None
    try:
        with transaction.atomic():
            try:
                report = validator.run(table, on_chunk=on_chunk, progress=progress)
            except FileRejected as exc:
                for item in exc.issues:
                    validator.add(item)
                report = validator.report
            except IntegrityError as exc:  # a concurrent import took an order number after we checked
                logger.info("import %s: a concurrent write took an order number: %s", filename, exc)
                validator.add(issue("doc.duplicate_in_db", sheet=table.sheet))
                report = validator.report
            if not validator.ok or dry_run:
                raise _RollbackError
            # The audit events, then the entities' 申请时机 (付款后自动申请 / 交付后申请): in the same transaction, all or
            # nothing with the file.
            billing_services.billing_documents_record_import(
                actor=import_actor(user), document_ids=writer.document_ids, taxpayer_ids=report.taxpayer_ids,
                filename=filename, lines=writer.lines, path="fast",
            )
            if on_written is not None:
                on_written(report)
    except _RollbackError:
        pass
    finally:
        table.close()
    outcome.rows = report.rows
    outcome.documents = report.documents
    outcome.lines = report.lines
    outcome.issues = report.issues
    outcome.issue_count = report.issue_count
    outcome.ok = report.ok
    outcome.totals = {"amount": str(report.amount), "tax": str(report.tax), "total": str(report.total)}
    if report.ok and not dry_run:
        outcome.written_documents = writer.documents
        outcome.written_lines = writer.lines
    return outcome


def import_actor(user) -> Actor:
    """Who the audit trail says imported: the user, or the importer on the server (a command run without --user)."""
    return user if getattr(user, "pk", None) else billing_services.IMPORTER
