"""The admin app with the project's site (``FapiaoAdminSite``: every registered ModelAdmin gets the lookup guard).

Listed in INSTALLED_APPS instead of ``django.contrib.admin``; ``admin.site`` is then a ``FapiaoAdminSite``.
"""

from django.contrib.admin.apps import AdminConfig


class FapiaoAdminConfig(AdminConfig):
    default_site = "invoicing.admin_guard.FapiaoAdminSite"
