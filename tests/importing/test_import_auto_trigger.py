"""An import is an entrance to the entity's 申请时机 too: paid (or delivered) rows apply, in the file's transaction."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from invoicing.models import Event
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import ApplicationTrigger, BillingDocument
from issuing.intake.resources import BillingLineResource, BillingXLSX
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


def test_the_admin_import_applies_for_paid_rows_too(tmp_path, fiona, yuntu, master):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    path = write_xlsx(tmp_path / "admin.xlsx", [row(external_no="SO-1"), row(external_no="SO-2", paid_amount="100")])
    result = BillingLineResource().import_data(BillingXLSX().create_dataset(path.read_bytes()), dry_run=False,
                                               user=fiona, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert [a.sources.get().billing_document.external_no for a in InvoiceApplication.objects.all()] == ["SO-1"]


def test_an_import_without_a_user_is_recorded_as_the_importer(tmp_path, yuntu, master):
    call_command("import_billing", str(write_xlsx(tmp_path / "cmd.xlsx", [row()])))
    event = Event.objects.get(action="billing_import")
    assert (event.actor, event.actor_label, event.taxpayer) == (None, "import", yuntu)
    assert (event.data["documents"], event.data["lines"], event.data["path"]) == (1, 1, "fast")
