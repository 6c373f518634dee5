"""The mailbox world: a real IMAP server (dovecot, see ``tests/receiving/mailserver.py``), a web server standing in
for the invoice platforms the links in e-mails point to, and 浦江's mailbox on the IMAP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from receiving.mailbox import messages, services
from receiving.mailbox.models import Mailbox, Security
from tests.receiving.mailserver import Dovecot, start_dovecot, stop_dovecot

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
SENDER = "发票通知 <invoice@xihu.example.com>"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    stop_dovecot(server)


@pytest.fixture
def imap_user(dovecot) -> str:
    return dovecot.new_user()


@pytest.fixture
def mailbox(pujiang, dovecot, imap_user) -> Mailbox:
    return services.mailbox_create(taxpayer=pujiang, name="财务收票", host=dovecot.host, port=dovecot.port,
                                   security=Security.PLAIN, username=imap_user, password="secret", actor=None)


def mail(subject: str = "电子发票", *, text: str = "", html: str = "", attachments: tuple = (),
         message_id: str | None = None) -> bytes:
    return messages.compose(subject=subject, sender=SENDER, to="finance@pujiang.example.com", text=text, html=html,
                            attachments=attachments, message_id=message_id)


# --- the web --------------------------------------------------------------------------------------------------------


Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Web:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "files.example.com") -> str:
        return f"http://{host}:{self.port}{path}"

    def file(self, path: str, data: bytes, content_type: str = "application/octet-stream",
             filename: str = "") -> str:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            if filename:
                handler.send_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(filename)}")
            handler.end_headers()
            handler.wfile.write(data)

        self.routes[path] = route
        return path

    def slow(self, path: str, seconds: float) -> str:
        def route(handler: BaseHTTPRequestHandler) -> None:
            time.sleep(seconds)
            handler.send_response(200)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = route
        return path

    def page(self, path: str, html: str) -> str:
        return self.file(path, html.encode("utf-8"), "text/html; charset=utf-8")

    def status(self, path: str, code: int) -> str:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(code)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = route
        return path

    def redirect(self, path: str, to: str) -> str:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", to)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = route
        return path

    def endless(self, path: str, *, declare: int | None = None) -> str:
        """A download that would be ``declare`` bytes (said in Content-Length) or never ends (chunks until the
        client hangs up)."""
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/pdf")
            if declare is not None:
                handler.send_header("Content-Length", str(declare))
            handler.end_headers()
            chunk = b"%PDF-1.7\n" + b"0" * (1024 * 1024)
            try:
                for _ in range(400):
                    handler.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

        self.routes[path] = route
        return path


@pytest.fixture
def web(monkeypatch, settings) -> Iterator[Web]:
    """A web server on 127.0.0.1 that every host name resolves to in this test (the platforms' names included); the
    address rule is lifted for it (``RECEIVING_LINK_ALLOW_PRIVATE_HOSTS``) except where a test turns it back on."""
    state = Web(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            state.hits.append(self.path)
            route = state.routes.get(self.path.split("#")[0])
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route(self)

        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.hits.append("POST " + self.path)
            route = state.routes.get("POST " + self.path.split("?")[0])
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if isinstance(host, str) and not host.replace(".", "").isdigit() and host != "localhost":
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings.RECEIVING_LINK_ALLOW_PRIVATE_HOSTS = True
    settings.RECEIVING_LINK_TIMEOUT = 10
    yield state
    server.shutdown()
    server.server_close()


def recorded_page(name: str, port: int) -> str:
    """A provider's page as recorded (tests/fixtures/mail/), its absolute links pointed at the test web server."""
    return (PAGES / name).read_text(encoding="utf-8").replace("{PORT}", str(port))
