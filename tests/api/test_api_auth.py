"""Authentication (bearer token, HMAC), the error shape, its languages, and throttling."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from django.core.management import call_command
from django.test import Client

from api.authentication import HMAC_MAX_SKEW, hmac_signature
from api.models import ApiClient, token_digest
from api.services import api_client_rotate
from tests.api.conftest import Api, assert_error, document_body

pytestmark = pytest.mark.django_db


def test_the_token_is_stored_only_as_its_hash(shop_credentials):
    client = ApiClient.objects.get(name="shop")
    assert client.token_hash == token_digest(shop_credentials.token)
    assert shop_credentials.token not in {client.token_hash, client.token_hint, client.hmac_key_id}
    assert client.check_token(shop_credentials.token)


def test_a_request_without_credentials_is_401_with_the_error_shape(shop):
    error = assert_error(Api(None).get("billing-documents/"), 401, "not_authenticated")
    assert error["message"] == "缺少身份认证信息"


def test_a_bad_token_is_401(shop):
    assert_error(Api("fpd_not-a-token").get("billing-documents/"), 401, "authentication_failed")


def test_a_malformed_authorization_header_is_401(shop):
    response = Client().get("/api/v1/billing-documents/", headers={"Authorization": "Bearer a b"})
    assert_error(response, 401, "authentication_failed")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_disabled_client_is_401(shop):
    ApiClient.objects.filter(name="shop").update(is_active=False)
    assert_error(shop.get("billing-documents/"), 401, "authentication_failed")


def test_a_rotated_token_stops_working(shop, shop_credentials):
    fresh = api_client_rotate(client=shop_credentials.client)
    assert_error(shop.get("billing-documents/"), 401, "authentication_failed")
    assert Api(fresh.token).get("billing-documents/").status_code == 200


def test_errors_are_in_english_when_asked(shop):
    error = assert_error(Api("fpd_bad", language="en").get("billing-documents/"), 401, "authentication_failed")
    assert error["message"] == "Invalid token, or the client is disabled"
    error = assert_error(Api(None, language="en").get("billing-documents/"), 401, "not_authenticated")
    assert error["message"] == "Authentication credentials were not provided"


def test_a_last_used_time_is_kept(shop):
    shop.get("billing-documents/")
    assert ApiClient.objects.get(name="shop").last_used_at is not None


# --- HMAC ------------------------------------------------------------------------------------------------------


def hmac_post(credentials, path: str, body: dict, *, timestamp: int | None = None, secret: str | None = None,
              signature: str | None = None, nonce: str | None = None):
    raw = json.dumps(body).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or secrets.token_urlsafe(16)
    sig = signature or hmac_signature(secret or credentials.hmac_secret, method="POST", path=path, timestamp=ts,
                                      body=raw, nonce=nonce)
    return Client().post(path, raw, content_type="application/json", headers={
        "X-Api-Key": credentials.hmac_key_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig})


def test_a_correctly_signed_hmac_request_is_accepted(shop_credentials):
    response = hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-H1"))
    assert response.status_code == 201, response.content


def test_an_hmac_get_with_a_query_string_is_signed_over_the_full_path(shop_credentials):
    path = "/api/v1/billing-documents/?external_no=SO-X"
    ts = str(int(time.time()))
    nonce = secrets.token_urlsafe(16)
    sig = hmac_signature(shop_credentials.hmac_secret, method="GET", path=path, timestamp=ts, body=b"", nonce=nonce)
    response = Client().get(path, headers={"X-Api-Key": shop_credentials.hmac_key_id, "X-Timestamp": ts,
                                           "X-Nonce": nonce, "X-Signature": sig})
    assert response.status_code == 200, response.content


def test_a_bad_hmac_signature_is_401(shop_credentials):
    response = hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body(), secret="wrong")
    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == "签名不正确"


def test_a_signature_over_another_body_is_401(shop_credentials):
    raw = json.dumps(document_body("SO-A")).encode()
    ts = str(int(time.time()))
    sig = hmac_signature(shop_credentials.hmac_secret, method="POST", path="/api/v1/billing-documents/",
                         timestamp=ts, body=b"{}", nonce="n" * 16)
    response = Client().post("/api/v1/billing-documents/", raw, content_type="application/json", headers={
        "X-Api-Key": shop_credentials.hmac_key_id, "X-Timestamp": ts, "X-Nonce": "n" * 16, "X-Signature": sig})
    assert_error(response, 401, "authentication_failed")


def test_an_hmac_timestamp_outside_the_window_is_401(shop_credentials):
    stale = int(time.time()) - HMAC_MAX_SKEW - 5
    error = assert_error(hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body(), timestamp=stale),
                         401, "authentication_failed")
    assert "300" in error["message"]
    future = int(time.time()) + HMAC_MAX_SKEW + 5
    assert_error(hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body(), timestamp=future),
                 401, "authentication_failed")


def test_incomplete_hmac_headers_and_unknown_keys_are_401(shop_credentials):
    response = Client().get("/api/v1/billing-documents/", headers={"X-Api-Key": shop_credentials.hmac_key_id})
    assert_error(response, 401, "authentication_failed")
    ts = str(int(time.time()))
    response = Client().get("/api/v1/billing-documents/", headers={"X-Api-Key": "ak_unknown", "X-Timestamp": ts,
                                                                   "X-Nonce": "n" * 16, "X-Signature": "00"})
    assert_error(response, 401, "authentication_failed")


def test_a_replayed_hmac_request_is_refused_within_the_window(shop_credentials):
    nonce = secrets.token_urlsafe(16)
    ts = int(time.time())
    first = hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-R1"), nonce=nonce, timestamp=ts)
    assert first.status_code == 201, first.content
    replay = hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-R1"), nonce=nonce, timestamp=ts)
    error = assert_error(replay, 401, "authentication_failed")
    assert error["message"] == "该 X-Nonce 已使用过（重放的请求）"
    assert replay["WWW-Authenticate"] == 'Bearer realm="api"'
    # A fresh nonce is a new request: here the duplicate external number, not an authentication failure.
    assert_error(hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-R1")), 409,
                 "already_exists")


def test_a_bad_signature_does_not_spend_the_nonce(shop_credentials):
    nonce = secrets.token_urlsafe(16)
    assert_error(hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-R2"), nonce=nonce,
                           secret="wrong"), 401, "authentication_failed")
    assert hmac_post(shop_credentials, "/api/v1/billing-documents/", document_body("SO-R2"),
                     nonce=nonce).status_code == 201


def test_an_hmac_request_without_a_nonce_is_refused_unless_allowed(shop_credentials, settings):
    path, raw, ts = "/api/v1/billing-documents/", json.dumps(document_body("SO-R3")).encode(), str(int(time.time()))
    sig = hmac_signature(shop_credentials.hmac_secret, method="POST", path=path, timestamp=ts, body=raw)
    headers = {"X-Api-Key": shop_credentials.hmac_key_id, "X-Timestamp": ts, "X-Signature": sig}
    error = assert_error(Client().post(path, raw, content_type="application/json", headers=headers), 401,
                         "authentication_failed")
    assert "X-Nonce" in error["message"]
    settings.API_HMAC_REQUIRE_NONCE = False  # the older four-line signature, during a migration
    assert Client().post(path, raw, content_type="application/json", headers=headers).status_code == 201
    assert_error(hmac_post(shop_credentials, path, document_body("SO-R4"), nonce="short"), 401,
                 "authentication_failed")


def test_old_nonces_are_purged():
    from datetime import timedelta

    from django.utils import timezone

    from api.authentication import purge_nonces
    from api.models import HmacNonce

    client = ApiClient.objects.create(name="old", token_hash="x" * 64, hmac_key_id="ak_old", hmac_secret="s")
    HmacNonce.objects.create(client=client, nonce="a" * 16)
    HmacNonce.objects.create(client=client, nonce="b" * 16)
    HmacNonce.objects.filter(nonce="a" * 16).update(created_at=timezone.now() - timedelta(seconds=2 * HMAC_MAX_SKEW + 1))
    assert purge_nonces() == 1
    assert list(HmacNonce.objects.values_list("nonce", flat=True)) == ["b" * 16]


# --- throttling ----------------------------------------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_the_error_shape(shop, erp):
    ApiClient.objects.filter(name="shop").update(throttle_rate="3/min")
    for _ in range(3):
        assert shop.get("billing-documents/").status_code == 200
    response = shop.get("billing-documents/")
    error = assert_error(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0
    assert error["message"].startswith("请求过于频繁")
    assert erp.get("billing-documents/").status_code == 200  # the limit is per client


# --- the command ---------------------------------------------------------------------------------------------


def test_the_command_creates_a_client_and_prints_the_token_once(yuntu, capsys):
    call_command("create_api_client", "crm", "--taxpayer", yuntu.credit_code, "--files")
    out = capsys.readouterr().out
    token = next(line.split()[-1] for line in out.splitlines() if line.startswith("token:"))
    client = ApiClient.objects.get(name="crm")
    assert client.can_download_files and list(client.taxpayers.all()) == [yuntu]
    assert Api(token).get("billing-documents/").status_code == 200


def test_validation_errors_speak_english_when_asked(shop_credentials):
    api = Api(shop_credentials.token, language="en")
    response = api.post("billing-documents/", {"external_no": "X"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "The request is not valid"
    assert error["fields"]["buyer"] == ["This field is required."]


def test_an_unparseable_body_is_a_parse_error(shop):
    response = shop.http.post("/api/v1/billing-documents/", "{not json", content_type="application/json",
                              headers=shop.headers())
    assert_error(response, 400, "parse_error")


def test_an_unknown_method_is_405_with_the_error_shape(shop):
    response = shop.http.put("/api/v1/billing-documents/", "{}", content_type="application/json",
                             headers=shop.headers())
    assert_error(response, 405, "method_not_allowed")
