"""The Nuonuo (诺诺) open platform's protocol, as published: addresses, the request signature, codes and field values.

Pure functions and tables, no Django: the client (``nuonuo.py``) and the test suite's fake server both use them, so
the two can only agree on what the published documents say.

Sources (read, not copied): Nuonuo's open-platform API documents for the 诺税通 SaaS methods
(``nuonuo.OpeMplatform.*``: requestBillingNew, queryInvoiceResult, invoiceCancellation, deliveryInvoice, reInvoice,
getCreditLine, saveInvoiceRedConfirm, queryInvoiceRedConfirm, confirm, confirmInfoCancel, refreshInvoiceRedConfirm),
the request/response examples in the project's test fixtures (``tests/fixtures/nuonuo/``), and two independent open
clients for the signing string and the gateway's codes.

The signature (``X-Nuonuo-Sign``): Base64(HMAC-SHA1(appSecret, s)) with
``s = "a=services&l=v1&p=open&k={appKey}&i={senid}&n={nonce}&t={timestamp}&f={body}"``: the path ``/open/v1/services``
read backwards (a, l, p), then the four public URL parameters, then the exact request body as sent (UTF-8 JSON).
``senid`` is 32 random letters or digits, ``nonce`` an 8-digit positive integer, ``timestamp`` Unix seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

# --- addresses -----------------------------------------------------------------------------------------------------

API_URL_PRODUCTION: Final = "https://sdk.nuonuo.com/open/v1/services"
API_URL_SANDBOX: Final = "https://sandbox.nuonuocs.cn/open/v1/services"
TOKEN_URL: Final = "https://open.nuonuo.com/accessToken"
SERVICES_PATH: Final = "/open/v1/services"
# Hosts the invoice files (pdfUrl, ofdUrl, xmlUrl) are served from in the published examples.
FILE_HOSTS: Final = (".nuonuo.com", ".jss.com.cn", ".nuonuocs.cn", ".nntest.cn")

# --- methods (the ``method`` header) -------------------------------------------------------------------------------

M_ISSUE: Final = "nuonuo.OpeMplatform.requestBillingNew"
M_QUERY: Final = "nuonuo.OpeMplatform.queryInvoiceResult"
M_REISSUE: Final = "nuonuo.OpeMplatform.reInvoice"  # 签章失败 (24): same order number, same serial
M_VOID: Final = "nuonuo.OpeMplatform.invoiceCancellation"
M_DELIVER: Final = "nuonuo.OpeMplatform.deliveryInvoice"
M_CREDIT_LINE: Final = "nuonuo.OpeMplatform.getCreditLine"
M_RED_APPLY: Final = "nuonuo.OpeMplatform.saveInvoiceRedConfirm"
M_RED_QUERY: Final = "nuonuo.OpeMplatform.queryInvoiceRedConfirm"
M_RED_CONFIRM: Final = "nuonuo.OpeMplatform.confirm"
M_RED_REVOKE: Final = "nuonuo.OpeMplatform.confirmInfoCancel"
M_RED_DOWNLOAD: Final = "nuonuo.OpeMplatform.refreshInvoiceRedConfirm"

# --- codes ---------------------------------------------------------------------------------------------------------

SUCCESS: Final = frozenset({"E0000", "0000"})  # the red-form query documents "0000", every other method "E0000"
DUPLICATE_ORDER: Final = "E9106"  # 订单编号或流水号不能重复: the order number is known, fetch its result
NOT_FOUND: Final = "E9500"  # no invoice for the order numbers asked
RETRY_LIMIT: Final = "E9613"  # 同一流水号单日最多重试: reInvoice refused for today
APP_KEY_INVALID: Final = "070101"  # 获取app密钥失败或appkey无效
TOKEN_CAP_REACHED: Final = "070306"  # the app fetched as many tokens as it may in 30 days
SIGNATURE_MISMATCH: Final = "070601"  # 签名不匹配
# The gateway's answers about the app's credentials or its access token (the request was not processed).
CREDENTIAL_CODES: Final = frozenset({APP_KEY_INVALID, "070304", "070305", TOKEN_CAP_REACHED, "070307"})
TOKEN_REJECTED_CODES: Final = frozenset({"070304", "070305"})  # the access token was refused: fetch a new one

TOKEN_LIFETIME_SECONDS: Final = 24 * 3600  # expires_in of a self-use app's token (unless made permanent)
TOKEN_FETCHES_PER_30_DAYS: Final = 50

# --- invoice kinds, statuses, reasons -----------------------------------------------------------------------------

# invoiceLine: bs 数电专票(电子), pc 数电普票(电子), es 数电纸质专票, ec 数电纸质普票 ↔ the bureau's fplx
INVOICE_LINES: Final[Mapping[str, str]] = {"81": "bs", "82": "pc", "85": "es", "86": "ec"}
KINDS: Final[Mapping[str, str]] = {line: kind for kind, line in INVOICE_LINES.items()}
PAPER_LINES: Final = frozenset({"es", "ec"})

# queryInvoiceResult ``status``: 2 开票完成; 20 开票中; 21 开票成功签章中; 22 开票失败; 24 开票成功签章失败;
# 3 已作废; 31 作废中.
STATUS_ISSUED: Final = "2"
STATUS_PENDING: Final = frozenset({"20", "21"})
STATUS_FAILED: Final = "22"
STATUS_SEAL_FAILED: Final = "24"
STATUS_VOIDED: Final = "3"
STATUS_VOIDING: Final = "31"

# redReason 1 销货退回, 2 开票有误, 3 服务中止, 4 销售折让 ↔ the bureau's chyyDm 01 开票有误, 02 销货退回, 03, 04
RED_REASONS: Final[Mapping[str, str]] = {"01": "2", "02": "1", "03": "3", "04": "4"}
RED_REASONS_BACK: Final[Mapping[str, str]] = {nuonuo: bureau for bureau, nuonuo in RED_REASONS.items()}

# queryInvoiceRedConfirm ``billStatus``: 01..09 are the bureau's hzqrxxztDm; 15 申请中, 16 申请失败 are Nuonuo's own.
FORM_APPLYING: Final = "15"
FORM_APPLY_FAILED: Final = "16"
IDENTITY_SELLER: Final = "0"
IDENTITY_BUYER: Final = "1"

# The callback's answer (operater=callback, form fields orderno and content).
CALLBACK_ANSWER: Final[Mapping[str, str]] = {"status": "0000", "message": "同步成功"}


# --- signing -------------------------------------------------------------------------------------------------------


def signing_string(*, app_key: str, senid: str, nonce: str, timestamp: str, body: str) -> str:
    return f"a=services&l=v1&p=open&k={app_key}&i={senid}&n={nonce}&t={timestamp}&f={body}"


def sign(*, app_secret: str, app_key: str, senid: str, nonce: str, timestamp: str, body: str) -> str:
    """``X-Nuonuo-Sign`` for one request: ``body`` is the exact text sent (it is encoded as UTF-8)."""
    message = signing_string(app_key=app_key, senid=senid, nonce=nonce, timestamp=timestamp, body=body)
    digest = hmac.new(app_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(*, app_secret: str, app_key: str, senid: str, nonce: str, timestamp: str, body: str,
                      signature: str) -> bool:
    expected = sign(app_secret=app_secret, app_key=app_key, senid=senid, nonce=nonce, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", errors="replace"))


@dataclass(frozen=True)
class PublicParams:
    """The URL parameters of one call (senid, nonce, timestamp, appkey)."""

    senid: str
    nonce: str
    timestamp: str
    appkey: str

    @classmethod
    def fresh(cls, app_key: str) -> PublicParams:
        return cls(senid=uuid.uuid4().hex, nonce=str(10_000_000 + secrets.randbelow(90_000_000)),
                   timestamp=str(int(time.time())), appkey=app_key)

    def as_query(self) -> dict[str, str]:
        return {"senid": self.senid, "nonce": self.nonce, "timestamp": self.timestamp, "appkey": self.appkey}


def body_text(payload: Mapping[str, object]) -> str:
    """The request body: compact JSON, Chinese as is (the signature covers these exact characters)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# --- numbers -------------------------------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_MAX_PLACES = Decimal("0.00000001")  # quantities and unit prices: at most 8 decimals


def money(value: Decimal) -> str:
    """An amount as Nuonuo's String fields carry it: two decimals, a minus sign on red."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def plain(value: Decimal) -> str:
    """A rate, quantity or unit price: plain notation, at most 8 decimals, no trailing zeros."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > 8:
        value = value.quantize(_MAX_PLACES, rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimal_or_none(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
