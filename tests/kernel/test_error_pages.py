"""The branded 403 and 404 pages, with DEBUG off as in production: in Chinese and English, and saying nothing about
what was asked for or why it was refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.issuing.factories import InvoiceApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False


def test_404_is_branded_in_chinese_and_english_and_leaks_nothing(client, fiona):
    client.force_login(fiona)
    response = client.get("/admin/no-such-thing-xyz/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "发票台" in body and "页面不存在" in body and "返回工作台" in body
    assert "no-such-thing-xyz" not in body and "Traceback" not in body and "urlpatterns" not in body
    client.cookies["django_language"] = "en"
    english = client.get("/admin/no-such-thing-xyz/")
    text = english.content.decode()
    assert english.status_code == 404 and "Page not found" in text and "Fapiao Desk" in text
    assert "页面不存在" not in text


def test_another_entitys_record_is_a_plain_404(client, lily, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu)
    client.force_login(lily)
    response = client.get(reverse("admin:issuing_invoiceapplication_reject", args=[app.pk]))
    body = response.content.decode()
    assert response.status_code == 404 and "页面不存在" in body
    assert app.number not in body and "InvoiceApplication" not in body and "No " not in body


def test_403_is_branded_and_does_not_name_the_permission(client, sam, fiona, yuntu):
    client.force_login(sam)
    response = client.get(reverse("admin:issuing_quotaperiod_changelist"))
    body = response.content.decode()
    assert response.status_code == 403
    assert "发票台" in body and "没有权限" in body and "quota" not in body.lower()
    client.cookies["django_language"] = "en"
    english = client.get(reverse("admin:issuing_quotaperiod_changelist")).content.decode()
    assert "Permission denied" in english and "没有权限" not in english
