"""/api/v1/: the routes of the upstream-system API."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from api import views
from api.download import InvoiceFileDownloadView, ReceivedFileDownloadView

router = SimpleRouter()
router.register("billing-documents", views.BillingDocumentViewSet, basename="api-billing-document")
router.register("applications", views.ApplicationViewSet, basename="api-application")
router.register("invoices", views.InvoiceViewSet, basename="api-invoice")
router.register("red-flush-requests", views.RedFlushRequestViewSet, basename="api-red-flush-request")
router.register("webhooks", views.WebhookViewSet, basename="api-webhook")
router.register("received-invoices", views.ReceivedInvoiceViewSet, basename="api-received-invoice")
router.register("deduction/periods", views.TaxPeriodViewSet, basename="api-tax-period")
router.register("claims", views.ClaimViewSet, basename="api-claim")

urlpatterns = [
    *router.urls,
    path("files/<str:token>/", InvoiceFileDownloadView.as_view(), name="api-file"),
    path("received-files/<str:token>/", ReceivedFileDownloadView.as_view(), name="api-received-file"),
]
