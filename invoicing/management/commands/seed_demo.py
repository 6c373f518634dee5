"""Create (or bring up to date) the demo world. Idempotent."""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Seed the demo world: entities, buyers, the tax catalogue, one user per role, billing documents."

    def add_arguments(self, parser):
        parser.add_argument("--logins", action="store_true", help="only print the demo logins")

    def handle(self, *args, **options):
        for config in [] if options["logins"] else apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if importlib.util.find_spec(module_name) is None:
                continue
            importlib.import_module(module_name).seed(stdout=self.stdout)
        from invoicing.demo import DEMO_PASSWORD, DEMO_USERS

        self.stdout.write(self.style.SUCCESS(f"Demo logins (password: {DEMO_PASSWORD}):"))
        for username, role, full_name, _limited in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {role}  {full_name}")
