"""Number filters for templates: ``{% load fapiao %}{{ total|money }} {{ line.tax_rate|rate }}``.

The same formatting as the admin's columns and detail pages (``invoicing.formatting``)."""

from __future__ import annotations

from django import template

from invoicing import formatting

register = template.Library()

register.filter("money", formatting.money)
register.filter("rate", formatting.rate)
register.filter("quantity", formatting.quantity)
register.filter("unit_price", formatting.unit_price)
