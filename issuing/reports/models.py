"""The daily rollup behind the 发票汇总表: per entity, issue date, tax rate and colour (blue / red), how many
invoices carry that rate and the sums of their lines' amount and tax. Voided invoices (作废) are not in it.

It is maintained in the same transaction as the invoice rows (``issuing/rollup.py``): every place an invoice is
recorded or voided calls ``rollup_invoice``. ``manage.py rebuild_invoice_rollup`` recomputes it from the lines, for
upgrades and after bulk loads that bypass the services.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import MoneyField, Taxpayer

ZERO = Decimal("0.00")


class InvoiceDailyRate(models.Model):
    # no index of its own: the unique constraint below starts with it
    taxpayer = models.ForeignKey(
        Taxpayer, models.PROTECT, related_name="+", db_index=False, verbose_name=_("主体")
    )
    issue_date = models.DateField(_("开票日期"))
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4)
    is_red = models.BooleanField(_("红字发票"))
    invoice_count = models.IntegerField(_("张数"), default=0, help_text=_("带有该税率明细的发票张数"))
    amount = MoneyField(_("金额（不含税）"), default=ZERO)
    tax = MoneyField(_("税额"), default=ZERO)

    class Meta:
        verbose_name = _("发票日汇总")
        verbose_name_plural = pgettext_lazy("plural", "发票日汇总")
        ordering = ["taxpayer_id", "issue_date", "-tax_rate", "is_red"]
        constraints = [
            # the upsert's conflict target, and the index the report reads by entity and date
            models.UniqueConstraint(
                fields=["taxpayer", "issue_date", "tax_rate", "is_red"], name="invoicedailyrate_unique"
            ),
        ]

    def __str__(self) -> str:
        colour = "红" if self.is_red else "蓝"
        return f"{self.taxpayer_id} {self.issue_date} {self.tax_rate} {colour}: {self.invoice_count}"
