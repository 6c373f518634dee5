"""/api/v1/: the routes of the upstream-system API."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from api import views
from api.download import InvoiceFileDownloadView

router = SimpleRouter()
router.register("billing-documents", views.BillingDocumentViewSet, basename="api-billing-document")
router.register("applications", views.ApplicationViewSet, basename="api-application")
router.register("invoices", views.InvoiceViewSet, basename="api-invoice")
router.register("red-flush-requests", views.RedFlushRequestViewSet, basename="api-red-flush-request")
router.register("webhooks", views.WebhookViewSet, basename="api-webhook")

urlpatterns = [
    *router.urls,
    path("files/<str:token>/", InvoiceFileDownloadView.as_view(), name="api-file"),
]
