"""The tax-platform contract: what business code may ask of a channel, in the bureau's own codes.

Every client (the sandbox today, 乐企 or a provider later) implements ``TaxChannel`` and maps its provider's codes and
field names to the types below. Business code sees only these types and three kinds of failure:

* ``ChannelUnavailable``: network error, time-out, 5xx, rate limiting, dropped bureau session. Try again later with the
  same serial; never mark anything failed because of it. The call may or may not have been processed.
* ``ChannelRejected``: a business error with the platform's code and message. The request was not processed.
* ``ChannelDuplicate``: the serial is already known to the platform. Fetch its result with ``query_issue``.

Codes used here (domain.md §1.2, §11, §14):

* invoice kind: 查验 ``fplx`` — "81" 数电专票, "82" 数电普票, "85" / "86" 数电纸质专 / 普;
* invoice status: ``fpzt`` — "01" 正常, "02" 已作废, "03" 已红冲-全额, "04" 已红冲-部分;
* red-letter form status: ``hzqrxxztDm`` "01".."13"; reason: ``chyyDm`` "01" 开票有误, "02" 销货退回,
  "03" 服务中止, "04" 销售折让;
* verification result: "00" 成功, "01" 失败, "02" 查无数据, "03" 查验不一致, "04" 非本单位开具或取得.

Money is ``Decimal`` everywhere. Red amounts are negative, unit prices stay positive (§8.3).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, NoReturn

# --- codes ---------------------------------------------------------------------------------------------------------

ISSUE_KINDS = frozenset({"81", "82", "85", "86"})
SPECIAL_KINDS = frozenset({"81", "85"})  # 专票: the buyer's tax id is required
PAPER_KINDS = frozenset({"85", "86"})  # 数电纸票: may be voided; red issued by hand


class InvoiceStatus(StrEnum):
    """发票状态 fpzt (domain.md §14.3)."""

    NORMAL = "01"  # 正常
    VOIDED = "02"  # 已作废
    RED_FULL = "03"  # 已红冲-全额
    RED_PARTIAL = "04"  # 已红冲-部分


class RedFormStatus(StrEnum):
    """红字确认信息状态代码 hzqrxxztDm (domain.md §11.1)."""

    NO_CONFIRMATION = "01"  # 无需确认
    SELLER_ENTERED = "02"  # 销方录入待购方确认
    BUYER_ENTERED = "03"  # 购方录入待销方确认
    CONFIRMED = "04"  # 购销双方已确认
    VOID_BUYER_DENIED = "05"  # 作废（销方录入购方否认）
    VOID_SELLER_DENIED = "06"  # 作废（购方录入销方否认）
    VOID_EXPIRED = "07"  # 作废（超72小时未确认）
    VOID_REVOKED = "08"  # 作废（发起方已撤销）
    VOID_REVOKED_AFTER_CONFIRM = "09"  # 作废（确认后撤销）
    VOID_ABNORMAL_VOUCHER = "10"  # 作废（异常凭证）
    VOID_TAXPAYER_BLOCKED = "11"  # 作废（纳税人状态异常阻断）
    VOID_PERSON_REFUSED = "12"  # 作废（自然人拒收）
    VOID_REFUND_FORM = "13"  # 作废（已开具退税申请单）

    @property
    def is_effective(self) -> bool:
        """01 and 04: the red invoice may be (or has been) issued."""
        return self in (RedFormStatus.NO_CONFIRMATION, RedFormStatus.CONFIRMED)

    @property
    def is_waiting(self) -> bool:
        return self in (RedFormStatus.SELLER_ENTERED, RedFormStatus.BUYER_ENTERED)

    @property
    def is_terminal(self) -> bool:
        return int(self.value) >= 5


class RedReason(StrEnum):
    """冲红原因 chyyDm, bureau codes (domain.md §11.1). Nuonuo numbers them differently: map per client."""

    ISSUED_IN_ERROR = "01"  # 开票有误 (full red only)
    SALES_RETURN = "02"  # 销货退回
    SERVICE_STOPPED = "03"  # 服务中止
    SALES_ALLOWANCE = "04"  # 销售折让


class VerifyCode(StrEnum):
    """查验结果 (domain.md §14.2)."""

    OK = "00"
    FAILED = "01"
    NOT_FOUND = "02"
    MISMATCH = "03"
    NOT_OURS = "04"


class Capability(StrEnum):
    ISSUE = "issue"
    QUERY_ISSUE = "query_issue"
    LIST_ISSUED = "list_issued"
    RED_FORM = "red_form"
    VOID_PAPER = "void_paper"
    QUOTA = "quota"
    FILES = "files"
    VERIFY = "verify"
    RECEIVED = "received"
    DEDUCTION = "deduction"
    BUYER_STATUS = "buyer_status"  # query_issue tells the buyer's 用途确认 / 入账 of an issued blue invoice
    BOOKING = "booking"  # received_book: the buyer's 入账 / 取消入账 of a received invoice (入账状态 accountStatus)


Initiator = Literal["seller", "buyer"]
IssueStatus = Literal["issued", "pending", "failed"]
FileFormat = Literal["pdf", "ofd", "xml"]

# --- errors --------------------------------------------------------------------------------------------------------


class ChannelError(Exception):
    """Base of every channel failure."""

    def __init__(self, message: str = "", *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ChannelUnavailable(ChannelError):  # noqa: N818 - the contract's vocabulary
    """Try again later with the same serial. ``kind``: network, timeout, server, session, rate_limited."""

    def __init__(self, message: str = "", *, kind: str = "network", code: str = "") -> None:
        super().__init__(message or f"channel unavailable ({kind})", code=code)
        self.kind = kind


class ChannelRejected(ChannelError):  # noqa: N818
    """A business error: the platform refused the request and did not process it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ChannelDuplicate(ChannelError):  # noqa: N818
    """The serial is already known: fetch its result instead of submitting again."""

    def __init__(self, serial: str, message: str = "", *, code: str = "") -> None:
        super().__init__(message or f"serial {serial} already submitted", code=code)
        self.serial = serial


class ChannelUnsupported(ChannelError):  # noqa: N818
    """This channel does not offer the operation (see ``TaxChannel.capabilities``)."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"operation {operation!r} is not supported by this channel")
        self.operation = operation


# --- issuing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    tax_id: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bank_account: str = ""


@dataclass(frozen=True)
class IssueLine:
    line_no: int
    item_name: str
    amount: Decimal  # 金额 (不含税), negative on red
    tax_rate: Decimal
    tax: Decimal  # 税额, negative on red
    tax_code: str  # 19-digit 税收分类编码
    short_name: str = ""  # 税收分类简称
    spec: str = ""
    unit: str = ""
    quantity: Decimal | None = None  # negative on red
    unit_price: Decimal | None = None  # 不含税单价, always positive
    line_property: int = 0  # 0 normal, 1 discount line, 2 discounted line (§8.4)

    @property
    def rate(self) -> Decimal:  # for invoicing.tax.check_tolerances
        return self.tax_rate


@dataclass(frozen=True)
class IssueRequest:
    serial: str  # our stable business key: a retry reuses it; the platform answers a repeat with ChannelDuplicate
    seller_credit_code: str
    kind: str  # "81" / "82" / "85" / "86"
    buyer: Party
    lines: tuple[IssueLine, ...]
    total_amount: Decimal
    total_tax: Decimal
    total_with_tax: Decimal
    remark: str = ""
    drawer: str = ""
    specific_business_code: str = ""  # 特定要素类型代码 tdyslxDm (§13.1)
    specific_business: dict[str, str] = field(default_factory=dict)
    is_red: bool = False
    blue_number: str = ""  # red only
    red_form_no: str = ""  # red only: 确认单编号


@dataclass(frozen=True)
class BuyerStatus:
    """What the buyer has done with an issued invoice on the platform (domain.md §11.1, §14.5).

    ``usage``: 用途确认 — "1" 勾选抵扣, "4" 不抵扣 (… "" none yet); ``booked``: 入账确认 (入账状态 1).
    """

    booked: bool = False
    usage: str = ""

    @property
    def confirmed(self) -> bool:
        """用途确认 or 入账确认 done: a red-letter form then needs the buyer's confirmation, and partial red is
        possible; otherwise only a full red (issued at once) is."""
        return self.booked or bool(self.usage)


@dataclass(frozen=True)
class IssueResult:
    serial: str
    status: IssueStatus
    invoice_number: str = ""
    issued_at: datetime | None = None
    kind: str = ""
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total_with_tax: Decimal | None = None
    lines: tuple[IssueLine, ...] = ()
    invoice_status: str = ""  # fpzt once issued
    is_red: bool = False
    blue_number: str = ""
    red_form_no: str = ""
    message: str = ""
    code: str = ""  # the platform's failure code when status == "failed"
    # The buyer's 用途确认 / 入账 of this (blue, issued) invoice, where the channel has Capability.BUYER_STATUS;
    # None: the channel cannot tell (the platform then decides when a red-letter form is submitted).
    buyer_status: BuyerStatus | None = None


# --- red-letter forms (§11.1) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedFormLine:
    blue_line_no: int  # 蓝字明细序号
    item_name: str = ""
    tax_code: str = ""
    quantity: Decimal | None = None  # negative
    unit_price: Decimal | None = None  # positive
    amount: Decimal = Decimal("0")  # negative
    tax_rate: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")  # negative


@dataclass(frozen=True)
class RedFormRequest:
    request_no: str  # our stable key for the application (billId): a repeat returns the same form
    blue_number: str
    reason: str  # RedReason
    initiator: Initiator = "seller"
    lines: tuple[RedFormLine, ...] = ()  # empty: full red of the whole blue invoice


@dataclass(frozen=True)
class RedForm:
    form_no: str  # 确认单编号 (20)
    uuid: str
    status: str  # RedFormStatus
    initiator: Initiator
    reason: str
    blue_number: str
    seller_credit_code: str
    buyer_credit_code: str
    total_amount: Decimal  # negative
    total_tax: Decimal  # negative
    is_full: bool
    lines: tuple[RedFormLine, ...]
    created_at: datetime
    expires_at: datetime | None
    request_no: str = ""
    red_invoice_number: str = ""  # once the red invoice has been issued
    red_invoice_serial: str = ""  # the platform's serial of the red invoice: query_issue() gives its lines
    red_issued_at: datetime | None = None

    @property
    def status_code(self) -> RedFormStatus:
        return RedFormStatus(self.status)


# --- quota, files, verification, received invoices ----------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    credit_code: str
    period: str  # YYYY-MM
    total: Decimal
    used: Decimal
    remaining: Decimal


@dataclass(frozen=True)
class VoidResult:
    invoice_number: str
    invoice_status: str  # "02" when voided


@dataclass(frozen=True)
class FileBundle:
    invoice_number: str
    files: dict[str, bytes]  # format -> content, for the formats the platform could produce
    missing: tuple[str, ...] = ()  # formats asked for and not available (yet)

    def get(self, fmt: str) -> bytes | None:
        return self.files.get(fmt)


@dataclass(frozen=True)
class VerifyRequest:
    kind: str  # fplx
    number: str
    issue_date: date
    amount: Decimal  # 价税合计 for 81/82 (§14.2), 不含税金额 for 01/08/85
    code: str = ""  # legacy 发票代码
    check_code: str = ""  # last six of the 校验码 (legacy 普票)


@dataclass(frozen=True)
class InboundInvoice:
    """An invoice addressed to our entity as the platform describes it (verification, the received list); the
    receiving app's pool record is ``receiving.models.ReceivedInvoice``."""

    number: str
    kind: str
    issue_date: date
    seller_name: str
    seller_tax_id: str
    buyer_name: str
    buyer_tax_id: str
    total_amount: Decimal
    total_tax: Decimal
    total_with_tax: Decimal
    status: str  # fpzt
    is_red: bool = False
    blue_number: str = ""
    lines: tuple[IssueLine, ...] = ()
    selected_period: str = ""  # 勾选 into this 所属期 (YYYYMM), empty if not selected
    purpose: str = ""  # 1 勾选抵扣, 4 不抵扣
    risk_level: str = ""  # 风险等级 fxdj: 01 正常, 02 异常凭证, 03 疑点发票 (§14.3); "" when not reported


@dataclass(frozen=True)
class VerifyResult:
    code: str  # VerifyCode
    message: str = ""
    invoice: InboundInvoice | None = None
    # On 03 查验不一致: the request's fields that did not match, where the platform says ("issue_date", "amount",
    # "kind", "check_code", "code"); empty when it does not.
    differences: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == VerifyCode.OK


@dataclass(frozen=True)
class ReceivedPage:
    items: tuple[InboundInvoice, ...]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class BookingRequest:
    """入账 (``booked``) or 取消入账 of an invoice this taxpayer received (domain.md §11.1: once booked, a red-letter
    form against it needs the buyer's confirmation and a partial red becomes possible; §14.5 入账状态)."""

    request_no: str  # our stable key: a retry reuses it; the platform answers a repeat with the current state
    number: str  # the invoice's number (20 digits for 数电)
    booked: bool = True  # False: 取消入账
    voucher_no: str = ""  # 凭证号, for the platform's record
    booked_on: date | None = None  # 入账日期


@dataclass(frozen=True)
class BookingResult:
    number: str
    booked: bool  # the platform's 入账状态 after the request
    invoice_status: str = ""  # fpzt as the platform knows it


# --- deduction (§14.4, §14.5) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeductionItem:
    number: str
    select: bool = True  # False: 撤销勾选
    purpose: str = "1"  # 1 勾选抵扣, 4 不抵扣
    effective_tax: Decimal | None = None  # 有效抵扣税额; None = the face tax
    reason: str = ""  # 不抵扣原因 code (1–5)


@dataclass(frozen=True)
class DeductionSelectRequest:
    period: str  # 所属期 YYYYMM
    items: tuple[DeductionItem, ...]


@dataclass(frozen=True)
class DeductionItemResult:
    number: str
    ok: bool
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class DeductionSelectResult:
    period: str
    results: tuple[DeductionItemResult, ...]

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(r.number for r in self.results if r.ok)

    @property
    def refused(self) -> tuple[DeductionItemResult, ...]:
        return tuple(r for r in self.results if not r.ok)


@dataclass(frozen=True)
class DeductionStatistics:
    period: str
    status: str  # "none" (open), "generated" (已统计), "confirmed" (已确认)
    count: int = 0
    amount: Decimal = Decimal("0.00")
    tax: Decimal = Decimal("0.00")  # effective deductible tax
    not_deducted_count: int = 0


# --- the channel ---------------------------------------------------------------------------------------------------


class TaxChannel(abc.ABC):
    """One taxpayer's connection to the tax platform. Obtain it with ``invoicing.channels.get_channel(taxpayer)``.

    Never call a channel inside a database transaction: the call may be slow, and its log row is written on its own.
    Operations outside ``capabilities`` raise ``ChannelUnsupported``.
    """

    code: str = ""
    capabilities: frozenset[Capability] = frozenset()

    def supports(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    def _unsupported(self, operation: str) -> NoReturn:
        raise ChannelUnsupported(operation)

    def check_connection(self) -> str:
        """Prove the entity's credentials and rights with one cheap call that changes nothing on the platform.

        Returns "ok"; raises ``ChannelUnavailable`` (``kind`` session: the credentials or the token were refused;
        network, timeout, server, rate_limited) or ``ChannelRejected``. ``invoicing.channels.connection`` puts the
        outcome in words for the admin's 测试连接."""
        self._unsupported("check_connection")

    # issuing
    @abc.abstractmethod
    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        """Submit a blue (or, for 数电纸票, a red) invoice. Answers issued or pending; raises ChannelDuplicate."""

    @abc.abstractmethod
    def query_issue(self, serial: str) -> IssueResult:
        """The result for a serial. Raises ChannelRejected (code "4004") when the platform never saw it."""

    def list_issued(self, *, day: date) -> list[IssueResult]:
        """Every request of this seller issued (or accepted and still pending) on ``day`` (China time), with
        lines: the platform's side of a daily reconciliation."""
        self._unsupported("list_issued")

    # red-letter forms
    def red_form_apply(self, request: RedFormRequest) -> RedForm:
        self._unsupported("red_form_apply")

    def red_form_query(self, form_no: str) -> RedForm:
        self._unsupported("red_form_query")

    def red_form_confirm(self, form_no: str) -> RedForm:
        self._unsupported("red_form_confirm")

    def red_form_reject(self, form_no: str) -> RedForm:
        self._unsupported("red_form_reject")

    def red_form_revoke(self, form_no: str) -> RedForm:
        self._unsupported("red_form_revoke")

    def red_form_list_inbound(self, *, status: str | None = None) -> tuple[RedForm, ...]:
        """Forms raised by the counterparty that wait for this taxpayer (or, with ``status``, in that state)."""
        self._unsupported("red_form_list_inbound")

    # other operations
    def void_paper(self, invoice_number: str, *, reason: str = "") -> VoidResult:
        self._unsupported("void_paper")

    def get_quota(self, period: str | None = None) -> Quota:
        self._unsupported("get_quota")

    def download_files(self, invoice_number: str, formats: tuple[str, ...] = ("pdf", "ofd", "xml")) -> FileBundle:
        self._unsupported("download_files")

    def verify_invoice(self, request: VerifyRequest) -> VerifyResult:
        self._unsupported("verify_invoice")

    def list_received(
        self, *, date_from: date, date_to: date, page: int = 1, page_size: int = 100
    ) -> ReceivedPage:
        self._unsupported("list_received")

    def received_book(self, request: BookingRequest) -> BookingResult:
        """入账 / 取消入账 (``request.booked``) of a received invoice on the platform. Idempotent: booking a booked
        invoice (or unbooking an unbooked one) answers its state. Refused (ChannelRejected) for an invoice not
        addressed to this taxpayer, or voided / fully red-flushed when booking."""
        self._unsupported("received_book")

    # deduction (wave 2)
    def deduction_select(self, request: DeductionSelectRequest) -> DeductionSelectResult:
        self._unsupported("deduction_select")

    def deduction_statistics_apply(self, period: str) -> DeductionStatistics:
        self._unsupported("deduction_statistics_apply")

    def deduction_statistics_undo(self, period: str) -> DeductionStatistics:
        self._unsupported("deduction_statistics_undo")

    def deduction_confirm(self, period: str) -> DeductionStatistics:
        self._unsupported("deduction_confirm")

    def deduction_confirm_undo(self, period: str) -> DeductionStatistics:
        self._unsupported("deduction_confirm_undo")

    def deduction_statistics_query(self, period: str) -> DeductionStatistics:
        """What the platform holds for this taxpayer and ``period``, changing nothing: its state (``status`` "none"
        open, "generated" statistics applied, "confirmed") and its statistics figures (zero when "none"). The four
        period operations above are not idempotent: after a time-out, or an answer lost otherwise, this tells whether
        the platform did the operation, so that it is completed from here instead of being asked again."""
        self._unsupported("deduction_statistics_query")
