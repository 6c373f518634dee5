from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceivingConfig(AppConfig):
    name = "receiving"
    verbose_name = _("用票")

    def ready(self) -> None:
        # cycle: the app registry must be ready before models are imported
        from receiving import dashboard, rules, signals

        signals.invoice_arrived.connect(rules.on_arrival, dispatch_uid="receiving.rules.on_arrival")
        dashboard.register()
