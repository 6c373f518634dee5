"""Webhook URLs may not reach the server's own network (server-side request forgery)."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from delivery.models import WebhookEndpoint
from delivery.webhooks import WebhookError, webhook_post, webhook_url_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _guard_on(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://api.localhost/x", "http://10.1.2.3/",
    "http://192.168.1.10/", "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://printer.local/", "http://erp.internal/",
])
def test_internal_addresses_are_refused_at_subscription_without_dns(url):
    assert "内网" in webhook_url_problem(url, resolve=False)


@pytest.mark.parametrize("url", ["ftp://shop.example.com/", "file:///etc/passwd", "https:///nohost"])
def test_only_http_urls(url):
    assert webhook_url_problem(url, resolve=False) == "推送地址须为 http 或 https 网址"


def test_public_names_and_addresses_pass(monkeypatch):
    assert webhook_url_problem("https://shop.example.com/hooks", resolve=False) is None
    assert webhook_url_problem("https://8.8.8.8/hooks", resolve=False) is None


def test_at_sending_time_a_name_that_resolves_inside_is_refused(monkeypatch):
    """DNS can point a public-looking name at 127.0.0.1: the check is made again, resolved, before each POST."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                  ("127.0.0.1", 443))])
    assert webhook_url_problem("https://rebind.example.com/hooks", resolve=False) is None
    with pytest.raises(WebhookError, match="内网"):
        webhook_post(url="https://rebind.example.com/hooks", secret="s", event="invoice.issued", delivery_id=1,
                     payload={})


def test_a_failed_lookup_is_a_retryable_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(WebhookError, match="DNS"):
        webhook_url_problem("https://gone.example.com/", resolve=True)


def test_the_endpoint_form_refuses_internal_urls(yuntu):
    endpoint = WebhookEndpoint(taxpayer=yuntu, url="http://169.254.169.254/", events=["*"])
    with pytest.raises(ValidationError) as info:
        endpoint.full_clean()
    assert "url" in info.value.message_dict


def test_the_setting_lets_a_receiver_on_the_same_network_through(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    assert webhook_url_problem("http://127.0.0.1:9/hook", resolve=True) is None
