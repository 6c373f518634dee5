"""The kernel's address rule, shared by webhooks and links in e-mail."""

from __future__ import annotations

import socket

import pytest

from invoicing import netguard
from invoicing.netguard import Verdict


@pytest.mark.parametrize(("url", "verdict"), [
    ("https://fp.example.com/a.pdf", Verdict.OK),
    ("http://8.8.8.8/", Verdict.OK),
    ("http://10.0.0.1/", Verdict.INTERNAL),
    ("http://[::ffff:192.168.0.1]/", Verdict.INTERNAL),
    ("http://metadata.internal/", Verdict.INTERNAL),
    ("ftp://fp.example.com/", Verdict.BAD_SCHEME),
    ("http://[not-an-address/x", Verdict.BAD_SCHEME),
    ("http://fp.example.com:99999/", Verdict.OK),  # unresolved: the port is only read when resolving
])
def test_verdicts_without_dns(url, verdict):
    assert netguard.url_verdict(url, resolve=False) is verdict


def test_resolved_names_are_checked_and_the_switch_lifts_the_rule(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                  ("192.168.1.5", 443))])
    assert netguard.url_verdict("https://looks-public.example.com/", resolve=True) is Verdict.INTERNAL
    assert netguard.url_verdict("https://looks-public.example.com/", resolve=True, allow_internal=True) is Verdict.OK
    assert netguard.url_verdict("file:///etc/passwd", resolve=True, allow_internal=True) is Verdict.BAD_SCHEME


def test_a_failed_lookup_is_its_own_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(netguard.LookupFailedError):
        netguard.url_verdict("https://gone.example.com/", resolve=True)
    assert netguard.url_host("http://[bad") == ""
