"""Receiving rules (收票规则): named checks of each pool record, configured per entity, run on arrival and again
before each use, all failures at once, stored per invoice with each rule's version (``InvoiceCheck``).

Each rule has a severity (``block``: the invoice may not be used until corrected or overridden; ``warn``: shown,
not blocking; ``off``) and parameters. An entity without a saved rule uses the rule's default (version 0). A bad
parameter is refused when the rule is saved (``receiving_rule_save``, also the admin form's ``clean``), never when
it runs: a run reads parameters already checked.

Finance may override a blocking failure with a reason (``received_invoice_rule_override``): the override is an
event and holds only while the invoice is as it was when overridden (its fingerprint over every field a rule reads):
any change lapses it, and the failure blocks again.

The engine (``evaluate``) is pure: it takes rows as dictionaries and a ``Context`` of everything preloaded for the
batch (entity, rules, seller register, neighbouring numbers, uses elsewhere, overrides), so that a run over 100k
records costs a handful of queries, not some per record.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import operator
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.actors import Actor, SystemActor, actor_label, actor_user
from invoicing.events import event_record, events_record_many
from invoicing.models import Taxpayer
from receiving.control_models import (
    InvoiceCheck,
    ReceivingRule,
    RuleOverride,
    RulesOutcome,
    Seller,
    SellerStatus,
    Severity,
)
from receiving.models import TICKET_KINDS, PlatformStatus, ReceivedInvoice, ReceivedInvoiceLine, RiskLevel, UseState
from receiving.services import authorize, tax_ids_match

logger = logging.getLogger(__name__)

P_RULES = "receiving.change_receivingrule"
P_OVERRIDE = "receiving.override_rule"
RULES_ACTOR = SystemActor("rules")

USED_STATES = frozenset({UseState.BOOKED, UseState.REIMBURSED, UseState.SELECTED})
USE_PURPOSES = frozenset({"use", "reimburse", "deduct", "book"})  # a run before a use: its own use counts too
FAILED_VERIFY_CODES = frozenset({"01", "02", "03", "04"})
CHUNK = 5000

# --- parameters ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    kind: str  # "days", "money", "words", "codes", "flag"
    default: Any
    label: str | Promise


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        for sep in ("，", "、", "\n", ";", "；"):
            value = value.replace(sep, ",")
        return [x.strip() for x in value.split(",") if x.strip()]
    if isinstance(value, (list, tuple)):
        return [str(x).strip() for x in value if str(x).strip()]
    raise ValueError


def clean_param(param: Param, value: Any) -> Any:
    """The parameter's value as stored, or ValueError with the reason in words."""
    if param.kind == "days":
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            raise ValueError(gettext("应为整数天数")) from None
        if not 1 <= number <= 3650:
            raise ValueError(gettext("应在 1 到 3650 天之间"))
        return number
    if param.kind == "money":
        try:
            amount = Decimal(str(value).replace(",", "").strip())
        except (InvalidOperation, ValueError):
            raise ValueError(gettext("应为金额")) from None
        if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e15"):
            raise ValueError(gettext("应为大于 0 的金额"))
        return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    if param.kind in ("words", "codes"):
        try:
            items = _as_list(value)
        except ValueError:
            raise ValueError(gettext("应为列表，用逗号分隔")) from None
        if len(items) > 500:
            raise ValueError(gettext("最多 500 项"))
        for item in items:
            if len(item) > 60:
                raise ValueError(gettext("“%(item)s”过长（最多 60 个字符）") % {"item": item[:60]})
            if param.kind == "codes" and (not item.isdigit() or len(item) > 19):
                raise ValueError(gettext("“%(item)s”不是税收分类编码（最多 19 位数字）") % {"item": item})
        return items
    if param.kind == "flag":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "是"):
            return True
        if text in ("0", "false", "no", "否", ""):
            return False
        raise ValueError(gettext("应为“是”或“否”"))
    raise ValueError(param.kind)


# --- the rules -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str | Promise
    severity: str
    params: dict[str, Param] = field(default_factory=dict)
    help: str | Promise = ""


SPECS: dict[str, RuleSpec] = {s.code: s for s in (
    RuleSpec("buyer_name", _("购买方名称与本主体不一致"), Severity.BLOCK,
             help=_("全角与半角括号、空格视为相同")),
    RuleSpec("buyer_tax_id", _("购买方纳税人识别号与本主体不一致"), Severity.BLOCK),
    RuleSpec("seller_blacklist", _("销售方在黑名单"), Severity.BLOCK),
    RuleSpec("seller_not_active", _("销售方未核实为正常经营"), Severity.OFF,
             help=_("依据销售方名录中核实的纳税人状态")),
    RuleSpec("consecutive_numbers", _("同一销售方连号发票"), Severity.WARN,
             {"days": Param("days", 30, _("天数内"))}),
    RuleSpec("duplicate_use", _("已报销或已入账（重复使用）"), Severity.BLOCK),
    RuleSpec("platform_status", _("发票状态异常"), Severity.BLOCK,
             help=_("作废、全额红冲、失控、异常凭证、疑点发票；部分红冲仅提醒，未冲部分可用")),
    RuleSpec("verification", _("查验失败或不一致"), Severity.BLOCK,
             {"require_verified": Param("flag", False, _("未查验也视为未通过"))}),
    RuleSpec("issue_date_age", _("开票日期过久"), Severity.WARN,
             {"days": Param("days", 360, _("超过天数"))}),
    RuleSpec("second_approver", _("金额超过限额需第二审批人"), Severity.WARN,
             {"amount": Param("money", "10000.00", _("价税合计超过"))}),
    RuleSpec("not_reimbursable", _("含不可报销项目"), Severity.BLOCK,
             {"names": Param("words", ["礼品", "礼券", "购物卡"], _("项目名称包含")),
              "tax_codes": Param("codes", [], _("税收分类编码开头为"))}),
    RuleSpec("ticket_passenger", _("客票无旅客姓名"), Severity.BLOCK),
)}


def clean_params(code: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of rule ``code`` checked (defaults filled); ValidationError naming the rule and parameter."""
    spec = SPECS.get(code)
    if spec is None:
        raise ValidationError({"code": gettext("未知的规则：%(code)s") % {"code": code}})
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    errors: list[str] = []
    if unknown:
        errors.append(gettext("规则“%(rule)s”没有参数 %(names)s") % {"rule": spec.name, "names": "、".join(unknown)})
    cleaned: dict[str, Any] = {}
    for name, param in spec.params.items():
        try:
            cleaned[name] = clean_param(param, params[name]) if name in params else param.default
        except ValueError as exc:
            errors.append(gettext("规则“%(rule)s”的参数“%(param)s”（%(name)s）：%(why)s") % {
                "rule": spec.name, "param": param.label, "name": name, "why": exc})
    if errors:
        raise ValidationError({"params": errors})
    return cleaned


@dataclass(frozen=True)
class ActiveRule:
    code: str
    severity: str
    version: int
    params: dict[str, Any]


def entity_rules(taxpayer_id: int) -> dict[str, ActiveRule]:
    """The entity's rules: saved ones over the defaults (version 0). A saved parameter that no longer passes its
    check (changed by hand in the database) falls back to the defaults rather than failing the run."""
    return rules_in_effect([taxpayer_id])[taxpayer_id]


def rules_in_effect(taxpayer_ids: Sequence[int]) -> dict[int, dict[str, ActiveRule]]:
    """``entity_rules`` for several entities at once (one query): what the rules page shows as in effect, the
    defaults included, so that an entity that never saved a rule still sees every rule that runs."""
    saved: dict[int, dict[str, ReceivingRule]] = {pk: {} for pk in taxpayer_ids}
    for found in ReceivingRule.objects.filter(taxpayer_id__in=taxpayer_ids):
        saved[found.taxpayer_id][found.code] = found
    out: dict[int, dict[str, ActiveRule]] = {}
    for pk, rows in saved.items():
        out[pk] = {}
        for code, spec in SPECS.items():
            row = rows.get(code)
            if row is None:
                out[pk][code] = ActiveRule(code, spec.severity, 0, clean_params(code, {}))
                continue
            try:
                params = clean_params(code, row.params)
            except ValidationError:
                logger.warning("rule %s of entity %s has bad parameters; defaults used", code, pk)
                params = clean_params(code, {})
            out[pk][code] = ActiveRule(code, row.severity, row.version, params)
    return out


def receiving_rule_save(*, taxpayer: Taxpayer, code: str, severity: str, params: dict[str, Any] | None,
                        actor: Actor) -> ReceivingRule:
    """Create or change an entity's rule. A bad severity or parameter is refused here, with the rule and the
    parameter named; each change bumps the version."""
    authorize(actor, taxpayer.pk, P_RULES)
    if severity not in Severity.values:
        raise ValidationError({"severity": gettext("级别应为阻止、提醒或关闭")})
    cleaned = clean_params(code, params)
    with transaction.atomic():
        rule = ReceivingRule.objects.select_for_update().filter(taxpayer=taxpayer, code=code).first()
        before = None if rule is None else {"severity": rule.severity, "params": rule.params, "version": rule.version}
        if rule is None:
            rule = ReceivingRule.objects.create(taxpayer=taxpayer, code=code, severity=severity, params=cleaned)
            action = "rule_create"
        else:
            if rule.severity == severity and rule.params == cleaned:
                return rule
            rule.severity, rule.params, rule.version = severity, cleaned, rule.version + 1
            rule.save()
            action = "rule_change"
        event_record(obj=rule, action=action, actor=actor, from_state=(before or {}).get("severity", ""),
                     to_state=rule.severity,
                     data={"code": code, "version": rule.version, "params": cleaned,
                           "before": before}, taxpayer=taxpayer)
    return rule


# --- the engine ----------------------------------------------------------------------------------------------------

ROW_FIELDS = ("id", "taxpayer_id", "kind", "code", "number", "issue_date", "seller_name", "seller_tax_id",
              "buyer_name", "buyer_tax_id", "amount", "tax", "total", "check_code", "passenger_name",
              "platform_status", "platform_status_code", "risk_level", "is_red", "use_state")
FINGERPRINT_FIELDS = tuple(f for f in ROW_FIELDS if f not in ("id", "taxpayer_id", "use_state"))


@functools.lru_cache(maxsize=4096)
def norm_name(value: str) -> str:
    """Names compared as a person reads them: full-width and half-width brackets and letters alike (NFKC), spaces
    of any width removed, 【】〔〕［］ read as round brackets."""
    text = unicodedata.normalize("NFKC", value or "")
    for a, b in (("【", "("), ("】", ")"), ("〔", "("), ("〕", ")"), ("[", "("), ("]", ")")):
        text = text.replace(a, b)
    return "".join(text.split())


_fingerprint_values = operator.itemgetter(*FINGERPRINT_FIELDS)


def invoice_fingerprint(row: dict[str, Any], lines: Sequence[tuple[str, str]]) -> str:
    """Everything a rule reads of one invoice: any change to it lapses an override."""
    text = "\x1e".join(map(str, _fingerprint_values(row)))
    if lines:
        text += "\x1d" + "\x1e".join(f"{name}\x1f{code}" for name, code in lines)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class Context:
    """What a batch of evaluations needs, loaded once."""

    taxpayer_id: int
    entity_name: str
    entity_tax_id: str
    rules: dict[str, ActiveRule]
    sellers: dict[str, tuple[bool, str, str]]  # tax id → (blacklisted, reason, status)
    neighbours: dict[tuple[str, str, int], dict[int, list[date]]]  # (seller, code, len) → number → dates
    used_elsewhere: set[tuple[str, str]]  # (code, number) used by another entity
    overrides: dict[int, dict[str, str]]  # invoice id → rule → fingerprint
    verify_codes: dict[int, str]
    purpose: str = "arrival"
    today: date = field(default_factory=timezone.localdate)
    on: frozenset[str] = frozenset()
    not_reimbursable: re.Pattern[str] | None = None  # item names on the list
    not_reimbursable_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.on = frozenset(code for code, r in self.rules.items() if r.severity != Severity.OFF)
        words = self.rules["not_reimbursable"].params["names"]
        self.not_reimbursable = re.compile("|".join(map(re.escape, words))) if words else None
        self.not_reimbursable_codes = tuple(self.rules["not_reimbursable"].params["tax_codes"])


def _failure(rule: ActiveRule, message: str, severity: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"rule": rule.code, "version": rule.version, "severity": severity or rule.severity, "message": message,
            **extra}


def _neighbour_key(row: Mapping[str, Any]) -> tuple[tuple[str, str, int], int] | None:
    number = row["number"]
    if not row["seller_tax_id"] or not number.isdigit() or row["kind"] in TICKET_KINDS:
        return None
    return (row["seller_tax_id"], row["code"], len(number)), int(number)


def evaluate(row: dict[str, Any], lines: Sequence[tuple[str, str]], ctx: Context) -> list[dict[str, Any]]:
    """Every failing rule of one invoice (rules that are off are not run)."""
    out: list[dict[str, Any]] = []
    rules, on = ctx.rules, ctx.on
    if ("buyer_name" in on and row["buyer_name"] and row["buyer_name"] != ctx.entity_name
            and norm_name(row["buyer_name"]) != norm_name(ctx.entity_name)):
        out.append(_failure(rules["buyer_name"], gettext("购买方名称“%(buyer)s”与本主体“%(entity)s”不一致") % {
            "buyer": row["buyer_name"], "entity": ctx.entity_name}, field="buyer_name"))
    if ("buyer_tax_id" in on and row["buyer_tax_id"] and row["buyer_tax_id"] != ctx.entity_tax_id
            and not tax_ids_match(row["buyer_tax_id"], ctx.entity_tax_id)):
        out.append(_failure(rules["buyer_tax_id"], gettext("购买方纳税人识别号 %(buyer)s 与本主体 %(entity)s 不一致") % {
            "buyer": row["buyer_tax_id"], "entity": ctx.entity_tax_id}, field="buyer_tax_id"))
    seller = ctx.sellers.get(row["seller_tax_id"]) if row["seller_tax_id"] else None
    if "seller_blacklist" in on and seller is not None and seller[0]:
        out.append(_failure(rules["seller_blacklist"], gettext("销售方 %(seller)s 在黑名单：%(reason)s") % {
            "seller": row["seller_name"] or row["seller_tax_id"], "reason": seller[1] or "-"}, field="seller_tax_id"))
    if "seller_not_active" in on and (seller is None or seller[2] != SellerStatus.ACTIVE):
        out.append(_failure(rules["seller_not_active"], gettext("销售方 %(seller)s 未核实为正常经营") % {
            "seller": row["seller_name"] or row["seller_tax_id"] or "-"}, field="seller_tax_id"))
    if "consecutive_numbers" in on and row["issue_date"] is not None:
        key = row["_nkey"] if "_nkey" in row else _neighbour_key(row)
        if key is not None:
            numbers = ctx.neighbours.get(key[0])
            n = key[1]
            if numbers and (n - 1 in numbers or n + 1 in numbers):
                r = rules["consecutive_numbers"]
                window = timedelta(days=r.params["days"])
                near = [n + d for d in (-1, 1)
                        if any(abs(day - row["issue_date"]) <= window for day in numbers.get(n + d, ()))]
                if near:
                    width = key[0][2]
                    out.append(_failure(r, gettext("同一销售方 %(days)s 天内有连号发票：%(numbers)s") % {
                        "days": r.params["days"], "numbers": "、".join(str(x).zfill(width) for x in near)},
                        field="number"))
    if "duplicate_use" in on:
        if ctx.used_elsewhere and (row["code"], row["number"]) in ctx.used_elsewhere:
            out.append(_failure(rules["duplicate_use"], gettext("这张发票已在其他主体报销或入账"), field="number"))
        elif ctx.purpose in USE_PURPOSES and row["use_state"] in USED_STATES:
            out.append(_failure(rules["duplicate_use"], gettext("这张发票已使用（%(state)s），不能再次使用") % {
                "state": UseState(row["use_state"]).label}, field="use_state"))
    if "platform_status" in on:
        status, risk = row["platform_status"], row["risk_level"]
        if status and status != PlatformStatus.NORMAL:
            r = rules["platform_status"]
            if status == PlatformStatus.RED_PARTIAL:
                # domain.md §14.3: a partly red-flushed invoice stays valid for its unflushed part: a warning at most
                out.append(_failure(r, gettext("发票已部分红冲：仅未冲销部分可用"), severity=Severity.WARN,
                                    field="platform_status"))
            elif status in BAD_STATUSES:
                out.append(_failure(r, gettext("发票状态为%(status)s") % {"status": PlatformStatus(status).label},
                                    field="platform_status"))
        if risk in BAD_RISKS:
            out.append(_failure(rules["platform_status"], gettext("风险等级为%(risk)s") % {
                "risk": RiskLevel(risk).label}, field="risk_level"))
    if "verification" in on:
        code = ctx.verify_codes.get(row["id"], "")
        if code in FAILED_VERIFY_CODES:
            out.append(_failure(rules["verification"], gettext("查验结果 %(code)s：%(words)s") % {
                "code": code, "words": VERIFY_WORDS.get(code, "")}, field="verification"))
        elif not code and rules["verification"].params["require_verified"]:
            out.append(_failure(rules["verification"], gettext("尚未查验"), field="verification"))
    if "issue_date_age" in on and row["issue_date"] is not None:
        days = rules["issue_date_age"].params["days"]
        if (ctx.today - row["issue_date"]).days > days:
            out.append(_failure(rules["issue_date_age"], gettext("开票日期 %(date)s 已超过 %(days)s 天") % {
                "date": row["issue_date"].isoformat(), "days": days}, field="issue_date"))
    if "second_approver" in on and row["total"] is not None:
        limit = Decimal(rules["second_approver"].params["amount"])
        if row["total"] > limit:
            out.append(_failure(rules["second_approver"], gettext("价税合计 %(total)s 超过 %(limit)s，需第二审批人") % {
                "total": f"{row['total']:,.2f}", "limit": f"{limit:,.2f}"}, field="total", second_approver=True))
    if "not_reimbursable" in on and lines:
        pattern, codes = ctx.not_reimbursable, ctx.not_reimbursable_codes
        hits = [name for name, tax_code in lines
                if (pattern is not None and pattern.search(name)) or (codes and tax_code.startswith(codes))]
        if hits:
            out.append(_failure(rules["not_reimbursable"], gettext("含不可报销项目：%(items)s") % {
                "items": "、".join(hits[:5])}, field="lines"))
    if "ticket_passenger" in on and row["kind"] in TICKET_KINDS and not (row["passenger_name"] or "").strip():
        out.append(_failure(rules["ticket_passenger"], gettext("客票没有旅客姓名"), field="passenger_name"))
    return out


BAD_STATUSES = frozenset({PlatformStatus.VOIDED, PlatformStatus.RED_FULL, PlatformStatus.OUT_OF_CONTROL,
                          PlatformStatus.ABNORMAL})
BAD_RISKS = frozenset({RiskLevel.ABNORMAL, RiskLevel.SUSPECT})


VERIFY_WORDS = {"01": _("查验失败"), "02": _("查无此票"), "03": _("查验不一致"), "04": _("非本单位开具或取得")}


def outcome_of(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return RulesOutcome.PASS
    blocking = [f for f in failures if f["severity"] == Severity.BLOCK]
    if any(not f.get("overridden") for f in blocking):
        return RulesOutcome.BLOCK
    if blocking:
        return RulesOutcome.OVERRIDDEN
    if failures:
        return RulesOutcome.WARN
    return RulesOutcome.PASS


# --- loading a batch -----------------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_rows(taxpayer_id: int, invoice_ids: Sequence[int] | None) -> tuple[list[dict[str, Any]],
                                                                            dict[int, list[tuple[str, str]]]]:
    """The invoices (all of the entity's, or these) and their lines' (name, tax code), in two or a few queries."""
    qs = ReceivedInvoice.objects.filter(taxpayer_id=taxpayer_id)
    line_qs = ReceivedInvoiceLine.objects.filter(invoice__taxpayer_id=taxpayer_id)
    rows: list[dict[str, Any]] = []
    lines: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if invoice_ids is None:
        rows = list(qs.order_by().values(*ROW_FIELDS))
        for invoice_id, name, code in line_qs.order_by("invoice_id", "line_no").values_list(
                "invoice_id", "item_name", "tax_code"):
            lines[invoice_id].append((name, code))
        return rows, lines
    for chunk in _chunks(list(invoice_ids)):
        rows.extend(qs.filter(pk__in=chunk).order_by().values(*ROW_FIELDS))
        for invoice_id, name, code in line_qs.filter(invoice_id__in=chunk).order_by("invoice_id", "line_no") \
                .values_list("invoice_id", "item_name", "tax_code"):
            lines[invoice_id].append((name, code))
    return rows, lines


def build_context(taxpayer: Taxpayer, rows: list[dict[str, Any]], *, whole_entity: bool,
                  purpose: str = "arrival") -> Context:
    rules = entity_rules(taxpayer.pk)
    on = {code for code, r in rules.items() if r.severity != Severity.OFF}
    sellers = {s[0]: (s[1], s[2], s[3]) for s in Seller.objects.filter(taxpayer=taxpayer).values_list(
        "tax_id", "blacklisted", "reason", "status")} if on & {"seller_blacklist", "seller_not_active"} else {}
    neighbours: dict[tuple[str, str, int], dict[int, list[date]]] = defaultdict(lambda: defaultdict(list))
    if "consecutive_numbers" in on:
        if whole_entity:
            for row in rows:
                row["_nkey"] = _neighbour_key(row)  # evaluate reads it instead of computing it again
            source: Iterable[Mapping[str, Any]] = rows
        else:
            wanted: set[str] = set()
            sellers_wanted: set[str] = set()
            for row in rows:
                key = _neighbour_key(row)
                if key is not None:
                    width = key[0][2]
                    wanted.update(str(key[1] + d).zfill(width) for d in (-1, 1))
                    sellers_wanted.add(row["seller_tax_id"])
            fetched: list[Mapping[str, Any]] = []
            for chunk in _chunks(sorted(wanted)):
                fetched.extend(ReceivedInvoice.objects.filter(
                    taxpayer=taxpayer, number__in=chunk, seller_tax_id__in=sellers_wanted).order_by().values(
                    "seller_tax_id", "code", "number", "kind", "issue_date"))
            source = fetched
        for neighbour in source:
            key = neighbour["_nkey"] if whole_entity else _neighbour_key(neighbour)
            if key is not None and neighbour["issue_date"] is not None:
                neighbours[key[0]][key[1]].append(neighbour["issue_date"])
    used: set[tuple[str, str]] = set()
    if "duplicate_use" in on:
        others = (ReceivedInvoice.objects.filter(use_state__in=sorted(USED_STATES)).exclude(taxpayer=taxpayer)
                  .order_by())
        if whole_entity:  # one semi-join: this pool's records that another entity holds as used
            theirs = others.filter(number=OuterRef("number"), code=OuterRef("code"))
            used.update(ReceivedInvoice.objects.filter(taxpayer=taxpayer).filter(Exists(theirs)).order_by()
                        .values_list("code", "number"))
        else:
            for chunk in _chunks(sorted({row["number"] for row in rows})):
                used.update(others.filter(number__in=chunk).values_list("code", "number"))
    ids = [row["id"] for row in rows]
    overrides: dict[int, dict[str, str]] = defaultdict(dict)
    checks: dict[int, str] = {}
    override_qs = RuleOverride.objects.filter(active=True, invoice__taxpayer=taxpayer)
    check_qs = InvoiceCheck.objects.filter(taxpayer=taxpayer)
    if whole_entity:
        override_rows = list(override_qs.values_list("invoice_id", "rule", "fingerprint"))
        checks = dict(check_qs.values_list("invoice_id", "verify_code"))
    else:
        override_rows = []
        for chunk in _chunks(ids):
            override_rows.extend(override_qs.filter(invoice_id__in=chunk).values_list("invoice_id", "rule",
                                                                                      "fingerprint"))
            checks.update(check_qs.filter(invoice_id__in=chunk).values_list("invoice_id", "verify_code"))
    for invoice_id, rule, fp in override_rows:
        overrides[invoice_id][rule] = fp
    return Context(taxpayer_id=taxpayer.pk, entity_name=taxpayer.name, entity_tax_id=taxpayer.credit_code,
                   rules=rules, sellers=sellers, neighbours=neighbours, used_elsewhere=used, overrides=overrides,
                   verify_codes=checks, purpose=purpose)


# --- running and storing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The rules' answer for one invoice."""

    invoice_id: int
    outcome: str
    failures: list[dict[str, Any]]
    needs_second_approver: bool

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [f for f in self.failures if f["severity"] == Severity.BLOCK and not f.get("overridden")]

    @property
    def usable(self) -> bool:
        return not self.blocking


@dataclass
class RunReport:
    checked: int = 0
    changed: int = 0
    lapsed: int = 0
    verdicts: dict[int, Verdict] = field(default_factory=dict)


def _signature(failures: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return sorted((f["rule"], f["severity"], bool(f.get("overridden"))) for f in failures)


def rules_run(*, taxpayer: Taxpayer, actor: Actor, invoice_ids: Sequence[int] | None = None,
              purpose: str = "arrival", keep_verdicts: bool = False) -> RunReport:
    """Run the entity's rules over its pool (or these records), store each record's result (all failures, each
    rule's version), lapse overrides of records that changed, and record an event for every record whose result
    changed (the first clean pass of a new record is no news: its arrival is the event)."""
    rows, lines = load_rows(taxpayer.pk, invoice_ids)
    report = RunReport()
    if not rows:
        return report
    ctx = build_context(taxpayer, rows, whole_entity=invoice_ids is None, purpose=purpose)
    # what is stored: the outcome and a digest of the invoice and its failures (the failures are read only for the
    # records whose result changed, to tell whether the change is news)
    stored: dict[int, tuple[str, str]] = {}
    check_qs = InvoiceCheck.objects.filter(taxpayer=taxpayer)
    if invoice_ids is None:
        stored = {r[0]: (r[1], r[2]) for r in check_qs.values_list("invoice_id", "rules_outcome",
                                                                    "rules_fingerprint")}
    else:
        for chunk in _chunks([row["id"] for row in rows]):
            stored.update({r[0]: (r[1], r[2]) for r in check_qs.filter(invoice_id__in=chunk)
                           .values_list("invoice_id", "rules_outcome", "rules_fingerprint")})
    at = connection.ops.adapt_datetimefield_value(timezone.now())
    upserts: list[tuple[Any, ...]] = []
    changed: list[tuple[int, str, list[dict[str, Any]], str]] = []  # id, outcome, failures, old outcome
    lapsed: list[tuple[int, str]] = []
    for row in rows:
        invoice_lines = lines.get(row["id"], ())
        fp = invoice_fingerprint(row, invoice_lines)
        failures = evaluate(row, invoice_lines, ctx)
        granted = ctx.overrides.get(row["id"])
        if granted:
            for f in failures:
                if f["severity"] == Severity.BLOCK and f["rule"] in granted:
                    if granted[f["rule"]] == fp:
                        f["overridden"] = True
                    else:
                        lapsed.append((row["id"], f["rule"]))
            lapsed.extend((row["id"], rule) for rule, rule_fp in granted.items()
                          if rule_fp != fp and not any(f["rule"] == rule for f in failures))
        outcome = outcome_of(failures)
        report.checked += 1
        second = bool(failures) and any(f.get("second_approver") for f in failures)
        if keep_verdicts:
            report.verdicts[row["id"]] = Verdict(row["id"], outcome, failures, second)
        as_json = json.dumps(failures, ensure_ascii=False) if failures else "[]"
        digest = hashlib.blake2b(f"{fp}{as_json}".encode(), digest_size=16).hexdigest() if failures else fp
        before = stored.get(row["id"])
        if before is not None and before[0] == outcome and before[1] == digest:
            continue
        report.changed += 1
        upserts.append((row["id"], taxpayer.pk, str(outcome), as_json, digest, at, second))
        old_outcome = before[0] if before is not None else ""
        if old_outcome or outcome != RulesOutcome.PASS:
            changed.append((row["id"], outcome, failures, old_outcome))
    events = _change_events(changed, taxpayer=taxpayer, actor=actor, purpose=purpose)
    upserts.sort(key=operator.itemgetter(0))  # rows locked in one order by every run: no deadlock between runs
    with transaction.atomic():
        _store(upserts)
        if lapsed:
            _lapse(lapsed, taxpayer=taxpayer, actor=actor)
            report.lapsed = len(lapsed)
        for chunk in _chunks(events, 2000):
            events_record_many(list(chunk))
    return report


def _change_events(changed: list[tuple[int, str, list[dict[str, Any]], str]], *, taxpayer: Taxpayer, actor: Actor,
                   purpose: str) -> list[dict[str, Any]]:
    """An event for each record whose outcome or set of failing rules changed (a new text alone is no news)."""
    before: dict[int, list[dict[str, Any]]] = {}
    known = [invoice_id for invoice_id, _outcome, _failures, old in changed if old]
    for chunk in _chunks(known):
        before.update(InvoiceCheck.objects.filter(invoice_id__in=chunk).values_list("invoice_id", "rules_failures"))
    label, user = actor_label(actor), actor_user(actor)
    events = []
    for invoice_id, outcome, failures, old_outcome in changed:
        if old_outcome == outcome and _signature(before.get(invoice_id, [])) == _signature(failures):
            continue
        events.append({"obj": ReceivedInvoice(id=invoice_id), "action": "rules_check", "actor": user,
                       "actor_label": label, "from_state": old_outcome, "to_state": outcome,
                       "reason": "；".join(f["message"] for f in failures)[:500],
                       "data": {"purpose": purpose, "failures": [
                           {"rule": f["rule"], "version": f["version"], "severity": f["severity"],
                            "overridden": bool(f.get("overridden"))} for f in failures]},
                       "taxpayer": taxpayer})
    return events


def _store(rows: list[tuple[Any, ...]]) -> None:
    """Upsert the rule results (invoice, entity, outcome, failures JSON, fingerprint, when, second approver) in one
    statement per chunk; a new row starts with no verification. The verification columns of an existing row are
    left alone (verification writes them under its own lock)."""
    if not rows:
        return
    table = connection.ops.quote_name(InvoiceCheck._meta.db_table)
    columns = ("(invoice_id, taxpayer_id, verify_code, verify_pending, verify_message, verify_differences, "
               "verify_fingerprint, verify_status_code, verified_at, verified_by_id, verified_by_label, rules_outcome, "
               "rules_failures, rules_fingerprint, rules_checked_at, needs_second_approver)")
    conflict = ("ON CONFLICT (invoice_id) DO UPDATE SET rules_outcome = EXCLUDED.rules_outcome, "
                "rules_failures = EXCLUDED.rules_failures, rules_fingerprint = EXCLUDED.rules_fingerprint, "
                "rules_checked_at = EXCLUDED.rules_checked_at, needs_second_approver = EXCLUDED.needs_second_approver")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY into a scratch table, then one upsert from it
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS receiving_rule_results (invoice_id bigint, taxpayer_id bigint, "
                "rules_outcome varchar(10), rules_failures jsonb, rules_fingerprint varchar(64), "
                "rules_checked_at timestamptz, needs_second_approver boolean)")
            cursor.execute("TRUNCATE receiving_rule_results")
            with cursor.cursor.copy("COPY receiving_rule_results FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} {columns} SELECT invoice_id, taxpayer_id, '', FALSE, '', '[]', '', '', NULL, "
                "NULL, '', rules_outcome, rules_failures, rules_fingerprint, rules_checked_at, needs_second_approver "
                f"FROM receiving_rule_results ORDER BY invoice_id {conflict}")
            cursor.execute("TRUNCATE receiving_rule_results")
            return
        cursor.executemany(f"INSERT INTO {table} {columns} VALUES "
                           f"(%s, %s, '', FALSE, '', '[]', '', '', NULL, NULL, '', %s, %s, %s, %s, %s) {conflict}",
                           rows)


def _lapse(lapsed: list[tuple[int, str]], *, taxpayer: Taxpayer, actor: Actor) -> None:
    for invoice_id, rule in lapsed:
        n = RuleOverride.objects.filter(invoice_id=invoice_id, rule=rule, active=True).update(active=False)
        if n:
            event_record(obj=ReceivedInvoice(id=invoice_id), action="rule_override_lapse", actor=actor,
                         reason=gettext("发票已变更，规则“%(rule)s”的放行失效") % {"rule": SPECS[rule].name},
                         data={"rule": rule}, taxpayer=taxpayer)


def received_invoice_rules_check(*, record: ReceivedInvoice, actor: Actor, purpose: str = "use") -> Verdict:
    """Run the rules for one record now (before a use, or on request) and answer with its verdict."""
    authorize(actor, record.taxpayer_id)
    taxpayer = Taxpayer.objects.get(pk=record.taxpayer_id)
    report = rules_run(taxpayer=taxpayer, actor=actor, invoice_ids=[record.pk], purpose=purpose, keep_verdicts=True)
    return report.verdicts[record.pk]


def run_after_change(invoice_id: int, *, actor: Actor = RULES_ACTOR) -> None:
    """Re-run one record's rules after something it depends on changed (arrival, a file attached, a verification,
    a correction). Called after the change has committed; a failure here is logged, the change stands, and the
    rules run again before any use."""
    try:
        taxpayer_id = ReceivedInvoice.objects.filter(pk=invoice_id).values_list("taxpayer_id", flat=True).first()
        if taxpayer_id is None:
            return
        rules_run(taxpayer=Taxpayer.objects.get(pk=taxpayer_id), actor=actor, invoice_ids=[invoice_id])
    except Exception:
        logger.exception("receiving rules could not run for invoice %s", invoice_id)


def on_arrival(sender: Any, *, invoice_id: int, **_kwargs: Any) -> None:
    """Receiver of ``receiving.signals.invoice_arrived``."""
    run_after_change(invoice_id)


# --- overrides -----------------------------------------------------------------------------------------------------


def received_invoice_rule_override(*, record: ReceivedInvoice, rule: str, reason: str,
                                   actor: Actor) -> RuleOverride:
    """Finance lets the invoice through one blocking rule, with a reason. Refused unless that rule blocks the
    invoice now. Holds while the invoice stays as it is; any change lapses it."""
    authorize(actor, record.taxpayer_id, P_OVERRIDE)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("请填写放行原因")})
    verdict = received_invoice_rules_check(record=record, actor=actor, purpose="override")
    if not any(f["rule"] == rule for f in verdict.blocking):
        raise ValidationError({"rule": gettext("规则“%(rule)s”没有阻止这张发票") % {
            "rule": SPECS[rule].name if rule in SPECS else rule}})
    rows, lines = load_rows(record.taxpayer_id, [record.pk])
    fp = invoice_fingerprint(rows[0], lines.get(record.pk, ()))
    with transaction.atomic():
        ReceivedInvoice.objects.select_for_update().only("pk").get(pk=record.pk)
        RuleOverride.objects.filter(invoice=record, rule=rule, active=True).update(active=False)
        override = RuleOverride.objects.create(invoice=record, rule=rule, reason=reason[:500], fingerprint=fp,
                                               created_by=actor_user(actor), actor_label=actor_label(actor))
        event_record(obj=record, action="rule_override", actor=actor, reason=reason[:500],
                     data={"rule": rule, "override": override.pk}, taxpayer=record.taxpayer)
    taxpayer = Taxpayer.objects.get(pk=record.taxpayer_id)
    rules_run(taxpayer=taxpayer, actor=actor, invoice_ids=[record.pk], purpose="override")
    return override


def invoices_of_seller(taxpayer: Taxpayer, tax_id: str) -> list[int]:
    return list(ReceivedInvoice.objects.filter(taxpayer=taxpayer, seller_tax_id=tax_id).values_list("pk", flat=True))


def rerun_for_seller(taxpayer: Taxpayer, tax_id: str, *, actor: Actor) -> Callable[[], None]:
    """A callable (for ``transaction.on_commit``) that re-runs the rules of one seller's invoices."""
    def run() -> None:
        ids = invoices_of_seller(taxpayer, tax_id)
        if ids:
            rules_run(taxpayer=taxpayer, actor=actor, invoice_ids=ids)
    return run
