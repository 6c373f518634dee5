from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("基础资料")

    def ready(self) -> None:
        from invoicing import checks  # noqa: F401  (registers system checks)
        from invoicing.roles import sync_role_permissions

        # Permissions of every app exist only after migrate; keep the role groups in step each time.
        post_migrate.connect(sync_role_permissions, dispatch_uid="fapiao-sync-roles")
