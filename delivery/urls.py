"""Invoice file downloads (staff) and the customer's invoice link (public, token-only)."""

from django.urls import path

from delivery import views

app_name = "delivery"
urlpatterns = [
    path("invoices/<int:invoice_id>/files/<str:fmt>/", views.invoice_file_download, name="invoice_file"),
    path("i/<str:token>/", views.invoice_link_page, name="link"),
    path("i/<str:token>/<str:fmt>/", views.invoice_link_file, name="link_file"),
]
