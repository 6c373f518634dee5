"""票仓 in Chromium: finance records a batch of blank 数电纸票, sees the stock, voids two blank sheets."""

from __future__ import annotations

import pytest

from invoicing.models import Taxpayer
from issuing.paperstock.models import PaperBatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"


def test_finance_receives_a_batch_and_sees_the_counts(login, live_server, demo_world, shots):
    yuntu = Taxpayer.objects.get(credit_code=YUNTU)
    page = login("finance")
    changelist = f"{live_server.url}/admin/issuing/paperbatch/"
    page.goto(changelist)
    page.click(".object-tools a.addlink")
    page.select_option("#id_taxpayer", str(yuntu.pk))
    page.select_option("#id_kind", "86")
    page.fill("#id_code", "144032400110")
    page.fill("#id_start_number", "00000101")
    page.fill("#id_end_number", "00000150")
    shots(page, "receive-form")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "共 50 份" in page.inner_text(".messagelist")
    stock = page.inner_text("#paper-stock")
    assert yuntu.name in stock and "50" in stock
    shots(page, "stock")

    batch = PaperBatch.objects.get()
    page.check(f"input[name=_selected_action][value='{batch.pk}']")
    page.select_option("select[name=action]", "void_blank")
    page.click("button[name=index]")
    page.fill("#id_start_number", "101")
    page.fill("#id_end_number", "102")
    page.select_option("#id_reason", "damaged")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "已作废 2 份空白纸票" in page.inner_text(".messagelist")
    assert "48" in page.inner_text("#paper-stock")

    page.goto(changelist + "add/")  # the same range again: refused on the form, the field named
    page.select_option("#id_taxpayer", str(yuntu.pk))
    page.fill("#id_code", "144032400110")
    page.fill("#id_start_number", "120")
    page.fill("#id_end_number", "200")
    page.click("input[type=submit]")
    assert "重叠" in page.inner_text(".errorlist")
    assert PaperBatch.objects.count() == 1
