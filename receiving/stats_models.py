"""收票统计: the monthly rollup of the pool behind the receiving statistics and the dashboard's charts.

``ReceivedMonthlyStat`` holds, per entity, month of issue, kind, supplier, rate and data source, how many received
invoices carry lines at that rate and their amount and tax. It is kept by ``receiving/stats.py`` in the transaction
that writes a pool record, and can be rebuilt from the records (``manage.py rebuild_received_rollup``).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import MoneyField, Taxpayer

# The rate bucket of what has no rate: lines without one (免税, 不征税, ***) and records without lines (tickets,
# customs forms, minimal manual entries), whose header amount and tax are counted there.
NO_RATE = Decimal("-1")


class ReceivedMonthlyStat(models.Model):
    # no index of its own: the unique constraint below starts with it
    taxpayer = models.ForeignKey(
        Taxpayer, models.PROTECT, related_name="+", db_index=False, verbose_name=_("主体")
    )
    month = models.DateField(_("月份"), help_text=_("开票日期所在月的第一天"))
    kind = models.CharField(_("票种"), max_length=16)
    seller_tax_id = models.CharField(_("销售方纳税人识别号"), max_length=20, blank=True)
    seller_name = models.CharField(_("销售方名称"), max_length=200, blank=True)
    data_source = models.CharField(_("数据来源"), max_length=8)
    tax_rate = models.DecimalField(_("税率/征收率"), max_digits=7, decimal_places=4,
                                   help_text=_("-1 表示无税率（免税、不征税或无明细）"))
    invoice_count = models.IntegerField(_("张数"), default=0)
    amount = MoneyField(_("金额（不含税）"), default=Decimal("0.00"))
    tax = MoneyField(_("税额"), default=Decimal("0.00"))

    class Meta:
        verbose_name = _("收票月汇总")
        verbose_name_plural = pgettext_lazy("plural", "收票月汇总")
        ordering = ["taxpayer_id", "month", "kind", "seller_tax_id", "seller_name", "data_source", "tax_rate"]
        constraints = [
            # the upsert's conflict target, and the index the statistics read by entity and month
            models.UniqueConstraint(
                fields=["taxpayer", "month", "kind", "seller_tax_id", "seller_name", "data_source", "tax_rate"],
                name="receivedmonthlystat_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.taxpayer_id} {self.month:%Y-%m} {self.kind} {self.seller_tax_id} {self.tax_rate}"
