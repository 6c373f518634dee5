"""An import is an entrance to the entity's 申请时机 too: paid (or delivered) rows apply, in the file's transaction."""

from __future__ import annotations

import pytest

from issuing.applications.models import InvoiceApplication
from issuing.billing.models import ApplicationTrigger, BillingDocument
from issuing.intake.run import import_billing_file
from tests.importing.conftest import row, write_xlsx
from tests.issuing.factories import policy

pytestmark = pytest.mark.django_db


def test_paid_rows_of_an_import_create_one_application_each(tmp_path, fiona, yuntu, master):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    path = write_xlsx(tmp_path / "paid.xlsx", [row(external_no="SO-1"), row(external_no="SO-2", paid_amount="100")])
    out = import_billing_file(path, user=fiona)
    assert out.ok, out.issues
    apps = list(InvoiceApplication.objects.all())
    assert [a.sources.get().billing_document.external_no for a in apps] == ["SO-1"]
    assert apps[0].buyer_name == "上海白鹭文化传媒有限公司"


def test_the_delivery_column_is_read_and_triggers_on_delivery(tmp_path, fiona, yuntu, master):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_DELIVERY)
    path = write_xlsx(tmp_path / "d.xlsx", [row(external_no="SO-1", delivered_on="2026-12-01"),
                                            row(external_no="SO-2")])
    out = import_billing_file(path, user=fiona)
    assert out.ok, out.issues
    assert str(BillingDocument.objects.get(external_no="SO-1").delivered_on) == "2026-12-01"
    assert [a.trigger_key.split(":")[0] for a in InvoiceApplication.objects.all()] == ["delivered"]


def test_a_dry_run_creates_nothing(tmp_path, fiona, yuntu, master):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    out = import_billing_file(write_xlsx(tmp_path / "p.xlsx", [row()]), user=fiona, dry_run=True)
    assert out.ok and not InvoiceApplication.objects.exists()
