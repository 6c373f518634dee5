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


def ensure_reference_data(sender=None, **_kwargs) -> None:
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
