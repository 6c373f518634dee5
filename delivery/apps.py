from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "delivery"
    label = "delivery"
    verbose_name = _("发票文件与交付")

    def ready(self) -> None:
        from delivery.receivers import on_invoice_recorded  # noqa: PLC0415 - models must be loaded first
        from issuing.platform.signals import invoice_recorded  # noqa: PLC0415

        invoice_recorded.connect(on_invoice_recorded, dispatch_uid="delivery.on_invoice_recorded")
