from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from deduction import services
from deduction.models import PeriodState, Selection, SelectionState, TaxPeriod, TransferOut
from deduction.services import SelectionInput
from invoicing import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _workbench(period):
    return reverse("admin:deduction_taxperiod_change", args=[period.pk])


def test_workbench_selects_steps_and_shows_the_report(client, fiona, period, make_invoice, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    a, b = make_invoice(), make_invoice(("200.00",))
    client.force_login(fiona)
    page = client.get(_workbench(period)).content.decode()
    assert a.number in page and b.number in page and "勾选并提交平台" in page
    resp = client.post(reverse("admin:deduction_taxperiod_select", args=[period.pk]),
                       {"invoice": [a.pk, b.pk], "purpose": "1", f"effective_{b.pk}": "5.00"}, follow=True)
    assert "平台已接受 2 张" in resp.content.decode()
    assert Selection.objects.get(invoice=b).effective_tax == 5
    resp = client.post(reverse("admin:deduction_taxperiod_select", args=[period.pk]),
                       {"invoice": [a.pk], "purpose": "1"}, follow=True)
    assert "已于所属期 202611 勾选" in resp.content.decode()
    for step in ("statistics_apply", "confirm"):
        client.post(reverse("admin:deduction_taxperiod_step", args=[period.pk, step]))
    assert TaxPeriod.objects.get(pk=period.pk).state == PeriodState.CONFIRMED
    report = client.get(reverse("admin:deduction_taxperiod_report", args=[period.pk])).content.decode()
    drill_url = reverse("admin:deduction_taxperiod_drilldown", args=[period.pk, "2"])
    assert "65.00" in report and f">{a.pk}<" not in report and f'href="{drill_url}"' in report
    drill = client.get(drill_url).content.decode()
    assert f">{a.pk}<" in drill and f">{b.pk}<" in drill and "共 2 条" in drill
    assert client.get(reverse("admin:deduction_taxperiod_drilldown", args=[period.pk, "99"])).status_code == 404
    xlsx = client.get(reverse("admin:deduction_taxperiod_report_xlsx", args=[period.pk]))
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["2"][1] == 2 and float(rows["2"][3]) == 65.0


def test_undo_from_the_workbench(client, fiona, period, invoice, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    [row] = services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona)
    client.force_login(fiona)
    client.post(reverse("admin:deduction_taxperiod_unselect", args=[period.pk]), {"selection": [row.pk]})
    assert Selection.objects.get(pk=row.pk).state == SelectionState.UNDONE


def test_entity_scope(client, period, invoice, yuntu):
    other = UserFactory(username="olga", role=roles.FINANCE, entities=[yuntu])
    client.force_login(other)
    assert client.get(_workbench(period)).status_code in (302, 404)
    assert period.period not in client.get(reverse("admin:deduction_taxperiod_changelist")).content.decode().replace(
        "YYYYMM", "")
    client.post(reverse("admin:deduction_taxperiod_select", args=[period.pk]), {"invoice": [invoice.pk]})
    assert not Selection.objects.exists()


def test_manual_transfer_out_from_the_admin(client, fiona, period):
    client.force_login(fiona)
    resp = client.post(reverse("admin:deduction_transferout_add"),
                       {"tax_period": period.pk, "line": "15", "tax": "12.00", "reason": "职工食堂"})
    assert resp.status_code == 302
    row = TransferOut.objects.get()
    assert row.reason == "职工食堂" and row.created_by == fiona


def test_workbench_queries_do_not_grow(client, fiona, period, make_invoice):
    client.force_login(fiona)
    make_invoice()

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(_workbench(period)).status_code == 200
        return len(ctx.captured_queries)

    first = count()
    for _ in range(3):
        make_invoice()
    assert count() == first
