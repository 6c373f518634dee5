from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeductionConfig(AppConfig):
    name = "deduction"
    verbose_name = _("抵扣")

    def ready(self) -> None:
        from deduction import dashboard  # cycle: the cards' module imports models, loaded after the app registry

        dashboard.register()
