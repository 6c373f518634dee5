"""Create an API client for an upstream system and print its credentials once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import api_client_create
from invoicing.models import Taxpayer


class Command(BaseCommand):
    help = "Create an API client limited to some entities; prints the bearer token and HMAC key once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the upstream system, e.g. shop or erp")
        parser.add_argument(
            "--taxpayer", action="append", required=True, metavar="CREDIT_CODE",
            help="credit code of an entity the client may act on (repeat for several)",
        )
        parser.add_argument("--throttle", default="600/min", help="request rate, e.g. 600/min (default)")
        parser.add_argument("--files", action="store_true", help="allow the client to fetch invoice files")

    def handle(self, *args, name, taxpayer, throttle, files, **options):
        found = list(Taxpayer.objects.filter(credit_code__in=taxpayer))
        missing = set(taxpayer) - {t.credit_code for t in found}
        if missing:
            raise CommandError(f"no entity with credit code {', '.join(sorted(missing))}")
        try:
            creds = api_client_create(name=name, taxpayers=found, throttle_rate=throttle, can_download_files=files)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"client:       {creds.client.name} (id {creds.client.pk})")
        self.stdout.write(f"token:        {creds.token}")
        self.stdout.write(f"hmac key id:  {creds.hmac_key_id}")
        self.stdout.write(f"hmac secret:  {creds.hmac_secret}")
        self.stdout.write("These are shown once; only a hash of the token is stored.")
