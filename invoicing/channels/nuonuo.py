"""The Nuonuo (诺诺) open platform's client: a ``TaxChannel`` for what Nuonuo's 诺税通 SaaS methods offer.

Every call is a POST to ``settings.NUONUO_API_URL`` (``/open/v1/services``) with the public URL parameters senid,
nonce, timestamp and appkey, the headers ``X-Nuonuo-Sign`` (see ``nuonuo_protocol``), ``accessToken``, ``userTax``
(the entity's tax number) and ``method``, and the JSON body. The access token comes from ``tokens.token_get`` (one
per entity in the database, fetched with the client-credentials grant of a self-use app). Secrets are the entity's
encrypted channel settings: ``channel_app_key`` is the appKey, ``channel_secret`` the appSecret.

What the client does with each contract operation (capabilities declared below; the rest raise ChannelUnsupported):

* ``issue_invoice``: requestBillingNew with our serial as ``orderNo``; Nuonuo answers asynchronously, so the result
  is ``pending`` (the poller, or a callback, asks ``query_issue``). A red invoice is issued this way only for
  数电纸票 (invoiceType 2 with the form number); electronic red invoices are issued by the platform from the form.
* ``query_issue``: queryInvoiceResult by order number, lines included. 签章失败 (24) is retried with reInvoice under
  the same order number and reads as pending; 开票失败 (22) is ``failed`` with the platform's cause.
* red-letter forms: saveInvoiceRedConfirm (our ``request_no`` is the ``billId``; a repeat finds the form by it),
  queryInvoiceRedConfirm, confirm (agree / refuse), confirmInfoCancel, and refreshInvoiceRedConfirm (download from the
  bureau) before listing inbound forms. Electronic red invoices are issued by the platform under the order number
  ``<request_no>-H`` (our forms) or ``<form_no>-H`` (confirmed inbound forms), which ``RedForm.red_invoice_serial``
  carries for ``query_issue``.
* ``void_paper``: invoiceCancellation, then queryInvoiceResult to read 已作废 (3).
* ``get_quota``: getCreditLine (授信额度) for the current month; refreshed from the bureau when Nuonuo has none yet.
* ``download_files``: the pdfUrl / ofdUrl / xmlUrl that queryInvoiceResult returned, fetched over HTTP from the
  hosts in ``settings.NUONUO_FILE_HOSTS``; addresses are asked again once when they no longer answer.
* not offered: ``received_book`` (入账 / 取消入账; Nuonuo's 诺税通 methods have no buyer-side booking), the received
  list, verification and deduction (勾选, 申请 / 撤销统计, 确认 / 撤销确认, and ``deduction_statistics_query``: 诺税通
  has no deduction methods, hence no way to read a period's statistics either); ``Capability.BOOKING`` and
  ``Capability.DEDUCTION`` are absent, so they raise ChannelUnsupported.
* ``redeliver`` (not in the contract): deliveryInvoice, the platform's own e-mail / SMS delivery.

Mapping to the contract's failures: connection errors and time-outs → ChannelUnavailable (network / timeout); HTTP
5xx → server, 504 → timeout, 429 and E9613 → rate_limited, 403 and the gateway's credential codes → session (after
one retry with a new token when the token itself was refused); E9106 → ChannelDuplicate; E9500 on a query →
ChannelRejected("4004"), as the contract says; any other code → ChannelRejected(code, describe).

The invoices the client has seen issued are indexed in ``ChannelInvoiceRef`` (number → order number, Nuonuo's serial,
paper code and number, buyer, file addresses): the contract addresses invoices by number, Nuonuo by its own handles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone

from invoicing.channels import nuonuo_protocol as proto
from invoicing.channels.base import (
    Capability,
    ChannelDuplicate,
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    FileBundle,
    Initiator,
    IssueLine,
    IssueRequest,
    IssueResult,
    IssueStatus,
    Quota,
    RedForm,
    RedFormLine,
    RedFormRequest,
    RedFormStatus,
    RedReason,
    TaxChannel,
    VoidResult,
)
from invoicing.channels.log import call_outcome, record_call
from invoicing.channels.models import ChannelInvoiceRef
from invoicing.channels.nuonuo_callback import callback_url
from invoicing.channels.tokens import TokenGrant, token_get, token_invalidate
from invoicing.models import Taxpayer

CODE: Final = "nuonuo"
NOT_FOUND_CODE: Final = "4004"  # the contract's "the platform never saw this serial" (base.py, query_issue)
LOCAL_REFUSAL: Final = "local"  # refused by the client before anything was sent
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
FORM_LIST_DAYS: Final = 88  # queryInvoiceRedConfirm: at most 90 days between billTimeStart and billTimeEnd (which is tomorrow)
FORM_PAGE_SIZE: Final = 50
FORM_TTL: Final = timedelta(hours=72)
_CN: Final = ZoneInfo("Asia/Shanghai")
_FILE_KEYS: Final[Mapping[str, str]] = {"pdf": "pdfUrl", "ofd": "ofdUrl", "xml": "xmlUrl"}

JsonObject = dict[str, object]


# --- transport -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes


class NuonuoTransport(Protocol):
    """How requests reach Nuonuo (and its file hosts). ``HttpTransport`` in production; tests may pass another."""

    name: str

    def post(self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> RawResponse:
        ...

    def post_form(self, url: str, *, fields: Mapping[str, str]) -> RawResponse: ...

    def get(self, url: str, *, max_bytes: int) -> RawResponse: ...


class HttpTransport:
    """``requests`` with connect and read time-outs; network failures become ChannelUnavailable."""

    name = "http"

    def __init__(self, *, connect_timeout: float | None = None, read_timeout: float | None = None) -> None:
        self.timeout = (
            float(settings.NUONUO_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout),
            float(settings.NUONUO_READ_TIMEOUT if read_timeout is None else read_timeout),
        )

    def _send(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
              headers: Mapping[str, str] | None = None, data: bytes | Mapping[str, str] | None = None,
              max_bytes: int = MAX_FILE_BYTES) -> RawResponse:
        try:
            with requests.request(method, url, params=dict(params or {}), headers=dict(headers or {}),
                                  data=data if isinstance(data, bytes | None) else dict(data),
                                  timeout=self.timeout, allow_redirects=False, stream=True) as response:
                body = b""
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise ChannelUnavailable(f"answer larger than {max_bytes} bytes", kind="server")
                return RawResponse(response.status_code, body)
        except requests.Timeout as exc:
            raise ChannelUnavailable(f"time-out: {exc.__class__.__name__}", kind="timeout") from exc
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"network error: {exc.__class__.__name__}", kind="network") from exc

    def post(self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> RawResponse:
        return self._send("POST", url, params=params, headers=headers, data=body)

    def post_form(self, url: str, *, fields: Mapping[str, str]) -> RawResponse:
        return self._send("POST", url, data=fields)

    def get(self, url: str, *, max_bytes: int) -> RawResponse:
        return self._send("GET", url, max_bytes=max_bytes)


# --- reading answers -----------------------------------------------------------------------------------------------


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _objects(value: object) -> list[JsonObject]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _decimal(data: Mapping[str, object], key: str) -> Decimal | None:
    return proto.decimal_or_none(data.get(key))


def _epoch_ms(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except ValueError:
        return _cn_time(str(value))


def _cn_time(value: str) -> datetime | None:
    """"2020-03-26 18:44:01" (China time) or a date."""
    value = value.strip()
    if not value:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=_CN)
        except ValueError:
            continue
    return None


def _kind_from_text(text: str) -> str:
    """invoiceKind as text ("电子发票(增值税专用发票)", "数电纸质发票(普通发票)"...) → fplx, "" if not a 数电 kind."""
    if not any(word in text for word in ("电子发票(", "电子发票（", "数电", "全电")):
        return ""
    paper = "纸质" in text
    special = "专用" in text
    return {(False, True): "81", (False, False): "82", (True, True): "85", (True, False): "86"}[(paper, special)]


def _issue_status(status: str) -> IssueStatus:
    if status in (proto.STATUS_ISSUED, proto.STATUS_VOIDED, proto.STATUS_VOIDING):
        return "issued"
    if status == proto.STATUS_FAILED:
        return "failed"
    return "pending"  # 20, 21, and 24 (签章失败: retried with reInvoice)


def _line(index: int, item: Mapping[str, object]) -> IssueLine:
    rate = _decimal(item, "itemTaxRate") or Decimal("0")
    tax = _decimal(item, "itemTaxAmount") or Decimal("0")
    amount = _decimal(item, "itemAmount") or Decimal("0")
    includes_tax = _text(item, "isIncludeTax").lower() in ("true", "1")
    if includes_tax:
        amount -= tax
    quantity = _decimal(item, "itemNum")
    price = _decimal(item, "itemPrice")
    if includes_tax and price is not None:
        price = (amount / quantity).quantize(Decimal("0.00000001")) if quantity else None
    return IssueLine(
        line_no=index, item_name=_text(item, "itemName"), amount=amount, tax_rate=rate, tax=tax,
        tax_code=_text(item, "itemCode"), spec=_text(item, "itemSpec"), unit=_text(item, "itemUnit"),
        quantity=quantity, unit_price=abs(price) if price is not None else None,
        line_property=int(_text(item, "invoiceLineProperty") or 0),
    )


def issue_result_from(data: Mapping[str, object]) -> IssueResult:
    """One entry of queryInvoiceResult's ``result`` as the contract's result (the serial is our order number)."""
    status = _text(data, "status")
    state = _issue_status(status)
    number = _text(data, "allElectronicInvoiceNumber") or _text(data, "invoiceNo")
    amount = _decimal(data, "exTaxAmount")
    tax = _decimal(data, "taxAmount")
    total = _decimal(data, "orderAmount")
    if total is None and amount is not None and tax is not None:
        total = amount + tax
    lines = tuple(_line(i, item) for i, item in enumerate(_objects(data.get("invoiceItems")), start=1))
    is_red = _text(data, "invoiceType") == "2" or (amount is not None and amount < 0)
    message = _text(data, "failCause") or _text(data, "statusMsg")
    return IssueResult(
        serial=_text(data, "orderNo"), status=state,
        invoice_number=number if state == "issued" else "",
        issued_at=_epoch_ms(data.get("invoiceTime")) if state == "issued" else None,
        kind=_kind_from_text(_text(data, "invoiceKind")),
        total_amount=amount, total_tax=tax, total_with_tax=total, lines=lines,
        invoice_status=("02" if status == proto.STATUS_VOIDED else "01") if state == "issued" else "",
        is_red=is_red, blue_number=_text(data, "oldEleInvoiceNumber") or _text(data, "oldInvoiceNo"),
        message=message, code=status if state == "failed" else "",
    )


def _initiator(apply_source: str) -> Initiator:
    return "buyer" if apply_source == proto.IDENTITY_BUYER else "seller"


def red_form_from(data: Mapping[str, object]) -> RedForm:
    """One entry of queryInvoiceRedConfirm's ``list`` as the contract's form.

    Nuonuo says nothing of full or partial: a form without detail lines, or for 开票有误, is read as full. The red
    invoice is named by its order number only (``red_invoice_serial``, once issued); the client adds its number."""
    status = _text(data, "billStatus")
    reason = proto.RED_REASONS_BACK.get(_text(data, "redReason"), "")
    created = _cn_time(_text(data, "billTime")) or timezone.now()
    details = _objects(data.get("detail"))
    lines = tuple(
        RedFormLine(
            blue_line_no=int(_text(x, "blueDetailIndex") or 0), item_name=_text(x, "goodsName"),
            tax_code=_text(x, "goodsCode"), quantity=_decimal(x, "num"), unit_price=_decimal(x, "taxExcludedPrice"),
            amount=_decimal(x, "taxExcludedAmount") or Decimal("0"), tax_rate=_decimal(x, "taxRate") or Decimal("0"),
            tax=_decimal(x, "taxAmount") or Decimal("0"),
        )
        for x in details
    )
    waiting = status in (RedFormStatus.SELLER_ENTERED, RedFormStatus.BUYER_ENTERED)
    opened = _text(data, "openStatus") == "1"
    return RedForm(
        form_no=_text(data, "billNo"), uuid=_text(data, "billUuid"), status=status,
        initiator=_initiator(_text(data, "applySource")), reason=reason,
        blue_number=_text(data, "blueInvoiceNumber") or _text(data, "blueElecInvoiceNumber"),
        seller_credit_code=_text(data, "sellerTaxNo"), buyer_credit_code=_text(data, "buyerTaxNo"),
        total_amount=_decimal(data, "taxExcludedAmount") or Decimal("0"),
        total_tax=_decimal(data, "taxAmount") or Decimal("0"),
        is_full=not lines or reason == RedReason.ISSUED_IN_ERROR, lines=lines, created_at=created,
        expires_at=created + FORM_TTL if waiting else None, request_no=_text(data, "billId"),
        red_invoice_serial=_text(data, "orderNo") if opened else "",
    )


# --- the client ----------------------------------------------------------------------------------------------------


class _TokenRefused(Exception):  # noqa: N818 - internal signal, never leaves the client
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NuonuoChannel(TaxChannel):
    code = CODE
    capabilities = frozenset({
        Capability.ISSUE, Capability.QUERY_ISSUE, Capability.RED_FORM, Capability.VOID_PAPER, Capability.QUOTA,
        Capability.FILES,
    })

    def __init__(self, taxpayer: Taxpayer, *, transport: NuonuoTransport | None = None, api_url: str | None = None,
                 token_url: str | None = None, file_hosts: Sequence[str] | None = None) -> None:
        self.taxpayer = taxpayer
        self.transport: NuonuoTransport = transport or HttpTransport()
        self.api_url = api_url or settings.NUONUO_API_URL
        self.token_url = token_url or settings.NUONUO_TOKEN_URL
        self.file_hosts = tuple(file_hosts if file_hosts is not None else settings.NUONUO_FILE_HOSTS)

    # -- plumbing

    def _fetch_token(self) -> TokenGrant:
        fields = {"client_id": self.taxpayer.channel_app_key, "client_secret": self.taxpayer.channel_secret,
                  "grant_type": "client_credentials"}
        started = time.monotonic()
        outcome, code, message, status = "error", "", "", None
        answer: JsonObject = {}
        try:
            raw = self.transport.post_form(self.token_url, fields=fields)
            status = raw.status
            answer = self._json(raw)
            token = _text(answer, "access_token")
            if raw.status >= 500:
                raise ChannelUnavailable(f"token endpoint HTTP {raw.status}", kind="server")
            if not token:
                code = _text(answer, "error") or str(raw.status)
                message = _text(answer, "error_description") or "no access_token in the answer"
                raise ChannelUnavailable(message, kind="session", code=code)
            outcome = "ok"
            expires = int(_text(answer, "expires_in") or proto.TOKEN_LIFETIME_SECONDS)
            return TokenGrant(access_token=token, expires_in=expires)
        except ChannelUnavailable as exc:
            outcome, code, message = "unavailable", exc.code or exc.kind, exc.message
            raise
        finally:
            record_call(
                taxpayer=self.taxpayer, channel=self.code, transport=self.transport.name, operation="token",
                serial="", duration_ms=int((time.monotonic() - started) * 1000), outcome=outcome,
                http_status=status, error_code=code, message=message,
                request_body={"grant_type": fields["grant_type"]}, response_body=answer,
            )

    def _token(self) -> str:
        return token_get(taxpayer=self.taxpayer, channel=self.code, fetch=self._fetch_token,
                         cap=proto.TOKEN_FETCHES_PER_30_DAYS)

    @staticmethod
    def _json(raw: RawResponse) -> JsonObject:
        try:
            data = json.loads(raw.body or b"{}")
        except ValueError:
            return {"raw": raw.body[:500].decode(errors="replace")}
        return data if isinstance(data, dict) else {"raw": data}

    def _call(self, operation: str, method: str, payload: JsonObject, *, serial: str = "") -> JsonObject:
        """One signed call; returns the answer (``code``, ``describe``, ``result``) when its code is a success."""
        token = self._token()
        try:
            return self._send(operation, method, payload, serial=serial, token=token)
        except _TokenRefused as refused:
            if not token_invalidate(taxpayer=self.taxpayer, channel=self.code, token=token):
                raise ChannelUnavailable(refused.message, kind="session", code=refused.code) from None
        try:
            return self._send(operation, method, payload, serial=serial, token=self._token())
        except _TokenRefused as refused:
            raise ChannelUnavailable(refused.message, kind="session", code=refused.code) from None

    def _send(self, operation: str, method: str, payload: JsonObject, *, serial: str, token: str) -> JsonObject:
        body = proto.body_text(payload)
        params = proto.PublicParams.fresh(self.taxpayer.channel_app_key)
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Nuonuo-Sign": proto.sign(app_secret=self.taxpayer.channel_secret, app_key=params.appkey,
                                    senid=params.senid, nonce=params.nonce, timestamp=params.timestamp, body=body),
            "accessToken": token,
            "userTax": self.taxpayer.credit_code,
            "method": method,
        }
        started = time.monotonic()
        outcome, code, message, status = "error", "", "", None
        answer: JsonObject = {}
        try:
            raw = self.transport.post(self.api_url, params=params.as_query(), headers=headers,
                                      body=body.encode("utf-8"))
            status = raw.status
            answer = self._json(raw)
            self._interpret(raw.status, answer, serial=serial)
            outcome, message = "ok", _text(answer, "describe")
            return answer
        except _TokenRefused as exc:
            outcome, code, message = "unavailable", exc.code, exc.message
            raise
        except ChannelError as exc:
            outcome, code, message = call_outcome(exc)
            raise
        finally:
            record_call(
                taxpayer=self.taxpayer, channel=self.code, transport=self.transport.name, operation=operation,
                serial=serial, duration_ms=int((time.monotonic() - started) * 1000), outcome=outcome,
                http_status=status, error_code=code, message=message, request_body=payload, response_body=answer,
            )

    @staticmethod
    def _interpret(status: int, answer: JsonObject, *, serial: str) -> None:
        code = _text(answer, "code")
        message = _text(answer, "describe")
        if status == 429:
            raise ChannelUnavailable(message or "rate limited", kind="rate_limited", code=code)
        if status == 504:
            raise ChannelUnavailable(message or "gateway time-out", kind="timeout", code=code)
        if status == 403:
            raise ChannelUnavailable(message or "forbidden by the gateway", kind="session", code=code)
        if status >= 500 or "raw" in answer:
            raise ChannelUnavailable(message or f"server error {status}", kind="server", code=code)
        if code in proto.TOKEN_REJECTED_CODES:
            raise _TokenRefused(code, message)
        if code in proto.CREDENTIAL_CODES or code == proto.SIGNATURE_MISMATCH:
            raise ChannelUnavailable(message or "credentials refused", kind="session", code=code)
        if code == proto.RETRY_LIMIT:
            raise ChannelUnavailable(message, kind="rate_limited", code=code)
        if code == proto.DUPLICATE_ORDER:
            raise ChannelDuplicate(serial, message, code=code)
        if code == proto.NOT_FOUND:
            raise ChannelRejected(NOT_FOUND_CODE, message or "not found")
        if code not in proto.SUCCESS:
            raise ChannelRejected(code or str(status), message or f"HTTP {status}")

    # -- issuing

    def _order(self, request: IssueRequest) -> JsonObject:
        line = proto.INVOICE_LINES.get(request.kind)
        if line is None:
            raise ChannelRejected(LOCAL_REFUSAL, f"诺诺通道不支持票种 {request.kind}")
        if request.specific_business_code:
            raise ChannelRejected(LOCAL_REFUSAL, "诺诺通道暂不支持特定业务要素（特定要素）发票")
        if request.is_red and line not in proto.PAPER_LINES:
            raise ChannelRejected(LOCAL_REFUSAL, "数电电票的红字发票由红字确认单开具，不能直接开具")
        taxpayer = self.taxpayer
        buyer = request.buyer
        order: JsonObject = {
            "orderNo": request.serial,
            "invoiceDate": timezone.now().astimezone(_CN).strftime("%Y-%m-%d %H:%M:%S"),
            "invoiceType": "2" if request.is_red else "1",
            "invoiceLine": line,
            "salerTaxNum": request.seller_credit_code,
            "salerTel": taxpayer.phone,
            "salerAddress": taxpayer.address,
            "salerAccount": f"{taxpayer.bank_name} {taxpayer.bank_account}".strip(),
            "buyerName": buyer.name,
            "buyerTaxNum": buyer.tax_id,
            "buyerTel": buyer.phone,
            "buyerAddress": buyer.address,
            "buyerAccount": f"{buyer.bank_name} {buyer.bank_account}".strip(),
            "clerk": request.drawer or taxpayer.drawer,
            "checker": taxpayer.reviewer,
            "payee": taxpayer.payee,
            "pushMode": "-1",  # the product delivers the invoice itself
            "remark": request.remark,
            "invoiceDetail": [self._detail(x) for x in request.lines],
        }
        if request.is_red:
            ref = self._ref(request.blue_number)
            order["invoiceCode"] = ref.paper_code if ref else ""
            order["invoiceNum"] = (ref.paper_number if ref else "") or request.blue_number
            order["billInfoNo"] = request.red_form_no
        url = callback_url(taxpayer)
        if url:
            order["callBackUrl"] = url
        return order

    @staticmethod
    def _detail(x: IssueLine) -> JsonObject:
        detail: JsonObject = {
            "goodsName": x.item_name,
            "goodsCode": x.tax_code,
            "specType": x.spec,
            "unit": x.unit,
            "withTaxFlag": "0",  # price and amount without tax; the tax and the total go along
            "taxRate": proto.plain(x.tax_rate),
            "taxExcludedAmount": proto.money(x.amount),
            "tax": proto.money(x.tax),
            "taxIncludedAmount": proto.money(x.amount + x.tax),
            "invoiceLineProperty": str(x.line_property),
            "favouredPolicyFlag": "0",
        }
        if x.quantity is not None:
            detail["num"] = proto.plain(x.quantity)
        if x.unit_price is not None:
            detail["price"] = proto.plain(x.unit_price)
        return detail

    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        answer = self._call("issue", proto.M_ISSUE, {"order": self._order(request)}, serial=request.serial)
        result = answer.get("result")
        provider_serial = _text(result, "invoiceSerialNum") if isinstance(result, dict) else ""
        return IssueResult(serial=request.serial, status="pending", kind=request.kind, is_red=request.is_red,
                           blue_number=request.blue_number, red_form_no=request.red_form_no,
                           message=_text(answer, "describe") or provider_serial)

    def _query_entry(self, serial: str, *, with_lines: bool = True) -> JsonObject:
        answer = self._call("issue_query", proto.M_QUERY,
                            {"orderNos": [serial], "isOfferInvoiceDetail": "1" if with_lines else "0"},
                            serial=serial)
        for entry in _objects(answer.get("result")):
            if _text(entry, "orderNo") == serial:
                return entry
        raise ChannelRejected(NOT_FOUND_CODE, f"诺诺没有订单号 {serial} 的开票记录")

    def query_issue(self, serial: str) -> IssueResult:
        entry = self._query_entry(serial)
        result = issue_result_from(entry)
        if _text(entry, "status") == proto.STATUS_SEAL_FAILED:
            return self._reseal(serial, entry, result)
        if result.status == "issued":
            self._remember(entry, result)
        return result

    def _reseal(self, serial: str, entry: JsonObject, result: IssueResult) -> IssueResult:
        """签章失败: ask Nuonuo to seal again under the same order number; the invoice stays pending meanwhile."""
        try:
            self._call("reissue", proto.M_REISSUE, {"fpqqlsh": _text(entry, "serialNo"), "orderno": serial},
                       serial=serial)
        except ChannelUnavailable as exc:
            return replace(result, message=f"签章失败，重试受限：{exc.message}", code=exc.code)
        return replace(result, message="签章失败，已请求重新签章")

    def _remember(self, entry: Mapping[str, object], result: IssueResult) -> None:
        urls = {fmt: _text(entry, key) for fmt, key in _FILE_KEYS.items() if _text(entry, key)}
        paper_number = _text(entry, "invoiceNo")
        ChannelInvoiceRef.objects.update_or_create(
            taxpayer=self.taxpayer, channel=self.code, number=result.invoice_number,
            defaults={
                "order_no": result.serial, "provider_serial": _text(entry, "serialNo"),
                "paper_code": _text(entry, "invoiceCode"),
                "paper_number": paper_number if len(paper_number) == 8 else "",
                "kind": result.kind, "buyer_name": _text(entry, "payerName"),
                "buyer_tax_id": _text(entry, "payerTaxNo"), "file_urls": urls,
            },
        )

    def _ref(self, number: str) -> ChannelInvoiceRef | None:
        return ChannelInvoiceRef.objects.filter(taxpayer=self.taxpayer, channel=self.code, number=number).first()

    def _ref_or_refuse(self, number: str) -> ChannelInvoiceRef:
        ref = self._ref(number)
        if ref is None:
            raise ChannelRejected(NOT_FOUND_CODE, f"没有经诺诺开具的发票 {number} 的记录")
        return ref

    # -- red-letter forms

    def _forms(self, *, identity: str, criteria: JsonObject) -> list[RedForm]:
        forms: list[RedForm] = []
        page = 1
        while True:
            answer = self._call("red_form_query", proto.M_RED_QUERY,
                                {"identity": identity, **criteria, "pageNo": str(page),
                                 "pageSize": str(FORM_PAGE_SIZE)},
                                serial=_text(criteria, "billNo") or _text(criteria, "billId"))
            entries = _objects(answer.get("list"))
            forms.extend(self._with_red_invoice(red_form_from(x)) for x in entries)
            total = int(_text(answer, "total") or 0)
            if not entries or len(forms) >= total:
                return forms
            page += 1

    def _with_red_invoice(self, form: RedForm) -> RedForm:
        """The red invoice's number and time, from queryInvoiceResult by its order number, once it is issued."""
        if not form.red_invoice_serial:
            return form
        try:
            red = issue_result_from(self._query_entry(form.red_invoice_serial, with_lines=False))
        except ChannelRejected:
            return form  # not visible yet
        if red.status != "issued":
            return form
        return replace(form, red_invoice_number=red.invoice_number, red_issued_at=red.issued_at)

    def _find_form(self, criteria: JsonObject) -> RedForm | None:
        for identity in (proto.IDENTITY_SELLER, proto.IDENTITY_BUYER):
            try:
                found = self._forms(identity=identity, criteria=criteria)
            except ChannelRejected as exc:
                if exc.code == NOT_FOUND_CODE:
                    continue
                raise
            if found:
                return found[0]
        return None

    def _settled(self, form: RedForm | None, what: str) -> RedForm:
        if form is None:
            raise ChannelRejected(NOT_FOUND_CODE, f"诺诺没有红字确认单 {what}")
        if form.status == proto.FORM_APPLYING:
            raise ChannelUnavailable(f"红字确认单 {what} 申请中", kind="timeout")
        if form.status == proto.FORM_APPLY_FAILED:
            raise ChannelRejected(proto.FORM_APPLY_FAILED, f"红字确认单 {what} 申请失败")
        return form

    def _our_identity(self, form: RedForm) -> str:
        return proto.IDENTITY_SELLER if form.seller_credit_code == self.taxpayer.credit_code else proto.IDENTITY_BUYER

    @staticmethod
    def red_order_no(key: str) -> str:
        """The order number of the red invoice Nuonuo issues for a form (our request_no, or an inbound form's
        number): what ``query_issue`` is then asked with."""
        return f"{key}-H"

    def _red_detail(self, ref: ChannelInvoiceRef, lines: Sequence[RedFormLine]) -> list[JsonObject]:
        """Partial red: each line with the blue line's name, code and rate, read from the blue invoice."""
        blue = {x.line_no: x for x in issue_result_from(self._query_entry(ref.order_no)).lines}
        detail: list[JsonObject] = []
        for x in lines:
            source = blue.get(x.blue_line_no)
            if source is None:
                raise ChannelRejected(LOCAL_REFUSAL, f"蓝字发票 {ref.number} 没有第 {x.blue_line_no} 行")
            item: JsonObject = {
                "blueDetailIndex": str(x.blue_line_no),
                "goodsName": x.item_name or source.item_name,
                "goodsCode": x.tax_code or source.tax_code,
                "specType": source.spec,
                "unit": source.unit,
                "taxRate": proto.plain(x.tax_rate or source.tax_rate),
                "taxExcludedAmount": proto.money(x.amount),
                "taxAmount": proto.money(x.tax),
            }
            if x.quantity is not None:
                item["num"] = proto.plain(x.quantity)
            if x.unit_price is not None:
                item["taxExcludedPrice"] = proto.plain(x.unit_price)
            detail.append(item)
        return detail

    def red_form_apply(self, request: RedFormRequest) -> RedForm:
        if request.initiator != "seller":
            raise ChannelUnsupported("red_form_apply as the buyer")
        existing = self._find_form({"billId": request.request_no})
        if existing is not None:
            return self._settled(existing, request.request_no)
        ref = self._ref_or_refuse(request.blue_number)
        reason = proto.RED_REASONS.get(request.reason)
        if reason is None:
            raise ChannelRejected(LOCAL_REFUSAL, f"未知的冲红原因 {request.reason}")
        payload: JsonObject = {
            "billId": request.request_no,
            "blueInvoiceLine": proto.INVOICE_LINES.get(ref.kind, "pc"),
            "applySource": proto.IDENTITY_SELLER,
            "blueInvoiceNumber": request.blue_number,
            "blueElecInvoiceNumber": request.blue_number,
            "sellerTaxNo": self.taxpayer.credit_code,
            "sellerName": self.taxpayer.name,
            "buyerTaxNo": ref.buyer_tax_id,
            "buyerName": ref.buyer_name,
            "redReason": reason,
            "autoInvoice": "1",
            "orderNo": self.red_order_no(request.request_no),
        }
        url = callback_url(self.taxpayer)
        if url:
            payload["callbackUrl"] = url
        if request.lines:
            payload["detail"] = self._red_detail(ref, request.lines)
        self._call("red_form_apply", proto.M_RED_APPLY, payload, serial=request.request_no)
        return self._settled(self._find_form({"billId": request.request_no}), request.request_no)

    def red_form_query(self, form_no: str) -> RedForm:
        return self._settled(self._find_form({"billNo": form_no}), form_no)

    def _decide(self, form_no: str, *, agree: bool) -> RedForm:
        form = self.red_form_query(form_no)
        identity = self._our_identity(form)
        payload: JsonObject = {"billNo": form_no, "identity": identity, "confirmAgreement": "1" if agree else "0"}
        if agree and identity == proto.IDENTITY_SELLER:
            # the seller confirms a buyer's form: the red invoice Nuonuo then issues is ours, under this number
            # (a buyer confirming leaves the number the seller chose when applying)
            payload["orderNo"] = self.red_order_no(form_no)
        self._call("red_form_confirm" if agree else "red_form_reject", proto.M_RED_CONFIRM, payload, serial=form_no)
        return self.red_form_query(form_no)

    def red_form_confirm(self, form_no: str) -> RedForm:
        return self._decide(form_no, agree=True)

    def red_form_reject(self, form_no: str) -> RedForm:
        return self._decide(form_no, agree=False)

    def red_form_revoke(self, form_no: str) -> RedForm:
        form = self.red_form_query(form_no)
        self._call("red_form_revoke", proto.M_RED_REVOKE, {"billNo": form_no, "identity": self._our_identity(form)},
                   serial=form_no)
        return self.red_form_query(form_no)

    def red_form_list_inbound(self, *, status: str | None = None) -> tuple[RedForm, ...]:
        today = timezone.now().astimezone(_CN).date()
        window = {"billTimeStart": (today - timedelta(days=FORM_LIST_DAYS)).isoformat(),
                  # a day past ours: a form the platform dated just after its midnight, while our clock is still
                  # before it, is in the list and not missed until tomorrow
                  "billTimeEnd": (today + timedelta(days=1)).isoformat()}
        found: dict[str, RedForm] = {}
        for identity, waiting, counterparty in (
            (proto.IDENTITY_SELLER, RedFormStatus.BUYER_ENTERED, "buyer"),
            (proto.IDENTITY_BUYER, RedFormStatus.SELLER_ENTERED, "seller"),
        ):
            self._call("red_form_download", proto.M_RED_DOWNLOAD,
                       {"identity": identity, "startTime": window["billTimeStart"], "endTime": window["billTimeEnd"]})
            criteria: JsonObject = {**window, "billStatus": status or waiting.value}
            try:
                forms = self._forms(identity=identity, criteria=criteria)
            except ChannelRejected as exc:
                if exc.code != NOT_FOUND_CODE:
                    raise
                forms = []
            for form in forms:
                if form.initiator == counterparty:
                    found[form.form_no] = form
        return tuple(sorted(found.values(), key=lambda f: (f.created_at, f.form_no)))

    # -- void, quota, files, delivery

    def void_paper(self, invoice_number: str, *, reason: str = "") -> VoidResult:
        ref = self._ref_or_refuse(invoice_number)
        before = _text(self._query_entry(ref.order_no, with_lines=False), "status")
        if before == proto.STATUS_VOIDED:
            return VoidResult(invoice_number=invoice_number, invoice_status="02")
        if before != proto.STATUS_VOIDING:
            self._call("void", proto.M_VOID, {"invoiceId": ref.provider_serial, "invoiceCode": ref.paper_code,
                                          "invoiceNo": ref.paper_number or invoice_number},
                       serial=invoice_number)
        after = _text(self._query_entry(ref.order_no, with_lines=False), "status")
        if after == proto.STATUS_VOIDED:
            return VoidResult(invoice_number=invoice_number, invoice_status="02")
        raise ChannelUnavailable(f"发票 {invoice_number} 作废中", kind="timeout")

    def get_quota(self, period: str | None = None) -> Quota:
        month = timezone.now().astimezone(_CN).strftime("%Y-%m")
        if period and period != month:
            raise ChannelUnsupported("get_quota for a month other than the current one")
        data = self._credit_line()
        if data is None:
            self._call("quota_refresh", proto.M_CREDIT_LINE, {"queryType": "0"})
            data = self._credit_line()
        if data is None:
            raise ChannelUnavailable("诺诺尚未取得本月授信额度，请稍后再查", kind="server")
        total = _decimal(data, "totalCreditLine") or Decimal("0")
        used = _decimal(data, "usedCreditLine") or Decimal("0")
        remaining = _decimal(data, "availableCreditLine")
        return Quota(credit_code=self.taxpayer.credit_code, period=month, total=total, used=used,
                     remaining=remaining if remaining is not None else total - used)

    def _credit_line(self) -> JsonObject | None:
        answer = self._call("quota", proto.M_CREDIT_LINE, {"queryType": "1"})
        data = answer.get("result")
        if not isinstance(data, dict) or _text(data, "requestStatus") != "1":
            return None
        if data.get("availableCreditLine") in (None, "") and data.get("totalCreditLine") in (None, ""):
            return None
        return data

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme in ("https", "http") and any(
            host == pattern.lstrip(".") or (pattern.startswith(".") and host.endswith(pattern))
            for pattern in self.file_hosts
        )

    def _download(self, url: str) -> bytes | None:
        if not url or not self._allowed(url):
            return None
        try:
            raw = self.transport.get(url, max_bytes=MAX_FILE_BYTES)
        except ChannelUnavailable:
            return None
        return raw.body if raw.status == 200 and raw.body else None

    def download_files(self, invoice_number: str, formats: tuple[str, ...] = ("pdf", "ofd", "xml")) -> FileBundle:
        ref = self._ref_or_refuse(invoice_number)
        started = time.monotonic()
        wanted = [fmt for fmt in formats if fmt in _FILE_KEYS]
        files: dict[str, bytes] = {}
        for attempt in (1, 2):
            urls: dict[str, str] = {str(k): str(v) for k, v in (ref.file_urls or {}).items()}
            for fmt in wanted:
                if fmt not in files:
                    content = self._download(urls.get(fmt, ""))
                    if content is not None:
                        files[fmt] = content
            if len(files) == len(wanted) or attempt == 2:
                break
            self.query_issue(ref.order_no)  # fresh addresses (they may have expired)
            ref.refresh_from_db()
        record_call(
            taxpayer=self.taxpayer, channel=self.code, transport=self.transport.name, operation="files",
            serial=invoice_number, duration_ms=int((time.monotonic() - started) * 1000),
            outcome="ok" if files else "unavailable", request_body={"formats": list(formats)},
            response_body={"files": {k: f"<{len(v)} bytes>" for k, v in files.items()}},
        )
        return FileBundle(invoice_number=invoice_number, files=files,
                          missing=tuple(fmt for fmt in formats if fmt not in files))

    def redeliver(self, invoice_number: str, *, phone: str = "", email: str = "") -> None:
        """Nuonuo's own delivery of an issued invoice to a mobile number and / or an e-mail address."""
        if not phone and not email:
            raise ChannelRejected(LOCAL_REFUSAL, "交付手机号和邮箱至少填写一个")
        ref = self._ref(invoice_number)
        self._call("redeliver", proto.M_DELIVER,
                   {"taxnum": self.taxpayer.credit_code, "invoiceCode": ref.paper_code if ref else "",
                    "invoiceNum": invoice_number, "phone": phone, "mail": email},
                   serial=invoice_number)

    def check_connection(self) -> str:
        """Signature, token and app rights in one call: ask for an order that cannot exist ("not found" is fine)."""
        probe = f"CHECK-{int(time.time())}"
        try:
            self._query_entry(probe, with_lines=False)
        except ChannelRejected as exc:
            if exc.code != NOT_FOUND_CODE:
                raise
        return "ok"


__all__ = ["HttpTransport", "NuonuoChannel", "NuonuoTransport", "RawResponse", "issue_result_from",
           "red_form_from"]
