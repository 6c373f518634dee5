"""Every call is logged with its outcome; secrets and personal data never reach the log."""

from __future__ import annotations

import json

import pytest

from invoicing.channels.base import ChannelRejected, Party
from invoicing.channels.log import mask
from invoicing.models import ChannelCall
from tests.channels.conftest import issue_request


def test_each_call_is_recorded_with_operation_serial_taxpayer_duration_and_outcome(seller, channel):
    request = issue_request(seller)
    channel.issue_invoice(request)
    with pytest.raises(ChannelRejected):
        channel.issue_invoice(issue_request(seller, buyer=Party("无税号"), serial="BAD-1"))
    ok, rejected = ChannelCall.objects.order_by("id")
    assert (ok.operation, ok.serial, ok.taxpayer, ok.outcome, ok.http_status) == (
        "issue", request.serial, seller, "ok", 200)
    assert ok.transport == "inprocess" and ok.channel == "sandbox" and ok.duration_ms >= 0
    assert (rejected.outcome, rejected.error_code, rejected.serial) == ("rejected", "3103", "BAD-1")
    assert "纳税人识别号" in rejected.message
    assert ok.response_body["data"]["number"]


def test_the_log_masks_personal_data_and_never_holds_the_secret(seller, channel):
    buyer = Party(name="张伟", tax_id="110101199003074477", phone="13912345678", bank_account="6222021234567890123",
                  address="北京市朝阳区 联系 zhang.wei@example.com")
    request = issue_request(seller, kind="82", buyer=buyer, remark="联系人手机13800001111，身份证110101199003074477")
    channel.issue_invoice(request)
    call = ChannelCall.objects.get(serial=request.serial)
    text = json.dumps([call.request_body, call.response_body], ensure_ascii=False)
    for secret in ("13912345678", "13800001111", "110101199003074477", "6222021234567890123", "zhang.wei@example.com",
                   seller.channel_secret):
        assert secret not in text
    assert call.request_body["buyer"]["phone"] == "139****5678"
    assert call.request_body["buyer"]["bank_account"] == "****0123"
    assert "z***@example.com" in call.request_body["buyer"]["address"]
    assert call.request_body["buyer"]["name"] == "张伟"
    # business identifiers stay readable
    assert call.request_body["seller_credit_code"] == seller.credit_code
    assert call.response_body["data"]["number"].isdigit()


def test_mask_handles_secrets_signatures_and_file_blobs():
    masked = mask({"app_secret": "s3cr3t", "X-Signature": "abcdef", "files": {"pdf": "A" * 5000},
                   "nested": [{"email": "a@b.cn", "mobile": "13700000000"}], "amount": "1.00"})
    assert masked["app_secret"] == "***" and masked["X-Signature"] == "***"
    assert masked["files"] == {"pdf": "<5000 chars>"}
    assert masked["nested"] == [{"email": "a***@b.cn", "mobile": "137****0000"}]
    assert masked["amount"] == "1.00"


def test_an_invoice_number_is_not_mistaken_for_a_phone_number():
    assert mask("25442000000000000131") == "25442000000000000131"
    assert mask("91440101MA5CYUN00U") == "91440101MA5CYUN00U"
