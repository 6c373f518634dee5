"""Customer links never reach the logs, the audit trail or the integration log."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache

from delivery.models import Delivery, DeliveryStatus, InvoiceLink
from delivery.services import delivery_attempt, delivery_send
from invoicing.channels.log import record_call
from invoicing.models import ChannelCall, Event
from invoicing.redaction import redact, redact_text
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _events_text() -> str:
    return json.dumps([[e.reason, e.data] for e in Event.objects.all()], ensure_ascii=False)


def test_the_default_sms_provider_logs_no_link(yuntu, caplog, django_capture_on_commit_callbacks):
    invoice = make_invoice(yuntu)
    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(invoice=invoice, channel="sms", target="13800138000")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    token = InvoiceLink.objects.get().token
    sms_lines = [r.getMessage() for r in caplog.records if r.name == "delivery.sms"]
    assert sms_lines and "/i/***" in sms_lines[0]  # the message is still logged, link masked
    assert token not in caplog.text
    assert token not in _events_text()


def test_qr_and_webhook_deliveries_keep_links_out_of_events(yuntu, caplog):
    invoice = make_invoice(yuntu)
    with caplog.at_level(logging.DEBUG):
        qr = delivery_send(invoice=invoice, channel="qr")
    assert "/i/" in qr.target  # the row itself keeps the link (finance may read it)
    for token in InvoiceLink.objects.values_list("token", flat=True):
        assert token not in _events_text() and token not in caplog.text


def test_a_provider_error_quoting_the_message_is_masked_everywhere(yuntu, caplog, settings, monkeypatch):
    from delivery import sms

    class QuotingProvider:
        def send(self, mobile, text):
            raise sms.SmsError(f"rejected content: {text}")

    monkeypatch.setattr(sms, "sms_provider", lambda: QuotingProvider())
    monkeypatch.setattr("delivery.services.sms_provider", lambda: QuotingProvider())
    invoice = make_invoice(yuntu)
    delivery = delivery_send(invoice=invoice, channel="sms", target="13800138000")
    with caplog.at_level(logging.DEBUG):
        delivery_attempt(delivery.pk, final=True)
    delivery = Delivery.objects.get(pk=delivery.pk)
    token = InvoiceLink.objects.get().token
    assert delivery.status == DeliveryStatus.FAILED and "/i/***" in delivery.last_error
    assert token not in delivery.last_error
    assert token not in caplog.text
    assert token not in _events_text()


def test_any_log_record_is_redacted_whatever_the_logger(caplog):
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    with caplog.at_level(logging.INFO):
        logging.getLogger("django.request").warning("Not Found: %s", f"/i/{token}/pdf/")
        logging.getLogger("anything").info("bearer fpd_%s", token)
        try:
            raise RuntimeError(f"could not open https://fapiao.example.com/i/{token}/")
        except RuntimeError:
            logging.getLogger("anything").exception("failed")
    assert token not in caplog.text
    assert "/i/***" in caplog.text and "fpd_***" in caplog.text


def test_an_unknown_link_answered_404_logs_no_token(client, caplog):
    token = "ZyXwVuTsRqPoNmLkJiHgFeDcBa987654"
    with caplog.at_level(logging.INFO):
        response = client.get(f"/i/{token}/")
    assert response.status_code == 404
    assert token not in caplog.text


def test_the_integration_log_masks_links(yuntu):
    token = "QqWwEeRrTtYyUuIiOoPpAaSsDdFfGgHh"
    record_call(taxpayer=yuntu, channel="sandbox", transport="local", operation="issue", serial="S1", duration_ms=1,
                outcome="error", message=f"echo https://x.example.com/i/{token}/",
                request_body={"note": f"/i/{token}/"}, response_body={"items": [f"/i/{token}/pdf/"]})
    row = ChannelCall.objects.get()
    assert token not in json.dumps([row.message, row.request_body, row.response_body])


def test_redact_leaves_other_text_alone():
    assert redact_text("发票 12345 已开具 /admin/issuing/invoice/") == "发票 12345 已开具 /admin/issuing/invoice/"
    assert redact({"a": ["/i/abcdefghijkl/"], "n": 3}) == {"a": ["/i/***/"], "n": 3}


def test_a_nuonuo_callback_token_is_masked_in_text_and_log_records(caplog):
    token = "0123456789abcdef0123456789abcdef01234567"
    line = f'"POST /channels/nuonuo/callback/12/{token}/ HTTP/1.1" 403'
    assert redact_text(line) == '"POST /channels/nuonuo/callback/12/***/ HTTP/1.1" 403'
    assert redact({"order": {"callBackUrl": f"https://fapiao.example.com/channels/nuonuo/callback/3/{token}/"}}) == {
        "order": {"callBackUrl": "https://fapiao.example.com/channels/nuonuo/callback/3/***/"}}
    with caplog.at_level(logging.WARNING):
        logging.getLogger("django.request").warning("Forbidden: %s", f"/channels/nuonuo/callback/12/{token}/")
    assert token not in caplog.text and "/callback/12/***/" in caplog.text
