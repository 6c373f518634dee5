"""The admin's own text in English: buttons, flash messages, plural model names, action descriptions, the import and
report pages. In Chinese (no Accept-Language, or zh) every page reads as before; the printed invoice face and the
customer's e-mail stay Chinese whatever language the staff member uses.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from delivery.services import build_email, invoice_link_create
from invoicing.documents.demo import demo_document
from invoicing.documents.pdf import invoice_html
from issuing.applications import services as application_services
from tests.delivery.factories import make_invoice
from tests.issuing.factories import make_document

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.django_db


@pytest.fixture
def applications(yuntu, buyer):
    """Two applications waiting for review."""
    return [application_services.application_create(actor=None, taxpayer=yuntu, sources=[make_document(yuntu, counterparty=buyer)])
            for _ in range(2)]


@pytest.fixture
def finance(client, fiona):
    client.force_login(fiona)
    return client


def _buttons(page: str) -> dict[str, str]:
    """Transition buttons, and links to a transition's own page (驳回 asks for its reason there)."""
    return dict(re.findall(r'data-transition="(\w+)">([^<]*)</(?:button|a)>', page))


@pytest.mark.parametrize("headers", [{}, ZH])
def test_the_application_page_keeps_its_chinese_buttons(finance, applications, headers):
    page = finance.get(reverse("admin:issuing_invoiceapplication_change", args=[applications[0].pk]),
                       **headers).content.decode()
    assert _buttons(page) == {"claim": "领取审核", "approve": "批准", "withdraw": "撤销", "reject": "驳回"}
    reject = finance.get(reverse("admin:issuing_invoiceapplication_reject", args=[applications[0].pk]),
                         **headers).content.decode()
    assert '<label for="id_reason">驳回原因:</label>' in reject and "确认驳回" in reject
    assert "开票中" in page  # the status the customer sees


def test_the_application_page_shows_english_buttons(finance, applications):
    page = finance.get(reverse("admin:issuing_invoiceapplication_change", args=[applications[0].pk]),
                       **EN).content.decode()
    assert _buttons(page) == {"claim": "Claim for review", "approve": "Approve", "withdraw": "Withdraw",
                              "reject": "Reject"}
    assert "领取审核" not in page and "驳回" not in page
    reject = finance.get(reverse("admin:issuing_invoiceapplication_reject", args=[applications[0].pk]),
                         **EN).content.decode()
    assert "The customer reads this" in reject and "确认驳回" not in reject and "客户" not in reject
    customer_status = re.search(r"Status shown to customer.*?<div class=\"readonly\">([^<]*)</div>", page, re.S)
    assert customer_status and customer_status.group(1) == "Issuing"


def test_a_button_and_a_bulk_action_report_in_the_browsers_language(finance, applications):
    first, second = applications
    done = finance.post(reverse("admin:issuing_invoiceapplication_transition", args=[first.pk, "claim"]),
                        follow=True, **EN).content.decode()
    assert f"Claimed 1 invoice application: {first.number}" in done

    changelist = reverse("admin:issuing_invoiceapplication_changelist")
    english = finance.post(changelist, {"action": "withdraw_selected", "_selected_action": [second.pk]},
                           follow=True, **EN).content.decode()
    assert "Withdrew 1 invoice application" in english and "已撤销" not in english

    chinese = finance.post(changelist, {"action": "claim_selected", "_selected_action": [first.pk]},
                           follow=True).content.decode()
    assert "1 张未能领取" in chinese  # already claimed above: the service's own (Chinese) reason follows


def test_plural_model_names_in_the_changelist_footer_and_the_index(finance, applications):
    changelist = reverse("admin:issuing_invoiceapplication_changelist")
    footer = re.search(r'<p class="paginator">\s*(.*?)\s*</p>', finance.get(changelist, **EN).content.decode(), re.S)
    assert footer.group(1).strip() == "2 invoice applications"
    index = finance.get(reverse("admin:index"), **EN).content.decode()
    for name in (">Invoice applications<", ">Invoices<", ">Billing documents<", ">Red-letter confirmation forms<"):
        assert name in index, name
    assert "<title>Dashboard | Fapiao Desk</title>" in index

    footer = re.search(r'<p class="paginator">\s*(.*?)\s*</p>', finance.get(changelist).content.decode(), re.S)
    assert footer.group(1).strip() == "2 开票申请"
    index = finance.get(reverse("admin:index")).content.decode()
    assert ">开票申请<" in index and "<title>工作台 | 发票台</title>" in index and "发票台 Fapiao Desk" in index


def test_action_descriptions_with_a_value_translate_per_request(finance, yuntu):
    make_invoice(yuntu)
    invoices = reverse("admin:issuing_invoice_changelist")
    assert ">Batch print (A4)<" in finance.get(invoices, **EN).content.decode()
    assert ">批量打印（A4）<" in finance.get(invoices).content.decode()

    clock = reverse("admin:sandbox_sandboxclock_changelist")
    english = finance.get(clock, **EN).content.decode()
    assert ">Move the sandbox clock forward 24 hours<" in english and ">Move the sandbox clock forward 1 hour<" in english
    assert ">沙箱时钟前进 24 小时<" in finance.get(clock).content.decode()


def test_the_import_and_report_pages_in_english(finance, yuntu):
    page = finance.get(reverse("issuing:import"), **EN).content.decode()
    assert "Import billing documents (bulk)" in page and 'value="Start import"' in page
    billing = finance.get(reverse("admin:issuing_billingdocument_changelist"), **EN).content.decode()
    assert ">Bulk import<" in billing and ">Download import template<" in billing and ">Export CSV<" in billing

    reports = finance.get(reverse("issuing:reports"), **EN).content.decode()
    assert "Invoice summary (by entity, month and tax rate)" in reports and ">Count<" in reports
    main = reports[reports.index('id="content-main"'):]
    assert not CHINESE.search(main.replace(yuntu.name, "").replace(str(yuntu), ""))  # entity names are data


def test_the_import_and_report_pages_stay_chinese_by_default(finance):
    assert "导入业务单据（大批量）" in finance.get(reverse("issuing:import")).content.decode()
    assert "发票汇总表（按主体、月份、税率）" in finance.get(reverse("issuing:reports")).content.decode()


def test_the_invoice_face_and_the_customer_email_stay_chinese_in_an_english_session(yuntu):
    with translation.override("en"):
        face = invoice_html(demo_document())
        email = build_email(make_invoice(yuntu), "buyer@example.com")
    for label in ("发票号码：", "开票日期：", "购<br/>买<br/>方", "价税合计（大写）", "开票人："):
        assert label in face, label
    assert email.subject.startswith("【电子发票】") and email.body.startswith("您好，")


def test_the_customer_link_page_follows_the_browser(client, yuntu):
    link = invoice_link_create(invoice=make_invoice(yuntu))
    url = reverse("delivery:link", args=[link.token])
    chinese = client.get(url).content.decode()
    assert '<html lang="zh-hans">' in chinese and "下载 PDF" in chinese
    english = client.get(url, **EN).content.decode()
    assert '<html lang="en">' in english and "Download PDF" in english and "Total (tax included)" in english
