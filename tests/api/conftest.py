"""The API's part of the test world: the shop's client limited to 云途, the ERP's limited to 明远."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from api.services import api_client_create

SOFTWARE = "3040201000000000000"  # 软件服务, 6%
BUYER = {"kind": "company", "name": "上海白鹭文化传媒有限公司", "tax_id": "91310000MA1K0BA10F"}


class Api:
    """A JSON client for /api/v1/ that sends one client's bearer token."""

    def __init__(self, token: str | None, language: str | None = None):
        self.http = Client()
        self.token = token
        self.language = language

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.language:
            headers["Accept-Language"] = self.language
        headers.update(extra or {})
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str):
        return self.http.get(f"/api/v1/{path}", params or {}, headers=self.headers(headers))

    def post(self, path: str, body: Any = None, *, key: str | None = None, **headers: str):
        extra = dict(headers)
        if key is not None:
            extra["Idempotency-Key"] = key
        return self.http.post(
            f"/api/v1/{path}", json.dumps(body if body is not None else {}), content_type="application/json",
            headers=self.headers(extra),
        )

    def delete(self, path: str, **headers: str):
        return self.http.delete(f"/api/v1/{path}", headers=self.headers(headers))


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop_credentials(yuntu):
    return api_client_create(name="shop", taxpayers=[yuntu], can_download_files=True)


@pytest.fixture
def shop(shop_credentials):
    return Api(shop_credentials.token)


@pytest.fixture
def erp_credentials(mingyuan):
    return api_client_create(name="erp", taxpayers=[mingyuan], can_download_files=True)


@pytest.fixture
def erp(erp_credentials):
    return Api(erp_credentials.token)


def line(amount: str = "106.00", **overrides: Any) -> dict[str, Any]:
    data = {"item_name": "软件技术服务费", "amount": amount, "tax_rate": "0.06", "tax_category": SOFTWARE}
    data.update(overrides)
    return data


def document_body(external_no: str = "SO-1001", amount: str = "106.00", **overrides: Any) -> dict[str, Any]:
    body = {
        "external_no": external_no,
        "paid_amount": amount,
        "buyer": dict(BUYER),
        "buyer_email": "finance@bailu.example.com",
        "lines": [line(amount)],
    }
    body.update(overrides)
    return body


def money(value: str) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def assert_error(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


class Receiver:
    """A local HTTP server that records what it is sent."""

    def __init__(self):
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fapiao"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _local_webhook_receivers(settings):
    """The webhook receivers in these tests are HTTP servers on 127.0.0.1, which production refuses
    (``WEBHOOK_ALLOW_PRIVATE_HOSTS``); tests/delivery/test_webhook_guard.py tests the refusal itself."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
