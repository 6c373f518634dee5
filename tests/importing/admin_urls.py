"""A test-only admin site with the import/export mixins on the BillingDocument and Invoice changelists, wired the
way issuing/admin.py is asked to wire them."""

from django.contrib import admin
from django.urls import include, path

from invoicing.admin import EntityScopedAdminMixin
from issuing.billing.models import BillingDocument
from issuing.intake.admin import BillingImportAdminMixin
from issuing.platform.models import Invoice
from issuing.reports.admin import StreamingExportAdminMixin

site = admin.AdminSite(name="testadmin")


class BillingDocumentAdmin(BillingImportAdminMixin, StreamingExportAdminMixin, EntityScopedAdminMixin,
                           admin.ModelAdmin):
    export_spec_name = "billing_documents"
    list_display = ("external_no", "buyer_name", "order_amount")
    list_filter = ("taxpayer",)


class InvoiceAdmin(StreamingExportAdminMixin, EntityScopedAdminMixin, admin.ModelAdmin):
    export_spec_name = "invoices"
    list_filter = ("taxpayer", "is_red")
    export_async_threshold = 5


site.register(BillingDocument, BillingDocumentAdmin)
site.register(Invoice, InvoiceAdmin)

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("test-admin/", site.urls),
    path("", include("issuing.urls")),
]
