"""Files, verification, received invoices and the deduction operations, end to end in process."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from invoicing.channels.base import (
    ChannelRejected,
    DeductionItem,
    DeductionSelectRequest,
    VerifyRequest,
)
from invoicing.documents import read_xml
from sandbox import clock
from tests.channels.conftest import issue_request


@pytest.fixture
def blue(seller, buyer_entity, channel):
    return channel.issue_invoice(issue_request(seller))


def _today():
    return clock.now().astimezone(clock_tz()).date()


def clock_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_the_xml_file_is_served_and_reads_back(channel, blue):
    bundle = channel.download_files(blue.invoice_number, ("xml",))
    doc = read_xml(bundle.get("xml"))
    assert doc.number == blue.invoice_number
    assert doc.total_with_tax == Decimal("1590.00")
    assert doc.buyer.tax_id == "91440300MA5FM1NGYB"


def test_formats_without_a_writer_are_reported_missing_not_failed(channel, blue):
    bundle = channel.download_files(blue.invoice_number)
    assert set(bundle.files) | set(bundle.missing) == {"pdf", "ofd", "xml"}
    assert "xml" in bundle.files


def test_the_buyer_may_download_but_a_stranger_may_not(seller, buyer_channel, blue):
    assert buyer_channel.download_files(blue.invoice_number, ("xml",)).get("xml")


def test_verification_by_number_date_and_total(buyer_channel, blue):
    ok = buyer_channel.verify_invoice(VerifyRequest("81", blue.invoice_number, _today(), Decimal("1590.00")))
    assert ok.ok and ok.invoice.total_tax == Decimal("90.00") and ok.invoice.status == "01"
    assert buyer_channel.verify_invoice(
        VerifyRequest("81", blue.invoice_number, _today(), Decimal("1500.00"))).code == "03"
    assert buyer_channel.verify_invoice(
        VerifyRequest("81", blue.invoice_number, _today() - timedelta(days=1), Decimal("1590.00"))).code == "03"
    assert buyer_channel.verify_invoice(
        VerifyRequest("81", "25442000000999999999", _today(), Decimal("1590.00"))).code == "02"


def test_the_buyer_lists_invoices_received(buyer_channel, channel, blue):
    page = buyer_channel.list_received(date_from=_today(), date_to=_today())
    assert page.total == 1 and page.items[0].number == blue.invoice_number
    assert page.items[0].seller_tax_id == "91440101MA5CYUN00U"
    assert channel.list_received(date_from=_today(), date_to=_today()).total == 0


def test_deduction_select_statistics_and_confirm(buyer_channel, blue):
    period = f"{_today():%Y%m}"
    result = buyer_channel.deduction_select(DeductionSelectRequest(period, (
        DeductionItem(blue.invoice_number), DeductionItem("25442000000999999999"),
    )))
    assert result.accepted == (blue.invoice_number,) and result.refused[0].code == "4004"
    assert buyer_channel.list_received(date_from=_today(), date_to=_today()).items[0].selected_period == period

    assert buyer_channel.deduction_statistics_query(period).status == "none"
    stats = buyer_channel.deduction_statistics_apply(period)
    assert (stats.status, stats.count, stats.tax) == ("generated", 1, Decimal("90.00"))
    assert buyer_channel.deduction_statistics_query(period) == stats  # a read: the same figures, nothing changed
    with pytest.raises(ChannelRejected) as exc:  # 勾选 after 统计: undo the statistics first
        buyer_channel.deduction_select(DeductionSelectRequest(period, (DeductionItem(blue.invoice_number, False),)))
    assert exc.value.code == "3501"
    assert buyer_channel.deduction_confirm(period).status == "confirmed"
    assert buyer_channel.deduction_statistics_query(period).status == "confirmed"
    with pytest.raises(ChannelRejected):
        buyer_channel.deduction_statistics_undo(period)
    assert buyer_channel.deduction_confirm_undo(period).status == "generated"
    assert buyer_channel.deduction_statistics_undo(period).status == "none"
    assert buyer_channel.deduction_statistics_query(period).status == "none"
    with pytest.raises(ChannelRejected) as exc:
        buyer_channel.deduction_statistics_query("202613")
    assert exc.value.code == "3001"
    undo = buyer_channel.deduction_select(DeductionSelectRequest(period, (DeductionItem(blue.invoice_number, False),)))
    assert undo.accepted == (blue.invoice_number,)


def test_a_selected_invoice_needs_the_buyers_confirmation_to_red_flush(channel, buyer_channel, blue):
    from invoicing.channels.base import RedFormRequest

    buyer_channel.deduction_select(DeductionSelectRequest(f"{_today():%Y%m}", (DeductionItem(blue.invoice_number),)))
    assert channel.red_form_apply(RedFormRequest("R1", blue.invoice_number, "02")).status == "02"


def test_pdf_and_ofd_are_served_by_the_document_writers(channel, blue):
    bundle = channel.download_files(blue.invoice_number, ("pdf", "ofd"))
    assert bundle.missing == ()
    assert bundle.get("pdf").startswith(b"%PDF") and bundle.get("ofd").startswith(b"PK")
