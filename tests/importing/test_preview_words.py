"""The admin import's preview reads like the file: Chinese column names, order numbers and buyer names, not ids."""

import re

import pytest
from django.urls import reverse

from issuing.billing.models import BillingDocument
from tests.importing.conftest import counts, row, write_xlsx

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.importing.admin_urls")]


def test_the_preview_shows_chinese_headers_order_numbers_and_buyers(client, tmp_path, master, fiona):
    client.force_login(fiona)
    good = write_xlsx(tmp_path / "good.xlsx", [row(external_no="SO-77"), row(external_no="SO-78")])
    with open(good, "rb") as fh:
        page = client.post(reverse("admin:issuing_billingdocument_import", current_app="testadmin"),
                           {"import_file": fh, "format": "0"})
    assert page.status_code == 200 and "confirm_form" in page.context
    html = page.content.decode()
    headers = re.findall(r"<th>\s*([^<]+?)\s*</th>", html.split('class="import-preview"', 1)[-1])
    for chinese in ("业务单据", "行号", "项目名称", "税收分类编码"):
        assert chinese in headers, headers
    for code in ("document", "line_no", "item_name", "tax_category"):
        assert code not in headers, headers
    assert "SO-77 上海白鹭文化传媒有限公司" in html and "3040201000000000000" in html
    assert counts() == (0, 0)
    assert not BillingDocument.objects.exists()


def test_the_preview_shows_amounts_rates_and_yes_no_as_people_write_them(client, tmp_path, master, fiona):
    client.force_login(fiona)
    good = write_xlsx(tmp_path / "good.xlsx", [row(external_no="SO-79", quantity="2", unit_price="5300",
                                                   amount="10600.00", paid_amount="10600.00")])
    with open(good, "rb") as fh:
        page = client.post(reverse("admin:issuing_billingdocument_import", current_app="testadmin"),
                           {"import_file": fh, "format": "0"})
    assert page.status_code == 200 and "confirm_form" in page.context
    table = page.content.decode().split('class="import-preview"', 1)[-1]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)]
    assert "10,600.00" in cells and "5,300.00" in cells and "6%" in cells and "是" in cells, cells
    assert "10600.00" not in cells and "0.06" not in cells and "5300" not in cells, cells
    assert counts() == (0, 0)


def test_the_import_page_lists_the_template_columns_not_field_codes(client, fiona):
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_billingdocument_import", current_app="testadmin"))
    assert page.status_code == 200
    fields = dict(page.context["fields_list"])
    listed = next(iter(fields.values()))
    assert listed[:3] == ["主体税号", "来源系统", "订单号"] and "金额" in listed and "税率" in listed, listed
    html = page.content.decode()
    for code in ("line_no", "item_name", "tax_category", "unit_price"):
        assert code not in html, code
