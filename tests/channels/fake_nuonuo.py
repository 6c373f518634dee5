"""A fake Nuonuo open platform: a small WSGI app served over real HTTP on 127.0.0.1, for the channel tests.

It checks what the real gateway checks before anything else (the app key, the ``X-Nuonuo-Sign`` signature over the
published signing string, the access token and the ``userTax`` header), hands out access tokens with the
client-credentials grant (and counts them), and answers the 诺税通 SaaS methods the client uses in the published
shapes (``code`` / ``describe`` / ``result``; the red-form query's ``total`` / ``list``), with the platform's rules
that the contract suite exercises: unique order numbers (E9106), 专票 needing the buyer's tax id, line and total
arithmetic, the monthly credit line, red-letter forms through 01–09 on the fake's clock (72 hours), one open form per
blue invoice, partial red only after the buyer has used the invoice, red invoices issued by the platform for
electronic invoices and by hand for paper ones, and voids of paper invoices in their month.

Fault injection mirrors the sandbox's: a per-call queue (``force``) and a seeded profile (``faults``) with error,
timeout_before, timeout_after, duplicate, session and rate_limit, plus latency. A time-out is a real one: the fake
holds the answer longer than the client's read time-out (processing first for ``timeout_after``).

Business refusals all carry ``REFUSED`` (an arbitrary E-code of the fake's: the published documents give no code per
rule) and a Chinese ``describe``; the codes the client maps (E9106, E9500, the gateway's 0703xx / 070601) are the
published ones.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo

from invoicing.channels import nuonuo_protocol as proto

CN = ZoneInfo("Asia/Shanghai")
REFUSED = "E9200"
TOKEN_INVALID = "070304"
FAULT_KINDS = ("error", "timeout_before", "timeout_after", "duplicate", "session", "rate_limit")
LINE_TOLERANCE = Decimal("0.06")
TEXT_KIND = {"bs": "电子发票(增值税专用发票)", "pc": "电子发票(普通发票)", "es": "数电纸质发票(增值税专用发票)",
             "ec": "数电纸质发票(普通发票)"}


class Refusal(Exception):  # noqa: N818
    def __init__(self, describe: str, code: str = REFUSED) -> None:
        super().__init__(describe)
        self.code = code
        self.describe = describe


@dataclass
class App:
    app_key: str
    secret: str
    tax_no: str
    name: str
    credit_total: Decimal = Decimal("1000000.00")
    credit_used: Decimal = Decimal("0.00")
    credit_known: bool = True


@dataclass
class Line:
    index: int
    name: str
    code: str
    spec: str
    unit: str
    num: Decimal | None
    price: Decimal | None
    rate: Decimal
    amount: Decimal
    tax: Decimal
    prop: str = "0"


@dataclass
class Invoice:
    serial: str  # Nuonuo's invoiceSerialNum
    order_no: str
    tax_no: str
    seller_name: str
    line: str  # bs / pc / es / ec
    number: str
    paper_code: str
    paper_number: str
    buyer_name: str
    buyer_tax_no: str
    lines: list[Line]
    created: datetime
    ready_at: datetime
    is_red: bool = False
    blue_number: str = ""
    callback_url: str = ""
    status: str = "20"
    fail_cause: str = ""
    seal_fails: bool = False
    red_total: Decimal = Decimal("0.00")  # of a blue invoice: its red invoices' amounts (negative)
    red_by_line: dict[int, Decimal] = field(default_factory=dict)
    booked: bool = False
    voided: bool = False

    @property
    def amount(self) -> Decimal:
        return sum((x.amount for x in self.lines), Decimal("0.00"))

    @property
    def tax(self) -> Decimal:
        return sum((x.tax for x in self.lines), Decimal("0.00"))


@dataclass
class Form:
    bill_id: str
    bill_no: str
    uuid: str
    status: str
    apply_source: str
    blue: Invoice
    reason: str
    lines: list[Line]
    created: datetime
    order_no: str = ""
    callback_url: str = ""
    red: Invoice | None = None
    confirmed: datetime | None = None

    @property
    def full(self) -> bool:
        return not self.lines


@dataclass
class Faults:
    enabled: bool = False
    error_rate: float = 0.0
    timeout_before_rate: float = 0.0
    timeout_after_rate: float = 0.0
    duplicate_reply_rate: float = 0.0
    rate_limit_rate: float = 0.0
    session_dropped: bool = False
    latency_ms: int = 0
    seed: int = 0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (time-out) before the answer: nothing to report


def _d(value: Any) -> Decimal | None:
    return proto.decimal_or_none(value)


def _money(value: Decimal) -> str:
    return proto.money(value)


class FakeNuonuo:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.release = threading.Event()
        self.hang_seconds = 2.5
        self.server: _Server | None = None
        self.base_url = ""
        self.first_sequence = 1  # numbers, serials and form numbers count from here (``start_numbers_at``)
        self.reset()

    # -- lifecycle

    def start(self) -> FakeNuonuo:
        self.server = make_server("127.0.0.1", 0, self.wsgi, server_class=_Server, handler_class=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-nuonuo").start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def api_url(self) -> str:
        return self.base_url + proto.SERVICES_PATH

    @property
    def token_url(self) -> str:
        return self.base_url + "/accessToken"

    def reset(self) -> None:
        self.release.set()  # let hung answers of an earlier test go
        with self.lock:
            self.release = threading.Event()
            self.apps: dict[str, App] = {}
            self.tokens: dict[str, tuple[str, datetime]] = {}
            self.token_fetches: dict[str, int] = {}
            self.token_cap = proto.TOKEN_FETCHES_PER_30_DAYS
            self.token_lifetime = proto.TOKEN_LIFETIME_SECONDS
            self.invoices: dict[tuple[str, str], Invoice] = {}
            self.by_number: dict[str, Invoice] = {}
            self.forms: list[Form] = []
            self.offset = timedelta(0)
            self.issue_delay = timedelta(0)
            self.seal_fail_next = False
            self.fail_next = ""  # the next accepted order ends 开票失败 (22) with this cause
            self.reseal_limited = False
            self.faults = Faults()
            self.draws = 0
            self.faulted_calls = 0
            self.forced: list[set[str]] = []
            self.calls: list[dict[str, Any]] = []
            self.callbacks: list[tuple[str, dict[str, str]]] = []
            self.deliveries: list[dict[str, Any]] = []
            self.downloads = 0
            self.file_generation = 1
            self.fault_log: list[str] = []
            self._seq = itertools.count(self.first_sequence)

    def start_numbers_at(self, first: int) -> None:
        """Count invoice numbers (and serials) from ``first``: a database that keeps invoices of earlier runs (a soak
        run again, the sandbox's own numbers) never sees a number twice."""
        with self.lock:
            self.first_sequence = first
            self._seq = itertools.count(first)

    # -- world

    def add_app(self, *, app_key: str, secret: str, tax_no: str, name: str) -> App:
        with self.lock:
            app = App(app_key=app_key, secret=secret, tax_no=tax_no, name=name)
            self.apps[app_key] = app
            return app

    def app_for(self, tax_no: str) -> App:
        return next(a for a in self.apps.values() if a.tax_no == tax_no)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        with self.lock:
            self.offset += timedelta(**delta)
            self._tick()

    def force(self, *kinds: str) -> None:
        """The next API call gets these faults (one call per argument list)."""
        with self.lock:
            self.forced.append(set(kinds))

    def mark_booked(self, number: str) -> None:
        with self.lock:
            self.by_number[number].booked = True

    def count(self, tax_no: str, order_no: str) -> int:
        with self.lock:
            return sum(1 for key in self.invoices if key == (tax_no, order_no))

    def invoice_of(self, tax_no: str, order_no: str) -> Invoice | None:
        with self.lock:
            return self.invoices.get((tax_no, order_no))

    def rotate_file_urls(self) -> None:
        with self.lock:
            self.file_generation += 1

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == method]

    # -- HTTP

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if method == "POST" and path == proto.SERVICES_PATH:
            status, payload = self._services(environ, body)
        elif method == "POST" and path == "/accessToken":
            status, payload = self._token(body)
        elif method == "GET" and path.startswith("/files/"):
            return self._file(path, environ, start_response)
        else:
            status, payload = 404, {"code": "404", "describe": "not found"}
        if isinstance(payload, bytes):
            start_response(f"{status} X", [("Content-Type", "text/html")])
            return [payload]
        data = json.dumps(payload, ensure_ascii=False).encode()
        start_response(f"{status} X", [("Content-Type", "application/json; charset=utf-8")])
        return [data]

    def _hang(self) -> None:
        self.release.wait(self.hang_seconds)

    def _token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        with self.lock:
            app = self.apps.get(form.get("client_id", ""))
            if form.get("grant_type") != "client_credentials":
                return 200, {"error": "unsupported_grant_type", "error_description": "grant_type"}
            if app is None or form.get("client_secret") != app.secret:
                return 200, {"error": proto.APP_KEY_INVALID, "error_description": "获取app密钥失败或appkey无效"}
            fetched = self.token_fetches.get(app.app_key, 0)
            if fetched >= self.token_cap:
                return 200, {"error": proto.TOKEN_CAP_REACHED, "error_description": "获取token次数已达上限"}
            self.token_fetches[app.app_key] = fetched + 1
            token = uuid.uuid4().hex
            self.tokens[token] = (app.app_key, datetime.now(UTC) + timedelta(seconds=self.token_lifetime))
            return 200, {"access_token": token, "expires_in": self.token_lifetime}

    def expire_tokens(self) -> None:
        """Every token handed out so far is refused from now on (as if their 24 hours had passed)."""
        with self.lock:
            self.tokens = {t: (app, datetime.now(UTC) - timedelta(seconds=1)) for t, (app, _) in self.tokens.items()}

    def _decide(self) -> tuple[set[str], int]:
        with self.lock:
            kinds = self.forced.pop(0) if self.forced else set()
            latency = 0
            f = self.faults
            if f.enabled:
                latency = f.latency_ms
                if f.session_dropped:
                    kinds.add("session")
                self.draws += 1
                rng = random.Random(f"{f.seed}:{self.draws}")
                drawn = {kind for kind, rate in (
                    ("error", f.error_rate), ("timeout_before", f.timeout_before_rate),
                    ("timeout_after", f.timeout_after_rate), ("duplicate", f.duplicate_reply_rate),
                    ("rate_limit", f.rate_limit_rate)) if rng.random() < rate}
                kinds |= drawn
                self.faulted_calls += bool(drawn)  # calls with a drawn fault (a dropped session is counted apart)
            self.fault_log.extend(sorted(kinds))
            return kinds, latency

    def _services(self, environ: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any] | bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        headers = {
            "sign": environ.get("HTTP_X_NUONUO_SIGN", ""),
            "token": environ.get("HTTP_ACCESSTOKEN", ""),
            "user_tax": environ.get("HTTP_USERTAX", ""),
            "method": environ.get("HTTP_METHOD", ""),
        }
        text = body.decode("utf-8")
        with self.lock:
            self.calls.append({"method": headers["method"], "params": query, "headers": headers, "body": text})
            checked = self._gateway(query, headers, text)
        if checked is not None:
            return 200, checked
        kinds, latency = self._decide()
        if latency:
            time.sleep(latency / 1000)
        if "timeout_before" in kinds:
            self._hang()
            return 504, b"gateway time-out"
        if "rate_limit" in kinds:
            return 429, {"code": "429", "describe": "请求过于频繁"}
        if "error" in kinds:
            return 500, b"<html>internal error</html>"
        if "session" in kinds:
            return 200, {"code": TOKEN_INVALID, "describe": "accessToken无效或已过期"}
        app = self.apps[query["appkey"]]
        try:
            payload = json.loads(text)
            with self.lock:
                self._tick()
                answer = self._dispatch(headers["method"], app, payload, duplicate_reply="duplicate" in kinds)
        except Refusal as exc:
            answer = {"code": exc.code, "describe": exc.describe, "result": None}
        if "timeout_after" in kinds:
            self._hang()
        return 200, answer

    def _gateway(self, query: dict[str, str], headers: dict[str, str], text: str) -> dict[str, Any] | None:
        """The gateway's checks, in its order; None when the call may go on."""
        app = self.apps.get(query.get("appkey", ""))
        if app is None:
            return {"code": proto.APP_KEY_INVALID, "describe": "获取app密钥失败或appkey无效"}
        senid, nonce, timestamp = query.get("senid", ""), query.get("nonce", ""), query.get("timestamp", "")
        if len(senid) != 32 or not senid.isalnum() or len(nonce) != 8 or not nonce.isdigit() or not timestamp:
            return {"code": proto.SIGNATURE_MISMATCH, "describe": "公共参数不正确"}
        if not proto.signature_matches(app_secret=app.secret, app_key=app.app_key, senid=senid, nonce=nonce,
                                       timestamp=timestamp, body=text, signature=headers["sign"]):
            return {"code": proto.SIGNATURE_MISMATCH, "describe": "签名不匹配"}
        token = self.tokens.get(headers["token"])
        if token is None or token[0] != app.app_key or token[1] <= datetime.now(UTC):
            return {"code": TOKEN_INVALID, "describe": "accessToken无效或已过期"}
        if headers["user_tax"] and headers["user_tax"] != app.tax_no:
            return {"code": "070305", "describe": "userTax与授权商户不符"}
        return None

    def _file(self, path: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        name = path.rsplit("/", 1)[-1]
        number, _, fmt = name.partition(".")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        with self.lock:
            invoice = self.by_number.get(number)
            current = query.get("v", [""])[0] == str(self.file_generation)
            self.downloads += 1
        if invoice is None or not current or fmt not in ("pdf", "ofd", "xml"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"expired"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [self.file_bytes(invoice.number, fmt)]

    @staticmethod
    def file_bytes(number: str, fmt: str) -> bytes:
        if fmt == "pdf":
            return f"%PDF-1.7\n% fake invoice {number}\n%%EOF\n".encode()
        if fmt == "ofd":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as z:
                z.writestr("OFD.xml", f"<ofd:OFD><DocID>{number}</DocID></ofd:OFD>")
            return buffer.getvalue()
        return f"<EInvoice><InvoiceNumber>{number}</InvoiceNumber></EInvoice>".encode()

    # -- the platform

    def _next(self, digits: int) -> str:
        return f"{next(self._seq):0{digits}d}"

    def _tick(self) -> None:
        now = self.now()
        for invoice in self.invoices.values():
            if invoice.status == "20" and invoice.ready_at <= now:
                if invoice.fail_cause:
                    invoice.status = proto.STATUS_FAILED
                    continue
                invoice.status = "24" if invoice.seal_fails else proto.STATUS_ISSUED
                if invoice.status == proto.STATUS_ISSUED:
                    self._callback(invoice)
        for form in self.forms:
            if form.status in ("02", "03") and now - form.created >= timedelta(hours=72):
                form.status = "07"

    def _callback(self, invoice: Invoice) -> None:
        if not invoice.callback_url:
            return
        content = {"c_orderno": invoice.order_no, "c_fpqqlsh": invoice.serial, "c_status": "1",
                   "c_fphm": invoice.number, "c_kprq": int(invoice.created.timestamp() * 1000),
                   "c_jshj": _money(invoice.amount + invoice.tax)}
        self.callbacks.append((invoice.callback_url, {
            "operater": "callback", "orderno": invoice.order_no, "content": json.dumps(content, ensure_ascii=False),
        }))

    def _dispatch(self, method: str, app: App, payload: dict[str, Any], *, duplicate_reply: bool) -> dict[str, Any]:
        handlers = {
            proto.M_ISSUE: lambda: self._issue(app, payload, duplicate_reply=duplicate_reply),
            proto.M_QUERY: lambda: self._query(app, payload),
            proto.M_REISSUE: lambda: self._reissue(app, payload),
            proto.M_VOID: lambda: self._void(app, payload),
            proto.M_DELIVER: lambda: self._deliver(app, payload),
            proto.M_CREDIT_LINE: lambda: self._credit(app, payload),
            proto.M_RED_APPLY: lambda: self._red_apply(app, payload),
            proto.M_RED_QUERY: lambda: self._red_query(app, payload),
            proto.M_RED_CONFIRM: lambda: self._red_confirm(app, payload),
            proto.M_RED_REVOKE: lambda: self._red_revoke(app, payload),
            proto.M_RED_DOWNLOAD: lambda: {"code": "E0000", "describe": "成功", "result": None},
        }
        handler = handlers.get(method)
        if handler is None:
            raise Refusal(f"未知的方法 {method}", code="070201")
        return handler()

    # issuing

    def _lines(self, details: Any) -> list[Line]:
        if not isinstance(details, list) or not details:
            raise Refusal("发票明细不能为空")
        lines = []
        for i, x in enumerate(details, start=1):
            code = str(x.get("goodsCode") or "")
            if len(code) != 19 or not code.isdigit():
                raise Refusal(f"第{i}行商品编码须为19位数字")
            rate, amount, tax = _d(x.get("taxRate")), _d(x.get("taxExcludedAmount")), _d(x.get("tax"))
            if rate is None or amount is None or tax is None:
                raise Refusal(f"第{i}行税率、金额、税额不能为空")
            if abs(amount * rate - tax) > LINE_TOLERANCE:
                raise Refusal(f"第{i}行税额与金额×税率相差超过0.06")
            included = _d(x.get("taxIncludedAmount"))
            if included is not None and included != amount + tax:
                raise Refusal(f"第{i}行含税金额不等于金额加税额")
            lines.append(Line(i, str(x.get("goodsName") or ""), code, str(x.get("specType") or ""),
                              str(x.get("unit") or ""), _d(x.get("num")), _d(x.get("price")), rate, amount, tax,
                              str(x.get("invoiceLineProperty") or "0")))
        return lines

    def _new_invoice(self, app: App, *, order_no: str, line: str, buyer_name: str, buyer_tax_no: str,
                     lines: list[Line], is_red: bool = False, blue_number: str = "", callback_url: str = "",
                     ready_now: bool = False) -> Invoice:
        now = self.now()
        seq = self._next(8)
        number = f"{now:%y}44{'0' if line in proto.PAPER_LINES else '2'}{int(seq):015d}"
        paper = line in proto.PAPER_LINES
        invoice = Invoice(
            serial=f"{now:%y%m%d%H%M%S}{int(seq):08d}", order_no=order_no, tax_no=app.tax_no,
            seller_name=app.name, line=line, number=number,
            paper_code=f"0440{int(seq):08d}" if paper else "", paper_number=f"{int(seq):08d}" if paper else "",
            buyer_name=buyer_name, buyer_tax_no=buyer_tax_no, lines=lines, created=now,
            ready_at=now if ready_now else now + self.issue_delay, is_red=is_red, blue_number=blue_number,
            callback_url=callback_url, seal_fails=self.seal_fail_next and not ready_now,
            fail_cause="" if ready_now else self.fail_next,
        )
        self.seal_fail_next = False
        if not ready_now:
            self.fail_next = ""
        self.invoices[(app.tax_no, order_no)] = invoice
        self.by_number[number] = invoice
        self._tick()
        return invoice

    def _issue(self, app: App, payload: dict[str, Any], *, duplicate_reply: bool) -> dict[str, Any]:
        order = payload.get("order")
        if not isinstance(order, dict):
            raise Refusal("order不能为空")
        order_no = str(order.get("orderNo") or "")
        if not order_no:
            raise Refusal("订单号不能为空")
        if str(order.get("salerTaxNum") or "") != app.tax_no:
            raise Refusal("销方税号与授权商户不符")
        if (app.tax_no, order_no) in self.invoices:
            raise Refusal("订单编号或流水号不能重复", code=proto.DUPLICATE_ORDER)
        line = str(order.get("invoiceLine") or "")
        if line not in proto.KINDS:
            raise Refusal(f"不支持的发票种类 {line}")
        buyer_tax = str(order.get("buyerTaxNum") or "")
        if line in ("bs", "es") and not buyer_tax:
            raise Refusal("开具专用发票时购方税号不能为空")
        lines = self._lines(order.get("invoiceDetail"))
        red = str(order.get("invoiceType") or "1") == "2"
        blue_number = ""
        form: Form | None = None
        if red:
            form = next((f for f in self.forms if f.bill_no == str(order.get("billInfoNo") or "")), None)
            if form is None or form.status not in ("01", "04") or form.red is not None:
                raise Refusal("红字确认单不存在或状态不允许开具红票")
            if form.blue.line not in proto.PAPER_LINES:
                raise Refusal("数电电票请通过红字确认单开具红票")
            blue_number = form.blue.number
            if any(x.amount > 0 for x in lines):
                raise Refusal("红票金额须为负数")
        else:
            amount = sum((x.amount for x in lines), Decimal("0.00"))
            if app.credit_used + amount > app.credit_total:
                raise Refusal("可用授信额度不足")
            app.credit_used += amount
        invoice = self._new_invoice(app, order_no=order_no, line=line, buyer_name=str(order.get("buyerName") or ""),
                                    buyer_tax_no=buyer_tax, lines=lines, is_red=red, blue_number=blue_number,
                                    callback_url=str(order.get("callBackUrl") or ""))
        if form is not None:
            self._apply_red(form, invoice)
        if duplicate_reply:
            raise Refusal("订单编号或流水号不能重复", code=proto.DUPLICATE_ORDER)
        return {"code": "E0000", "describe": "开票提交成功", "result": {"invoiceSerialNum": invoice.serial}}

    def _entry(self, invoice: Invoice, *, details: bool) -> dict[str, Any]:
        issued = invoice.status in (proto.STATUS_ISSUED, proto.STATUS_VOIDED, proto.STATUS_VOIDING, "24")
        v = self.file_generation
        entry: dict[str, Any] = {
            "serialNo": invoice.serial, "orderNo": invoice.order_no, "status": invoice.status,
            "statusMsg": {"2": "开票完成（最终状态）", "20": "开票中", "22": "开票失败", "24": "开票成功签章失败",
                          "3": "发票已作废", "31": "发票作废中"}.get(invoice.status, ""),
            "failCause": invoice.fail_cause,
            "invoiceTime": int(invoice.created.timestamp() * 1000) if issued else None,
            "invoiceCode": invoice.paper_code,
            "invoiceNo": (invoice.paper_number or invoice.number) if issued else "",
            "allElectronicInvoiceNumber": invoice.number if issued else "",
            "exTaxAmount": _money(invoice.amount), "taxAmount": _money(invoice.tax),
            "orderAmount": _money(invoice.amount + invoice.tax),
            "payerName": invoice.buyer_name, "payerTaxNo": invoice.buyer_tax_no,
            "saleName": invoice.seller_name, "salerTaxNum": invoice.tax_no,
            "invoiceKind": TEXT_KIND[invoice.line], "invoiceType": 2 if invoice.is_red else 1,
            "oldEleInvoiceNumber": invoice.blue_number,
            "pdfUrl": f"{self.base_url}/files/{invoice.number}.pdf?v={v}" if issued else "",
            "ofdUrl": f"{self.base_url}/files/{invoice.number}.ofd?v={v}" if issued else "",
            "xmlUrl": f"{self.base_url}/files/{invoice.number}.xml?v={v}"
            if issued and invoice.line not in proto.PAPER_LINES else "",
        }
        if details:
            entry["invoiceItems"] = [
                {"itemName": x.name, "itemUnit": x.unit, "itemPrice": str(x.price) if x.price is not None else "",
                 "itemTaxRate": str(x.rate), "itemNum": str(x.num) if x.num is not None else "",
                 "itemAmount": _money(x.amount), "itemTaxAmount": _money(x.tax), "itemSpec": x.spec,
                 "itemCode": x.code, "isIncludeTax": "false", "invoiceLineProperty": x.prop, "zeroRateFlag": "",
                 "favouredPolicyName": "", "favouredPolicyFlag": "0"}
                for x in invoice.lines
            ]
        return entry

    def _query(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        order_nos = payload.get("orderNos") or []
        serial_nos = payload.get("serialNos") or []
        if not (1 <= len(order_nos) + len(serial_nos) <= 50):
            raise Refusal("订单号与流水号须有1至50个")
        found = [i for i in self.invoices.values() if i.tax_no == app.tax_no
                 and (i.order_no in order_nos or i.serial in serial_nos)]
        if not found:
            raise Refusal("未查询到发票信息", code=proto.NOT_FOUND)
        details = str(payload.get("isOfferInvoiceDetail") or "0") == "1"
        return {"code": "E0000", "describe": "获取成功", "result": [self._entry(i, details=details) for i in found]}

    def _reissue(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        invoice = next((i for i in self.invoices.values() if i.serial == payload.get("fpqqlsh")
                        and i.tax_no == app.tax_no), None)
        if invoice is None:
            raise Refusal("未查询到发票信息", code=proto.NOT_FOUND)
        if self.reseal_limited:
            raise Refusal("同一流水号单日最多重试20次", code=proto.RETRY_LIMIT)
        if invoice.status == "24":
            invoice.status = proto.STATUS_ISSUED
            invoice.seal_fails = False
            self._callback(invoice)
        return {"code": "E0000", "describe": "请求成功", "result": None}

    def _void(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        invoice = next((i for i in self.invoices.values() if i.serial == payload.get("invoiceId")
                        and i.tax_no == app.tax_no), None)
        if invoice is None or str(payload.get("invoiceNo") or "") not in (invoice.paper_number, invoice.number):
            raise Refusal("未查询到发票信息", code=proto.NOT_FOUND)
        if invoice.line not in proto.PAPER_LINES:
            raise Refusal("数电电票不能作废，请开具红字发票")
        if invoice.status != proto.STATUS_ISSUED or invoice.red_total:
            raise Refusal("发票状态不允许作废")
        if f"{invoice.created.astimezone(CN):%Y%m}" != f"{self.now().astimezone(CN):%Y%m}":
            raise Refusal("只能作废当月开具的发票")
        invoice.status = proto.STATUS_VOIDED
        return {"code": "E0000", "describe": "请求成功", "result": {"invoiceId": invoice.serial}}

    def _deliver(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("taxnum") != app.tax_no or payload.get("invoiceNum") not in self.by_number:
            raise Refusal("未查询到发票信息", code=proto.NOT_FOUND)
        if not payload.get("phone") and not payload.get("mail"):
            raise Refusal("交付手机和邮箱不能同时为空")
        self.deliveries.append(dict(payload))
        return {"code": "E0000", "describe": "请求成功", "result": None}

    def _credit(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        if str(payload.get("queryType")) == "0":
            app.credit_known = True
            return {"code": "E0000", "describe": "请求成功", "result": None}
        if not app.credit_known:
            return {"code": "E0000", "describe": "获取成功", "result": {"requestStatus": "0"}}
        return {"code": "E0000", "describe": "获取成功", "result": {
            "requestStatus": "1", "totalCreditLine": _money(app.credit_total), "usedCreditLine": _money(app.credit_used),
            "availableCreditLine": _money(app.credit_total - app.credit_used),
            "amountUpdateTime": f"{self.now().astimezone(CN):%Y-%m-%d %H:%M:%S}",
        }}

    # red-letter forms

    def _open_form(self, blue: Invoice) -> Form | None:
        return next((f for f in self.forms if f.blue is blue and (f.status in ("02", "03", "15")
                                                                  or (f.status in ("01", "04") and f.red is None))),
                    None)

    def enter_form(self, app: App, *, blue: Invoice, apply_source: str, reason: str, lines: list[Line],
                   bill_id: str = "", order_no: str = "", callback_url: str = "") -> Form:
        if blue.is_red or blue.voided or blue.status not in (proto.STATUS_ISSUED,):
            raise Refusal("蓝字发票状态不允许红冲")
        if self._open_form(blue) is not None:
            raise Refusal("该蓝字发票已有未完成的红字确认单")
        if reason not in proto.RED_REASONS_BACK:
            raise Refusal("冲红原因不正确")
        if reason == "2" and lines:
            raise Refusal("开票有误只能全额冲红")
        if lines and not blue.booked:
            raise Refusal("蓝字发票未经购方用途确认或入账，只能全额冲红")
        blue_lines = {x.index: x for x in blue.lines}
        for x in lines:
            source = blue_lines.get(x.index)
            if source is None:
                raise Refusal(f"蓝票没有第{x.index}行")
            left = source.amount + blue.red_by_line.get(x.index, Decimal("0"))
            if -x.amount > left:
                raise Refusal(f"第{x.index}行冲红金额超过剩余可冲红金额")
        if blue.red_total and not lines:
            raise Refusal("蓝字发票已部分红冲，不能全额红冲")
        if apply_source == proto.IDENTITY_SELLER:
            status = "02" if blue.booked else "01"
        else:
            status = "03"
        now = self.now()
        form = Form(bill_id=bill_id or f"B{self._next(12)}", bill_no=f"{now:%y}44{self._next(16)}",
                    uuid=uuid.uuid4().hex, status=status, apply_source=apply_source, blue=blue, reason=reason,
                    lines=lines, created=now, order_no=order_no, callback_url=callback_url)
        self.forms.append(form)
        if status == "01":
            self._auto_red(form)
        return form

    def _red_apply(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        bill_id = str(payload.get("billId") or "")
        if bill_id and any(f.bill_id == bill_id for f in self.forms):
            raise Refusal("红字确认单申请号已存在")
        source = str(payload.get("applySource") or "")
        number = str(payload.get("blueElecInvoiceNumber") or payload.get("blueInvoiceNumber") or "")
        blue = self.by_number.get(number)
        if blue is None:
            raise Refusal("未查询到蓝字发票")
        ours = app.tax_no == (blue.tax_no if source == proto.IDENTITY_SELLER else blue.buyer_tax_no)
        if source not in (proto.IDENTITY_SELLER, proto.IDENTITY_BUYER) or not ours:
            raise Refusal("申请方身份与蓝字发票不符")
        if str(payload.get("sellerTaxNo") or "") != blue.tax_no or not payload.get("buyerName"):
            raise Refusal("销方税号或购方名称不正确")
        if payload.get("blueInvoiceLine") != blue.line:
            raise Refusal("蓝票发票种类不正确")
        lines = []
        for x in payload.get("detail") or []:
            if not x.get("goodsName") or not x.get("goodsCode") or x.get("taxRate") in (None, ""):
                raise Refusal("明细的商品名称、商品编码、税率不能为空")
            lines.append(Line(int(x["blueDetailIndex"]), x["goodsName"], x["goodsCode"], x.get("specType") or "",
                              x.get("unit") or "", _d(x.get("num")), _d(x.get("taxExcludedPrice")),
                              Decimal(str(x["taxRate"])), Decimal(str(x["taxExcludedAmount"])),
                              Decimal(str(x["taxAmount"]))))
        form = self.enter_form(app, blue=blue, apply_source=source, reason=str(payload.get("redReason") or ""),
                               lines=lines, bill_id=bill_id, order_no=str(payload.get("orderNo") or ""),
                               callback_url=str(payload.get("callbackUrl") or ""))
        return {"code": "E0000", "describe": "成功", "result": form.bill_id}

    def _red_lines(self, form: Form) -> list[Line]:
        if form.lines:
            return form.lines
        blue = form.blue
        return [Line(x.index, x.name, x.code, x.spec, x.unit, -x.num if x.num is not None else None, x.price,
                     x.rate, -x.amount, -x.tax, x.prop) for x in blue.lines]

    def _auto_red(self, form: Form) -> None:
        """Electronic blue: the platform issues the red invoice as soon as the form is effective (01 / 04)."""
        if form.blue.line in proto.PAPER_LINES or form.red is not None:
            return
        app = self.app_for(form.blue.tax_no)
        red = self._new_invoice(app, order_no=form.order_no or f"R{form.bill_no}", line=form.blue.line,
                                buyer_name=form.blue.buyer_name, buyer_tax_no=form.blue.buyer_tax_no,
                                lines=self._red_lines(form), is_red=True, blue_number=form.blue.number,
                                callback_url=form.callback_url, ready_now=True)
        self._apply_red(form, red)

    def _apply_red(self, form: Form, red: Invoice) -> None:
        form.red = red
        blue = form.blue
        for x in red.lines:
            blue.red_by_line[x.index] = blue.red_by_line.get(x.index, Decimal("0")) + x.amount
        blue.red_total += red.amount + red.tax

    def _form_entry(self, form: Form) -> dict[str, Any]:
        amount, tax = (sum((x.amount for x in self._red_lines(form)), Decimal("0.00")),
                       sum((x.tax for x in self._red_lines(form)), Decimal("0.00")))
        entry: dict[str, Any] = {
            "billNo": form.bill_no, "billUuid": form.uuid, "billId": form.bill_id, "billStatus": form.status,
            "billMessage": "", "requestStatus": "", "openStatus": "1" if form.red else "0",
            "applySource": form.apply_source, "blueInvoiceLine": form.blue.line,
            "blueInvoiceNumber": form.blue.number,
            "blueInvoiceTime": f"{form.blue.created.astimezone(CN):%Y-%m-%d %H:%M:%S}",
            "billTime": f"{form.created.astimezone(CN):%Y-%m-%d %H:%M:%S}",
            "confirmTime": f"{form.confirmed.astimezone(CN):%Y-%m-%d %H:%M:%S}" if form.confirmed else "",
            "sellerTaxNo": form.blue.tax_no, "sellerName": form.blue.seller_name,
            "buyerTaxNo": form.blue.buyer_tax_no, "buyerName": form.blue.buyer_name,
            "taxExcludedAmount": _money(amount), "taxAmount": _money(tax), "redReason": form.reason,
            "detail": [
                {"blueDetailIndex": str(x.index), "goodsName": x.name, "unit": x.unit, "specType": x.spec,
                 "num": str(x.num) if x.num is not None else "", "taxExcludedPrice": str(x.price or ""),
                 "taxExcludedAmount": _money(x.amount), "taxAmount": _money(x.tax), "taxRate": str(x.rate),
                 "goodsCode": x.code, "favouredPolicyFlag": ""}
                for x in form.lines
            ],
        }
        if form.red is not None:
            entry["invoiceSerialNum"] = form.red.serial
            entry["orderNo"] = form.red.order_no
        return entry

    def _find_forms(self, app: App, payload: dict[str, Any]) -> list[Form]:
        identity = str(payload.get("identity") or "")
        if identity not in (proto.IDENTITY_SELLER, proto.IDENTITY_BUYER):
            raise Refusal("操作方身份不正确")
        forms = [f for f in self.forms
                 if (f.blue.tax_no if identity == proto.IDENTITY_SELLER else f.blue.buyer_tax_no) == app.tax_no]
        for key, attr in (("billUuid", "uuid"), ("billId", "bill_id"), ("billNo", "bill_no"),
                          ("billStatus", "status")):
            wanted = str(payload.get(key) or "")
            if wanted:
                forms = [f for f in forms if getattr(f, attr) == wanted]
        start, end = str(payload.get("billTimeStart") or ""), str(payload.get("billTimeEnd") or "")
        if start and end:
            forms = [f for f in forms if start <= f"{f.created.astimezone(CN):%Y-%m-%d}" <= end]
        elif not any(payload.get(k) for k in ("billUuid", "billId", "billNo")):
            raise Refusal("未传确认单号时填开起止时间不能为空")
        return forms

    def _red_query(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        forms = self._find_forms(app, payload)
        size = min(int(payload.get("pageSize") or 10), 50)
        page = max(int(payload.get("pageNo") or 1), 1)
        chunk = forms[(page - 1) * size: page * size]
        return {"code": "E0000", "describe": "查询成功", "total": len(forms),
                "list": [self._form_entry(f) for f in chunk]}

    def _one_form(self, app: App, payload: dict[str, Any]) -> Form:
        forms = [f for f in self.forms if app.tax_no in (f.blue.tax_no, f.blue.buyer_tax_no)]
        for key, attr in (("billUuid", "uuid"), ("billId", "bill_id"), ("billNo", "bill_no")):
            if payload.get(key):
                found = [f for f in forms if getattr(f, attr) == payload[key]]
                if not found:
                    raise Refusal("未查询到红字确认单")
                return found[0]
        raise Refusal("确认单申请号、编号、uuid不能全为空")

    def _red_confirm(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        form = self._one_form(app, payload)
        identity = str(payload.get("identity") or "")
        waiting_for = {"02": (proto.IDENTITY_BUYER, form.blue.buyer_tax_no),
                       "03": (proto.IDENTITY_SELLER, form.blue.tax_no)}.get(form.status)
        if waiting_for is None or waiting_for != (identity, app.tax_no):
            raise Refusal("红字确认单状态或操作方身份不允许确认")
        agree = str(payload.get("confirmAgreement") or "") == "1"
        form.confirmed = self.now()
        if agree:
            form.status = "04"
            if payload.get("orderNo"):
                form.order_no = str(payload["orderNo"])
            self._auto_red(form)
        else:
            form.status = "05" if form.status == "02" else "06"
        return {"code": "E0000", "describe": "请求成功", "result": None}

    def _red_revoke(self, app: App, payload: dict[str, Any]) -> dict[str, Any]:
        form = self._one_form(app, payload)
        identity = str(payload.get("identity") or "")
        entered_by = form.blue.tax_no if form.apply_source == proto.IDENTITY_SELLER else form.blue.buyer_tax_no
        if identity != form.apply_source or entered_by != app.tax_no:
            raise Refusal("只有录入方可以撤销红字确认单")
        if form.status in ("01", "02", "03") and form.red is None:
            form.status = "08"
        elif form.status == "04" and form.red is None:
            form.status = "09"
        else:
            raise Refusal("红字确认单状态不允许撤销")
        return {"code": "E0000", "describe": "请求成功", "result": None}
