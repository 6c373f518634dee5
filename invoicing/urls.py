from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from invoicing import health

admin.site.site_header = _("发票台 Fapiao Desk")
admin.site.site_title = _("发票台")
admin.site.index_title = _("工作台")

# Media files (invoice PDF/OFD/XML) are never served statically: only through views that check role and entity.
urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("invoicing.api_urls")),
    path("sandbox/api/", include("sandbox.urls")),
    path("", include("delivery.urls")),
    path("", include("issuing.urls")),
    path("", include("receiving.urls")),
]
