"""The admin import's preview reads like the file: Chinese column names, order numbers and buyer names, not ids."""

import re

import pytest
from django.urls import reverse

from issuing.models import BillingDocument
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
