from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceivingConfig(AppConfig):
    name = "receiving"
    verbose_name = _("用票")
