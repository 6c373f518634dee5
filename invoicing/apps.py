from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("基础资料")

    def ready(self) -> None:
        from invoicing import checks  # noqa: F401  (registers system checks)
        from invoicing.redaction import install_log_redaction

        install_log_redaction()  # customer links and API tokens are masked in every log record

        # Permissions of every app exist only after migrate; keep the role groups in step each time. The reference
        # data is restored too when a flush (as in transactional tests) emptied the tables.
        post_migrate.connect(ensure_reference_data, dispatch_uid="fapiao-reference-data")
        show_decimals_in_words()


def show_decimals_in_words() -> None:
    """Every decimal field the admin shows (list cells, read-only detail fields, inlines) reads as money (12,720.00),
    a rate (6%), a quantity or a unit price (``invoicing.formatting``), not as its stored digits (10600.000000)."""
    from django.contrib.admin import helpers, utils
    from django.contrib.admin.templatetags import admin_list
    from django.db import models

    from invoicing.formatting import decimal_for_field

    original = utils.display_for_field
    if getattr(original, "fapiao", False):
        return

    def display_for_field(value: object, field: models.Field[Any, Any], empty_value_display: str, *args: Any,
                          **kwargs: Any) -> str:
        if (isinstance(field, models.DecimalField) and not getattr(field, "flatchoices", None)
                and value not in field.empty_values):
            return decimal_for_field(value, field)
        return original(value, field, empty_value_display, *args, **kwargs)

    display_for_field.fapiao = True  # type: ignore[attr-defined]  # the marker that makes this idempotent
    for module in (utils, helpers, admin_list):
        # helpers and admin_list import the name from utils at load time, so each module's binding is replaced;
        # the stubs declare it on utils only.
        module.display_for_field = display_for_field  # type: ignore[attr-defined]  # not in helpers' stubs


def ensure_reference_data(sender: AppConfig | None = None, **_kwargs: object) -> None:
    """Runs once per migrate or flush: after the last app's signal, when every app's permissions exist."""
    from django.apps import apps

    if sender is not None and sender is not list(apps.get_app_configs())[-1]:
        return
    from invoicing.catalogue import load_catalogue
    from invoicing.models import TaxCategory
    from invoicing.roles import sync_role_permissions

    sync_role_permissions()
    if not TaxCategory.objects.exists():
        load_catalogue(TaxCategory)
