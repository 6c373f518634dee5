"""Re-encrypt every encrypted field with the newest key of FIELD_ENCRYPTION_KEYS (key rotation).

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), restart, run this command,
then remove the old keys. Values already under the newest key are left alone; legacy plain values are encrypted.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from invoicing.fields import encrypted_fields, reencrypt_column


class Command(BaseCommand):
    help = "Re-encrypt encrypted fields (channel secrets, webhook and HMAC secrets) with the newest key"

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, field_name in encrypted_fields():
            with transaction.atomic():
                changed = reencrypt_column(model, field_name)
            total += changed
            self.stdout.write(f"{model._meta.label}.{field_name}: {changed} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"done: {total} values re-encrypted with the newest key"))
