"""Compliance checks on an invoice application, run at approval and again before issuing.

Each check is a named rule that reports every problem it finds as a ``RuleFailure(code, field, message)``; ``check``
runs all of them and returns every failure at once, so a user fixes an application in one go rather than one error
per round trip. Messages name the field or line, in the active language (``gettext`` when the rule runs: Chinese by
default, English for a request that asks for it); codes and field paths never change with the language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop, pgettext

from invoicing.formatting import money
from invoicing.ids import is_acceptable_tax_id, is_valid_id_card
from invoicing.models import CounterpartyKind, TaxCategory, Taxpayer
from invoicing.tax import (
    EXEMPT,
    LEVY_RATES,
    NOT_TAXABLE,
    LineAmounts,
    LineProperty,
    SequencedLine,
    check_tolerances,
    invoice_totals,
    rates_for_taxpayer_type,
    validate_line_sequence,
)
from issuing.base import ISSUABLE_KINDS, PAPER_KINDS, SPECIAL_KINDS
from issuing.billing.models import IssuingPolicy

SHUDIAN_MAX_LINES = 2000  # domain.md §5.3, counting discount lines
REMARK_MAX_BYTES = 450  # bz VARCHAR(450), domain.md §5.2; bytes or characters UNVERIFIED, so both are checked

# Per-channel limits (domain.md §5.2). The sandbox behaves like the 数电 data spec.
CHANNEL_LIMITS: dict[str, dict[str, int]] = {
    "sandbox": {"max_lines": SHUDIAN_MAX_LINES, "remark_bytes": REMARK_MAX_BYTES},
}
DEFAULT_CHANNEL_LIMITS = {"max_lines": SHUDIAN_MAX_LINES, "remark_bytes": REMARK_MAX_BYTES}


@dataclass(frozen=True)
class RuleFailure:
    code: str
    field: str
    message: str

    def __str__(self) -> str:
        return self.message


class ComplianceError(ValidationError):
    """An application failed one or more rules; ``failures`` holds all of them."""

    def __init__(self, failures: Sequence[RuleFailure]):
        self.failures = list(failures)
        super().__init__([ValidationError(f.message, code=f.code, params=None) for f in self.failures])


@dataclass
class CheckedLine:
    """What the rules need of a line (an ApplicationLine row fits, and so does a plain object)."""

    line_no: int
    item_name: str
    amount: Decimal
    tax: Decimal
    tax_rate: Decimal
    tax_category: TaxCategory | None
    line_property: int = LineProperty.NORMAL
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    favoured_policy: str = ""


@dataclass
class Context:
    """Everything the rules look at, gathered once (no queries inside rules)."""

    application: Any
    lines: list[Any]
    taxpayer: Taxpayer
    policy: IssuingPolicy | None
    quota_available: Decimal | None = None  # None: no quota known for the month, not enforced
    quota_month: str = ""
    sandbox: bool = False
    paper_stock: int | None = None  # blank sheets of the application's 数电纸票 kind left; None: not a paper kind
    extra: dict[str, Any] = field(default_factory=dict)


Rule = Callable[[Context], Iterable[RuleFailure]]
RULES: list[tuple[str, Rule]] = []


def rule(code: str) -> Callable[[Rule], Rule]:
    def register(func: Rule) -> Rule:
        RULES.append((code, func))
        func.rule_code = code  # type: ignore[attr-defined]
        return func

    return register


def _fail(code: str, field_name: str, message: str) -> RuleFailure:
    return RuleFailure(code=code, field=field_name, message=message)


# --- the buyer -------------------------------------------------------------------------------------------------------


@rule("kind_issuable")
def kind_issuable(ctx: Context):
    if ctx.application.kind not in ISSUABLE_KINDS:
        yield _fail(
            "kind_issuable",
            "kind",
            gettext("发票种类 %(kind)s 不能在本系统开具（仅支持数电专票、数电普票及数电纸票）") % {"kind": ctx.application.kind},
        )


@rule("buyer_name")
def buyer_name(ctx: Context):
    name = (ctx.application.buyer_name or "").strip()
    if not name:
        yield _fail("buyer_name", "buyer_name", gettext("购买方名称必须填写"))
    elif len(name) > 150:
        yield _fail("buyer_name", "buyer_name", gettext("购买方名称不能超过150个字符"))


@rule("buyer_tax_id")
def buyer_tax_id(ctx: Context):
    app = ctx.application
    tax_id = (app.buyer_tax_id or "").strip().upper()
    is_person = app.buyer_kind == CounterpartyKind.PERSON
    if app.kind in SPECIAL_KINDS and not tax_id:
        yield _fail("buyer_tax_id", "buyer_tax_id", gettext("专票必须填写购买方纳税人识别号"))
        return
    if not tax_id:
        if not is_person:
            yield _fail("buyer_tax_id", "buyer_tax_id", gettext("企业购买方必须填写纳税人识别号（个人可为空）"))
        return
    if is_person and is_valid_id_card(tax_id):
        return
    check = is_acceptable_tax_id(tax_id, sandbox=ctx.sandbox)
    if not check.ok:
        yield _fail(
            "buyer_tax_id",
            "buyer_tax_id",
            gettext("购买方纳税人识别号 %(tax_id)s 不可用：%(reason)s") % {"tax_id": tax_id, "reason": check.reason},
        )


@rule("special_buyer_details")
def special_buyer_details(ctx: Context):
    app = ctx.application
    if app.kind not in SPECIAL_KINDS:
        return
    if not (app.buyer_address or "").strip() or not (app.buyer_phone or "").strip():
        yield _fail("special_buyer_details", "buyer_address", gettext("专票必须填写购买方地址和电话"))
    if not (app.buyer_bank_name or "").strip() or not (app.buyer_bank_account or "").strip():
        yield _fail("special_buyer_details", "buyer_bank_name", gettext("专票必须填写购买方开户行和账号"))


@rule("natural_person")
def natural_person(ctx: Context):
    app = ctx.application
    if app.buyer_kind != CounterpartyKind.PERSON:
        return
    if app.kind in SPECIAL_KINDS:
        yield _fail("natural_person", "kind", gettext("购买方为自然人，不能开具专票，请改为普票"))


@rule("buyer_field_lengths")
def buyer_field_lengths(ctx: Context):
    app = ctx.application
    limits = (
        ("buyer_address", 300, gettext_noop("购买方地址")),
        ("buyer_phone", 60, gettext_noop("购买方电话")),
        ("buyer_bank_name", 120, gettext_noop("购买方开户行")),
        ("buyer_bank_account", 100, gettext_noop("购买方银行账号")),
    )
    for name, limit, label in limits:
        if len(getattr(app, name) or "") > limit:
            yield _fail(
                "buyer_field_lengths",
                name,
                gettext("%(field)s不能超过%(limit)s个字符") % {"field": capfirst(gettext(label)), "limit": limit},
            )


# --- lines -------------------------------------------------------------------------------------------------------------


@rule("lines_present")
def lines_present(ctx: Context):
    if not ctx.lines:
        yield _fail("lines_present", "lines", gettext("申请单没有明细行"))


@rule("line_count")
def line_count(ctx: Context):
    limits = CHANNEL_LIMITS.get(ctx.taxpayer.channel, DEFAULT_CHANNEL_LIMITS)
    limit = min(limits["max_lines"], ctx.taxpayer.max_lines_per_invoice or SHUDIAN_MAX_LINES)
    if len(ctx.lines) > limit:
        yield _fail(
            "line_count",
            "lines",
            gettext("明细行数 %(count)s 超过每张发票上限 %(limit)s 行（含折扣行），请拆分")
            % {"count": len(ctx.lines), "limit": limit},
        )


@rule("remark_length")
def remark_length(ctx: Context):
    remark = ctx.application.remark or ""
    limits = CHANNEL_LIMITS.get(ctx.taxpayer.channel, DEFAULT_CHANNEL_LIMITS)
    max_chars = ctx.policy.remark_max_chars if ctx.policy is not None else 150
    if len(remark) > max_chars:
        yield _fail(
            "remark_length",
            "remark",
            gettext("备注 %(count)s 个字符，超过通道上限 %(limit)s 个字符") % {"count": len(remark), "limit": max_chars},
        )
    elif len(remark.encode("utf-8")) > limits["remark_bytes"]:
        yield _fail("remark_length", "remark", gettext("备注超过 %(limit)s 字节") % {"limit": limits["remark_bytes"]})


@rule("tax_category_leaf")
def tax_category_leaf(ctx: Context):
    for ln in ctx.lines:
        cat = ln.tax_category
        if cat is None:
            yield _fail(
                "tax_category_leaf",
                f"lines[{ln.line_no}].tax_category",
                gettext("第%(line)s行缺少税收分类编码") % {"line": ln.line_no},
            )
        elif cat.is_summary:
            yield _fail(
                "tax_category_leaf",
                f"lines[{ln.line_no}].tax_category",
                gettext("第%(line)s行的税收分类编码 %(code)s（%(name)s）是汇总项，不能用于开票")
                % {"line": ln.line_no, "code": cat.code, "name": cat.name},
            )
        elif not cat.is_active:
            yield _fail(
                "tax_category_leaf",
                f"lines[{ln.line_no}].tax_category",
                gettext("第%(line)s行的税收分类编码 %(code)s（%(name)s）已停用")
                % {"line": ln.line_no, "code": cat.code, "name": cat.name},
            )


_ZERO_POLICIES = {EXEMPT.policy.value, NOT_TAXABLE.policy.value}  # type: ignore[union-attr]


@rule("rate_allowed")
def rate_allowed(ctx: Context):
    taxpayer_type = "small" if ctx.taxpayer.is_small_scale else "general"
    allowed = {o.rate.normalize() for o in rates_for_taxpayer_type(taxpayer_type)}
    levy = {r.normalize() for r in LEVY_RATES}
    for ln in ctx.lines:
        rate = Decimal(ln.tax_rate).normalize()
        where = f"lines[{ln.line_no}].tax_rate"
        shown = f"{(rate * 100).normalize()}%"
        if rate not in allowed:
            who = (
                gettext("小规模纳税人只能使用征收率（3%、1%、5%、1.5%）或免税")
                if taxpayer_type == "small"
                else gettext("一般纳税人")
            )
            yield _fail(
                "rate_allowed",
                where,
                gettext("第%(line)s行税率 %(rate)s 不适用：%(reason)s") % {"line": ln.line_no, "rate": shown, "reason": who},
            )
            continue
        cat = ln.tax_category
        if cat is None or not cat.allowed_rates:
            continue
        if taxpayer_type == "small" or rate in levy:
            continue  # 征收率 under the simplified method is not tied to the category's general rate
        if rate == 0 and (ln.favoured_policy or "") in _ZERO_POLICIES:
            continue
        if not cat.allows_rate(rate):
            rates = "、".join(f"{(Decimal(r) * 100).normalize()}%" for r in cat.allowed_rates)
            yield _fail(
                "rate_allowed",
                where,
                gettext("第%(line)s行税率 %(rate)s 不适用于税收分类 %(code)s（%(name)s，可用：%(rates)s）")
                % {"line": ln.line_no, "rate": shown, "code": cat.code, "name": cat.name, "rates": rates},
            )


@rule("negative_lines")
def negative_lines(ctx: Context):
    for ln in ctx.lines:
        if ln.amount < 0 and ln.line_property != LineProperty.DISCOUNT:
            yield _fail(
                "negative_lines",
                f"lines[{ln.line_no}].amount",
                gettext("第%(line)s行为负数：蓝字发票的负数只能是折扣行") % {"line": ln.line_no},
            )
    sequence = [
        SequencedLine(
            line_property=LineProperty(ln.line_property),
            item=ln.item_name,
            rate=Decimal(ln.tax_rate),
            amount=ln.amount,
        )
        for ln in ctx.lines
    ]
    for problem in validate_line_sequence(sequence):
        ln = ctx.lines[problem.index]
        text = SEQUENCE_MESSAGES.get(problem.message)
        yield _fail(
            "negative_lines",
            f"lines[{ln.line_no}]",
            gettext("第%(line)s行：%(problem)s")
            % {"line": ln.line_no, "problem": gettext(text) if text else problem.message},
        )


# invoicing.tax.validate_line_sequence's problems, as a user reads them.
SEQUENCE_MESSAGES = {
    "a discounted line must be immediately followed by its discount": gettext_noop("被折扣行后必须紧跟折扣行"),
    "a discounted line must be positive": gettext_noop("被折扣行金额必须为正数"),
    "a discount line must immediately follow its discounted line": gettext_noop("折扣行必须紧跟在被折扣行之后"),
    "a discount line must name the same item as its discounted line": gettext_noop("折扣行的项目名称必须与被折扣行一致"),
    "a discount line must carry the same rate as its discounted line": gettext_noop("折扣行的税率必须与被折扣行一致"),
    "a discount line must be negative": gettext_noop("折扣行金额必须为负数"),
    "the discount exceeds the discounted line": gettext_noop("折扣金额不能超过被折扣行金额"),
}


# 数量×单价 may differ from 金额 by a fen from rounding (split_line), and by another when a split cut the line.
QTY_PRICE_SLACK = Decimal("0.02")


@rule("line_amounts")
def line_amounts(ctx: Context):
    for ln in ctx.lines:
        where = f"lines[{ln.line_no}]"
        if (ln.quantity is None) != (ln.unit_price is None):
            yield _fail("line_amounts", where, gettext("第%(line)s行：数量和单价要么都填，要么都不填") % {"line": ln.line_no})
        elif ln.quantity is not None and ln.unit_price is not None:
            if ln.unit_price < 0:
                yield _fail("line_amounts", where, gettext("第%(line)s行：单价不能为负数") % {"line": ln.line_no})
            if ln.quantity == 0:
                yield _fail("line_amounts", where, gettext("第%(line)s行：数量不能为零") % {"line": ln.line_no})
            elif abs(ln.quantity * ln.unit_price - abs(ln.amount)) > QTY_PRICE_SLACK:
                yield _fail(
                    "line_amounts",
                    where,
                    gettext("第%(line)s行：数量×单价（%(product)s）与金额 %(amount)s 不符")
                    % {"line": ln.line_no, "product": money(ln.quantity * ln.unit_price), "amount": money(ln.amount)},
                )
        if ln.amount == 0 and ln.tax == 0:
            yield _fail("line_amounts", where, gettext("第%(line)s行：金额为零") % {"line": ln.line_no})


@rule("tolerance")
def tolerance(ctx: Context):
    lines = [LineAmounts(amount=ln.amount, tax=ln.tax, total=ln.amount + ln.tax, rate=Decimal(ln.tax_rate)) for ln in ctx.lines]
    if not lines:
        return
    report = check_tolerances(lines)
    for breach in report.line_breaches:
        ln = ctx.lines[breach.index]
        yield _fail(
            "tolerance",
            f"lines[{ln.line_no}].tax",
            gettext("第%(line)s行税额误差 %(error)s 超过 0.06") % {"line": ln.line_no, "error": f"{abs(breach.error):.6f}"},
        )
    for group in report.group_breaches:
        yield _fail(
            "tolerance",
            "lines",
            gettext("税率 %(rate)s%% 的明细税额累计误差 %(error)s 超过 1.27，请拆分开票或合并明细")
            % {"rate": (group.rate * 100).normalize(), "error": f"{abs(group.error):.2f}"},
        )


@rule("totals")
def totals(ctx: Context):
    app = ctx.application
    if not ctx.lines:
        return
    try:
        t = invoice_totals(
            LineAmounts(amount=ln.amount, tax=ln.tax, total=ln.amount + ln.tax, rate=Decimal(ln.tax_rate)) for ln in ctx.lines
        )
    except ValueError as exc:  # pragma: no cover - amount + tax is the total by construction
        yield _fail("totals", "lines", gettext("明细金额有误：%(error)s") % {"error": exc})
        return
    if (t.amount, t.tax, t.total) != (app.amount, app.tax, app.total):
        yield _fail(
            "totals",
            "total",
            gettext(
                "申请单合计（金额 %(amount)s，税额 %(tax)s，价税合计 %(total)s）"
                "与明细合计（%(lines_amount)s，%(lines_tax)s，%(lines_total)s）不符"
            )
            % {"amount": money(app.amount), "tax": money(app.tax), "total": money(app.total),
               "lines_amount": money(t.amount), "lines_tax": money(t.tax), "lines_total": money(t.total)},
        )
    if t.total <= 0:
        yield _fail("totals", "total", gettext("蓝字发票的价税合计必须大于0"))


@rule("quota")
def quota(ctx: Context):
    if ctx.quota_available is None:
        return
    if ctx.policy is not None and not ctx.policy.enforce_quota:
        return
    if ctx.application.amount > ctx.quota_available:
        yield _fail(
            "quota",
            "amount",
            gettext("%(month)s 剩余可用授信额度 %(available)s 不足以开具本申请（合计金额 %(amount)s）")
            % {"month": ctx.quota_month, "available": money(ctx.quota_available),
               "amount": money(ctx.application.amount)},
        )


@rule("paper_stock")
def paper_stock(ctx: Context):
    """A 数电纸票 (85 / 86) is printed on a blank sheet of the entity's paper stock (票仓); none left, none issued."""
    if ctx.paper_stock is None or ctx.application.kind not in PAPER_KINDS:
        return
    if ctx.paper_stock <= 0:
        yield _fail(
            "paper_stock",
            "kind",
            gettext("%(entity)s 没有%(kind)s的空白纸票库存，请先登记领用的纸票")
            % {"entity": ctx.taxpayer.name, "kind": ctx.application.get_kind_display()},
        )


# --- 特定业务 (domain.md §13.2) ---------------------------------------------------------------------------------

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
TRANSPORT_TYPES = {"1": "飞机", "2": "火车", "3": "长途汽车", "4": "公共交通", "5": "出租车", "6": "汽车", "7": "船舶", "9": "其他"}

# (key, label, max length, required)
CONSTRUCTION_FIELDS = (
    ("jzfwfsd", gettext_noop("建筑服务发生地"), 300, True),
    ("jzxmmc", gettext_noop("建筑项目名称"), 300, True),
    ("tdzzsxmbh", gettext_noop("土地增值税项目编号"), 40, False),
)
FREIGHT_FIELDS = (
    ("ysgjzl", gettext_noop("运输工具种类"), 30, False),
    ("ysgjph", gettext_noop("运输工具牌号"), 40, False),
    ("qyd", gettext_noop("起运地"), 300, True),
    ("ddd", gettext_noop("到达地"), 300, True),
    ("yshwmc", gettext_noop("运输货物名称"), 150, False),
)
LEASE_FIELDS = (
    ("cqzsbh", gettext_noop("产权证书/不动产权证号"), 40, False),
    ("bdczldz", gettext_noop("不动产坐落地址"), 300, True),
    ("zlqq", gettext_noop("租赁期起"), 19, True),
    ("zlqz", gettext_noop("租赁期止"), 19, True),
)
PASSENGER_FIELDS = (
    ("cxr", gettext_noop("出行人"), 150, True),
    ("cxrzjlxDm", gettext_noop("出行人证件类型"), 10, True),
    ("sfzjhm", gettext_noop("证件号码"), 30, True),
    ("chuxrq", gettext_noop("出行日期"), 19, True),
    ("cfd", gettext_noop("出发地"), 300, True),
    ("ddd", gettext_noop("到达地"), 300, True),
    ("zwdj", gettext_noop("座位等级"), 30, False),
    ("jtgjlxDm", gettext_noop("交通工具类型"), 1, True),
)
REAL_ESTATE_SALE_FIELDS = (
    ("cqzsbh", gettext_noop("产权证书/不动产权证号"), 40, False),
    ("bdczldz", gettext_noop("不动产坐落地址"), 300, True),
    ("wqhtbabh", gettext_noop("网签合同备案编号"), 30, False),
)

# 特定业务 code → (label, whether the data is a list of rows under "items", fields)
SPECIFIC_SPECS: dict[str, tuple[str, bool, tuple]] = {
    "03": (gettext_noop("建筑服务"), False, CONSTRUCTION_FIELDS),
    "04": (gettext_noop("货物运输服务"), True, FREIGHT_FIELDS),
    "05": (gettext_noop("不动产销售"), True, REAL_ESTATE_SALE_FIELDS),
    "06": (gettext_noop("不动产经营租赁"), True, LEASE_FIELDS),
    "09": (gettext_noop("旅客运输服务"), True, PASSENGER_FIELDS),
}


def _check_row(code: str, label: str, row: Any, fields: tuple, where: str) -> Iterable[RuleFailure]:
    if not isinstance(row, dict):
        yield _fail("specific_business", where, gettext("%(business)s：要素格式不正确") % {"business": label})
        return
    for key, name, limit, required in fields:
        value = str(row.get(key) or "").strip()
        field = {"business": label, "field": gettext(name), "key": key, "limit": limit}
        if required and not value:
            yield _fail(
                "specific_business", f"{where}.{key}", gettext("%(business)s：%(field)s（%(key)s）必须填写") % field
            )
        elif len(value) > limit:
            yield _fail(
                "specific_business",
                f"{where}.{key}",
                gettext("%(business)s：%(field)s（%(key)s）不能超过%(limit)s个字符") % field,
            )
    flag = row.get("kdsbz")
    if flag not in (None, "", "Y", "N"):
        yield _fail(
            "specific_business", f"{where}.kdsbz", gettext("%(business)s：跨地（市）标志只能是 Y 或 N") % {"business": label}
        )
    if code == "06":
        start, end = str(row.get("zlqq") or ""), str(row.get("zlqz") or "")
        if start and not _DATETIME.match(start) or end and not _DATETIME.match(end):
            yield _fail(
                "specific_business",
                f"{where}.zlqq",
                gettext("%(business)s：租赁期起止格式应为 YYYY-MM-DD") % {"business": label},
            )
        elif start and end and _parse(start) > _parse(end):
            yield _fail(
                "specific_business", f"{where}.zlqz", gettext("%(business)s：租赁期止不能早于租赁期起") % {"business": label}
            )
    if code == "09":
        kind = str(row.get("jtgjlxDm") or "")
        if kind and kind not in TRANSPORT_TYPES:
            yield _fail(
                "specific_business",
                f"{where}.jtgjlxDm",
                gettext("%(business)s：交通工具类型代码 %(code)s 无效") % {"business": label, "code": kind},
            )
        when = str(row.get("chuxrq") or "")
        if when and not _DATETIME.match(when):
            yield _fail(
                "specific_business",
                f"{where}.chuxrq",
                gettext("%(business)s：出行日期格式应为 YYYY-MM-DD") % {"business": label},
            )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value if " " in value else value + " 00:00:00")


@rule("specific_business")
def specific_business(ctx: Context):
    app = ctx.application
    code = app.specific_business or ""
    if not code:
        return
    spec = SPECIFIC_SPECS.get(code)
    if spec is None:
        yield _fail(
            "specific_business", "specific_business", gettext("特定业务 %(code)s 暂不支持在本系统开具") % {"code": code}
        )
        return
    name, is_list, fields = spec
    label = gettext(name)
    data = app.specific_business_data or {}
    if not isinstance(data, dict):
        yield _fail(
            "specific_business", "specific_business_data", gettext("%(business)s：要素格式不正确") % {"business": label}
        )
        return
    if is_list:
        rows = data.get("items")
        if not isinstance(rows, list) or not rows:
            yield _fail(
                "specific_business",
                "specific_business_data.items",
                gettext("%(business)s：至少需要一条特定业务要素") % {"business": label},
            )
            return
        for i, row in enumerate(rows, start=1):
            item = pgettext("specific business item", "%(business)s第%(n)s条") % {"business": label, "n": i}
            yield from _check_row(code, item, row, fields, f"specific_business_data.items[{i}]")
    else:
        yield from _check_row(code, label, data, fields, "specific_business_data")


# --- running them --------------------------------------------------------------------------------------------------


def check(ctx: Context, *, rules: Sequence[tuple[str, Rule]] | None = None) -> list[RuleFailure]:
    """Run every rule; return all failures (empty when the application is fine)."""
    failures: list[RuleFailure] = []
    for _code, func in rules if rules is not None else RULES:
        failures.extend(func(ctx))
    return failures


def raise_failures(failures: Sequence[RuleFailure]) -> None:
    """Refuse with every failure at once (a ``ComplianceError``, a ValidationError); nothing when there is none."""
    if failures:
        raise ComplianceError(failures)


def rule_codes() -> list[str]:
    return [code for code, _ in RULES]
