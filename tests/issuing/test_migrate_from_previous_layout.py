"""An existing database migrates onto the sub-package layout with nothing lost.

The models moved into issuing's sub-packages keep their app label and tables; BillingDocument.status and
Invoice.status became protected state-machine fields (0011, 0012). Rows written under the schema before them
(0010) come through with their states and amounts, and are read by today's models.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("issuing", "0010_field_words")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_rows_of_the_previous_schema_keep_their_states_after_migrating():
    _migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        Taxpayer = old.get_model("invoicing", "Taxpayer")  # noqa: N806
        Document = old.get_model("issuing", "BillingDocument")  # noqa: N806
        Invoice = old.get_model("issuing", "Invoice")  # noqa: N806
        seller = Taxpayer.objects.create(name="旧主体", credit_code="91440101MA5MIG001X")
        docs = {
            status: Document.objects.create(taxpayer=seller, external_no=f"OLD-{status}", status=status,
                                            buyer_name="客户")
            for status in ("open", "partly", "fully", "closed")
        }
        invoices = {
            status: Invoice.objects.create(taxpayer=seller, number=f"2644000000000000{n:04d}", status=status,
                                           buyer_name="客户", amount=Decimal("100.00"), tax=Decimal("13.00"),
                                           total=Decimal("113.00"), issued_at=timezone.now(), issue_date=date.today(),
                                           quota_month=f"{date.today():%Y-%m}")
            for n, status in enumerate(("normal", "red_partial", "red_full", "voided"))
        }

        _migrate(None)

        from issuing.billing.models import BillingDocument
        from issuing.platform.models import Invoice as CurrentInvoice

        for status, doc in docs.items():
            now = BillingDocument.objects.get(pk=doc.pk)
            assert (now.status, now.external_no, now.buyer_name) == (status, f"OLD-{status}", "客户")
        for status, inv in invoices.items():
            now = CurrentInvoice.objects.get(pk=inv.pk)
            assert (now.status, now.number, now.amount, now.tax) == (status, inv.number, Decimal("100.00"),
                                                                     Decimal("13.00"))
    finally:
        _migrate(None)
