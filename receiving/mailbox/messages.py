"""One e-mail taken apart: who sent it, what it says, its invoice attachments and the links in its body.

Attachments are taken by content first (``%PDF``, a ZIP, ``<?xml``) and by name second: PDF, OFD, XML and ZIP; other
parts (logos, signatures, calendar invites) are left alone. Links come from the HTML body's ``href`` attributes
and from bare addresses in the text body, each kept once, http(s) only, with the text they were shown with.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

FILE_EXTENSIONS = ("pdf", "ofd", "xml", "zip")
MAX_BODY_CHARS = 20_000
MAX_LINKS = 50


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


@dataclass(frozen=True)
class Link:
    url: str
    text: str = ""


@dataclass
class ParsedMessage:
    fingerprint: str
    message_id: str = ""
    subject: str = ""
    sender: str = ""
    sent_at: datetime | None = None
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


class _Anchors(HTMLParser):
    """The ``<a href>`` of an HTML body with their text, and the page's text (for a body without a text part)."""

    def __init__(self, base: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[Link] = []
        self.text: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            try:
                self._href = urljoin(self.base, href.strip()) if href else None
            except ValueError:  # a malformed address: no link
                self._href = None
            self._anchor = []
        if tag in ("br", "p", "div", "tr", "li"):
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag == "a" and self._href is not None:
            self.links.append(Link(self._href, " ".join("".join(self._anchor).split())[:200]))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._href is not None:
            self._anchor.append(data)


def html_anchors(html: str, base: str = "") -> tuple[list[Link], str]:
    parser = _Anchors(base)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # a broken page: what was read so far
        pass
    text = re.sub(r"\n\s*\n+", "\n\n", "".join(parser.text)).strip()
    return parser.links, text


_URL = re.compile(r"https?://[^\s<>\"'，。；）》]+", re.IGNORECASE)


def _text_links(text: str) -> list[Link]:
    """Bare addresses in a text body, each with the words just before it as its text ("发票下载地址：http://…")."""
    return [Link(m.group(0).rstrip(".,;:!?)]"), " ".join(text[max(0, m.start() - 40):m.start()].split()))
            for m in _URL.finditer(text)]


def _kind_of(name: str, data: bytes, content_type: str) -> str | None:
    head = data[:512].lstrip()
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "ofd" if name.lower().endswith(".ofd") else "zip"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in FILE_EXTENSIONS:
        return ext
    if head.startswith(b"<?xml") and content_type in ("application/xml", "text/xml"):
        return "xml"
    if content_type in ("application/pdf", "application/ofd", "application/zip", "application/x-zip-compressed"):
        return content_type.rsplit("/", 1)[-1].replace("x-zip-compressed", "zip")
    return None


def _decoded(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _text_of(part: Message) -> str:
    data = _decoded(part)
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "gb18030", "utf-8"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def _decoded_words(value: str) -> str:
    """RFC 2047 encoded words (``=?gb2312?B?…?=``) in a header or a file name, decoded; other text as it is."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeDecodeError, ValueError):
        return value


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return " ".join(_decoded_words(str(value)).split())


def parse(raw: bytes) -> ParsedMessage:
    """Take one RFC 5322 message apart. Never raises on a malformed message: what can be read is read."""
    # compat32: the default policy's header objects cost ten times as much, and only a few headers are read here
    msg = email.message_from_bytes(raw)
    parsed = ParsedMessage(fingerprint=hashlib.sha256(raw).hexdigest())
    parsed.message_id = _header(msg, "Message-ID")[:300]
    parsed.subject = _header(msg, "Subject")[:300]
    parsed.sender = _header(msg, "From")[:300]
    try:
        date = email.utils.parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
        parsed.sent_at = date if date is not None and date.tzinfo is not None else None
    except (TypeError, ValueError, IndexError):
        parsed.sent_at = None
    texts: list[str] = []
    html_text: list[str] = []
    links: list[Link] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        filename = _decoded_words(part.get_filename() or "")
        disposition = (part.get_content_disposition() or "").lower()
        if content_type == "message/rfc822":
            continue
        if content_type in ("text/plain", "text/html") and not filename and disposition != "attachment":
            body = _text_of(part)
            if content_type == "text/html":
                found, text = html_anchors(body)
                links.extend(found)
                html_text.append(text)
            else:
                texts.append(body)
                links.extend(_text_links(body))
            continue
        data = _decoded(part)
        if not data:
            continue
        kind = _kind_of(filename, data, content_type)
        if kind is None:
            continue
        name = filename or f"attachment-{len(parsed.attachments) + 1}.{kind}"
        parsed.attachments.append(Attachment(name=name.replace("/", "_")[-200:], data=data))
    parsed.text = ("\n\n".join(texts) if texts else "\n\n".join(html_text))[:MAX_BODY_CHARS]
    seen: set[str] = set()
    for link in links:
        try:
            usable = bool(urlsplit(link.url).hostname)
        except ValueError:  # "http://[not-an-address/": nothing to follow
            usable = False
        if usable and link.url.lower().startswith(("http://", "https://")) and link.url not in seen:
            seen.add(link.url)
            parsed.links.append(link)
    parsed.links = parsed.links[:MAX_LINKS]
    return parsed


def compose(*, subject: str, sender: str, to: str, text: str = "", html: str = "",
            attachments: tuple[tuple[str, bytes], ...] = (), message_id: str | None = None,
            date: datetime | None = None) -> bytes:
    """An RFC 5322 message (for the demo, tests and the benchmark)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain="fapiao.test")
    msg["Date"] = email.utils.format_datetime(date) if date else email.utils.formatdate(localtime=True)
    if text:
        msg.set_content(text)
    if html:
        if text:
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(html, subtype="html")
    if not text and not html:
        msg.set_content("")
    for name, data in attachments:
        ext = name.rsplit(".", 1)[-1].lower()
        maintype, subtype = {"pdf": ("application", "pdf"), "ofd": ("application", "ofd"),
                             "xml": ("application", "xml"), "zip": ("application", "zip")}.get(
            ext, ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)
