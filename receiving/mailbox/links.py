"""Links in an e-mail's body followed to the invoice files they lead to, within limits.

A link is fetched with ``requests``, by this server on a stranger's word, so every hop is checked by the kernel's
address rule (``invoicing.netguard``: no loopback, private, link-local or other internal address, the name resolved
right before the request), redirects are followed by hand (at most ``MAX_REDIRECTS``, a loop is named as such),
the body is streamed and cut at the single-file limit (``RECEIVING_MAX_FILE_BYTES``; a ``Content-Length`` over it is
refused before a byte is read), and the whole fetch has a deadline (``RECEIVING_LINK_TIMEOUT`` seconds).

What comes back is a file (PDF, OFD, XML, ZIP by content) or a page. A page of a provider this module knows (诺诺,
百望, the travel platforms; ``PROVIDERS``) or any page that links invoice files plainly is read for its file links,
which are fetched in turn (one level deep). Anything else is a ``LinkProblemError`` naming its rule and what a person
should do (``Remedy``): retry later, download by hand, or ask the sender again.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext

from invoicing import netguard
from receiving.mailbox.messages import Link, html_anchors
from receiving.mailbox.models import Remedy

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_LINKS_PER_MESSAGE = 10
MAX_FILES_PER_PAGE = 6
USER_AGENT = "Mozilla/5.0 (compatible; FapiaoDesk-Mailbox/1)"
FILE_EXTENSIONS = (".pdf", ".ofd", ".xml", ".zip")
NOT_INVOICE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".css", ".js", ".ico", ".webp")
WORDS = ("发票", "下载", "开票", "电子票", "行程单", "报销凭证", "invoice", "fapiao", "download", "pdf", "ofd", "xml")
SKIP_WORDS = ("unsubscribe", "退订", "取消订阅", "隐私", "privacy")


def _words(exc: requests.RequestException) -> str:
    """What went wrong on the network, in words a finance user reads (the mailbox page shows it). The log gets the
    exception's class only: its text quotes the link, which is the customer's."""
    logger.info("invoice link fault: %s", type(exc).__name__)
    if isinstance(exc, requests.exceptions.SSLError):
        return gettext("TLS 握手失败")
    if isinstance(exc, requests.exceptions.ProxyError):
        return gettext("代理服务器无法连接")
    if isinstance(exc, requests.ConnectionError):
        return gettext("对方服务器无法连接或断开了连接")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return gettext("对方服务器发送的数据不完整")
    return gettext("网络异常")

@dataclass(frozen=True)
class Provider:
    code: str
    name: str
    hosts: tuple[str, ...]


# The invoice platforms whose e-mails carry a link to a page with the files instead of the files.
PROVIDERS = (
    Provider("nuonuo", "诺诺", ("nuonuo.com", "jss.com.cn")),
    Provider("baiwang", "百望", ("baiwang.com", "baiwangjs.com")),
    Provider("ctrip", "携程", ("ctrip.com", "trip.com")),
    Provider("fliggy", "飞猪", ("fliggy.com", "alitrip.com")),
    Provider("qunar", "去哪儿", ("qunar.com",)),
    Provider("tongcheng", "同程", ("ly.com", "tongcheng.com")),
    Provider("rail", "铁路 12306", ("12306.cn",)),
)


def provider_of(url: str) -> Provider | None:
    host = netguard.url_host(url)
    for provider in PROVIDERS:
        if any(host == h or host.endswith("." + h) for h in provider.hosts):
            return provider
    return None


class LinkProblemError(Exception):
    def __init__(self, rule: str, remedy: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.remedy = remedy
        self.message = message


@dataclass(frozen=True)
class Downloaded:
    url: str  # the final address (after redirects)
    name: str
    data: bytes


def _limit() -> int:
    return int(settings.RECEIVING_MAX_FILE_BYTES)


def _deadline() -> float:
    return time.monotonic() + float(getattr(settings, "RECEIVING_LINK_TIMEOUT", 30))


def worth_following(link: Link) -> bool:
    """Whether a link in a message body may lead to an invoice (not a logo, a tracking pixel or an unsubscribe)."""
    url = link.url.lower()
    path = urlsplit(url).path
    words = f"{url} {link.text.lower()}"
    if path.endswith(NOT_INVOICE_EXTENSIONS) or any(w in words for w in SKIP_WORDS):
        return False
    return (path.endswith(FILE_EXTENSIONS) or provider_of(link.url) is not None
            or any(w in words for w in WORDS))


def candidates(links: list[Link]) -> list[Link]:
    return [link for link in links if worth_following(link)][:MAX_LINKS_PER_MESSAGE]


def _checked(url: str) -> None:
    try:
        verdict = netguard.url_verdict(url, resolve=True,
                                       allow_internal=bool(getattr(settings, "RECEIVING_LINK_ALLOW_PRIVATE_HOSTS",
                                                                   False)))
    except netguard.LookupFailedError as exc:
        raise LinkProblemError("dns_failed", Remedy.RETRY,
                          gettext("链接的域名无法解析（%(host)s），稍后重试") % {"host": netguard.url_host(url)}) from exc
    if verdict is netguard.Verdict.BAD_SCHEME:
        raise LinkProblemError("bad_link", Remedy.BY_HAND, gettext("链接不是 http 或 https 网址"))
    if verdict is netguard.Verdict.INTERNAL:
        raise LinkProblemError("internal_address", Remedy.BY_HAND,
                          gettext("链接指向本机或内网地址（%(host)s），已拒绝访问；请确认邮件来源后手工下载") % {
                              "host": netguard.url_host(url)})


def _name_from(response: requests.Response, url: str) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    match = re.search(r"filename\*=(?:UTF-8''|utf-8'')([^;]+)", disposition) or re.search(
        r'filename="?([^";]+)"?', disposition)
    if match:
        return unquote(match.group(1)).strip().replace("/", "_")[-200:]
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return last[-200:] or netguard.url_host(url)


def _get(session: requests.Session, url: str, deadline: float) -> tuple[requests.Response, str]:
    """GET ``url`` following redirects by hand, each hop checked; returns the open (streaming) response and the
    final URL."""
    seen: set[str] = set()
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if current in seen:
            raise LinkProblemError("redirect_loop", Remedy.BY_HAND,
                              gettext("链接循环跳转，无法取得文件；请在浏览器中打开后手工下载"))
        seen.add(current)
        _checked(current)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LinkProblemError("timeout", Remedy.RETRY, gettext("链接响应超时，稍后重试"))
        try:
            response = session.get(current, stream=True, allow_redirects=False,
                                   timeout=(min(5.0, remaining), min(15.0, remaining)))
        except requests.Timeout as exc:
            raise LinkProblemError("timeout", Remedy.RETRY, gettext("链接响应超时，稍后重试")) from exc
        except requests.RequestException as exc:
            raise LinkProblemError("unreachable", Remedy.RETRY,
                              gettext("链接无法连接（%(error)s），稍后重试") % {"error": _words(exc)}) from exc
        if response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise LinkProblemError("bad_redirect", Remedy.BY_HAND, gettext("链接跳转时没有给出地址"))
            current = urljoin(current, location)
            continue
        return response, current
    raise LinkProblemError("redirect_loop", Remedy.BY_HAND,
                      gettext("链接跳转超过 %(n)d 次，无法取得文件；请在浏览器中打开后手工下载") % {"n": MAX_REDIRECTS})


def _status_problem(status: int) -> LinkProblemError:
    if status in (404, 410):
        return LinkProblemError("link_expired", Remedy.ASK_SENDER,
                           gettext("链接已失效（HTTP %(status)d），请联系开票方重新发送") % {"status": status})
    if status in (401, 403):
        return LinkProblemError("link_forbidden", Remedy.BY_HAND,
                           gettext("链接需要登录或验证（HTTP %(status)d），请在浏览器中打开后手工下载") % {"status": status})
    if status == 429 or status >= 500:
        return LinkProblemError("link_unavailable", Remedy.RETRY,
                           gettext("链接所在网站暂时不可用（HTTP %(status)d），稍后重试") % {"status": status})
    return LinkProblemError("link_refused", Remedy.BY_HAND,
                       gettext("链接无法打开（HTTP %(status)d），请在浏览器中打开后手工下载") % {"status": status})


def download(url: str, *, session: requests.Session | None = None, deadline: float | None = None) -> Downloaded:
    """The body behind ``url`` within the limits, or a ``LinkProblemError``."""
    own = session is None
    session = session or _session()
    deadline = deadline or _deadline()
    limit = _limit()
    try:
        response, final = _get(session, url, deadline)
        with response:
            if response.status_code != 200:
                raise _status_problem(response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(int(declared), limit)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(size, limit)
                    if time.monotonic() > deadline:
                        raise LinkProblemError("timeout", Remedy.RETRY, gettext("链接下载超时，稍后重试"))
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise LinkProblemError("unreachable", Remedy.RETRY,
                                  gettext("下载中断（%(error)s），稍后重试") % {"error": _words(exc)}) from exc
            return Downloaded(url=final, name=_name_from(response, final), data=b"".join(chunks))
    finally:
        if own:
            session.close()


def _too_large(size: int, limit: int) -> LinkProblemError:
    return LinkProblemError("link_too_large", Remedy.BY_HAND,
                       gettext("链接的文件超过 %(limit)d MB（%(size)s 字节），未下载；如确为发票请手工下载后上传") % {
                           "limit": limit // (1024 * 1024), "size": f"{size:,}"})


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # no proxy from the environment: the address rule is about where we connect
    return session


def is_file(data: bytes) -> bool:
    head = data[:1024].lstrip()
    return data.startswith((b"%PDF", b"PK\x03\x04")) or head.startswith(b"<?xml") and b"<html" not in head.lower()


def is_html(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


_QUOTED_URL = re.compile(r"""["']((?:https?:)?/[^"'\s<>]+|[\w./-]+\?[^"'\s<>]+)["']""")
_FILE_HINT = re.compile(r"(\.(pdf|ofd|xml|zip)(\?|#|$))|([?&](file)?type=(pdf|ofd|xml|zip))|download", re.I)


def page_file_links(html: str, base: str) -> list[str]:
    """The invoice file links on a provider's page: anchors and script strings whose address names a file type or a
    download, in page order, each once."""
    html = html.replace("\\/", "/")  # JSON in a script escapes its slashes
    anchors, _text = html_anchors(html, base)
    found: list[str] = []
    for link in anchors:
        if _FILE_HINT.search(link.url) or any(w in link.text.lower() for w in ("pdf", "ofd", "xml", "下载")):
            found.append(link.url)
    for match in _QUOTED_URL.finditer(html):
        candidate = match.group(1)
        if _FILE_HINT.search(candidate) and not candidate.lower().endswith(NOT_INVOICE_EXTENSIONS):
            try:
                found.append(urljoin(base, candidate))
            except ValueError:
                continue
    out: list[str] = []
    for url in found:
        if url.lower().startswith(("http://", "https://")) and url not in out and url != base:
            out.append(url)
    return out[:MAX_FILES_PER_PAGE]


@dataclass
class Followed:
    """What one link gave: files, and the problems on the way (a page whose file links failed, say)."""

    files: list[Downloaded]
    problems: list[LinkProblemError]
    provider: str = ""


def follow(link: Link) -> Followed:
    """Follow a link from a message to its invoice files (a file directly, or a page's file links)."""
    session = _session()
    deadline = _deadline()
    try:
        try:
            got = download(link.url, session=session, deadline=deadline)
        except LinkProblemError as problem:
            return Followed([], [problem])
        provider = provider_of(got.url) or provider_of(link.url)
        if is_file(got.data):
            return Followed([got], [], provider.name if provider else "")
        if not is_html(got.data):
            return Followed([], [LinkProblemError("not_invoice", Remedy.BY_HAND,
                                             gettext("链接返回的不是发票文件，也不是网页"))])
        html = _page_text(got.data)
        files: list[Downloaded] = []
        problems: list[LinkProblemError] = []
        file_links = page_file_links(html, got.url)
        if not file_links and provider is not None and provider.code == "nuonuo":
            try:
                file_links = nuonuo_file_links(session, got.url, deadline)
            except LinkProblemError as problem:
                problems.append(problem)
        for url in file_links:
            try:
                item = download(url, session=session, deadline=_deadline())
            except LinkProblemError as problem:
                problems.append(problem)
                continue
            if is_file(item.data):
                files.append(item)
        if files:
            problems = []  # the page gave its invoice: a second format that failed is no one's work
        if not files and not problems:
            if provider is not None:
                problems.append(LinkProblemError(
                    "provider_page_no_file", Remedy.BY_HAND,
                    gettext("%(provider)s的页面上没有找到发票文件（可能需要验证码或已过期），请在浏览器中打开后手工下载")
                    % {"provider": provider.name}))
            else:
                problems.append(LinkProblemError(
                    "unsupported_page", Remedy.BY_HAND,
                    gettext("链接打开的是网页而不是发票文件，系统不认识这个网站，请在浏览器中打开后手工下载")))
        return Followed(files, problems, provider.name if provider else "")
    finally:
        session.close()


NUONUO_DETAIL = "/scan2/getIvcDetailShow.do"
MAX_JSON_BYTES = 1024 * 1024


def nuonuo_file_links(session: requests.Session, page_url: str, deadline: float) -> list[str]:
    """诺诺's short link lands on a script-only page whose address carries ``paramList``; the page asks
    ``/scan2/getIvcDetailShow.do`` for the invoice (``invoiceSimpleVo``), whose ``url`` fields are the files."""
    params = parse_qs(urlsplit(page_url).query)
    if not params.get("paramList"):
        return []
    api = urljoin(page_url, NUONUO_DETAIL)
    _checked(api)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LinkProblemError("timeout", Remedy.RETRY, gettext("链接响应超时，稍后重试"))
    form = {key: values[0] for key, values in params.items() if key in ("paramList", "aliView", "shortLinkSource")}
    try:
        response = session.post(api, data=form, stream=True, allow_redirects=False,
                                timeout=(min(5.0, remaining), min(15.0, remaining)))
    except requests.RequestException as exc:
        raise LinkProblemError("unreachable", Remedy.RETRY,
                               gettext("链接无法连接（%(error)s），稍后重试") % {"error": _words(exc)}) from exc
    with response:
        if response.status_code != 200:
            raise _status_problem(response.status_code)
        body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
    if len(body) > MAX_JSON_BYTES:
        return []
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return []
    return [url for url in _json_urls(payload)
            if (_FILE_HINT.search(url) or "/group" in url) and not _path_of(url).endswith(NOT_INVOICE_EXTENSIONS)
            ][:MAX_FILES_PER_PAGE]


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path.lower()
    except ValueError:
        return ""


def _json_urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_urls(item)
    elif isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        yield value


def _page_text(data: bytes) -> str:
    match = re.search(rb"charset=[\"']?([\w-]+)", data[:4096], re.I)
    for charset in ([match.group(1).decode("ascii", "ignore")] if match else []) + ["utf-8", "gb18030"]:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def iter_links(links: list[dict[str, Any]]) -> Iterator[Link]:
    for item in links:
        yield Link(str(item.get("url", "")), str(item.get("text", "")))
