"""Read mailboxes now, in this process: ``manage.py fetch_mailboxes`` (every enabled mailbox that is due),
``--all`` (every enabled mailbox), ``--mailbox ID`` (one). The periodic task does the same through Celery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from receiving.mailbox import fetching, services
from receiving.mailbox.models import Mailbox


class Command(BaseCommand):
    help = "Read invoice mailboxes now (new messages since the last run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mailbox", type=int, action="append", default=[], help="a mailbox id (repeatable)")
        parser.add_argument("--all", action="store_true", help="every enabled mailbox, due or not")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["mailbox"]:
            ids = list(options["mailbox"])
        elif options["all"]:
            ids = list(Mailbox.objects.filter(enabled=True).values_list("pk", flat=True))
        else:
            ids = services.mailboxes_claim_due()
        for mailbox_id in ids:
            result = fetching.mailbox_fetch(mailbox_id)
            self.stdout.write(f"mailbox {result.mailbox}: {result.status}, {result.messages} messages, "
                              f"{result.files} files, {result.issues} pending" +
                              (f" ({result.error})" if result.error else ""))
