"""Reading one IMAP folder with IMAPClient: log in, select the folder read-only (nothing is marked read or moved in
the user's mailbox), list the UIDs after the last one taken, and fetch messages by UID in small batches.

Every failure is a ``MailboxUnavailableError`` with a rule and words for the mailbox page: the server cannot be reached,
the login is refused, the folder does not exist, or the connection broke.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from receiving.mailbox.models import Mailbox, Security

logger = logging.getLogger(__name__)

FETCH_BATCH = 25
BODY = b"BODY[]"
SIZE = b"RFC822.SIZE"


class MailboxUnavailableError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass
class Folder:
    client: IMAPClient
    uidvalidity: int

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` (``n:*`` always answers the highest UID, even below n: filtered)."""
        try:
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        except (IMAPClientError, OSError) as exc:
            raise _broken(exc) from exc
        return sorted(int(u) for u in found if int(u) > last_uid)

    def fetch(self, uids: list[int], *, max_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
        """(uid, raw message or None when larger than ``max_bytes`` or gone, size) for each uid, in order."""
        for start in range(0, len(uids), FETCH_BATCH):
            chunk = uids[start:start + FETCH_BATCH]
            try:
                sizes = {int(u): int(d.get(SIZE, 0)) for u, d in self.client.fetch(chunk, [SIZE]).items()}
                small = [u for u in chunk if 0 < sizes.get(u, 0) <= max_bytes]
                bodies = {int(u): d.get(BODY) for u, d in self.client.fetch(small, ["BODY.PEEK[]"]).items()} \
                    if small else {}
            except (IMAPClientError, OSError) as exc:
                raise _broken(exc) from exc
            for uid in chunk:
                body = bodies.get(uid)
                yield uid, body if isinstance(body, bytes) else None, sizes.get(uid, 0)


def _broken(exc: BaseException) -> MailboxUnavailableError:
    return MailboxUnavailableError("connection_lost", gettext("与邮件服务器的连接中断（%(error)s）") % {
        "error": _words(exc)})


@contextmanager
def open_folder(mailbox: Mailbox) -> Iterator[Folder]:
    timeout = float(getattr(settings, "RECEIVING_IMAP_TIMEOUT", 30))
    context = ssl.create_default_context()
    try:
        client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.security == Security.SSL,
                            ssl_context=context, timeout=timeout)
    except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
        raise MailboxUnavailableError("unreachable", gettext("无法连接邮件服务器 %(host)s:%(port)s（%(error)s）") % {
            "host": mailbox.host, "port": mailbox.port, "error": _words(exc)}) from exc
    try:
        try:
            if mailbox.security == Security.STARTTLS:
                try:
                    client.starttls(context)
                except CapabilityError as exc:
                    raise MailboxUnavailableError("starttls_unsupported", gettext(
                        "邮件服务器不支持 STARTTLS：请改用 SSL/TLS（993），或核对端口")) from exc
            client.login(mailbox.username, mailbox.password)
        except LoginError as exc:
            raise MailboxUnavailableError("login_refused", gettext(
                "邮件服务器拒绝登录：用户名或密码（授权码）不对，或未开启 IMAP")) from exc
        except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
            raise MailboxUnavailableError("login_failed", gettext("登录邮件服务器失败（%(error)s）") % {
                "error": _words(exc)}) from exc
        try:
            info = client.select_folder(mailbox.folder, readonly=True)
        except (IMAPClientError, imaplib.IMAP4.error) as exc:
            raise MailboxUnavailableError("no_folder", gettext("邮箱里没有文件夹“%(folder)s”") % {
                "folder": mailbox.folder}) from exc
        except OSError as exc:
            raise _broken(exc) from exc
        uidvalidity = int(info.get(b"UIDVALIDITY", 0) or 0)
        yield Folder(client=client, uidvalidity=uidvalidity)
    finally:
        try:
            client.logout()
        except (OSError, IMAPClientError, imaplib.IMAP4.error):
            pass


def _words(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return gettext("超时")
    if isinstance(exc, ConnectionRefusedError):
        return gettext("连接被拒绝")
    if isinstance(exc, socket.gaierror):
        return gettext("域名无法解析")
    if isinstance(exc, ssl.SSLError):
        return gettext("TLS 握手失败")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return gettext("连接被服务器断开")
    # the mailbox page is read by finance, not by programmers: words, not an exception's class name (that is logged)
    logger.info("mailbox IMAP fault: %s: %s", type(exc).__name__, exc)
    return gettext("服务器应答异常")
