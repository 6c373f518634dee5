from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from issuing.platform.signals import invoice_recorded


class DeliveryConfig(AppConfig):
    name = "delivery"
    label = "delivery"
    verbose_name = _("发票文件与交付")

    def ready(self) -> None:
        # Here, not at the top: this module is loaded before the app registry, and the receivers import models.
        from delivery import dashboard  # noqa: PLC0415
        from delivery.receivers import on_invoice_recorded  # noqa: PLC0415

        invoice_recorded.connect(on_invoice_recorded, dispatch_uid="delivery.on_invoice_recorded")
        dashboard.register()
