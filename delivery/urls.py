"""Invoice file downloads (staff) and the customer's invoice link (public, token-only)."""

from django.urls import path

from delivery import views

app_name = "delivery"
urlpatterns = [
    path("invoices/<int:invoice_id>/files/<str:fmt>/", views.invoice_file_download, name="invoice_file"),
    path("prints/<int:job_id>/", views.print_job_page, name="print_job"),
    path("prints/<int:job_id>/file/", views.print_job_file, name="print_job_file"),
    path("i/<str:token>/", views.invoice_link_page, name="link"),
    path("i/<str:token>/<str:fmt>/", views.invoice_link_file, name="link_file"),
]
