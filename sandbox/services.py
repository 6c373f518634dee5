"""What the platform does: accept and complete issue requests, keep the ledger, run red-letter forms, quotas,
verification and deduction. Views call these inside ``transaction.atomic``; every refusal is a ``SandboxError``
with a code and a Chinese message, as a real platform answers.

Codes (the sandbox's own, mapped by the client):
  1001–1004 signature, 1005 session expired, 1009 rate limited, 2001 duplicate serial, 3001 bad request,
  3101 line tax tolerance, 3102 invoice tax tolerance, 3103 buyer tax id required for 专票, 3104 totals,
  3105 bad tax id, 3106 bad tax code, 3107 line sequence, 3108 seller mismatch, 3201 quota,
  3301–3309 red-letter rules, 3401 void rules, 3501–3504 deduction rules, 4004 not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum

from invoicing import documents
from invoicing import tax as vat
from invoicing.ids import is_acceptable_tax_id
from sandbox import clock, numbering
from sandbox.models import (
    FaultProfile,
    IssueState,
    LedgerInvoice,
    LedgerLine,
    LedgerQuota,
    LedgerRedForm,
    LedgerRedFormLine,
    LedgerSelection,
    LedgerStatistics,
    LedgerStatus,
    SandboxAccount,
)

CN = ZoneInfo("Asia/Shanghai")
RED_FORM_TTL = timedelta(hours=72)
ISSUE_KINDS = ("81", "82", "85", "86")
SPECIAL_KINDS = ("81", "85")
PAPER_KINDS = ("85", "86")
ZERO = Decimal("0.00")


class SandboxError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SandboxDuplicate(SandboxError):  # noqa: N818 - a refusal with code 2001, named for what it says
    def __init__(self, serial: str) -> None:
        super().__init__("2001", f"请求流水号重复：{serial}")
        self.serial = serial


# --- accounts ------------------------------------------------------------------------------------------------------


def account_ensure(
    *,
    credit_code: str,
    name: str,
    app_key: str,
    secret: str,
    region_code: str = "4400",
    is_demo: bool = False,
    issue_delay_seconds: int | None = None,
    monthly_quota: Decimal | None = None,
) -> SandboxAccount:
    """Create or update the platform account of a taxpayer (idempotent; the demo and tests call it)."""
    defaults: dict[str, Any] = {
        "name": name, "app_key": app_key, "secret": secret, "region_code": region_code, "is_demo": is_demo,
        "is_active": True,
    }
    if issue_delay_seconds is not None:
        defaults["issue_delay_seconds"] = issue_delay_seconds
    if monthly_quota is not None:
        defaults["monthly_quota"] = monthly_quota
    with transaction.atomic():
        account, _ = SandboxAccount.objects.update_or_create(credit_code=credit_code, defaults=defaults)
        FaultProfile.objects.get_or_create(account=account)
    return account


def account_get(*, credit_code: str) -> SandboxAccount:
    """The platform account of a taxpayer (SandboxAccount.DoesNotExist when there is none)."""
    return SandboxAccount.objects.get(credit_code=credit_code)


# --- parsing helpers -----------------------------------------------------------------------------------------------


def _dec(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise SandboxError("3001", f"缺少字段：{name}")
        return None
    if isinstance(value, bool):
        raise SandboxError("3001", f"字段格式错误：{name}")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SandboxError("3001", f"字段格式错误：{name}") from None
    if not d.is_finite():
        raise SandboxError("3001", f"字段格式错误：{name}")
    return d


def _money(value: Any, name: str) -> Decimal:
    d = _dec(value, name)
    assert d is not None
    if d != d.quantize(Decimal("0.01")):
        raise SandboxError("3001", f"金额最多两位小数：{name}")
    return d.quantize(Decimal("0.01"))


def _str(payload: dict, key: str, *, required: bool = False, max_len: int = 300) -> str:
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if required and not value:
        raise SandboxError("3001", f"缺少字段：{key}")
    return value[:max_len]


def _period_month(when: datetime) -> str:
    return when.astimezone(CN).strftime("%Y-%m")


# --- serialisation -------------------------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str:
    return dt.isoformat() if dt else ""


def _num(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def line_to_dict(line: LedgerLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no, "item_name": line.item_name, "short_name": line.short_name, "spec": line.spec,
        "unit": line.unit, "quantity": _num(line.quantity),
        "unit_price": _num(line.unit_price),
        "amount": str(line.amount), "tax_rate": _num(line.tax_rate), "tax": str(line.tax),
        "tax_code": line.tax_code, "line_property": line.line_property,
    }


def invoice_to_dict(inv: LedgerInvoice, *, with_lines: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "serial": inv.serial, "issue_state": inv.issue_state, "number": inv.number or "", "kind": inv.kind,
        "status": inv.status, "accepted_at": _iso(inv.accepted_at), "issued_at": _iso(inv.issued_at),
        "seller_credit_code": inv.seller_credit_code, "seller_name": inv.seller_name,
        "buyer": {
            "name": inv.buyer_name, "tax_id": inv.buyer_tax_id, "address": inv.buyer_address,
            "phone": inv.buyer_phone, "bank_name": inv.buyer_bank_name, "bank_account": inv.buyer_bank_account,
        },
        "total_amount": str(inv.total_amount), "total_tax": str(inv.total_tax),
        "total_with_tax": str(inv.total_with_tax), "is_red": inv.is_red, "blue_number": inv.blue_number,
        "red_form_no": inv.red_form_no, "message": "开票完成" if inv.issue_state == IssueState.ISSUED else "开票中",
    }
    fresh_lines = getattr(inv, "fresh_lines", None)  # just accepted by invoice_submit: no selection yet
    selection = getattr(inv, "selection", None) if inv.pk and fresh_lines is None else None
    data["selected_period"] = selection.period if selection else ""
    data["purpose"] = selection.purpose if selection else ""
    if inv.issue_state == IssueState.ISSUED and not inv.is_red:
        data["buyer_status"] = {"booked": inv.buyer_booked, "usage": inv.buyer_usage}
    if with_lines:
        data["lines"] = [line_to_dict(ln) for ln in (inv.lines.all() if fresh_lines is None else fresh_lines)]
    return data


def red_form_to_dict(form: LedgerRedForm) -> dict[str, Any]:
    return {
        "form_no": form.form_no, "uuid": form.uuid, "request_no": form.request_no, "status": form.status,
        "initiator": form.initiator, "reason": form.reason, "blue_number": form.blue.number or "",
        "seller_credit_code": form.seller_credit_code, "buyer_credit_code": form.buyer_credit_code,
        "total_amount": str(form.total_amount), "total_tax": str(form.total_tax), "is_full": form.is_full,
        "created_at": _iso(form.created_at), "expires_at": _iso(form.expires_at),
        "red_invoice_serial": form.red_invoice.serial if form.red_invoice_id else "",
        "red_invoice_number": form.red_invoice.number if form.red_invoice_id and form.red_invoice.number else "",
        "red_issued_at": _iso(form.red_invoice.issued_at) if form.red_invoice_id else "",
        "lines": [
            {
                "blue_line_no": ln.blue_line_no, "item_name": ln.item_name, "tax_code": ln.tax_code,
                "quantity": _num(ln.quantity),
                "unit_price": _num(ln.unit_price),
                "amount": str(ln.amount), "tax_rate": _num(ln.tax_rate), "tax": str(ln.tax),
            }
            for ln in form.lines.all()
        ],
    }


# --- issuing -------------------------------------------------------------------------------------------------------


@dataclass
class _Line:
    line_no: int
    item_name: str
    short_name: str
    spec: str
    unit: str
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal
    tax_code: str
    line_property: int

    @property
    def rate(self) -> Decimal:
        return self.tax_rate


def _parse_lines(raw: Any) -> list[_Line]:
    if not isinstance(raw, list) or not raw:
        raise SandboxError("3001", "发票明细不能为空")
    if len(raw) > 2000:
        raise SandboxError("3001", "发票明细不能超过2000行")
    lines = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise SandboxError("3001", f"第{i}行明细格式错误")
        rate = _dec(item.get("tax_rate"), f"第{i}行税率")
        assert rate is not None
        if rate < 0 or rate >= 1:
            raise SandboxError("3001", f"第{i}行税率不合法")
        code = _str(item, "tax_code")
        if len(code) != 19 or not code.isdigit():
            raise SandboxError("3106", f"第{i}行税收分类编码应为19位数字")
        line = _Line(
            line_no=int(item.get("line_no") or i),
            item_name=_str(item, "item_name", required=True),
            short_name=_str(item, "short_name", max_len=120),
            spec=_str(item, "spec", max_len=150),
            unit=_str(item, "unit", max_len=30),
            quantity=_dec(item.get("quantity"), "quantity", required=False),
            unit_price=_dec(item.get("unit_price"), "unit_price", required=False),
            amount=_money(item.get("amount"), f"第{i}行金额"),
            tax_rate=rate,
            tax=_money(item.get("tax"), f"第{i}行税额"),
            tax_code=code,
            line_property=int(item.get("line_property") or 0),
        )
        if line.line_property not in (0, 1, 2):
            raise SandboxError("3107", f"第{i}行发票行性质不合法")
        if line.unit_price is not None and line.unit_price < 0:
            raise SandboxError("3001", f"第{i}行单价不能为负数")
        if line.quantity is not None and line.unit_price is not None:
            if abs(line.quantity * line.unit_price - line.amount) > Decimal("0.01"):
                raise SandboxError("3104", f"第{i}行数量×单价与金额不一致")
        lines.append(line)
    return lines


def _check_amounts(lines: list[_Line], total_amount: Decimal, total_tax: Decimal, total_with_tax: Decimal) -> None:
    report = vat.check_tolerances(lines)
    for breach in report.line_breaches:
        raise SandboxError("3101", f"第{lines[breach.index].line_no}行税额误差大于6分钱")
    for group in report.group_breaches:
        raise SandboxError("3102", f"税率{group.rate}的明细税额总误差大于1.27元，建议拆分开票")
    amount = sum((ln.amount for ln in lines), ZERO)
    tax_sum = sum((ln.tax for ln in lines), ZERO)
    if amount != total_amount or tax_sum != total_tax or total_amount + total_tax != total_with_tax:
        raise SandboxError("3104", "合计金额、合计税额与明细或价税合计不一致")


def _consume_quota(account: SandboxAccount, amount: Decimal, when: datetime) -> None:
    period = _period_month(when)
    quota = LedgerQuota.objects.select_for_update().filter(account=account, period=period).first()
    if quota is None:  # the month's first invoice
        LedgerQuota.objects.get_or_create(account=account, period=period, defaults={"total": account.monthly_quota})
        quota = LedgerQuota.objects.select_for_update().get(account=account, period=period)
    if quota.used + amount > quota.total:
        raise SandboxError("3201", f"发票额度不足：剩余可用额度{quota.remaining}元，本次需要{amount}元")
    quota.used += amount
    quota.save(update_fields=["used"])


def invoice_submit(*, account: SandboxAccount, payload: dict[str, Any]) -> LedgerInvoice:
    """Accept an issue request (开票中); it completes ``issue_delay_seconds`` later on the sandbox clock."""
    serial = _str(payload, "serial", required=True, max_len=64)
    existing = LedgerInvoice.objects.filter(account=account, serial=serial).first()
    if existing is not None:
        raise SandboxDuplicate(serial)
    kind = _str(payload, "kind", required=True)
    if kind not in ISSUE_KINDS:
        raise SandboxError("3001", f"不支持的票种：{kind}")
    if _str(payload, "seller_credit_code") != account.credit_code:
        raise SandboxError("3108", "销售方纳税人识别号与账户不一致")
    buyer = payload.get("buyer") or {}
    if not isinstance(buyer, dict) or not _str(buyer, "name"):
        raise SandboxError("3001", "购买方名称不能为空")
    buyer_tax_id = _str(buyer, "tax_id", max_len=20).upper()
    if kind in SPECIAL_KINDS and not buyer_tax_id:
        raise SandboxError("3103", "开具增值税专用发票，购买方纳税人识别号不能为空")
    if buyer_tax_id and not is_acceptable_tax_id(buyer_tax_id, sandbox=True).ok:
        raise SandboxError("3105", "购买方纳税人识别号不合法")
    lines = _parse_lines(payload.get("lines"))
    is_red = bool(payload.get("is_red"))
    problems = vat.validate_line_sequence(
        [vat.SequencedLine(vat.LineProperty(ln.line_property), ln.item_name, ln.tax_rate, ln.amount) for ln in lines],
        red=is_red,
    )
    if problems:
        raise SandboxError("3107", f"第{lines[problems[0].index].line_no}行：{problems[0].message}")
    total_amount = _money(payload.get("total_amount"), "total_amount")
    total_tax = _money(payload.get("total_tax"), "total_tax")
    total_with_tax = _money(payload.get("total_with_tax"), "total_with_tax")
    _check_amounts(lines, total_amount, total_tax, total_with_tax)

    now = clock.now()
    form = None
    if is_red:
        form = _red_issue_form(account, payload, total_amount, total_tax)
    elif total_amount <= 0:
        raise SandboxError("3104", "蓝字发票合计金额必须大于0")
    else:
        _consume_quota(account, total_amount, now)

    complete_at = now + timedelta(seconds=account.issue_delay_seconds)
    # A blue request due at once is completed here rather than by a second pass over the row (invoice_refresh).
    at_once = form is None and complete_at <= now
    try:
        with transaction.atomic():
            inv = LedgerInvoice.objects.create(
                account=account, serial=serial, kind=kind, accepted_at=now, complete_at=complete_at,
                issue_state=IssueState.ISSUED if at_once else IssueState.PENDING,
                issued_at=now if at_once else None,
                number=numbering.invoice_number(account, now) if at_once else None,
                seller_credit_code=account.credit_code, seller_name=account.name,
                buyer_name=_str(buyer, "name", max_len=150), buyer_tax_id=buyer_tax_id,
                buyer_address=_str(buyer, "address"), buyer_phone=_str(buyer, "phone", max_len=60),
                buyer_bank_name=_str(buyer, "bank_name", max_len=120),
                buyer_bank_account=_str(buyer, "bank_account", max_len=100),
                total_amount=total_amount, total_tax=total_tax, total_with_tax=total_with_tax,
                remark=_str(payload, "remark", max_len=500), drawer=_str(payload, "drawer", max_len=50),
                specific_business_code=_str(payload, "specific_business_code", max_len=2),
                specific_business=payload.get("specific_business") or {},
                is_red=is_red, blue_number=form.blue.number if form else "", red_form_no=form.form_no if form else "",
            )
    except IntegrityError:
        raise SandboxDuplicate(serial) from None
    inv.fresh_lines = LedgerLine.objects.bulk_create(
        [LedgerLine(invoice=inv, **{k: getattr(ln, k) for k in _LINE_FIELDS}) for ln in lines]
    )
    if form is not None:
        form.red_invoice = inv
        form.save(update_fields=["red_invoice"])
    return inv if at_once else invoice_refresh(inv, now=now)


_LINE_FIELDS = ("line_no", "item_name", "short_name", "spec", "unit", "quantity", "unit_price", "amount", "tax_rate",
                "tax", "tax_code", "line_property")


def _red_issue_form(account: SandboxAccount, payload: dict, total_amount: Decimal, total_tax: Decimal) -> LedgerRedForm:
    """A hand-issued red invoice (数电纸票) must follow an effective form that has no red invoice yet."""
    form_no = _str(payload, "red_form_no", required=True)
    _expire_forms()
    form = LedgerRedForm.objects.select_for_update().filter(form_no=form_no).select_related("blue").first()
    if form is None or form.seller_credit_code != account.credit_code:
        raise SandboxError("3301", "红字确认单不存在")
    if form.status not in ("01", "04"):
        raise SandboxError("3301", "红字确认单未生效，不能开具红字发票")
    if form.red_invoice_id:
        raise SandboxError("3301", "该红字确认单已开具红字发票")
    if _str(payload, "blue_number") != form.blue.number:
        raise SandboxError("3301", "蓝字发票号码与红字确认单不一致")
    if total_amount != form.total_amount or total_tax != form.total_tax:
        raise SandboxError("3301", "红字发票金额与红字确认单不一致")
    return form


def invoice_refresh(inv: LedgerInvoice, *, now: datetime | None = None) -> LedgerInvoice:
    """Complete a pending request whose time has come (lazily: there is no background worker)."""
    if inv.issue_state != IssueState.PENDING or (now or clock.now()) < inv.complete_at:
        return inv
    with transaction.atomic():
        inv = LedgerInvoice.objects.select_for_update().select_related("account").get(pk=inv.pk)
        if inv.issue_state != IssueState.PENDING:
            return inv
        inv.issued_at = max(inv.complete_at, inv.accepted_at)
        inv.number = numbering.invoice_number(inv.account, inv.issued_at)
        inv.issue_state = IssueState.ISSUED
        inv.save(update_fields=["issued_at", "number", "issue_state"])
        if inv.is_red:
            form = LedgerRedForm.objects.select_related("blue").get(form_no=inv.red_form_no)
            _apply_red_to_blue(form, inv)
    return inv


def invoice_by_serial(account: SandboxAccount, serial: str) -> LedgerInvoice:
    inv = LedgerInvoice.objects.filter(account=account, serial=serial).first()
    if inv is None:
        raise SandboxError("4004", f"未找到请求流水号为{serial}的开票请求")
    return invoice_refresh(inv)


def ledger_by_serials(*, account: SandboxAccount, serials: Iterable[str]) -> list[LedgerInvoice]:
    """The account's ledger rows for these request serials, as they stand (pending ones are not completed)."""
    return list(LedgerInvoice.objects.filter(account=account, serial__in=list(serials)).order_by("id"))


def _complete_due(account: SandboxAccount | None = None) -> None:
    now = clock.now()
    qs = LedgerInvoice.objects.filter(issue_state=IssueState.PENDING, complete_at__lte=now)
    if account is not None:
        qs = qs.filter(Q(account=account) | Q(buyer_tax_id=account.credit_code))
    for inv in qs[:500]:
        invoice_refresh(inv)


def issued_on(*, account: SandboxAccount, day: date) -> list[LedgerInvoice]:
    """The seller's requests issued on ``day`` (China time), and those accepted that day and still pending."""
    _complete_due(account)
    start = datetime.combine(day, datetime.min.time(), tzinfo=CN)
    end = start + timedelta(days=1)
    qs = LedgerInvoice.objects.filter(account=account).filter(
        Q(issued_at__gte=start, issued_at__lt=end)
        | Q(issue_state=IssueState.PENDING, accepted_at__gte=start, accepted_at__lt=end)
    )
    return list(qs.select_related("selection").prefetch_related("lines").order_by("id")[:5000])


def invoice_by_number(number: str) -> LedgerInvoice:
    _complete_due()
    inv = LedgerInvoice.objects.filter(number=number).select_related("account").first()
    if inv is None:
        raise SandboxError("4004", f"发票{number}不存在")
    return inv


def invoice_mark_booked(*, number: str, booked: bool = True) -> LedgerInvoice:
    """The buyer's 入账 on the platform. Tests and the admin use it to make a red form need confirmation."""
    inv = invoice_by_number(number)
    inv.buyer_booked = booked
    inv.save(update_fields=["buyer_booked"])
    return inv


def invoice_set_buyer_status(*, number: str, booked: bool, usage: str = "") -> LedgerInvoice:
    """The buyer's 入账 and 用途确认 ("1" 勾选抵扣, "4" 不抵扣, "" none) as the demo or a test wants them."""
    if usage not in ("", "1", "4"):
        raise SandboxError("3001", f"用途代码{usage}不合法")
    inv = invoice_by_number(number)
    inv.buyer_booked, inv.buyer_usage = booked, usage
    inv.save(update_fields=["buyer_booked", "buyer_usage"])
    return inv


def invoice_book(*, account: SandboxAccount, payload: dict[str, Any]) -> LedgerInvoice:
    """The buyer's 入账 (``booked`` true) or 取消入账 through the API (§11.1, §14.5 入账状态). Only the invoice's buyer
    may; a voided or fully red-flushed invoice cannot be booked. Repeats answer the current state."""
    number = _str(payload, "number", required=True, max_len=20)
    booked = payload.get("booked", True)
    if not isinstance(booked, bool):
        raise SandboxError("3001", "入账标志应为true或false")
    _complete_due()
    inv = LedgerInvoice.objects.select_for_update().filter(
        number=number, buyer_tax_id=account.credit_code, issue_state=IssueState.ISSUED
    ).first()
    if inv is None:
        raise SandboxError("4004", f"发票{number}不存在或非本单位取得")
    if booked and not inv.buyer_booked and inv.status in (LedgerStatus.VOIDED, LedgerStatus.RED_FULL):
        raise SandboxError("3601", f"发票状态为{inv.get_status_display()}，不能入账")
    if inv.buyer_booked != booked:
        inv.buyer_booked = booked
        inv.save(update_fields=["buyer_booked"])
    return inv


# --- red-letter forms (§11.1) --------------------------------------------------------------------------------------


def _expire_forms() -> int:
    """Forms waiting more than 72 hours on the sandbox clock become 07."""
    now = clock.now()
    return LedgerRedForm.objects.filter(status__in=("02", "03"), expires_at__lte=now).update(status="07", decided_at=now)


def _visible_form(account: SandboxAccount, form_no: str, *, lock: bool = False) -> LedgerRedForm:
    _expire_forms()
    qs = LedgerRedForm.objects.select_related("blue", "account", "red_invoice")
    if lock:
        qs = qs.select_for_update(of=("self",))
    form = qs.filter(form_no=form_no).first()
    if form is None or account.credit_code not in (form.seller_credit_code, form.buyer_credit_code):
        raise SandboxError("4004", f"红字确认单{form_no}不存在")
    return form


def _full_lines(blue: LedgerInvoice) -> list[dict[str, Any]]:
    """The whole blue invoice negated; a discounted line and its discount merge into one normal line (红票只有正常行)."""
    out: list[dict[str, Any]] = []
    blue_lines = list(blue.lines.all())
    i = 0
    while i < len(blue_lines):
        ln = blue_lines[i]
        amount, tax_ = ln.amount, ln.tax
        if ln.line_property == 2 and i + 1 < len(blue_lines) and blue_lines[i + 1].line_property == 1:
            amount += blue_lines[i + 1].amount
            tax_ += blue_lines[i + 1].tax
            i += 1
        qty = -ln.quantity if ln.quantity is not None else None
        price = vat.normalise_qty_price(amount / ln.quantity) if ln.quantity else ln.unit_price
        out.append({
            "blue_line_no": ln.line_no, "item_name": ln.item_name, "tax_code": ln.tax_code, "quantity": qty,
            "unit_price": price, "amount": -amount, "tax_rate": ln.tax_rate, "tax": -tax_,
        })
        i += 1
    return out


def _partial_lines(blue: LedgerInvoice, raw: list[Any]) -> list[dict[str, Any]]:
    by_no = {ln.line_no: ln for ln in blue.lines.all()}
    out = []
    seen = set()
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise SandboxError("3001", f"第{i}行红冲明细格式错误")
        no = int(item.get("blue_line_no") or 0)
        ln = by_no.get(no)
        if ln is None or ln.line_property == 1:
            raise SandboxError("3308", f"蓝字明细序号{no}不存在（折扣行不传）")
        if no in seen:
            raise SandboxError("3308", f"蓝字明细序号{no}重复")
        seen.add(no)
        amount = _money(item.get("amount"), "amount")
        tax_ = _money(item.get("tax"), "tax")
        if amount >= 0 or tax_ > 0:
            raise SandboxError("3308", f"蓝字明细序号{no}：红冲金额、税额应为负数")
        if -amount > ln.amount - ln.red_amount:
            raise SandboxError("3308", f"蓝字明细序号{no}：红冲金额超过可冲金额{ln.amount - ln.red_amount}")
        if abs(amount * ln.tax_rate - tax_) > vat.LINE_TOLERANCE:
            raise SandboxError("3101", f"蓝字明细序号{no}：税额误差大于6分钱")
        qty = _dec(item.get("quantity"), "quantity", required=False)
        if qty is not None and qty >= 0:
            raise SandboxError("3308", f"蓝字明细序号{no}：红冲数量应为负数")
        out.append({
            "blue_line_no": no, "item_name": ln.item_name, "tax_code": ln.tax_code, "quantity": qty,
            "unit_price": _dec(item.get("unit_price"), "unit_price", required=False) or ln.unit_price,
            "amount": amount, "tax_rate": ln.tax_rate, "tax": tax_,
        })
    return out


def red_form_apply(*, account: SandboxAccount, payload: dict[str, Any]) -> LedgerRedForm:
    """Register a 确认单. A repeated ``request_no`` answers the form already registered."""
    request_no = _str(payload, "request_no", max_len=64)
    if request_no:
        existing = LedgerRedForm.objects.filter(account=account, request_no=request_no).first()
        if existing is not None:
            _expire_forms()
            existing.refresh_from_db()
            return existing
    initiator = _str(payload, "initiator") or "seller"
    if initiator not in ("seller", "buyer"):
        raise SandboxError("3001", "录入方身份不合法")
    reason = _str(payload, "reason", required=True)
    if reason not in ("01", "02", "03", "04"):
        raise SandboxError("3302", f"冲红原因代码不合法：{reason}")
    blue_number = _str(payload, "blue_number", required=True)
    _complete_due()
    blue = LedgerInvoice.objects.select_for_update().filter(number=blue_number).first()
    if blue is None or blue.is_red:
        raise SandboxError("3309", f"蓝字发票{blue_number}不存在")
    own_code = blue.seller_credit_code if initiator == "seller" else blue.buyer_tax_id
    if account.credit_code != own_code:
        raise SandboxError("3309", "录入方与蓝字发票的销方/购方不一致")
    if blue.status not in (LedgerStatus.NORMAL, LedgerStatus.RED_PARTIAL):
        raise SandboxError("3309", f"蓝字发票状态为{blue.get_status_display()}，不能红冲")
    _expire_forms()
    open_forms = blue.red_forms.filter(Q(status__in=("02", "03")) | Q(status__in=("01", "04"), red_invoice=None))
    if open_forms.exists():
        raise SandboxError("3305", "该蓝字发票存在未完成的红字确认单")
    raw_lines = payload.get("lines") or []
    is_full = not raw_lines
    if is_full and blue.status == LedgerStatus.RED_PARTIAL:
        raise SandboxError("3306", "蓝字发票已部分红冲，请按剩余明细部分红冲")
    if not is_full and reason == "01":
        raise SandboxError("3302", "冲红原因为开票有误时只能全额红冲")
    if initiator == "buyer" and not blue.buyer_has_used:
        raise SandboxError("3304", "购方未进行用途确认或入账确认，应由销方发起")
    if not is_full and not blue.buyer_has_used:
        raise SandboxError("3303", "购方未进行用途确认或入账确认，只能全额红冲")
    lines = _full_lines(blue) if is_full else _partial_lines(blue, raw_lines)
    total_amount = sum((ln["amount"] for ln in lines), ZERO)
    total_tax = sum((ln["tax"] for ln in lines), ZERO)
    if initiator == "buyer":
        status = "03"
    else:
        status = "02" if blue.buyer_has_used else "01"  # un-used and un-booked: no confirmation needed
    now = clock.now()
    form = LedgerRedForm.objects.create(
        form_no=numbering.red_form_number(account, now), uuid=uuid.uuid4().hex, request_no=request_no,
        account=account, initiator=initiator, status=status, reason=reason, blue=blue,
        seller_credit_code=blue.seller_credit_code, buyer_credit_code=blue.buyer_tax_id,
        total_amount=total_amount, total_tax=total_tax, is_full=is_full, created_at=now,
        expires_at=now + RED_FORM_TTL if status in ("02", "03") else None,
        decided_at=now if status == "01" else None,
    )
    LedgerRedFormLine.objects.bulk_create(LedgerRedFormLine(form=form, **ln) for ln in lines)
    if status == "01":
        _auto_issue_red(form)
    return form


def _auto_issue_red(form: LedgerRedForm) -> None:
    """数电电票: the red invoice is issued by the platform as soon as the form is 01 or 04 (§11.1)."""
    blue = form.blue
    if blue.kind in PAPER_KINDS:
        return  # 数电纸票: the seller issues the red invoice by hand (issue with is_red)
    now = clock.now()
    red = LedgerInvoice.objects.create(
        account=blue.account, serial=f"RED-{form.form_no}", kind=blue.kind, issue_state=IssueState.ISSUED,
        accepted_at=now, complete_at=now, issued_at=now, number=numbering.invoice_number(blue.account, now),
        seller_credit_code=blue.seller_credit_code, seller_name=blue.seller_name, buyer_name=blue.buyer_name,
        buyer_tax_id=blue.buyer_tax_id, buyer_address=blue.buyer_address, buyer_phone=blue.buyer_phone,
        buyer_bank_name=blue.buyer_bank_name, buyer_bank_account=blue.buyer_bank_account,
        total_amount=form.total_amount, total_tax=form.total_tax, total_with_tax=form.total_amount + form.total_tax,
        remark=f"被红冲蓝字数电发票号码：{blue.number} 红字发票信息确认单编号：{form.form_no}",
        drawer=blue.drawer, is_red=True, blue_number=blue.number or "", red_form_no=form.form_no,
    )
    LedgerLine.objects.bulk_create(
        LedgerLine(
            invoice=red, line_no=i, item_name=ln.item_name, tax_code=ln.tax_code, quantity=ln.quantity,
            unit_price=ln.unit_price, amount=ln.amount, tax_rate=ln.tax_rate, tax=ln.tax,
        )
        for i, ln in enumerate(form.lines.all(), start=1)
    )
    form.red_invoice = red
    form.save(update_fields=["red_invoice"])
    _apply_red_to_blue(form, red)


def _apply_red_to_blue(form: LedgerRedForm, red: LedgerInvoice) -> None:
    blue = LedgerInvoice.objects.select_for_update().get(pk=form.blue_id)
    blue_lines = {ln.line_no: ln for ln in blue.lines.all()}
    for fl in form.lines.all():
        bl = blue_lines.get(fl.blue_line_no)
        if bl is not None:
            bl.red_amount += -fl.amount
            bl.save(update_fields=["red_amount"])
    blue.red_amount += -form.total_amount
    blue.status = LedgerStatus.RED_FULL if blue.red_amount >= blue.total_amount else LedgerStatus.RED_PARTIAL
    blue.save(update_fields=["red_amount", "status"])


def red_form_get(*, account: SandboxAccount, form_no: str) -> LedgerRedForm:
    return _visible_form(account, form_no)


def red_form_confirm(*, account: SandboxAccount, form_no: str) -> LedgerRedForm:
    form = _visible_form(account, form_no, lock=True)
    if form.status == "02" and account.credit_code == form.buyer_credit_code:
        pass
    elif form.status == "03" and account.credit_code == form.seller_credit_code:
        pass
    else:
        raise SandboxError("3307", "当前状态或身份不能确认该红字确认单")
    form.status = "04"
    form.decided_at = clock.now()
    form.save(update_fields=["status", "decided_at"])
    _auto_issue_red(form)
    return form


def red_form_reject(*, account: SandboxAccount, form_no: str) -> LedgerRedForm:
    form = _visible_form(account, form_no, lock=True)
    if form.status == "02" and account.credit_code == form.buyer_credit_code:
        form.status = "05"
    elif form.status == "03" and account.credit_code == form.seller_credit_code:
        form.status = "06"
    else:
        raise SandboxError("3307", "当前状态或身份不能拒绝该红字确认单")
    form.decided_at = clock.now()
    form.save(update_fields=["status", "decided_at"])
    return form


def red_form_revoke(*, account: SandboxAccount, form_no: str) -> LedgerRedForm:
    form = _visible_form(account, form_no, lock=True)
    if form.account_id != account.pk:
        raise SandboxError("3307", "只有录入方可以撤销红字确认单")
    if form.status in ("02", "03"):
        form.status = "08"
    elif form.status in ("01", "04") and form.red_invoice_id is None:
        form.status = "08" if form.status == "01" else "09"
    else:
        raise SandboxError("3307", "红字发票已开具或确认单已作废，不能撤销")
    form.decided_at = clock.now()
    form.save(update_fields=["status", "decided_at"])
    return form


def red_forms_inbound(*, account: SandboxAccount, status: str = "") -> list[LedgerRedForm]:
    """Forms where ``account`` is the counterparty (not the initiator); by default those waiting for it."""
    _expire_forms()
    qs = LedgerRedForm.objects.select_related("blue", "red_invoice").filter(
        Q(seller_credit_code=account.credit_code) | Q(buyer_credit_code=account.credit_code)
    ).exclude(account=account)
    if status:
        qs = qs.filter(status=status)
    else:
        qs = qs.filter(
            Q(status="02", buyer_credit_code=account.credit_code) | Q(status="03", seller_credit_code=account.credit_code)
        )
    return list(qs.order_by("created_at", "id")[:500])


# --- void, quota ---------------------------------------------------------------------------------------------------


def invoice_void(*, account: SandboxAccount, number: str) -> LedgerInvoice:
    inv = invoice_by_number(number)
    if inv.account_id != account.pk:
        raise SandboxError("4004", f"发票{number}不存在")
    if inv.kind not in PAPER_KINDS:
        raise SandboxError("3401", "数电电子发票不能作废，只能红冲")
    inv = LedgerInvoice.objects.select_for_update().get(pk=inv.pk)
    if inv.is_red or inv.status != LedgerStatus.NORMAL:
        raise SandboxError("3401", f"发票状态为{inv.get_status_display()}，不能作废")
    if _period_month(inv.issued_at) != _period_month(clock.now()):
        raise SandboxError("3401", "只能作废当月开具的纸质发票")
    if inv.red_forms.exclude(status__in=[f"{n:02d}" for n in range(5, 14)]).exists():
        raise SandboxError("3401", "发票存在红字确认单，不能作废")
    inv.status = LedgerStatus.VOIDED
    inv.save(update_fields=["status"])
    return inv


def quota_get(*, account: SandboxAccount, period: str = "") -> LedgerQuota:
    period = period or _period_month(clock.now())
    quota, _ = LedgerQuota.objects.get_or_create(account=account, period=period, defaults={"total": account.monthly_quota})
    return quota


# --- files ---------------------------------------------------------------------------------------------------------


def invoice_document(inv: LedgerInvoice) -> documents.InvoiceDocument:
    issued = inv.issued_at.astimezone(CN)
    return documents.InvoiceDocument(
        number=inv.number or "", kind=inv.kind, issue_date=issued.date(), issue_time=issued.time().replace(microsecond=0),
        seller=documents.InvoiceParty(name=inv.seller_name, tax_id=inv.seller_credit_code),
        buyer=documents.InvoiceParty(
            name=inv.buyer_name, tax_id=inv.buyer_tax_id, address=inv.buyer_address, phone=inv.buyer_phone,
            bank_name=inv.buyer_bank_name, bank_account=inv.buyer_bank_account,
        ),
        total_amount=inv.total_amount, total_tax=inv.total_tax, total_with_tax=inv.total_with_tax,
        lines=tuple(
            documents.InvoiceLine(
                line_no=ln.line_no,
                item_name=ln.item_name if ln.item_name.startswith("*") or not ln.short_name
                else f"*{ln.short_name}*{ln.item_name}",
                short_name=ln.short_name, spec=ln.spec, unit=ln.unit,
                quantity=ln.quantity.normalize() if ln.quantity is not None else None,
                unit_price=ln.unit_price.normalize() if ln.unit_price is not None else None,
                amount=ln.amount, tax_rate=ln.tax_rate.normalize(), tax=ln.tax, tax_code=ln.tax_code,
                line_property=ln.line_property,
            )
            for ln in inv.lines.all()
        ),
        remark=inv.remark, drawer=inv.drawer, is_red=inv.is_red, blue_number=inv.blue_number,
        red_form_number=inv.red_form_no, specific_business_code=inv.specific_business_code,
        specific_business={str(k): str(v) for k, v in (inv.specific_business or {}).items()},
    )


def invoice_files(*, account: SandboxAccount, number: str, formats: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
    """The files the platform can produce for an issued invoice, and the formats it cannot (yet)."""
    inv = invoice_by_number(number)
    if account.credit_code not in (inv.seller_credit_code, inv.buyer_tax_id):
        raise SandboxError("4004", f"发票{number}不存在")
    if inv.issue_state != IssueState.ISSUED:
        raise SandboxError("4004", f"发票{number}尚未开具完成")
    doc = invoice_document(inv)
    writers = {"xml": documents.write_xml, "ofd": documents.write_ofd, "pdf": documents.render_pdf}
    files: dict[str, bytes] = {}
    missing: list[str] = []
    for fmt in formats:
        writer = writers.get(fmt)
        if writer is None:
            missing.append(fmt)
            continue
        try:
            files[fmt] = writer(doc)
        except documents.DocumentError:
            missing.append(fmt)
    return files, missing


# --- verification and received invoices ---------------------------------------------------------------------------


def invoice_verify(*, account: SandboxAccount, payload: dict[str, Any]) -> tuple[str, str, LedgerInvoice | None]:
    """(result code, message, invoice) per §14.2: 数电 number + date + 价税合计."""
    code, message, inv, _differences = invoice_verify_detailed(account=account, payload=payload)
    return code, message, inv


def invoice_verify_detailed(
    *, account: SandboxAccount, payload: dict[str, Any]
) -> tuple[str, str, LedgerInvoice | None, list[str]]:
    """``invoice_verify`` and, on 03, the request's fields that do not match (the invoice itself is not shown)."""
    number = _str(payload, "number")
    kind = _str(payload, "kind")
    try:
        issue_date = date.fromisoformat(_str(payload, "issue_date"))
        amount = _money(payload.get("amount"), "amount")
    except (ValueError, SandboxError):
        return "01", "查验参数不正确", None, []
    _complete_due()
    inv = LedgerInvoice.objects.filter(number=number, issue_state=IssueState.ISSUED).first()
    if inv is None:
        return "02", "查无此票", None, []
    expected = inv.total_amount if kind in ("01", "08", "85") else inv.total_with_tax
    differences = [name for name, same in (("kind", kind == inv.kind),
                                           ("issue_date", inv.issued_at.astimezone(CN).date() == issue_date),
                                           ("amount", expected == amount)) if not same]
    if differences:
        return "03", "查验信息不一致", None, differences
    return "00", "查验成功", inv, []


def received_list(
    *, account: SandboxAccount, date_from: date, date_to: date, page: int, page_size: int
) -> tuple[list[LedgerInvoice], int]:
    _complete_due(account)
    start = datetime.combine(date_from, datetime.min.time(), tzinfo=CN)
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), tzinfo=CN)
    qs = LedgerInvoice.objects.filter(
        buyer_tax_id=account.credit_code, issue_state=IssueState.ISSUED, issued_at__gte=start, issued_at__lt=end
    ).select_related("selection").prefetch_related("lines").order_by("issued_at", "id")
    total = qs.count()
    page = max(page, 1)
    page_size = min(max(page_size, 1), 500)
    return list(qs[(page - 1) * page_size: page * page_size]), total


# --- invoices from sellers outside the demo (third parties) --------------------------------------------------------

THIRD_PARTY_SELLERS = (
    ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N", "3300",
     ("*信息技术服务*云服务器租用", "信息技术服务", "3040203000000000000", Decimal("0.06"))),
    ("北京京华办公用品有限公司", "91110105MA01JHBG2W", "1100",
     ("*纸制品*复印纸", "纸制品", "1060201070000000000", Decimal("0.13"))),
    ("上海申城物业管理有限公司", "91310104MA1FR3PW64", "3100",
     ("*物业管理服务*物业管理费", "物业管理服务", "3040802010000000000", Decimal("0.06"))),
)


def third_party_account(index: int) -> SandboxAccount:
    """The platform account of one of the third-party sellers (created once; never a demo entity's)."""
    name, credit_code, region, _item = THIRD_PARTY_SELLERS[index % len(THIRD_PARTY_SELLERS)]
    existing = SandboxAccount.objects.filter(credit_code=credit_code).first()
    if existing is not None:
        return existing
    return account_ensure(credit_code=credit_code, name=name, app_key=f"third-party-{credit_code}",
                          secret=uuid.uuid4().hex, region_code=region, monthly_quota=Decimal("1000000000.00"))


def received_seed(*, buyer_credit_code: str, buyer_name: str, count: int, days: int = 20,
                  prefix: str = "third-party") -> list[LedgerInvoice]:
    """Issue ``count`` invoices from the third-party sellers to a buyer, spread over the last ``days`` days (the
    platform's clock), so that the buyer's received list holds invoices it did not issue itself. Idempotent per
    ``prefix`` and index (the serial): a second call issues nothing new."""
    now = clock.now()
    out: list[LedgerInvoice] = []
    for i in range(count):
        account = third_party_account(i)
        _name, _code, _region, (item, short, tax_code, rate) = THIRD_PARTY_SELLERS[i % len(THIRD_PARTY_SELLERS)]
        serial = f"{prefix}-{buyer_credit_code}-{i:06d}"
        if LedgerInvoice.objects.filter(account=account, serial=serial).exists():
            continue
        with transaction.atomic():
            inv = _seed_one(account, serial, i, buyer_credit_code, buyer_name, item, short, tax_code, rate)
        back = timedelta(days=(days * (count - 1 - i)) // max(count, 1), minutes=i % 600)
        if back and inv.issued_at is not None:
            LedgerInvoice.objects.filter(pk=inv.pk).update(issued_at=now - back, accepted_at=now - back,
                                                           complete_at=now - back)
        out.append(inv)
    return out


def _seed_one(account: SandboxAccount, serial: str, i: int, buyer_credit_code: str, buyer_name: str, item: str,
              short: str, tax_code: str, rate: Decimal) -> LedgerInvoice:
    amount = Decimal(300 + (i * 137) % 9000).quantize(Decimal("0.01"))
    tax = (amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return invoice_submit(account=account, payload={
        "serial": serial, "kind": "81" if i % 3 else "82", "seller_credit_code": account.credit_code,
        "buyer": {"name": buyer_name, "tax_id": buyer_credit_code},
        "lines": [{"line_no": 1, "item_name": item, "short_name": short, "tax_code": tax_code,
                   "tax_rate": str(rate), "amount": str(amount), "tax": str(tax), "quantity": "1",
                   "unit_price": str(amount), "unit": "项"}],
        "total_amount": str(amount), "total_tax": str(tax), "total_with_tax": str(amount + tax),
        "remark": "第三方销售方开具（沙箱演示）", "drawer": "王芳",
    })


# --- deduction (§14.4, §14.5) --------------------------------------------------------------------------------------


def _period(value: str) -> str:
    if len(value) != 6 or not value.isdigit() or not 1 <= int(value[4:]) <= 12:
        raise SandboxError("3001", "所属期格式应为YYYYMM")
    return value


def _statistics(account: SandboxAccount, period: str, *, lock: bool = False) -> LedgerStatistics | None:
    qs = LedgerStatistics.objects.filter(account=account, period=period)
    return (qs.select_for_update() if lock else qs).first()


def deduction_select(*, account: SandboxAccount, payload: dict[str, Any]) -> list[tuple[str, bool, str, str]]:
    period = _period(_str(payload, "period"))
    if _statistics(account, period) is not None:
        raise SandboxError("3501", "本期已申请统计，请撤销统计表后再勾选")
    results = []
    for item in payload.get("items") or []:
        number = _str(item, "number")
        inv = LedgerInvoice.objects.select_for_update().filter(
            number=number, buyer_tax_id=account.credit_code, issue_state=IssueState.ISSUED
        ).first()
        if inv is None:
            results.append((number, False, "4004", "发票不存在或非本单位取得"))
            continue
        existing = LedgerSelection.objects.filter(invoice=inv).first()
        if not item.get("select", True):
            if existing is None or existing.period != period:
                results.append((number, False, "3502", "发票未在本期勾选"))
                continue
            existing.delete()
            inv.buyer_usage = ""
            inv.save(update_fields=["buyer_usage"])
            results.append((number, True, "", "撤销勾选成功"))
            continue
        if inv.is_red or inv.status in (LedgerStatus.VOIDED, LedgerStatus.RED_FULL):
            results.append((number, False, "3503", f"发票状态为{inv.get_status_display()}，不能勾选"))
            continue
        if existing is not None:
            results.append((number, False, "3504", f"发票已于{existing.period}勾选"))
            continue
        purpose = _str(item, "purpose") or "1"
        effective = _dec(item.get("effective_tax"), "effective_tax", required=False)
        if effective is None:
            effective = inv.total_tax
        LedgerSelection.objects.create(
            account=account, invoice=inv, period=period, purpose=purpose, effective_tax=effective,
            reason=_str(item, "reason", max_len=2),
        )
        inv.buyer_usage = purpose
        inv.save(update_fields=["buyer_usage"])
        results.append((number, True, "", "勾选成功"))
    return results


def statistics_to_dict(period: str, stats: LedgerStatistics | None) -> dict[str, Any]:
    if stats is None:
        return {"period": period, "status": "none", "count": 0, "amount": "0.00", "tax": "0.00",
                "not_deducted_count": 0}
    return {"period": period, "status": stats.status, "count": stats.count, "amount": str(stats.amount),
            "tax": str(stats.tax), "not_deducted_count": stats.not_deducted_count}


def deduction_statistics_apply(*, account: SandboxAccount, period: str) -> LedgerStatistics:
    period = _period(period)
    if _statistics(account, period) is not None:
        raise SandboxError("3501", "本期已申请统计")
    selections = LedgerSelection.objects.filter(account=account, period=period)
    deducted = selections.filter(purpose="1")
    sums = deducted.aggregate(amount=Sum("invoice__total_amount"), tax=Sum("effective_tax"))
    return LedgerStatistics.objects.create(
        account=account, period=period, status="generated", count=deducted.count(),
        amount=sums["amount"] or ZERO, tax=sums["tax"] or ZERO, not_deducted_count=selections.exclude(purpose="1").count(),
    )


def deduction_statistics_query(*, account: SandboxAccount, period: str) -> LedgerStatistics | None:
    """The account's 抵扣统计表 for ``period`` as it stands (None: not applied, the period is open); changes nothing."""
    return _statistics(account, _period(period))


def deduction_statistics_undo(*, account: SandboxAccount, period: str) -> None:
    stats = _statistics(account, _period(period), lock=True)
    if stats is None:
        raise SandboxError("3501", "本期尚未申请统计")
    if stats.status == "confirmed":
        raise SandboxError("3501", "本期已确认，请先撤销确认")
    stats.delete()


def deduction_confirm(*, account: SandboxAccount, period: str, undo: bool = False) -> LedgerStatistics:
    stats = _statistics(account, _period(period), lock=True)
    if stats is None:
        raise SandboxError("3501", "本期尚未申请统计")
    if undo:
        if stats.status != "confirmed":
            raise SandboxError("3501", "本期尚未确认")
        stats.status = "generated"
    else:
        if stats.status == "confirmed":
            raise SandboxError("3501", "本期已确认")
        stats.status = "confirmed"
    stats.save(update_fields=["status", "updated_at"])
    return stats
