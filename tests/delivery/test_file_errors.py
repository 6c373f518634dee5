"""A file that cannot be made answers a generic error everywhere; the reason goes to the log (issue 12)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from delivery.services import invoice_link_create
from issuing.platform.models import Invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken(invoice):
    """An invoice whose buyer name holds RLO and BEL (stored before the entrances refused them): no XML/OFD."""
    Invoice.objects.filter(pk=invoice.pk).update(buyer_name="白鹭\u202e\x07传媒")
    invoice.refresh_from_db()
    return invoice


@pytest.mark.parametrize("fmt", ["xml", "ofd"])
def test_staff_download_answers_a_generic_503(client, fiona, broken, fmt, caplog):
    client.force_login(fiona)
    response = client.get(reverse("delivery:invoice_file", args=[broken.pk, fmt]))
    text = response.content.decode()
    assert response.status_code == 503 and "发票文件暂时无法生成" in text
    assert "compatible" not in text and "Error" not in text
    assert "compatible" in caplog.text


def test_the_customer_link_answers_a_generic_503(client, broken, caplog):
    link = invoice_link_create(invoice=broken)
    response = client.get(reverse("delivery:link_file", args=[link.token, "xml"]))
    text = response.content.decode()
    assert response.status_code == 503 and "compatible" not in text and "Error" not in text
    assert "compatible" in caplog.text
