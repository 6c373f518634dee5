from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeductionConfig(AppConfig):
    name = "deduction"
    verbose_name = _("抵扣")

    def ready(self) -> None:
        # cycle: the app registry must be ready before models are imported
        from deduction import dashboard, listeners
        from receiving import signals

        signals.red_form_applied.connect(listeners.on_red_form_applied,
                                         dispatch_uid="deduction.listeners.on_red_form_applied")
        signals.risk_level_changed.connect(listeners.on_risk_level_changed,
                                           dispatch_uid="deduction.listeners.on_risk_level_changed")
        dashboard.register()
