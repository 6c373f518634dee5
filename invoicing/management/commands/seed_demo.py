"""Create (or bring up to date) the demo world. Idempotent.

Development only: with DEBUG off (production settings) it refuses unless ``--force``, because the demo users get a
password printed in the README. It never touches an existing user: a user with a demo user's name keeps its
password, flags (``is_superuser``, ``is_active``…), groups and entity scope.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoicing.demo import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = ("Seed the demo world: entities, buyers, the tax catalogue, one user per role, billing documents. "
            "Development only (DEBUG on); existing users are never changed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--logins", action="store_true", help="only print the demo logins")
        parser.add_argument(
            "--force", action="store_true",
            help="seed even with DEBUG off (production settings): demo users with a public password are created",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            if options["logins"] and not options["force"]:
                self.stdout.write("DEBUG is off: no demo logins to show (the demo is for development).")
                return
            if not options["force"]:
                raise CommandError(
                    "seed_demo refused: DEBUG is off (production settings). The demo creates staff users with the "
                    "public demo password. Use it on a development machine (DEBUG=1), or pass --force if this "
                    "really is a throw-away demo installation."
                )
            self.stderr.write(self.style.ERROR(
                "WARNING: seeding the DEMO world with DEBUG off (--force). Demo staff users that do not exist yet "
                "are created with the PUBLIC demo password: change or deactivate them before anyone else can reach "
                "this installation."
            ))
        for config in [] if options["logins"] else apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if importlib.util.find_spec(module_name) is None:
                continue
            importlib.import_module(module_name).seed(stdout=self.stdout)

        self.stdout.write(self.style.SUCCESS(f"Demo logins (password: {DEMO_PASSWORD}, for users the demo created):"))
        for username, role, full_name, _limited in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {role}  {full_name}")
