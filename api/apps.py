from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = _("开放接口")

    def ready(self) -> None:
        from api import schema  # noqa: F401  (registers the OpenAPI descriptions of our authentication schemes)
        from api.webhooks import on_event_saved, on_events_recorded
        from invoicing.events import events_recorded

        # Application and invoice webhooks are derived from the audit trail (see api/webhooks.py).
        post_save.connect(on_event_saved, sender="invoicing.Event", dispatch_uid="api-webhooks-from-events")
        events_recorded.connect(on_events_recorded, dispatch_uid="api-webhooks-from-bulk-events")
