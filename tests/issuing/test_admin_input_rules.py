"""Admin forms refuse text that cannot reach an invoice with a field error, like the API and the import (issue 12)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from invoicing.models import Counterparty
from issuing.applications.models import InvoiceApplication
from tests.factories import CounterpartyFactory

pytestmark = pytest.mark.django_db

RLO_BEL = "上海白鹭\u202e\x07文化传媒有限公司"


def test_the_customer_form_refuses_control_characters_in_the_name(client, fiona, yuntu):
    cp = CounterpartyFactory(taxpayer=yuntu, name="上海白鹭文化传媒有限公司", tax_id="91310000MA1K0BA10F")
    client.force_login(fiona)
    url = reverse("admin:invoicing_counterparty_change", args=[cp.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list | dict)}
    data.update(taxpayer=yuntu.pk, name=RLO_BEL, address="上海\u200b静安")
    page = client.post(url, data)
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert "name" in errors and "address" in errors and "U+202E" in errors["name"][0]
    assert Counterparty.objects.get(pk=cp.pk).name == "上海白鹭文化传媒有限公司"


def test_the_application_form_refuses_them_in_the_buyer_and_the_lines(client, sam, yuntu):
    client.force_login(sam)
    data = {
        "taxpayer": yuntu.pk, "kind": "82", "buyer_kind": "company", "buyer_name": RLO_BEL,
        "buyer_tax_id": "91310000MA1K0BA10F", "delivery_email": "a@example.com", "submit": "on",
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50",
        "lines-0-item_name": "软件\u2066服务", "lines-0-amount": "106.00", "lines-0-tax_category": "3040201000000000000",
        "lines-0-tax_rate": "0.06",
    }
    page = client.post(reverse("admin:issuing_invoiceapplication_add"), data)
    assert page.status_code == 200
    assert "buyer_name" in page.context["form"].errors
    assert "item_name" in page.context["formset"].forms[0].errors
    assert not InvoiceApplication.objects.exists()
