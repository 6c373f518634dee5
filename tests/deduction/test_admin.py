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
from receiving.models import ReceivedInvoice
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
    link_a = reverse("admin:receiving_receivedinvoice_change", args=[a.pk])
    link_b = reverse("admin:receiving_receivedinvoice_change", args=[b.pk])
    assert "65.00" in report and link_a not in report and f'href="{drill_url}"' in report  # figures and links only
    drill = client.get(drill_url).content.decode()
    assert link_a in drill and link_b in drill and a.number in drill and "共 2 条" in drill
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


def test_bulk_selection_from_the_workbench_runs_as_a_job_with_its_result_file(client, fiona, period, make_invoice,
                                                                                settings, monkeypatch, yuntu):
    from deduction import tasks

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    a, b = make_invoice(), make_invoice()
    ReceivedInvoice.objects.filter(pk=b.pk).update(use_state="in_review")  # refused by our own checks
    queued = []
    monkeypatch.setattr(tasks.bulk_select_task, "delay", lambda job_id: queued.append(job_id))
    client.force_login(fiona)
    page = client.get(_workbench(period)).content.decode()
    assert "按条件批量勾选" in page and reverse("admin:deduction_taxperiod_bulk", args=[period.pk]) in page
    resp = client.post(reverse("admin:deduction_taxperiod_bulk", args=[period.pk]),
                       {"kind": "81", "purpose": "1", "date_from": "", "date_to": ""}, follow=True)
    assert "已开始批量勾选 2 张发票" in resp.content.decode()
    [job_id] = queued
    status_url = reverse("admin:deduction_bulk_job_status", args=[job_id])
    before = client.get(status_url).json()
    assert (before["status"], before["total"], before["done"]) == ("queued", 2, False)
    assert "output_url" not in before
    tasks.bulk_select_task(job_id)  # what the worker does
    after = client.get(status_url).json()
    assert (after["status"], after["percent"], after["done"]) == ("succeeded", 100, True)
    assert after["result"] == {"accepted": 1, "refused": 1, "pending": 0}
    page = client.get(reverse("admin:deduction_bulk_job", args=[job_id])).content.decode()
    assert "2/2" in page and after["output_url"] in page
    xlsx = client.get(after["output_url"])
    assert xlsx.status_code == 200
    rows = {r[0]: r for r in load_workbook(io.BytesIO(b"".join(xlsx.streaming_content) if xlsx.streaming
                                                       else xlsx.content)).active.iter_rows(min_row=2,
                                                                                           values_only=True)}
    assert rows[a.pk][8] == "已接受" and rows[b.pk][8] == "已拒绝" and "待复核" in rows[b.pk][10]
    # another entity's user sees nothing of the job, its progress or its file
    client.force_login(UserFactory(username="olga", role=roles.FINANCE, entities=[yuntu]))
    for url in (reverse("admin:deduction_bulk_job", args=[job_id]), status_url, after["output_url"]):
        assert client.get(url).status_code in (302, 404)


def test_bulk_selection_form_errors_name_the_field(client, fiona, period, make_invoice):
    make_invoice()
    client.force_login(fiona)
    resp = client.post(reverse("admin:deduction_taxperiod_bulk", args=[period.pk]),
                       {"purpose": "1", "date_from": "2026-02-01", "date_to": "2026-01-01"}, follow=True)
    assert "开票日期止：不能早于开票日期起" in resp.content.decode()
    resp = client.post(reverse("admin:deduction_taxperiod_bulk", args=[period.pk]),
                       {"purpose": "1", "seller_tax_id": "91110000000000000X"}, follow=True)
    assert "没有符合条件的可勾选发票" in resp.content.decode()


def test_the_workbench_selection_list_and_trail_read_in_words(client, fiona, period, make_invoice, settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    invoice = make_invoice(("40000.00",))  # tax 2400.00
    client.force_login(fiona)
    page = client.get(_workbench(period)).content.decode()
    selectable = page.split('id="fapiao-selectable"')[1].split("</table>")[0]
    assert '<td style="text-align:right">2,400.00</td>' in selectable and "2400.00" not in selectable
    services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=fiona)
    page = client.get(_workbench(period)).content.decode()
    selected = page.split('id="fapiao-selected"')[1].split("</table>")[0]
    assert '<td style="text-align:right">2,400.00</td>' in selected
    listing = client.get(reverse("admin:deduction_selection_changelist")).content.decode()
    assert '<td class="field-kind">数电专票</td>' in listing  # the kind's label, not 81
    trail = client.get(reverse("admin:invoicing_event_changelist"), {"action": "deduction_select"}).content.decode()
    assert '<td class="field-from_state_display">勾选待平台确认</td>' in trail
    assert '<td class="field-to_state_display">已勾选</td>' in trail and ">accepted<" not in trail


def _deadline_card(user):
    from deduction.dashboard import period_cards

    [card] = period_cards(user)
    return card


def test_the_deadline_card_leads_to_the_period_or_to_where_it_is_opened(client, world, yuntu, fiona, lily):
    # 2026-11-25 (conftest): 202610's deadline has passed, 202611 is filed by 2026-12-15
    card = _deadline_card(fiona)
    assert "202611" in str(card.title)
    client.force_login(fiona)
    page = client.get(card.url).content.decode()  # no entity has opened 202611: the list says where to open it
    assert "所属期 202611 尚未打开：云途、明远。选择主体后点「打开抵扣工作台」" in page
    assert 'name="period" value="202611"' in page and "打开抵扣工作台" in page
    mine = services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)
    page = client.get(_deadline_card(fiona).url).content.decode()  # two entities, one opened: the list, and the rest
    assert _workbench(mine) in page and "所属期 202611 尚未打开：云途。" in page
    assert f'<option value="{yuntu.pk}" selected>' in page
    # a user of one entity that has opened it goes straight to its workbench
    assert _deadline_card(lily).url == _workbench(mine)
    client.force_login(lily)
    assert "抵扣工作台" in client.get(_deadline_card(lily).url).content.decode()


def test_the_period_list_is_searched_by_entity_and_shows_only_the_users_entities(client, world, yuntu, fiona, lily):
    theirs = services.tax_period_ensure(taxpayer=yuntu, period="202611", actor=fiona)
    mine = services.tax_period_ensure(taxpayer=world, period="202611", actor=fiona)
    client.force_login(fiona)
    url = reverse("admin:deduction_taxperiod_changelist")
    page = client.get(url, {"q": "云途"}).content.decode()
    assert _workbench(theirs) in page and _workbench(mine) not in page
    page = client.get(url, {"q": world.credit_code}).content.decode()
    assert _workbench(mine) in page and _workbench(theirs) not in page
    client.force_login(lily)  # 明远 only: nothing of 云途, not in the hint either
    page = client.get(url, {"q": "云途"}).content.decode()
    assert _workbench(theirs) not in page
    TaxPeriod.objects.filter(pk=mine.pk).delete()
    page = client.get(url, {"q": "202611"}).content.decode()
    assert "所属期 202611 尚未打开：明远。" in page and "云途" not in page.split('id="fapiao-open-hint"')[1][:200]
