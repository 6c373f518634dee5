"""The endpoint Nuonuo posts issue results to: checked, recorded through the poller's function, idempotent."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from django.urls import reverse

from invoicing.channels.nuonuo_callback import callback_token
from invoicing.channels.nuonuo_protocol import CALLBACK_ANSWER
from invoicing.checks import nuonuo_callback_address
from invoicing.models import ChannelCall, Event
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from tests.channels.test_nuonuo_issuing import quiet_queue, submitted  # noqa: F401 - the fixture, by name

S = ApplicationStatus
BASE = "https://fapiao.example.com/channels/nuonuo/callback"

pytestmark = pytest.mark.django_db


@pytest.fixture
def callbacks_on(settings):
    settings.NUONUO_CALLBACK_URL = BASE


@pytest.fixture
def issued_with_callback(fake_nuonuo, nn_seller, quiet_queue, callbacks_on):  # noqa: F811
    """One application 开票中 whose invoice Nuonuo has issued, and the callback Nuonuo would post about it."""
    (pk,) = submitted(nn_seller, 1)
    fake_nuonuo.issue_delay = timedelta(seconds=30)
    assert platform_services.issue_attempt(application_id=pk) == platform_services.Outcome.PENDING
    fake_nuonuo.advance(seconds=31)
    ((url, form),) = fake_nuonuo.callbacks
    return pk, urlsplit(url).path, form


def post(client, path, form, **extra):
    return client.post(path, urlencode(form), content_type="application/x-www-form-urlencoded", **extra)


def written():
    """What a callback may write: invoices, audit events, integration-log rows."""
    return Invoice.objects.count(), Event.objects.count(), ChannelCall.objects.count()


def test_the_address_given_to_nuonuo_is_the_endpoint(nn_seller, callbacks_on):
    path = reverse("issuing:nuonuo_callback", args=[nn_seller.pk, callback_token(nn_seller)])
    assert BASE.endswith(path.rsplit("/", 3)[0])
    assert urlsplit(f"{BASE}/{nn_seller.pk}/{callback_token(nn_seller)}/").path == path


def test_a_genuine_callback_records_the_invoice_once_and_answers_as_nuonuo_expects(client, issued_with_callback,
                                                                                   nn_seller):
    pk, path, form = issued_with_callback
    response = post(client, path, form)
    assert response.status_code == 200 and response.json() == CALLBACK_ANSWER
    app = InvoiceApplication.objects.get(pk=pk)
    assert app.status == S.ISSUED
    invoice = Invoice.objects.get(application_id=pk)
    assert invoice.channel_serial == app.issue_serial
    logged = ChannelCall.objects.get(operation="callback")
    assert logged.taxpayer == nn_seller and logged.serial == app.issue_serial and logged.outcome == "ok"
    assert logged.transport == "callback" and logged.response_body == CALLBACK_ANSWER
    assert logged.request_body["pushed"]["c_orderno"] == app.issue_serial


def test_a_repeated_callback_gets_the_same_answer_and_doubles_nothing(client, issued_with_callback):
    pk, path, form = issued_with_callback
    first = post(client, path, form)
    events = Event.objects.filter(action="issued").count()
    again = post(client, path, form)
    assert again.status_code == first.status_code == 200 and again.json() == first.json() == CALLBACK_ANSWER
    assert Invoice.objects.filter(application_id=pk).count() == 1
    assert Event.objects.filter(action="issued").count() == events == 1


def test_callback_then_poll_make_one_invoice(client, issued_with_callback):
    pk, path, form = issued_with_callback
    post(client, path, form)
    report = platform_services.issue_poll_pending(older_than_seconds=0)
    assert report.checked == 0  # nothing left 开票中
    assert Invoice.objects.filter(application_id=pk).count() == 1


def test_poll_then_callback_make_one_invoice(client, issued_with_callback):
    pk, path, form = issued_with_callback
    assert platform_services.issue_poll_pending(older_than_seconds=0).issued == 1
    invoice = Invoice.objects.get(application_id=pk)
    response = post(client, path, form)
    assert response.status_code == 200 and response.json() == CALLBACK_ANSWER
    assert list(Invoice.objects.filter(application_id=pk)) == [invoice]
    assert Event.objects.filter(action="issued").count() == 1


@pytest.mark.parametrize(
    ("change_path", "change_form"),
    [
        pytest.param(lambda p: p.replace(p.rstrip("/").rsplit("/", 1)[-1], "0" * 40), {}, id="wrong token"),
        pytest.param(lambda p: "/channels/nuonuo/callback/99999/" + p.rstrip("/").rsplit("/", 1)[-1] + "/", {},
                     id="unknown entity"),
        pytest.param(None, {"operater": "invoiceInvalid"}, id="another operation"),
        pytest.param(None, {"orderno": "S99999999"}, id="order not the one in content"),
        pytest.param(None, {"content": "<xml>garbage"}, id="garbage content"),
        pytest.param(None, {"orderno": "", "content": ""}, id="empty"),
    ],
)
def test_a_callback_that_does_not_check_out_is_refused_and_writes_nothing(client, issued_with_callback, caplog,
                                                                          change_path, change_form):
    pk, path, form = issued_with_callback
    before = written()
    with caplog.at_level(logging.WARNING):
        response = post(client, change_path(path) if change_path else path, {**form, **change_form})
    assert response.status_code == 403
    assert response.json() == {"status": "9999", "message": "refused"}  # the same answer whatever the reason
    assert written() == before
    assert InvoiceApplication.objects.get(pk=pk).status == S.ISSUING
    token = path.rstrip("/").rsplit("/", 1)[-1]
    assert token not in caplog.text


def test_an_entity_on_another_channel_is_refused(client, issued_with_callback, nn_seller):
    pk, path, form = issued_with_callback
    nn_seller.channel = "sandbox"
    nn_seller.save()
    before = written()
    assert post(client, path, form).status_code == 403
    assert written() == before


def test_a_garbage_body_a_huge_body_and_a_get_are_refused(client, issued_with_callback):
    pk, path, form = issued_with_callback
    before = written()
    assert client.post(path, b"\xff\xfe not a form", content_type="application/json").status_code == 403
    assert client.post(path, b"[1, 2]", content_type="application/json").status_code == 403
    huge = post(client, path, {**form, "padding": "x" * (70 * 1024)})
    assert huge.status_code == 403
    assert client.get(path).status_code == 405
    assert written() == before
    assert InvoiceApplication.objects.get(pk=pk).status == S.ISSUING


def test_the_endpoint_needs_no_csrf_token(issued_with_callback):
    from django.test import Client

    pk, path, form = issued_with_callback
    response = post(Client(enforce_csrf_checks=True), path, form)
    assert response.status_code == 200 and response.json() == CALLBACK_ANSWER


def test_when_nuonuo_cannot_be_asked_nothing_is_recorded_and_nuonuo_is_told_to_try_again(
        client, issued_with_callback, fake_nuonuo):
    pk, path, form = issued_with_callback
    fake_nuonuo.force("error")
    response = post(client, path, form)
    assert response.status_code == 503 and response.json()["status"] != CALLBACK_ANSWER["status"]
    assert not Invoice.objects.filter(application_id=pk).exists()
    assert post(client, path, form).json() == CALLBACK_ANSWER  # Nuonuo tries again
    assert Invoice.objects.filter(application_id=pk).count() == 1


def test_a_callback_about_an_order_that_is_no_application_is_acknowledged_and_changes_nothing(
        client, issued_with_callback, nn_seller):
    pk, path, form = issued_with_callback
    content = json.loads(form["content"]) | {"c_orderno": "RF0001-H"}
    before = Invoice.objects.count(), Event.objects.count()
    response = post(client, path, {**form, "orderno": "RF0001-H", "content": json.dumps(content)})
    assert response.status_code == 200 and response.json() == CALLBACK_ANSWER
    assert (Invoice.objects.count(), Event.objects.count()) == before


def test_the_callback_token_never_reaches_the_integration_log(client, issued_with_callback, nn_seller):
    pk, path, form = issued_with_callback
    post(client, path, form)
    token = callback_token(nn_seller)
    issue = ChannelCall.objects.get(operation="issue")
    assert issue.request_body["order"]["callBackUrl"] == f"{BASE}/{nn_seller.pk}/***/"
    everything = json.dumps([[c.request_body, c.response_body, c.message] for c in ChannelCall.objects.all()],
                            ensure_ascii=False)
    assert token not in everything


def test_the_system_check_names_a_callback_address_that_is_not_the_endpoint_or_not_https(settings):
    settings.DEBUG = False
    settings.NUONUO_CALLBACK_URL = BASE
    assert nuonuo_callback_address(None) == []
    settings.NUONUO_CALLBACK_URL = "https://fapiao.example.com/nuonuo/callback"
    assert [m.id for m in nuonuo_callback_address(None)] == ["fapiao.W021"]
    settings.NUONUO_CALLBACK_URL = "http://fapiao.example.com/channels/nuonuo/callback"
    assert [m.id for m in nuonuo_callback_address(None)] == ["fapiao.W020"]
    settings.NUONUO_CALLBACK_URL = ""
    assert nuonuo_callback_address(None) == []


def test_a_callback_about_a_failed_order_records_the_failure_as_the_poller_would(client, fake_nuonuo, nn_seller,
                                                                                  quiet_queue, callbacks_on):  # noqa: F811
    (pk,) = submitted(nn_seller, 1)
    fake_nuonuo.fail_next = "购方税号有误"
    platform_services.issue_attempt(application_id=pk)
    app = InvoiceApplication.objects.get(pk=pk)
    content = json.dumps({"c_orderno": app.issue_serial, "c_status": "2", "c_errorMessage": "购方税号有误"},
                         ensure_ascii=False)
    path = urlsplit(f"{BASE}/{nn_seller.pk}/{callback_token(nn_seller)}/").path
    response = post(client, path, {"operater": "callback", "orderno": app.issue_serial, "content": content})
    assert response.status_code == 200 and response.json() == CALLBACK_ANSWER
    app = InvoiceApplication.objects.get(pk=pk)
    assert app.status == S.FAILED and "购方税号有误" in app.fail_reason
    assert not Invoice.objects.filter(application_id=pk).exists()
