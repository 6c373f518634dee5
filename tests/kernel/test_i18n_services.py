"""Messages raised by the services come out in the request's language: English when asked, the same Chinese as
before by default. Codes and field paths never change; data the services write (event reasons, job files of the
background import) stays in the default language.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from api.services import api_client_create
from delivery.printing import print_job_create
from delivery.services import clean_delivery_target, delivery_send
from invoicing.intake.error_workbook import write_error_workbook
from invoicing.intake.issues import issue
from issuing import workflow
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications import splitting as applications_splitting
from issuing.billing import services as billing_services
from issuing.intake.columns import COLUMNS
from issuing.intake.run import import_billing_file
from issuing.intake.validate import validate_rows
from issuing.redletter.forms import redletter_request
from tests.api.conftest import BUYER, Api, line
from tests.delivery.factories import make_invoice
from tests.importing.conftest import row as import_row
from tests.importing.conftest import write_csv
from tests.issuing.factories import make_document

pytestmark = pytest.mark.django_db

HEADERS = [c.header for c in COLUMNS]
BY_HEADER = {c.header: c.key for c in COLUMNS}
BAD_TAX_ID = "91310000MA1K0BA10X"  # the check character of 91310000MA1K0BA10F changed


@pytest.fixture(autouse=True)
def _default_language():
    """A request through the test client leaves its language active in this thread (LocaleMiddleware activates it
    and nothing deactivates it): start each test, and leave it, in the default language."""
    translation.deactivate()
    cache.clear()  # the API's throttling
    yield
    translation.deactivate()
    cache.clear()


def messages_of(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


@pytest.fixture
def application(yuntu, buyer):
    return application_services.application_create(actor=None, taxpayer=yuntu, sources=[make_document(yuntu, counterparty=buyer)])


# --- compliance ------------------------------------------------------------------------------------------------------


def test_a_quota_failure_in_english_and_in_chinese(yuntu, application):
    month = application_selectors.quota_month()
    quota.quota_set(actor=None, taxpayer=yuntu, month=month, total="1.00")
    available = application_selectors.compliance_context(application).quota_available

    with translation.override("en"):
        [failure] = [f for f in application_selectors.application_failures(application) if f.code == "quota"]
    assert (failure.code, failure.field) == ("quota", "amount")
    assert failure.message == (
        f"The quota left for {month} ({available}) does not cover this application (amount {application.amount})"
    )

    [failure] = [f for f in application_selectors.application_failures(application) if f.code == "quota"]
    assert failure.message == f"{month} 剩余可用授信额度 {available} 不足以开具本申请（合计金额 {application.amount}）"


def test_a_bad_buyer_tax_id_and_a_special_invoice_without_details(yuntu, application):
    application.buyer_tax_id = BAD_TAX_ID
    application.kind = "81"
    with translation.override("en"):
        english = {(f.code, f.field): f.message for f in application_selectors.application_failures(application)}
    chinese = {(f.code, f.field): f.message for f in application_selectors.application_failures(application)}
    assert english.keys() == chinese.keys()  # the same rules, codes and fields whatever the language

    assert english["buyer_tax_id", "buyer_tax_id"].startswith(f"Buyer taxpayer ID {BAD_TAX_ID} cannot be used: ")
    assert chinese["buyer_tax_id", "buyer_tax_id"].startswith(f"购买方纳税人识别号 {BAD_TAX_ID} 不可用：")
    assert english["special_buyer_details", "buyer_address"] == "A special VAT invoice needs the buyer's address and phone"
    assert chinese["special_buyer_details", "buyer_address"] == "专票必须填写购买方地址和电话"


def test_a_field_length_and_a_specific_business_item_name_their_field(yuntu, application):
    application.buyer_address = "路" * 301
    application.specific_business = "04"
    application.specific_business_data = {"items": [{"qyd": "广州"}]}
    with translation.override("en"):
        english = {f.field: f.message for f in application_selectors.application_failures(application)}
    chinese = {f.field: f.message for f in application_selectors.application_failures(application)}
    assert english["buyer_address"] == "Buyer address cannot exceed 300 characters"
    assert chinese["buyer_address"] == "购买方地址不能超过300个字符"
    where = "specific_business_data.items[1].ddd"
    assert english[where] == "Freight transport services, item 1: destination (ddd) is required"
    assert chinese[where] == "货物运输服务第1条：到达地（ddd）必须填写"


# --- service errors --------------------------------------------------------------------------------------------------


def test_approving_a_withdrawn_application(application, fiona):
    application_services.application_withdraw(application=application, actor=fiona)
    with translation.override("en"), pytest.raises(ValidationError) as english:
        application_services.application_approve(application=application, actor=fiona)
    with pytest.raises(ValidationError) as chinese:
        application_services.application_approve(application=application, actor=fiona)

    assert english.value.error_list[0].code == chinese.value.error_list[0].code == "transition_not_allowed"
    assert english.value.messages == [
        f"Invoice application {application.number} is currently “Withdrawn”: “Approve” is not possible"
    ]
    assert chinese.value.messages == [f"申请单 {application.number} 当前状态为「已撤销」，不能批准"]


def test_field_errors_of_a_billing_document_and_a_permission_refusal(yuntu, lily):
    lines = [{"item_name": "软件技术服务费", "amount": "106.00", "tax_rate": "0.06", "tax_category": "999"}]
    with translation.override("en"), pytest.raises(ValidationError) as english:
        billing_services.billing_document_create(actor=None, taxpayer=yuntu, external_no="X-1", buyer=BUYER, lines=lines)
    with pytest.raises(ValidationError) as chinese:
        billing_services.billing_document_create(actor=None, taxpayer=yuntu, external_no="X-1", buyer=BUYER, lines=lines)
    assert messages_of(english.value) == {"tax_category": ["Tax classification code 999 does not exist"]}
    assert messages_of(chinese.value) == {"tax_category": ["税收分类编码 999 不存在"]}

    with translation.override("en"), pytest.raises(PermissionDenied, match="^You may not act on this entity's data$"):
        workflow.authorize(lily, yuntu.pk)
    with pytest.raises(PermissionDenied, match="^无权操作该主体的数据$"):
        workflow.authorize(lily, yuntu.pk)


def test_a_split_plan_that_cannot_work(application, fiona):
    plan = applications_splitting.SplitPlan(amounts=[application.total + 1])
    with translation.override("en"), pytest.raises(ValidationError) as english:
        application_services.application_split(application=application, actor=fiona, plan=plan)
    with pytest.raises(ValidationError) as chinese:
        application_services.application_split(application=application, actor=fiona, plan=plan)
    whole = application.total
    assert english.value.messages == [
        f"The split amounts total {whole + 1}, more than the application's total incl. tax {whole}"
    ]
    assert chinese.value.messages == [f"拆分金额合计 {whole + 1} 超过申请价税合计 {whole}"]


def test_a_red_flush_request_with_an_unknown_reason(yuntu, fiona):
    blue = make_invoice(yuntu)
    with translation.override("en"), pytest.raises(ValidationError) as english:
        redletter_request(actor=fiona, blue_invoice=blue, reason="09")
    with pytest.raises(ValidationError) as chinese:
        redletter_request(actor=fiona, blue_invoice=blue, reason="09")
    assert messages_of(english.value) == {"reason": ["Invalid red-flush reason code: 09"]}
    assert messages_of(chinese.value) == {"reason": ["冲红原因代码不合法：09"]}


# --- delivery --------------------------------------------------------------------------------------------------------


def test_delivery_and_print_errors(yuntu, fiona):
    invoice = make_invoice(yuntu)
    with translation.override("en"), pytest.raises(ValidationError) as english:
        delivery_send(invoice=invoice, channel="email", target="not-an-address", actor=fiona)
    with pytest.raises(ValidationError) as chinese:
        delivery_send(invoice=invoice, channel="email", target="not-an-address", actor=fiona)
    assert messages_of(english.value) == {"target": ["Invalid e-mail address: not-an-address"]}
    assert messages_of(chinese.value) == {"target": ["邮箱地址不正确：not-an-address"]}

    with translation.override("en"), pytest.raises(ValidationError) as english:
        clean_delivery_target(invoice, "sms", "")
    with pytest.raises(ValidationError) as chinese:
        clean_delivery_target(invoice, "sms", "")
    assert messages_of(english.value) == {"target": ["Invalid mobile number: (empty)"]}
    assert messages_of(chinese.value) == {"target": ["手机号不正确：（空）"]}

    with translation.override("en"), pytest.raises(ValidationError) as english:
        print_job_create(user=fiona, invoice_ids=[invoice.pk], paper="B5")
    with pytest.raises(ValidationError) as chinese:
        print_job_create(user=fiona, invoice_ids=[invoice.pk], paper="B5")
    assert messages_of(english.value) == {"paper": ["Paper must be A4 or A5"]}
    assert messages_of(chinese.value) == {"paper": ["纸张只能是 A4 或 A5"]}


# --- the billing import ----------------------------------------------------------------------------------------------


def _cells(**values) -> list:
    data = import_row(**values)
    return [data.get(BY_HEADER[h]) for h in HEADERS]


def test_import_issues_in_english_and_in_chinese(yuntu, fiona):
    rows = [_cells(tax_code="123", tax_rate="abc")]
    with translation.override("en"):
        english, _ = validate_rows(HEADERS, rows, user=fiona, taxpayer=yuntu)
    chinese, _ = validate_rows(HEADERS, rows, user=fiona, taxpayer=yuntu)
    assert english.codes() == chinese.codes() == ["rate.invalid", "tax_code.format"]
    assert [i.message for i in english.issues] == [
        "Invalid tax rate: Enter e.g. 13% or 0.13", "A tax classification code has 19 digits"]
    assert [i.message for i in chinese.issues] == ["税率不正确：请填写如 13% 或 0.13", "税收分类编码应为 19 位数字"]
    with translation.override("en"):
        assert str(english.issues[1]) == "Sheet1 row 2 [税收分类编码] “123”: A tax classification code has 19 digits (tax_code.format)"
    assert str(chinese.issues[1]) == "Sheet1 第2行 [税收分类编码] “123”：税收分类编码应为 19 位数字（tax_code.format）"


def test_the_error_workbook_footer_follows_the_language(tmp_path):
    from openpyxl import load_workbook

    issues = [issue("cell.required", sheet="Sheet1", row=2, column="订单号")]
    with translation.override("en"):
        write_error_workbook(issues, tmp_path / "en.xlsx", total=3)
    write_error_workbook(issues, tmp_path / "zh.xlsx", total=3)
    footer = {name: list(load_workbook(tmp_path / f"{name}.xlsx").active.values)[-1][5] for name in ("en", "zh")}
    assert footer == {"en": "2 more errors are not listed; fix the errors above first",
                      "zh": "另有 2 条错误未列出，请先修正以上错误"}


def test_the_background_import_writes_its_issues_in_chinese_whatever_the_thread_language(tmp_path, yuntu, fiona):
    path = write_csv(tmp_path / "bad.csv", [import_row(tax_code="123")])
    with translation.override("en"):
        outcome = import_billing_file(path, user=fiona, taxpayer=yuntu)
    assert [i.message for i in outcome.issues] == ["税收分类编码应为 19 位数字"]


# --- the API ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def shop_token(yuntu):
    return api_client_create(name="shop", taxpayers=[yuntu], can_download_files=True).token


def test_the_api_speaks_english_for_compliance_failures(shop_token):
    body = {"kind": "81", "buyer": {**BUYER, "tax_id": BAD_TAX_ID}, "lines": [line()]}
    english = Api(shop_token, language="en").post("applications/", body)
    assert english.status_code == 400, english.content
    error = english.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]["buyer_address"] == ["A special VAT invoice needs the buyer's address and phone"]
    assert error["fields"]["buyer_tax_id"][0].startswith(f"Buyer taxpayer ID {BAD_TAX_ID} cannot be used: ")

    chinese = Api(shop_token).post("applications/", body).json()["error"]
    assert chinese["fields"].keys() == error["fields"].keys()
    assert chinese["fields"]["buyer_address"] == ["专票必须填写购买方地址和电话"]
    assert chinese["fields"]["buyer_tax_id"][0].startswith(f"购买方纳税人识别号 {BAD_TAX_ID} 不可用：")


def test_the_api_speaks_english_for_a_refused_state_change(shop_token):
    english_api, chinese_api = Api(shop_token, language="en"), Api(shop_token)
    app = english_api.post("applications/", {"buyer": BUYER, "lines": [line()]}).json()
    assert english_api.post(f"applications/{app['id']}/withdraw/", {}).status_code == 200

    english = english_api.post(f"applications/{app['id']}/withdraw/", {})
    assert english.status_code == 409
    assert english.json()["error"]["code"] == "invalid_state"
    assert english.json()["error"]["message"] == (
        f"Invoice application {app['number']} is currently “Withdrawn”: “Withdraw” is not possible")
    chinese = chinese_api.post(f"applications/{app['id']}/withdraw/", {}).json()["error"]
    assert chinese["message"] == f"申请单 {app['number']} 当前状态为「已撤销」，不能撤销"


def test_one_api_validation_problem_is_repeated_at_the_top_in_the_requests_language(shop_token):
    body = {"kind": "82", "buyer": {**BUYER, "tax_id": BAD_TAX_ID}, "lines": [line()]}
    english = Api(shop_token, language="en").post("applications/", body).json()["error"]
    chinese = Api(shop_token).post("applications/", body).json()["error"]
    assert list(english["fields"]) == ["buyer_tax_id"] and list(chinese["fields"]) == ["buyer_tax_id"]
    assert english["message"] == english["fields"]["buyer_tax_id"][0]
    assert english["message"].startswith("Buyer taxpayer ID")
    assert chinese["message"] == chinese["fields"]["buyer_tax_id"][0]
