from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from django.apps import AppConfig
from django.contrib.admin import helpers, utils
from django.contrib.admin.filters import AllValuesFieldListFilter, FieldListFilter
from django.contrib.admin.templatetags import admin_list
from django.db import models
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from invoicing.formatting import decimal_for_field

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices
    from django.contrib.admin.views.main import ChangeList


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("基础资料")

    def ready(self) -> None:
        from invoicing import checks, dashboard_channel, dashboard_jobs  # noqa: F401  (checks registers system checks)
        from invoicing.redaction import install_log_redaction
        from invoicing.reference_data import ensure_reference_data

        install_log_redaction()  # customer links and API tokens are masked in every log record

        # Permissions of every app exist only after migrate; keep the role groups in step each time. The reference
        # data is restored too when a flush (as in transactional tests) emptied the tables.
        post_migrate.connect(ensure_reference_data, dispatch_uid="fapiao-reference-data")
        admin_display_install()
        dashboard_channel.register()
        dashboard_jobs.register()


def admin_display_install() -> None:
    """How the admin shows two kinds of field everywhere (list cells, read-only detail fields, inlines, the values a
    list filters by):

    - a decimal field reads as money (12,720.00), a rate (6%), a quantity or a unit price (``invoicing.formatting``),
      not as its stored digits (10600.000000);
    - a file field reads as the file's name, never as a link to the storage: Django would link ``file.url`` (``/media/…``,
      which nothing serves, or a signed S3 address that anyone holding it may open), past the permission and entity
      checks of the download views. An admin that offers the file links its checked download view itself.
    """
    original = utils.display_for_field
    if getattr(original, "fapiao", False):
        return
    FieldListFilter.register(lambda f: isinstance(f, models.DecimalField) and not f.choices, DecimalValuesListFilter,
                             take_priority=True)

    def display_for_field(value: object, field: models.Field[Any, Any], empty_value_display: str, *args: Any,
                          **kwargs: Any) -> str:
        if (isinstance(field, models.DecimalField) and not getattr(field, "flatchoices", None)
                and value not in field.empty_values):
            return decimal_for_field(value, field)
        if isinstance(field, models.FileField):
            name = getattr(value, "name", None) or ""
            return name or empty_value_display
        return original(value, field, empty_value_display, *args, **kwargs)

    display_for_field.fapiao = True  # type: ignore[attr-defined]  # the marker that makes this idempotent
    for module in (utils, helpers, admin_list):
        # helpers and admin_list import the name from utils at load time, so each module's binding is replaced;
        # the stubs declare it on utils only.
        module.display_for_field = display_for_field  # type: ignore[attr-defined]  # not in helpers' stubs


class DecimalValuesListFilter(AllValuesFieldListFilter):
    """A list filter by a decimal field's values, each shown as the column shows it (以 税率: 6%, not 0.0600); the
    query string keeps the stored value."""

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        field = cast(models.DecimalField[Any, Any], self.field)
        words = {str(v): decimal_for_field(v, field) for v in self.lookup_choices if v is not None}
        for choice in super().choices(changelist):
            value, facet, count = str(choice["display"]).partition(" (")  # "0.0600 (3)" with facets shown
            if value in words:
                choice = {**choice, "display": words[value] + facet + count}
            yield choice
