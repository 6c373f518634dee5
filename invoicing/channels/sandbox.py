"""The sandbox platform's client: signed JSON over HTTP, or in process through the very same views.

Only this module knows where the sandbox lives. ``HttpTransport`` posts to ``settings.SANDBOX_URL`` with connect and
read time-outs; ``InProcessTransport`` builds the request with ``RequestFactory`` and calls the resolved sandbox view,
so signing, faults and transactions behave the same. Business code cannot tell which one it has.

Mapping from the sandbox to the contract:
  HTTP 5xx, 504, connection errors and time-outs → ChannelUnavailable (kind server / timeout / network);
  429 / code 1009 → ChannelUnavailable(kind="rate_limited"); code 1005 → ChannelUnavailable(kind="session");
  code 2001 → ChannelDuplicate(serial); any other non-0000 code → ChannelRejected(code, message).
  Issue states: "2" 开票完成 → issued, "20" 开票中 → pending, "22" 开票失败 → failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.test import RequestFactory
from django.urls import Resolver404, resolve

from invoicing.channels.base import (
    BookingRequest,
    BookingResult,
    BuyerStatus,
    Capability,
    ChannelDuplicate,
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    DeductionItemResult,
    DeductionSelectRequest,
    DeductionSelectResult,
    DeductionStatistics,
    FileBundle,
    InboundInvoice,
    IssueLine,
    IssueRequest,
    IssueResult,
    Quota,
    ReceivedPage,
    RedForm,
    RedFormLine,
    RedFormRequest,
    TaxChannel,
    VerifyRequest,
    VerifyResult,
    VoidResult,
)
from invoicing.channels.log import call_outcome, record_call

if TYPE_CHECKING:
    from invoicing.models import Taxpayer

NOT_FOUND_CODE = "4004"  # the contract's "the platform never saw this serial" (base.py, query_issue)
SIGNATURE_CODES = frozenset({"1001", "1002", "1004"})  # answered with HTTP 401: the request was not authenticated

# operation -> path under SANDBOX_URL (mirrors sandbox/urls.py; the client must not import the sandbox)
PATHS = {
    "issue": "v1/issue/",
    "issue_query": "v1/issue/query/",
    "issued": "v1/issue/daily/",
    "red_form_apply": "v1/red-forms/apply/",
    "red_form_query": "v1/red-forms/query/",
    "red_form_confirm": "v1/red-forms/confirm/",
    "red_form_reject": "v1/red-forms/reject/",
    "red_form_revoke": "v1/red-forms/revoke/",
    "red_form_inbound": "v1/red-forms/inbound/",
    "void": "v1/invoices/void/",
    "quota": "v1/quota/",
    "files": "v1/invoices/files/",
    "verify": "v1/invoices/verify/",
    "received": "v1/invoices/received/",
    "received_book": "v1/invoices/received/book/",
    "deduction_select": "v1/deduction/select/",
    "deduction_statistics_apply": "v1/deduction/statistics/apply/",
    "deduction_statistics_undo": "v1/deduction/statistics/undo/",
    "deduction_confirm": "v1/deduction/confirm/",
    "deduction_confirm_undo": "v1/deduction/confirm/undo/",
    "deduction_statistics_query": "v1/deduction/statistics/query/",
}
ISSUE_STATES: dict[str, Literal["issued", "pending", "failed"]] = {"2": "issued", "20": "pending", "21": "pending", "22": "failed", "24": "failed"}
_CN = ZoneInfo("Asia/Shanghai")
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, f"{timestamp}\\n{nonce}\\n{body}")."""
    return hmac.new(secret.encode(), timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes


class Transport(Protocol):
    """How a signed request reaches the sandbox: ``HttpTransport`` or ``InProcessTransport``."""

    name: str

    def send(self, path: str, body: bytes, headers: dict[str, str]) -> RawResponse: ...


class HttpTransport:
    name = "http"

    def __init__(self, base_url: str | None = None, *, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.base_url = (base_url or settings.SANDBOX_URL).rstrip("/") + "/"
        self.timeout = (connect_timeout, read_timeout)

    def send(self, path: str, body: bytes, headers: dict[str, str]) -> RawResponse:
        try:
            response = requests.post(self.base_url + path, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise ChannelUnavailable(f"time-out: {exc.__class__.__name__}", kind="timeout") from exc
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"network error: {exc.__class__.__name__}", kind="network") from exc
        return RawResponse(response.status_code, response.content)


class InProcessTransport:
    """Runs the sandbox's own views in this process (tests, single-process demos)."""

    name = "inprocess"

    def send(self, path: str, body: bytes, headers: dict[str, str]) -> RawResponse:
        try:
            match = resolve("/" + path, urlconf="sandbox.urls")
        except Resolver404 as exc:
            raise ChannelUnavailable(f"no sandbox endpoint {path}", kind="server") from exc
        meta: dict[str, Any] = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k.lower() != "content-type"}
        request = RequestFactory().post("/sandbox/api/" + path, data=body, content_type="application/json", **meta)
        response = match.func(request, *match.args, **match.kwargs)
        return RawResponse(response.status_code, response.content)


def _transport(name: str | None) -> Transport:
    name = name or settings.TAX_CHANNEL_TRANSPORT
    if name == "http":
        return HttpTransport()
    if name == "inprocess":
        return InProcessTransport()
    raise ValueError(f"unknown channel transport {name!r}")


# --- conversions ---------------------------------------------------------------------------------------------------


def _d(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _line_out(line: IssueLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no, "item_name": line.item_name, "short_name": line.short_name, "spec": line.spec,
        "unit": line.unit, "quantity": line.quantity, "unit_price": line.unit_price, "amount": line.amount,
        "tax_rate": line.tax_rate, "tax": line.tax, "tax_code": line.tax_code, "line_property": line.line_property,
    }


def _line_in(data: dict[str, Any]) -> IssueLine:
    return IssueLine(
        line_no=int(data["line_no"]), item_name=data.get("item_name", ""), short_name=data.get("short_name", ""),
        spec=data.get("spec", ""), unit=data.get("unit", ""), quantity=_d(data.get("quantity")),
        unit_price=_d(data.get("unit_price")), amount=Decimal(data["amount"]), tax_rate=Decimal(data["tax_rate"]),
        tax=Decimal(data["tax"]), tax_code=data.get("tax_code", ""), line_property=int(data.get("line_property") or 0),
    )


def _issue_result(data: dict[str, Any]) -> IssueResult:
    status = ISSUE_STATES.get(str(data.get("issue_state")), "pending")
    return IssueResult(
        serial=data["serial"], status=status, invoice_number=data.get("number") or "",
        issued_at=_dt(data.get("issued_at")), kind=data.get("kind", ""),
        total_amount=_d(data.get("total_amount")), total_tax=_d(data.get("total_tax")),
        total_with_tax=_d(data.get("total_with_tax")),
        lines=tuple(_line_in(x) for x in data.get("lines") or ()),
        invoice_status=data.get("status", "") if status == "issued" else "",
        is_red=bool(data.get("is_red")), blue_number=data.get("blue_number", ""),
        red_form_no=data.get("red_form_no", ""), message=data.get("message", ""),
        buyer_status=_buyer_status(data.get("buyer_status")),
    )


def _buyer_status(data: Any) -> BuyerStatus | None:
    if not isinstance(data, dict):
        return None
    return BuyerStatus(booked=bool(data.get("booked")), usage=str(data.get("usage") or ""))


def _red_form(data: dict[str, Any]) -> RedForm:
    return RedForm(
        form_no=data["form_no"], uuid=data["uuid"], status=data["status"], initiator=data["initiator"],
        reason=data["reason"], blue_number=data["blue_number"], seller_credit_code=data["seller_credit_code"],
        buyer_credit_code=data.get("buyer_credit_code", ""), total_amount=Decimal(data["total_amount"]),
        total_tax=Decimal(data["total_tax"]), is_full=bool(data["is_full"]),
        lines=tuple(
            RedFormLine(
                blue_line_no=int(x["blue_line_no"]), item_name=x.get("item_name", ""), tax_code=x.get("tax_code", ""),
                quantity=_d(x.get("quantity")), unit_price=_d(x.get("unit_price")), amount=Decimal(x["amount"]),
                tax_rate=Decimal(x["tax_rate"]), tax=Decimal(x["tax"]),
            )
            for x in data.get("lines") or ()
        ),
        created_at=_dt(data["created_at"]), expires_at=_dt(data.get("expires_at")),  # type: ignore[arg-type]
        request_no=data.get("request_no", ""), red_invoice_number=data.get("red_invoice_number", ""),
        red_invoice_serial=data.get("red_invoice_serial", ""),
        red_issued_at=_dt(data.get("red_issued_at")),
    )


def _received(data: dict[str, Any]) -> InboundInvoice:
    issued = _dt(data.get("issued_at"))
    buyer = data.get("buyer") or {}
    return InboundInvoice(
        number=data.get("number", ""), kind=data.get("kind", ""),
        issue_date=issued.astimezone(_CN).date() if issued else date.min,
        seller_name=data.get("seller_name", ""), seller_tax_id=data.get("seller_credit_code", ""),
        buyer_name=buyer.get("name", ""), buyer_tax_id=buyer.get("tax_id", ""),
        total_amount=Decimal(data["total_amount"]), total_tax=Decimal(data["total_tax"]),
        total_with_tax=Decimal(data["total_with_tax"]), status=data.get("status", ""),
        is_red=bool(data.get("is_red")), blue_number=data.get("blue_number", ""),
        lines=tuple(_line_in(x) for x in data.get("lines") or ()),
        selected_period=data.get("selected_period", ""), purpose=data.get("purpose", ""),
        risk_level=data.get("risk_level", ""),
    )


def _statistics(data: dict[str, Any]) -> DeductionStatistics:
    return DeductionStatistics(
        period=data["period"], status=data["status"], count=int(data.get("count") or 0),
        amount=Decimal(data.get("amount") or "0.00"), tax=Decimal(data.get("tax") or "0.00"),
        not_deducted_count=int(data.get("not_deducted_count") or 0),
    )


# --- the client ----------------------------------------------------------------------------------------------------


class SandboxChannel(TaxChannel):
    code = "sandbox"
    capabilities = frozenset(Capability)

    def __init__(self, taxpayer: Taxpayer, *, transport: str | Transport | None = None, fault: str = "") -> None:
        self.taxpayer = taxpayer
        self.transport = _transport(transport) if transport is None or isinstance(transport, str) else transport
        self.fault = fault  # X-Sandbox-Fault for every call of this client (tests, demos)

    def with_fault(self, fault: str) -> SandboxChannel:
        """A copy of this client whose calls carry ``X-Sandbox-Fault: fault``."""
        clone = replace_client(self)
        clone.fault = fault
        return clone

    # -- plumbing

    def _headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json",
            "X-App-Key": self.taxpayer.channel_app_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": sign(self.taxpayer.channel_secret, timestamp, nonce, body),
        }
        if self.fault:
            headers["X-Sandbox-Fault"] = self.fault
        return headers

    def _call(self, operation: str, payload: dict[str, Any], *, serial: str = "") -> Any:
        body = json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
        started = time.monotonic()
        outcome, code, message, status, answer = "error", "", "", None, None
        try:
            raw = self.transport.send(PATHS[operation], body, self._headers(body))
            status = raw.status
            try:
                answer = json.loads(raw.body or b"{}")
            except ValueError:
                answer = {"raw": raw.body[:500].decode(errors="replace")}
            result = self._interpret(raw.status, answer)
            outcome, message = "ok", str(answer.get("message", ""))
            return result
        except ChannelError as exc:
            outcome, code, message = call_outcome(exc)
            raise
        except Exception as exc:
            outcome, message = "error", f"{exc.__class__.__name__}: {exc}"
            raise ChannelUnavailable(message, kind="server") from exc
        finally:
            record_call(
                taxpayer=self.taxpayer, channel=self.code, transport=getattr(self.transport, "name", ""),
                operation=operation, serial=serial, duration_ms=int((time.monotonic() - started) * 1000),
                outcome=outcome, http_status=status, error_code=code, message=message,
                request_body=json.loads(body), response_body=answer if isinstance(answer, dict) else {},
            )

    @staticmethod
    def _interpret(status: int, answer: Any) -> Any:
        if not isinstance(answer, dict):
            answer = {}
        code = str(answer.get("code", ""))
        message = str(answer.get("message", ""))
        if status == 429 or code == "1009":
            raise ChannelUnavailable(message or "rate limited", kind="rate_limited", code=code)
        if status == 504:
            raise ChannelUnavailable(message or "gateway time-out", kind="timeout", code=code)
        if status >= 500:
            raise ChannelUnavailable(message or f"server error {status}", kind="server", code=code)
        if code == "1005":
            raise ChannelUnavailable(message, kind="session", code=code)
        if code == "2001":
            raise ChannelDuplicate((answer.get("data") or {}).get("serial", ""), message, code=code)
        if code != "0000":
            raise ChannelRejected(code or str(status), message or f"HTTP {status}")
        return answer.get("data")

    # -- issuing

    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        payload = {
            "serial": request.serial, "seller_credit_code": request.seller_credit_code, "kind": request.kind,
            "buyer": {
                "name": request.buyer.name, "tax_id": request.buyer.tax_id, "address": request.buyer.address,
                "phone": request.buyer.phone, "bank_name": request.buyer.bank_name,
                "bank_account": request.buyer.bank_account,
            },
            "lines": [_line_out(x) for x in request.lines],
            "total_amount": request.total_amount, "total_tax": request.total_tax,
            "total_with_tax": request.total_with_tax, "remark": request.remark, "drawer": request.drawer,
            "specific_business_code": request.specific_business_code,
            "specific_business": request.specific_business, "is_red": request.is_red,
            "blue_number": request.blue_number, "red_form_no": request.red_form_no,
        }
        return _issue_result(self._call("issue", payload, serial=request.serial))

    def query_issue(self, serial: str) -> IssueResult:
        return _issue_result(self._call("issue_query", {"serial": serial}, serial=serial))

    def check_connection(self) -> str:
        """Signature, app key and clock in one cheap call: ask for a serial that cannot exist ("not found" is fine).
        The signature failures (HTTP 401: 1001 signature, 1002 timestamp, 1004 app key) read as a refused session."""
        probe = f"CHECK-{int(time.time())}"
        try:
            self._call("issue_query", {"serial": probe}, serial=probe)
        except ChannelRejected as exc:
            if exc.code in SIGNATURE_CODES:
                raise ChannelUnavailable(exc.message, kind="session", code=exc.code) from None
            if exc.code != NOT_FOUND_CODE:
                raise
        return "ok"

    def list_issued(self, *, day: date) -> list[IssueResult]:
        data = self._call("issued", {"day": day}, serial=day.isoformat())
        return [_issue_result(x) for x in data["items"]]

    # -- red-letter forms

    def red_form_apply(self, request: RedFormRequest) -> RedForm:
        payload = {
            "request_no": request.request_no, "blue_number": request.blue_number, "reason": request.reason,
            "initiator": request.initiator,
            "lines": [
                {"blue_line_no": x.blue_line_no, "quantity": x.quantity, "unit_price": x.unit_price,
                 "amount": x.amount, "tax": x.tax}
                for x in request.lines
            ],
        }
        return _red_form(self._call("red_form_apply", payload, serial=request.request_no))

    def _form_op(self, operation: str, form_no: str) -> RedForm:
        return _red_form(self._call(operation, {"form_no": form_no}, serial=form_no))

    def red_form_query(self, form_no: str) -> RedForm:
        return self._form_op("red_form_query", form_no)

    def red_form_confirm(self, form_no: str) -> RedForm:
        return self._form_op("red_form_confirm", form_no)

    def red_form_reject(self, form_no: str) -> RedForm:
        return self._form_op("red_form_reject", form_no)

    def red_form_revoke(self, form_no: str) -> RedForm:
        return self._form_op("red_form_revoke", form_no)

    def red_form_list_inbound(self, *, status: str | None = None) -> tuple[RedForm, ...]:
        data = self._call("red_form_inbound", {"status": status or ""})
        return tuple(_red_form(x) for x in data["items"])

    # -- other operations

    def void_paper(self, invoice_number: str, *, reason: str = "") -> VoidResult:
        data = self._call("void", {"number": invoice_number, "reason": reason}, serial=invoice_number)
        return VoidResult(invoice_number=data["number"], invoice_status=data["status"])

    def get_quota(self, period: str | None = None) -> Quota:
        data = self._call("quota", {"period": period or ""})
        return Quota(credit_code=data["credit_code"], period=data["period"], total=Decimal(data["total"]),
                     used=Decimal(data["used"]), remaining=Decimal(data["remaining"]))

    def download_files(self, invoice_number: str, formats: tuple[str, ...] = ("pdf", "ofd", "xml")) -> FileBundle:
        data = self._call("files", {"number": invoice_number, "formats": list(formats)}, serial=invoice_number)
        return FileBundle(
            invoice_number=invoice_number,
            files={k: base64.b64decode(v) for k, v in (data.get("files") or {}).items()},
            missing=tuple(data.get("missing") or ()),
        )

    def verify_invoice(self, request: VerifyRequest) -> VerifyResult:
        payload = {"kind": request.kind, "number": request.number, "issue_date": request.issue_date,
                   "amount": request.amount, "code": request.code, "check_code": request.check_code}
        data = self._call("verify", payload, serial=request.number)
        invoice = _received(data["invoice"]) if data.get("invoice") else None
        return VerifyResult(code=data["result"], message=data.get("message", ""), invoice=invoice,
                            differences=tuple(str(x) for x in data.get("differences") or ()))

    def list_received(self, *, date_from: date, date_to: date, page: int = 1, page_size: int = 100) -> ReceivedPage:
        data = self._call("received", {"date_from": date_from, "date_to": date_to, "page": page,
                                       "page_size": page_size})
        return ReceivedPage(items=tuple(_received(x) for x in data["items"]), total=int(data["total"]),
                            page=int(data["page"]), page_size=int(data["page_size"]))

    def received_book(self, request: BookingRequest) -> BookingResult:
        payload = {"request_no": request.request_no, "number": request.number, "booked": request.booked,
                   "voucher_no": request.voucher_no, "booked_on": request.booked_on}
        data = self._call("received_book", payload, serial=request.request_no)
        return BookingResult(number=data["number"], booked=bool(data["booked"]), invoice_status=data.get("status", ""))

    # -- deduction

    def deduction_select(self, request: DeductionSelectRequest) -> DeductionSelectResult:
        payload = {
            "period": request.period,
            "items": [
                {"number": x.number, "select": x.select, "purpose": x.purpose, "effective_tax": x.effective_tax,
                 "reason": x.reason}
                for x in request.items
            ],
        }
        data = self._call("deduction_select", payload, serial=request.period)
        return DeductionSelectResult(
            period=request.period,
            results=tuple(
                DeductionItemResult(number=x["number"], ok=bool(x["ok"]), code=x.get("code", ""),
                                    message=x.get("message", ""))
                for x in data["results"]
            ),
        )

    def _period_op(self, operation: str, period: str) -> DeductionStatistics:
        return _statistics(self._call(operation, {"period": period}, serial=period))

    def deduction_statistics_apply(self, period: str) -> DeductionStatistics:
        return self._period_op("deduction_statistics_apply", period)

    def deduction_statistics_undo(self, period: str) -> DeductionStatistics:
        return self._period_op("deduction_statistics_undo", period)

    def deduction_confirm(self, period: str) -> DeductionStatistics:
        return self._period_op("deduction_confirm", period)

    def deduction_confirm_undo(self, period: str) -> DeductionStatistics:
        return self._period_op("deduction_confirm_undo", period)

    def deduction_statistics_query(self, period: str) -> DeductionStatistics:
        return self._period_op("deduction_statistics_query", period)


def replace_client(client: SandboxChannel) -> SandboxChannel:
    return SandboxChannel(client.taxpayer, transport=client.transport, fault=client.fault)


__all__ = ["HttpTransport", "InProcessTransport", "SandboxChannel", "sign"]
