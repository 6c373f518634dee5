"""Reference data every installation has: the role groups' permissions (``roles``) and the tax catalogue
(``catalogue``), restored after each migrate or flush (as in transactional tests), when the tables may be empty."""

from __future__ import annotations

from django.apps import AppConfig, apps

from invoicing.catalogue import load_catalogue
from invoicing.models import TaxCategory
from invoicing.roles import sync_role_permissions


def ensure_reference_data(sender: AppConfig | None = None, **_kwargs: object) -> None:
    """Runs once per migrate or flush: after the last app's signal, when every app's permissions exist."""
    if sender is not None and sender is not list(apps.get_app_configs())[-1]:
        return
    sync_role_permissions()
    if not TaxCategory.objects.exists():
        load_catalogue(TaxCategory)
