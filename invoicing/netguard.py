"""Which network addresses a request made by this server on someone else's behalf may reach.

A webhook URL typed by a customer, a link in an e-mail from a stranger: fetched from the server, a URL pointing at
the loopback, a private network, a link-local address (cloud metadata) or another internal address reaches what its
author cannot (server-side request forgery). Every app that fetches or posts to such a URL asks this module first:
literally internal names and addresses are refused without a DNS lookup; ``resolve=True`` also looks the name up
and refuses it when any of its addresses is internal (do that right before each request, each redirect included).
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from urllib.parse import urlsplit

# Host names that never leave the machine or the internal network, refused without a DNS lookup.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class Verdict(enum.Enum):
    OK = "ok"
    BAD_SCHEME = "bad_scheme"  # not http(s), or no host
    INTERNAL = "internal"  # the host is, or resolves to, an internal address


class LookupFailedError(Exception):
    """The host name could not be resolved (now: a later attempt may succeed)."""


def is_internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def url_host(url: str) -> str:
    try:
        return (urlsplit(url or "").hostname or "").rstrip(".").lower()
    except ValueError:  # "http://[not-an-address/"
        return ""


def url_verdict(url: str, *, resolve: bool, allow_internal: bool = False) -> Verdict:
    """Whether ``url`` may be requested. ``allow_internal`` lifts the address rule (a receiver on the same network,
    tests); the scheme rule stays. Raises ``LookupFailedError`` when ``resolve`` and the name does not resolve."""
    try:
        parts = urlsplit(url or "")
        hostname = parts.hostname
    except ValueError:
        return Verdict.BAD_SCHEME
    if parts.scheme not in ("http", "https") or not hostname:
        return Verdict.BAD_SCHEME
    if allow_internal:
        return Verdict.OK
    host = hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return Verdict.INTERNAL
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return Verdict.INTERNAL if is_internal_ip(literal) else Verdict.OK
    if not resolve:
        return Verdict.OK
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Verdict.BAD_SCHEME
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupFailedError(f"DNS: {host}: {exc}") from exc
    if any(is_internal_ip(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])) for info in infos):
        return Verdict.INTERNAL
    return Verdict.OK
