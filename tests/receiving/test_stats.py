"""收票统计: the monthly rollup equals a fresh GROUP BY of the pool after every way a record is created or changed
(and taken out), is rebuilt by the command, and the report pages are scoped and export the same numbers."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from receiving import services
from receiving.corrections import received_invoice_correct
from receiving.models import Method, ReceivedInvoice
from receiving.stats import rebuild_received_rollup, received_rollup, received_rollup_differences
from receiving.stats_models import NO_RATE, ReceivedMonthlyStat
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import PUJIANG, XIHU, as_xml, small_document

pytestmark = pytest.mark.django_db

OTHER_SELLER = ("北京长城办公用品有限公司", "91110105MA00CHCG1X")


def _manual(entity, actor, number, *, issue_date=date(2025, 10, 15), seller=XIHU, lines=None, **values):
    lines = lines if lines is not None else [
        {"item_name": "*信息技术服务*软件开发服务", "amount": "1000.00", "tax_rate": "0.06", "tax": "60.00"}]
    amount = sum(Decimal(ln["amount"]) for ln in lines) if lines else Decimal(values.pop("amount", "500.00"))
    tax = sum(Decimal(ln["tax"]) for ln in lines) if lines else Decimal(values.pop("tax", "0.00"))
    return services.received_invoice_create_manual(
        taxpayer=entity, actor=actor, kind=values.pop("kind", "82"), number=number, issue_date=issue_date,
        seller_name=seller[0], seller_tax_id=seller[1], buyer_name=entity.name, buyer_tax_id=entity.credit_code,
        amount=amount, tax=tax, total=amount + tax, lines=lines, **values)


def _buckets(**filters) -> dict[tuple, tuple]:
    return {(r.month, r.kind, r.seller_tax_id, r.tax_rate): (r.invoice_count, r.amount, r.tax)
            for r in ReceivedMonthlyStat.objects.filter(**filters)}


def test_the_rollup_follows_creates_corrections_attachments_and_removals(pujiang, fiona):
    assert received_rollup_differences() == []
    two_rates = [{"item_name": "*信息技术服务*软件开发服务", "amount": "1000.00", "tax_rate": "0.06", "tax": "60.00"},
                 {"item_name": "*计算机设备*服务器", "amount": "2000.00", "tax_rate": "0.13", "tax": "260.00"},
                 {"item_name": "*计算机设备*键盘", "amount": "100.00", "tax_rate": "0.13", "tax": "13.00"}]
    a = _manual(pujiang, fiona, "25312000000123450001", lines=two_rates)
    b = _manual(pujiang, fiona, "25312000000123450002")
    _manual(pujiang, fiona, "25312000000123450003", seller=OTHER_SELLER, issue_date=date(2025, 11, 3))
    assert received_rollup_differences() == []
    october = date(2025, 10, 1)
    assert _buckets() == {
        (october, "82", XIHU[1], Decimal("0.0600")): (2, Decimal("2000.00"), Decimal("120.00")),
        (october, "82", XIHU[1], Decimal("0.1300")): (1, Decimal("2100.00"), Decimal("273.00")),
        (date(2025, 11, 1), "82", OTHER_SELLER[1], Decimal("0.0600")): (1, Decimal("1000.00"), Decimal("60.00")),
    }
    # a correction that moves a record to another month and supplier moves its buckets
    received_invoice_correct(record=b, changes={"issue_date": date(2025, 11, 20), "seller_name": OTHER_SELLER[0],
                                                "seller_tax_id": OTHER_SELLER[1]}, note="录错了", actor=fiona)
    assert received_rollup_differences() == []
    assert _buckets()[(october, "82", XIHU[1], Decimal("0.0600"))] == (1, Decimal("1000.00"), Decimal("60.00"))
    assert _buckets()[(date(2025, 11, 1), "82", OTHER_SELLER[1], Decimal("0.0600"))] == (
        2, Decimal("2000.00"), Decimal("120.00"))
    # taken out (pool records are never deleted; a change takes the record out first): the empty buckets go, and
    # the check names exactly the buckets of the record that is missing
    received_rollup([a], sign=-1)
    assert not ReceivedMonthlyStat.objects.filter(month=october).exists()
    assert {(k[1], k[6]) for k, have, _want in received_rollup_differences() if have is None} == {
        (october, Decimal("0.0600")), (october, Decimal("0.1300"))}
    received_rollup([a])
    assert received_rollup_differences() == []


def test_a_record_without_lines_counts_its_header_until_a_file_brings_the_lines(pujiang, fiona, upload):
    doc = small_document(number="25312000000123456789", amount="1000.00")
    scanner = services.collection_start(taxpayer=pujiang, method=Method.SCANNER, actor=fiona)
    services.collection_add_qr(collection=scanner, payload=f"01,31,,{doc.number},1060.00,{doc.issue_date:%Y%m%d},,",
                               actor=fiona)
    record = ReceivedInvoice.objects.get()
    assert not record.lines.exists()
    assert received_rollup_differences() == []
    ((key, value),) = _buckets().items()
    assert key[3] == NO_RATE and key[2] == "" and value[0] == 1
    # the file fills the seller, the amounts and the lines: the record leaves the no-rate bucket for its rate
    services.collection_add_file(collection=upload, name="a.xml", data=as_xml(doc), actor=fiona)
    assert received_rollup_differences() == []
    month = doc.issue_date.replace(day=1)
    assert _buckets() == {(month, "81", XIHU[1], Decimal("0.0600")): (1, Decimal("1000.00"), Decimal("60.00"))}


def test_rebuild_and_check_command(pujiang, fiona):
    _manual(pujiang, fiona, "25312000000123450001")
    _manual(pujiang, fiona, "25312000000123450002", lines=[], kind="82", amount="300.00", tax="0.00")
    before = _buckets()
    call_command("rebuild_received_rollup", "--check", stdout=io.StringIO())
    ReceivedMonthlyStat.objects.all().delete()
    ReceivedMonthlyStat.objects.create(taxpayer=pujiang, month=date(2020, 1, 1), kind="82", seller_tax_id="X",
                                       data_source="manual", tax_rate=Decimal("0.13"), invoice_count=5)
    with pytest.raises(CommandError, match="differ"):
        call_command("rebuild_received_rollup", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rebuild_received_rollup", stdout=out)
    assert "2 month bucket(s)" in out.getvalue()
    assert _buckets() == before
    assert rebuild_received_rollup([pujiang.pk], date(2025, 10, 1), date(2025, 10, 1)) == 2
    assert received_rollup_differences() == []


@pytest.fixture
def two_entities(pujiang, fiona):
    other = TaxpayerFactory(name=PUJIANG[0] + "苏州分公司", short_name="苏州", credit_code="91320500MA1XSUZ00C")
    _manual(pujiang, fiona, "25312000000123450001")
    _manual(other, fiona, "25312000000123450002", seller=OTHER_SELLER,
            lines=[{"item_name": "*办公用品*纸", "amount": "400.00", "tax_rate": "0.13", "tax": "52.00"}])
    return pujiang, other


def test_the_report_is_scoped_and_its_excel_has_the_same_numbers(client, two_entities):
    pujiang, other = two_entities
    from invoicing import roles

    suzhou = UserFactory(username="suzhou", role=roles.FINANCE, entities=[other])
    client.force_login(suzhou)
    page = client.get("/receiving/statistics/?by=seller&month_from=2025-01&month_to=2025-12")
    assert page.status_code == 200
    text = page.content.decode()
    assert OTHER_SELLER[0] in text and XIHU[0] not in text
    response = client.get("/receiving/statistics/?by=seller&month_from=2025-01&month_to=2025-12&format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)
                                     if response.streaming else response.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[1][:2] == [other.name, OTHER_SELLER[0]]
    assert rows[1][-3:] == [1, 400, 52]
    assert len(rows) == 3  # header, one supplier, the total
    # asking for another entity's numbers gives nothing of it
    response = client.get(f"/receiving/statistics/?by=seller&taxpayer={pujiang.pk}&month_from=2025-01")
    assert XIHU[0] not in response.content.decode()


def test_the_claims_report_counts_by_claimant_department_and_ticket_type(client, two_entities, fiona):
    from receiving.claims import claim_create, claim_line_add

    pujiang, other = two_entities
    record = ReceivedInvoice.objects.get(taxpayer=other)
    claim = claim_create(taxpayer=other, claimant_name="王小明", department="市场部", actor=fiona)
    claim_line_add(claim=claim, invoice=record, amount=Decimal("100.00"), actor=fiona)
    client.force_login(fiona)
    for by, word in (("claimant", "王小明"), ("department", "市场部"), ("kind", "数电普票")):
        text = client.get(f"/receiving/claim-statistics/?by={by}").content.decode()
        assert word in text, by
    response = client.get("/receiving/claim-statistics/?by=department&format=xlsx")
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]
    assert rows[1] == [other.name, "市场部", 1, 1, 100, 0]


def test_the_pool_and_the_claims_lists_link_their_statistics(client, fiona):
    client.force_login(fiona)
    assert 'href="/receiving/statistics/"' in client.get("/admin/receiving/receivedinvoice/").content.decode()
    assert 'href="/receiving/claim-statistics/"' in client.get("/admin/receiving/expenseclaim/").content.decode()


def test_a_bad_month_is_named_and_nothing_breaks(client, fiona):
    client.force_login(fiona)
    page = client.get("/receiving/statistics/?month_from=2025-13").content.decode()
    assert "月份格式应为 YYYY-MM：2025-13" in page


def test_without_the_pool_permission_the_page_is_refused(client, db):
    from invoicing import roles

    service = UserFactory(username="cs", role=roles.CUSTOMER_SERVICE, entities=None)
    client.force_login(service)
    assert client.get("/receiving/statistics/").status_code == 403


def test_the_pages_show_money_as_the_admin_does(client, pujiang, fiona):
    """Amounts and taxes with thousands separators and two decimals (``invoicing.formatting.money``), counts as they
    are: the same figures as everywhere else in the admin."""
    from receiving.claims import LineInput, claim_create

    big = [{"item_name": "*信息技术服务*软件开发服务", "amount": "12000.00", "tax_rate": "0.06", "tax": "720.00"},
           {"item_name": "*计算机设备*服务器", "amount": "1000000.00", "tax_rate": "0.13", "tax": "130000.00"}]
    record = _manual(pujiang, fiona, "25312000000123450001", lines=big)
    claim_create(taxpayer=pujiang, claimant_name="王小明", actor=fiona,
                 lines=[LineInput(invoice=record)])
    client.force_login(fiona)
    text = client.get("/receiving/statistics/?by=kind&month_from=2025-01&month_to=2025-12").content.decode()
    assert '<td style="text-align:right">1,012,000.00</td><td style="text-align:right">130,720.00</td>' in text
    assert '<th style="text-align:right">1,012,000.00</th>' in text and "<th>2</th>" in text  # one invoice, two rates
    assert "1012000.00" not in text
    text = client.get("/receiving/claim-statistics/").content.decode()
    assert '<td style="text-align:right">1,142,720.00</td><td style="text-align:right">0.00</td>' in text
