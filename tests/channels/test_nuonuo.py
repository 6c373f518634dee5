"""The Nuonuo client against the fake platform: the protocol on the wire, tokens, Nuonuo's own codes and states,
files, quota, voids, re-delivery, callbacks and the integration log. The contract itself: test_provider_contract.py."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from invoicing.channels import get_channel
from invoicing.channels import nuonuo_protocol as proto
from invoicing.channels.base import (
    Capability,
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    Party,
    RedFormLine,
    RedFormRequest,
)
from invoicing.channels.models import ChannelInvoiceRef, ChannelToken
from invoicing.channels.nuonuo import NuonuoChannel, issue_result_from
from invoicing.channels.nuonuo_callback import (
    CallbackRefused,
    callback_result,
    callback_token,
    callback_url,
    callback_verify,
)
from invoicing.models import ChannelCall
from tests.channels.conftest import issue_request
from tests.channels.fake_nuonuo import REFUSED

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nuonuo"


def example(name: str) -> dict:
    return json.loads((FIXTURES / f"nuonuo.{name}.example.json").read_text(encoding="utf-8"))


def issued(fake, channel, request):
    channel.issue_invoice(request)
    return channel.query_issue(request.serial)


# --- the wire --------------------------------------------------------------------------------------------------------


def test_a_call_is_signed_carries_the_token_and_the_tax_number_and_names_its_method(fake_nuonuo, nn_seller,
                                                                                     nn_channel):
    nn_channel.issue_invoice(issue_request(nn_seller))
    (call,) = fake_nuonuo.calls_of(proto.M_ISSUE)
    params, headers = call["params"], call["headers"]
    assert set(params) == {"senid", "nonce", "timestamp", "appkey"}
    assert params["appkey"] == nn_seller.channel_app_key
    assert proto.signature_matches(app_secret=nn_seller.channel_secret, app_key=params["appkey"],
                                   senid=params["senid"], nonce=params["nonce"], timestamp=params["timestamp"],
                                   body=call["body"], signature=headers["sign"])
    assert headers["user_tax"] == nn_seller.credit_code
    assert headers["token"] == ChannelToken.objects.get(taxpayer=nn_seller).access_token
    assert fake_nuonuo.token_fetches == {nn_seller.channel_app_key: 1}


def test_the_order_uses_the_published_field_names_and_string_values(fake_nuonuo, nn_seller, nn_channel):
    request = issue_request(nn_seller, remark="项目A")
    nn_channel.issue_invoice(request)
    order = json.loads(fake_nuonuo.calls_of(proto.M_ISSUE)[0]["body"])["order"]
    published = example("ElectronInvoice.requestBillingNew.request")["order"]
    assert set(order) <= set(published), set(order) - set(published)
    published_detail = set(published["invoiceDetail"][0])
    for detail in order["invoiceDetail"]:
        assert set(detail) <= published_detail, set(detail) - published_detail
        assert all(isinstance(v, str) for v in detail.values())
    assert order["orderNo"] == request.serial and order["invoiceLine"] == "bs" and order["invoiceType"] == "1"
    assert order["salerTaxNum"] == nn_seller.credit_code and order["pushMode"] == "-1"
    first = order["invoiceDetail"][0]
    assert (first["taxExcludedAmount"], first["tax"], first["taxIncludedAmount"]) == ("1000.00", "60.00", "1060.00")
    assert (first["taxRate"], first["num"], first["price"], first["withTaxFlag"]) == ("0.06", "1", "1000", "0")
    assert "callBackUrl" not in order  # callbacks are off until the endpoint is wired


def test_the_published_query_answer_reads_as_an_issued_result():
    (entry,) = example("ElectronInvoice.queryInvoiceResult.response")["result"]
    result = issue_result_from(entry)
    assert (result.serial, result.status, result.invoice_number) == ("1001000011161", "issued", "18757776")
    assert result.issued_at is not None and result.issued_at.year == 2019
    assert (result.total_amount, result.total_tax) == (Decimal("0.38"), Decimal("0.02"))
    (item,) = result.lines
    # itemAmount 0.60 includes its tax (isIncludeTax true): the line carries the amount without it
    assert (item.amount, item.tax, item.quantity, item.tax_code) == (Decimal("0.57"), Decimal("0.03"), Decimal("2"),
                                                                     "3070101000000000000")
    assert item.unit_price == Decimal("0.285") and item.line_property == 2
    assert result.kind == ""  # 电子增值税普通发票 is not a 数电 kind: the application's kind is kept


def test_the_published_issue_answer_is_accepted_as_pending(fake_nuonuo, nn_seller, nn_channel):
    result = nn_channel.issue_invoice(issue_request(nn_seller))
    assert result.status == "pending" and result.invoice_number == ""
    answer = example("ElectronInvoice.requestBillingNew.response")
    assert answer["code"] in proto.SUCCESS and "invoiceSerialNum" in answer["result"]


# --- tokens and credentials ---------------------------------------------------------------------------------------


def test_one_token_serves_every_call_and_every_client_of_the_entity(fake_nuonuo, nn_seller):
    for _ in range(3):
        channel = get_channel(nn_seller)
        issued(fake_nuonuo, channel, issue_request(nn_seller))
    assert fake_nuonuo.token_fetches == {nn_seller.channel_app_key: 1}


def test_an_expired_token_is_replaced_and_the_call_made_again(fake_nuonuo, nn_seller, nn_channel):
    nn_channel.get_quota()
    fake_nuonuo.expire_tokens()
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert nn_channel.get_quota().total == Decimal("1000000.00")
    assert fake_nuonuo.token_fetches == {nn_seller.channel_app_key: 2}
    refused = ChannelCall.objects.filter(operation="quota", outcome="unavailable").get()
    assert refused.error_code == "070304"


def test_a_token_refused_right_after_it_was_fetched_is_not_fetched_again(fake_nuonuo, nn_seller, nn_channel):
    nn_channel.get_quota()
    fake_nuonuo.expire_tokens()
    with pytest.raises(ChannelUnavailable) as exc:
        nn_channel.get_quota()
    assert (exc.value.kind, exc.value.code) == ("session", "070304")
    assert fake_nuonuo.token_fetches == {nn_seller.channel_app_key: 1}


def test_a_wrong_app_secret_is_unavailable_with_the_gateways_code(fake_nuonuo, nn_seller):
    nn_seller.channel_secret = "not-the-secret"
    with pytest.raises(ChannelUnavailable) as exc:
        NuonuoChannel(nn_seller).get_quota()
    assert (exc.value.kind, exc.value.code) == ("session", proto.APP_KEY_INVALID)
    assert "070101" in ChannelToken.objects.get(taxpayer=nn_seller).last_error


def test_a_wrong_signature_is_unavailable_not_a_business_refusal(fake_nuonuo, nn_seller, nn_channel):
    nn_channel.get_quota()  # a valid token is stored
    nn_channel.taxpayer.channel_secret = "changed-in-memory"
    with pytest.raises(ChannelUnavailable) as exc:
        nn_channel.issue_invoice(issue_request(nn_seller))
    assert (exc.value.kind, exc.value.code) == ("session", proto.SIGNATURE_MISMATCH)
    assert not fake_nuonuo.invoices


def test_the_token_cap_is_kept_locally(fake_nuonuo, nn_seller):
    now = timezone.now()
    ChannelToken.objects.create(taxpayer=nn_seller, channel="nuonuo",
                                fetches=[(now - timedelta(hours=i)).isoformat() for i in range(50)])
    with pytest.raises(ChannelUnavailable) as exc:
        NuonuoChannel(nn_seller).get_quota()
    assert exc.value.code == "token_cap"
    assert fake_nuonuo.token_fetches == {}


def test_check_connection_proves_signature_token_and_rights(fake_nuonuo, nn_seller, nn_channel):
    assert nn_channel.check_connection() == "ok"
    nn_channel.taxpayer.channel_secret = "wrong"
    with pytest.raises(ChannelUnavailable):
        nn_channel.check_connection()


# --- issuing states -----------------------------------------------------------------------------------------------


def test_pending_until_the_platform_has_issued_it(fake_nuonuo, nn_seller, nn_channel):
    fake_nuonuo.issue_delay = timedelta(seconds=30)
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    assert nn_channel.query_issue(request.serial).status == "pending"
    fake_nuonuo.advance(seconds=31)
    done = nn_channel.query_issue(request.serial)
    assert done.status == "issued" and len(done.invoice_number) == 20 and done.invoice_status == "01"
    assert done.kind == "81" and done.total_with_tax == Decimal("1590.00")
    ref = ChannelInvoiceRef.objects.get(number=done.invoice_number)
    assert ref.order_no == request.serial and ref.kind == "81" and ref.buyer_tax_id == "91440300MA5FM1NGYB"
    assert set(ref.file_urls) == {"pdf", "ofd", "xml"}


def test_a_repeated_order_number_is_a_duplicate(fake_nuonuo, nn_seller, nn_channel):
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    with pytest.raises(ChannelDuplicate) as exc:
        nn_channel.issue_invoice(request)
    assert (exc.value.serial, exc.value.code) == (request.serial, proto.DUPLICATE_ORDER)
    assert fake_nuonuo.count(nn_seller.credit_code, request.serial) == 1


def test_a_failed_issue_reads_failed_with_the_platforms_cause(fake_nuonuo, nn_seller, nn_channel):
    fake_nuonuo.fail_next = "开票员未登录电子税务局"
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    result = nn_channel.query_issue(request.serial)
    assert (result.status, result.code, result.message) == ("failed", "22", "开票员未登录电子税务局")
    assert not ChannelInvoiceRef.objects.exists()


def test_a_seal_failure_is_sealed_again_under_the_same_order(fake_nuonuo, nn_seller, nn_channel):
    fake_nuonuo.seal_fail_next = True
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    first = nn_channel.query_issue(request.serial)
    assert first.status == "pending" and "签章" in first.message
    (reissue,) = fake_nuonuo.calls_of(proto.M_REISSUE)
    assert json.loads(reissue["body"])["orderno"] == request.serial
    assert nn_channel.query_issue(request.serial).status == "issued"
    assert fake_nuonuo.count(nn_seller.credit_code, request.serial) == 1


def test_a_seal_retry_refused_for_today_stays_pending(fake_nuonuo, nn_seller, nn_channel):
    fake_nuonuo.seal_fail_next = True
    fake_nuonuo.reseal_limited = True
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    result = nn_channel.query_issue(request.serial)
    assert (result.status, result.code) == ("pending", proto.RETRY_LIMIT)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"specific_business_code": "03"}, "特定"), ({"kind": "51"}, "票种"),
     ({"is_red": True, "blue_number": "1" * 20}, "红字确认单")],
)
def test_what_the_client_cannot_send_is_refused_before_any_call(fake_nuonuo, nn_seller, nn_channel, change,
                                                                 message):
    with pytest.raises(ChannelRejected) as exc:
        nn_channel.issue_invoice(issue_request(nn_seller, **change))
    assert exc.value.code == "local" and message in exc.value.message
    assert not fake_nuonuo.calls_of(proto.M_ISSUE)


# --- files, quota, voids, delivery -----------------------------------------------------------------------------


def test_files_come_from_the_addresses_nuonuo_returned(fake_nuonuo, nn_seller, nn_channel):
    done = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    bundle = nn_channel.download_files(done.invoice_number)
    assert bundle.missing == ()
    for fmt in ("pdf", "ofd", "xml"):
        assert bundle.get(fmt) == fake_nuonuo.file_bytes(done.invoice_number, fmt)
    paper = issued(fake_nuonuo, nn_channel, issue_request(nn_seller, kind="86"))
    assert nn_channel.download_files(paper.invoice_number).missing == ("xml",)  # 纸票: no XML


def test_expired_file_addresses_are_asked_again_once(fake_nuonuo, nn_seller, nn_channel):
    done = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    fake_nuonuo.rotate_file_urls()
    queries = len(fake_nuonuo.calls_of(proto.M_QUERY))
    bundle = nn_channel.download_files(done.invoice_number, ("pdf",))
    assert bundle.get("pdf") and bundle.missing == ()
    assert len(fake_nuonuo.calls_of(proto.M_QUERY)) == queries + 1


def test_files_are_fetched_only_from_the_allowed_hosts(fake_nuonuo, nn_seller, settings):
    settings.NUONUO_FILE_HOSTS = [".nuonuo.com"]
    channel = get_channel(nn_seller)
    done = issued(fake_nuonuo, channel, issue_request(nn_seller))
    downloads = fake_nuonuo.downloads
    assert channel.download_files(done.invoice_number).missing == ("pdf", "ofd", "xml")
    assert fake_nuonuo.downloads == downloads


def test_files_of_an_invoice_not_issued_through_nuonuo_are_not_found(fake_nuonuo, nn_channel):
    with pytest.raises(ChannelRejected) as exc:
        nn_channel.download_files("2" * 20)
    assert exc.value.code == "4004"


def test_the_quota_is_the_credit_line_of_the_current_month(fake_nuonuo, nn_seller, nn_channel):
    issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    quota = nn_channel.get_quota()
    assert (quota.total, quota.used, quota.remaining) == (Decimal("1000000.00"), Decimal("1500.00"),
                                                         Decimal("998500.00"))
    assert quota.period == timezone.now().astimezone(proto_cn()).strftime("%Y-%m")
    with pytest.raises(ChannelUnsupported):
        nn_channel.get_quota("2020-01")


def proto_cn():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_an_unknown_credit_line_is_refreshed_from_the_bureau_first(fake_nuonuo, nn_seller, nn_channel):
    fake_nuonuo.app_for(nn_seller.credit_code).credit_known = False
    assert nn_channel.get_quota().total == Decimal("1000000.00")
    query_types = [json.loads(c["body"])["queryType"] for c in fake_nuonuo.calls_of(proto.M_CREDIT_LINE)]
    assert query_types == ["1", "0", "1"]


def test_a_paper_invoice_is_voided_once_even_when_asked_twice(fake_nuonuo, nn_seller, nn_channel):
    paper = issued(fake_nuonuo, nn_channel, issue_request(nn_seller, kind="86"))
    assert nn_channel.void_paper(paper.invoice_number).invoice_status == "02"
    assert nn_channel.void_paper(paper.invoice_number).invoice_status == "02"
    assert len(fake_nuonuo.calls_of(proto.M_VOID)) == 1
    (call,) = fake_nuonuo.calls_of(proto.M_VOID)
    body = json.loads(call["body"])
    ref = ChannelInvoiceRef.objects.get(number=paper.invoice_number)
    assert body == {"invoiceId": ref.provider_serial, "invoiceCode": ref.paper_code, "invoiceNo": ref.paper_number}
    assert set(body) == set(example("electronInvoice.invoiceCancellation.request"))
    assert nn_channel.query_issue(paper.serial).invoice_status == "02"


def test_an_electronic_invoice_cannot_be_voided(fake_nuonuo, nn_seller, nn_channel):
    done = issued(fake_nuonuo, nn_channel, issue_request(nn_seller, kind="82"))
    with pytest.raises(ChannelRejected) as exc:
        nn_channel.void_paper(done.invoice_number)
    assert exc.value.code == REFUSED


def test_redelivery_goes_through_nuonuo(fake_nuonuo, nn_seller, nn_channel):
    done = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    nn_channel.redeliver(done.invoice_number, email="caiwu@mingyuan.example.com")
    (delivery,) = fake_nuonuo.deliveries
    assert set(delivery) == set(example("ElectronInvoice.deliveryInvoice.request"))
    assert delivery["invoiceNum"] == done.invoice_number and delivery["mail"] == "caiwu@mingyuan.example.com"
    with pytest.raises(ChannelRejected):
        nn_channel.redeliver(done.invoice_number)


# --- red-letter forms, Nuonuo's side -------------------------------------------------------------------------------


def test_the_red_form_names_the_blue_invoice_its_buyer_and_nuonuos_reason_code(fake_nuonuo, nn_seller, nn_buyer,
                                                                                nn_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    form = nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "01"))
    body = json.loads(fake_nuonuo.calls_of(proto.M_RED_APPLY)[0]["body"])
    assert body["redReason"] == "2" and body["billId"] == "HZ1" and body["blueInvoiceLine"] == "bs"
    assert body["buyerTaxNo"] == nn_buyer.credit_code and body["orderNo"] == "HZ1-H"
    assert "detail" not in body  # full red: no lines
    assert form.reason == "01" and form.red_invoice_serial == "HZ1-H"


def test_a_partial_red_form_carries_the_blue_lines_name_code_and_rate(fake_nuonuo, nn_seller, nn_buyer,
                                                                      nn_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    fake_nuonuo.mark_booked(blue.invoice_number)
    nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "04", lines=(
        RedFormLine(blue_line_no=2, amount=Decimal("-100.00"), tax=Decimal("-6.00")),
    )))
    (detail,) = json.loads(fake_nuonuo.calls_of(proto.M_RED_APPLY)[0]["body"])["detail"]
    assert detail == {"blueDetailIndex": "2", "goodsName": "软件技术服务费", "goodsCode": "3040201000000000000",
                      "specType": "", "unit": "项", "taxRate": "0.06", "taxExcludedAmount": "-100.00",
                      "taxAmount": "-6.00"}


def test_a_form_applied_again_is_found_by_its_request_number_not_applied_twice(fake_nuonuo, nn_seller, nn_buyer,
                                                                              nn_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    first = nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "02"))
    again = nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "02"))
    assert again.form_no == first.form_no
    assert len(fake_nuonuo.calls_of(proto.M_RED_APPLY)) == 1


def test_the_buyer_side_of_a_form_is_not_offered(fake_nuonuo, nn_seller, nn_buyer, nn_channel, nn_buyer_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    with pytest.raises(ChannelUnsupported):
        nn_buyer_channel.red_form_apply(RedFormRequest("B1", blue.invoice_number, "02", initiator="buyer"))


def test_a_buyer_entered_form_is_downloaded_listed_and_confirmed_by_the_seller(fake_nuonuo, nn_seller, nn_buyer,
                                                                               nn_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    fake_nuonuo.mark_booked(blue.invoice_number)
    entered = fake_nuonuo.enter_form(fake_nuonuo.app_for(nn_buyer.credit_code),
                                     blue=fake_nuonuo.by_number[blue.invoice_number], apply_source="1", reason="1",
                                     lines=[])
    (inbound,) = nn_channel.red_form_list_inbound()
    assert (inbound.form_no, inbound.status, inbound.initiator, inbound.reason) == (entered.bill_no, "03", "buyer",
                                                                                    "02")
    assert inbound.expires_at == inbound.created_at + timedelta(hours=72)
    assert fake_nuonuo.calls_of(proto.M_RED_DOWNLOAD)  # downloaded from the bureau before listing
    done = nn_channel.red_form_confirm(inbound.form_no)
    assert done.status == "04" and done.red_invoice_serial == f"{inbound.form_no}-H"
    red = nn_channel.query_issue(done.red_invoice_serial)
    assert red.is_red and red.invoice_number == done.red_invoice_number and red.total_with_tax == Decimal("-1590.00")
    assert nn_channel.red_form_list_inbound() == ()


def test_when_the_buyer_confirms_the_red_invoice_keeps_the_sellers_order_number(fake_nuonuo, nn_seller, nn_buyer,
                                                                                 nn_channel, nn_buyer_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    fake_nuonuo.mark_booked(blue.invoice_number)
    form = nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "02"))
    nn_buyer_channel.red_form_confirm(form.form_no)
    assert "orderNo" not in json.loads(fake_nuonuo.calls_of(proto.M_RED_CONFIRM)[0]["body"])
    done = nn_channel.red_form_query(form.form_no)
    assert done.status == "04" and done.red_invoice_serial == "HZ1-H" and done.red_invoice_number
    assert nn_channel.query_issue("HZ1-H").invoice_number == done.red_invoice_number


def test_an_html_error_page_with_403_is_a_refused_session_not_a_server_error():
    from invoicing.channels.nuonuo import NuonuoChannel as Client

    with pytest.raises(ChannelUnavailable) as exc:
        Client._interpret(403, {"raw": "<html>forbidden</html>"}, serial="S1")
    assert exc.value.kind == "session"
    with pytest.raises(ChannelUnavailable) as exc:
        Client._interpret(502, {"raw": "<html>bad gateway</html>"}, serial="S1")
    assert exc.value.kind == "server"


def test_a_form_still_being_applied_is_unavailable_and_a_failed_one_rejected(fake_nuonuo, nn_seller, nn_buyer,
                                                                            nn_channel):
    blue = issued(fake_nuonuo, nn_channel, issue_request(nn_seller))
    form = nn_channel.red_form_apply(RedFormRequest("HZ1", blue.invoice_number, "02"))
    fake_form = fake_nuonuo.forms[0]
    fake_form.status = proto.FORM_APPLYING
    with pytest.raises(ChannelUnavailable):
        nn_channel.red_form_query(form.form_no)
    fake_form.status = proto.FORM_APPLY_FAILED
    with pytest.raises(ChannelRejected) as exc:
        nn_channel.red_form_query(form.form_no)
    assert exc.value.code == proto.FORM_APPLY_FAILED


# --- callbacks -----------------------------------------------------------------------------------------------------


@pytest.fixture
def callbacks_on(settings):
    settings.NUONUO_CALLBACK_URL = "https://fapiao.example.com/channels/nuonuo/callback/"


def test_orders_carry_the_entitys_callback_address_when_callbacks_are_on(fake_nuonuo, nn_seller, nn_channel,
                                                                          callbacks_on):
    nn_channel.issue_invoice(issue_request(nn_seller))
    order = json.loads(fake_nuonuo.calls_of(proto.M_ISSUE)[0]["body"])["order"]
    assert order["callBackUrl"] == (f"https://fapiao.example.com/channels/nuonuo/callback/{nn_seller.pk}/"
                                    f"{callback_token(nn_seller)}/")
    assert order["callBackUrl"] == callback_url(nn_seller)


def test_a_genuine_callback_gives_the_platforms_result_for_its_order(fake_nuonuo, nn_seller, nn_channel,
                                                                     callbacks_on):
    request = issue_request(nn_seller)
    nn_channel.issue_invoice(request)
    ((url, form),) = fake_nuonuo.callbacks
    token = url.rstrip("/").rsplit("/", 1)[-1]
    checked = callback_verify(taxpayer=nn_seller, token=token, form=form)
    assert checked.serial == request.serial and checked.claimed_status == "1"
    result = callback_result(taxpayer=nn_seller, token=token, form=form, channel=nn_channel)
    assert result.status == "issued" and result == nn_channel.query_issue(request.serial)


@pytest.mark.parametrize(
    ("token", "change", "reason"),
    [
        ("wrong", {}, "token"),
        (None, {"operater": "invoiceInvalid"}, "operater"),
        (None, {"orderno": "S99999999"}, "orderno"),
        (None, {"content": "not json"}, "JSON"),
    ],
)
def test_a_callback_that_does_not_check_out_is_refused(fake_nuonuo, nn_seller, nn_channel, callbacks_on, token,
                                                       change, reason):
    nn_channel.issue_invoice(issue_request(nn_seller))
    ((url, form),) = fake_nuonuo.callbacks
    good = url.rstrip("/").rsplit("/", 1)[-1]
    with pytest.raises(CallbackRefused) as exc:
        callback_verify(taxpayer=nn_seller, token=token or good, form={**form, **change})
    assert reason in exc.value.reason


def test_another_entitys_callback_token_is_refused(fake_nuonuo, nn_seller, nn_buyer, nn_channel, callbacks_on):
    nn_channel.issue_invoice(issue_request(nn_seller))
    ((_url, form),) = fake_nuonuo.callbacks
    with pytest.raises(CallbackRefused):
        callback_verify(taxpayer=nn_seller, token=callback_token(nn_buyer), form=form)


# --- the integration log ----------------------------------------------------------------------------------------


def test_calls_are_logged_with_secrets_and_personal_data_masked(fake_nuonuo, nn_seller, nn_channel):
    buyer = Party(name="张伟", tax_id="", phone="13812345678", bank_name="招商银行", bank_account="6225880112345678")
    issued(fake_nuonuo, nn_channel, issue_request(nn_seller, kind="82", buyer=buyer))
    issue = ChannelCall.objects.get(operation="issue")
    order = issue.request_body["order"]
    assert order["buyerTel"] == "138****5678"
    assert order["buyerAccount"] == "****5678"
    assert issue.outcome == "ok" and issue.channel == "nuonuo" and issue.transport == "http"
    token_call = ChannelCall.objects.get(operation="token")
    assert token_call.request_body == {"grant_type": "client_credentials"}
    assert token_call.response_body["access_token"] == "***"
    everything = json.dumps([c.request_body for c in ChannelCall.objects.all()] +
                            [c.response_body for c in ChannelCall.objects.all()], ensure_ascii=False)
    assert nn_seller.channel_secret not in everything
    assert ChannelToken.objects.get().access_token not in everything


def test_nuonuo_offers_no_deduction_hence_no_statistics_query(nn_channel):
    assert not nn_channel.supports(Capability.DEDUCTION)
    with pytest.raises(ChannelUnsupported):
        nn_channel.deduction_statistics_query("202611")
