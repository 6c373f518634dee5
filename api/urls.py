"""/api/v1/: the routes of the upstream-system API."""

from rest_framework.routers import SimpleRouter

from api import views

router = SimpleRouter()
router.register("billing-documents", views.BillingDocumentViewSet, basename="api-billing-document")
router.register("applications", views.ApplicationViewSet, basename="api-application")

urlpatterns = router.urls
