from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuingConfig(AppConfig):
    name = "issuing"
    verbose_name = _("开票")

    def ready(self) -> None:
        # cycle: the listeners import the models, which Django loads only after this module (the app registry).
        from invoicing.channels.signals import channel_switch_blockers
        from issuing import dashboard
        from issuing.applications import receivers as application_receivers
        from issuing.applications.signals import auto_application_approved
        from issuing.billing.signals import billing_document_changed, billing_documents_created
        from issuing.platform import receivers as platform_receivers
        from issuing.redletter import receivers as redletter_receivers

        # A lower sub-package emits, a higher one reacts (issuing's layers: billing < applications < platform).
        billing_documents_created.connect(application_receivers.on_billing_documents_created,
                                          dispatch_uid="issuing-applications-on-billing-documents-created")
        billing_document_changed.connect(application_receivers.on_billing_document_changed,
                                         dispatch_uid="issuing-applications-on-billing-document-changed")
        auto_application_approved.connect(platform_receivers.on_auto_application_approved,
                                          dispatch_uid="issuing-platform-on-auto-application-approved")
        # Before an entity's channel changes, the kernel asks what is still in flight on the current platform.
        channel_switch_blockers.connect(platform_receivers.on_channel_switch,
                                        dispatch_uid="issuing-platform-on-channel-switch")
        channel_switch_blockers.connect(redletter_receivers.on_channel_switch,
                                        dispatch_uid="issuing-redletter-on-channel-switch")
        dashboard.register()
