"""Issuing's admin pages, one module per sub-package; Django's admin autodiscovery loads this module."""

from issuing.applications import admin as applications_admin
from issuing.billing import admin as billing_admin
from issuing.paperstock import admin as paperstock_admin
from issuing.platform import admin as platform_admin
from issuing.redletter import admin as redletter_admin

__all__ = ["applications_admin", "billing_admin", "paperstock_admin", "platform_admin", "redletter_admin"]
