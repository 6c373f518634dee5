"""The sandbox accepts only signed, fresh, never-seen requests."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from invoicing.channels.base import ChannelRejected
from invoicing.channels.sandbox import sign


def _post(seller, *, body=b'{"period": ""}', secret=None, timestamp=None, nonce="n-1", signature=None):
    ts = str(timestamp if timestamp is not None else int(time.time()))
    sig = signature or sign(secret or seller.channel_secret, ts, nonce, body)
    return Client().post(
        "/sandbox/api/v1/quota/", data=body, content_type="application/json",
        headers={"X-App-Key": seller.channel_app_key, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig},
    )


def test_a_good_signature_is_accepted(seller):
    response = _post(seller)
    assert response.status_code == 200 and response.json()["code"] == "0000"


def test_a_bad_signature_is_rejected(seller):
    response = _post(seller, secret="not-the-secret")
    assert response.status_code == 401 and response.json()["code"] == "1001"


def test_a_tampered_body_is_rejected(seller):
    ts = str(int(time.time()))
    sig = sign(seller.channel_secret, ts, "n-2", b'{"period": ""}')
    response = _post(seller, body=b'{"period": "2026-01"}', timestamp=ts, nonce="n-2", signature=sig)
    assert response.json()["code"] == "1001"


def test_a_timestamp_more_than_five_minutes_off_is_rejected(seller):
    assert _post(seller, timestamp=int(time.time()) - 301).json()["code"] == "1002"
    assert _post(seller, timestamp=int(time.time()) + 301, nonce="n-3").json()["code"] == "1002"


def test_a_replayed_nonce_is_rejected(seller):
    assert _post(seller, nonce="same").status_code == 200
    response = _post(seller, nonce="same")
    assert response.status_code == 401 and response.json()["code"] == "1003"


def test_an_unknown_app_key_is_rejected(seller):
    seller.channel_app_key = "nobody"
    assert _post(seller).json()["code"] == "1004"


def test_the_client_reports_a_wrong_secret_as_rejected(seller, channel):
    seller.channel_secret = "wrong"
    with pytest.raises(ChannelRejected) as exc:
        channel.get_quota()
    assert exc.value.code == "1001"


def test_only_post_is_served(seller):
    assert Client().get("/sandbox/api/v1/quota/").status_code == 405
    assert json.loads(Client().get("/sandbox/api/v1/quota/").content)["code"] == "3001"
