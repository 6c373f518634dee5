"""Column specs: what an export of a model contains, in Chinese, and which entity path scopes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from invoicing.scoping import scope_queryset
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.platform.models import Invoice, InvoiceLine


@dataclass(frozen=True)
class Col:
    header: str
    path: str  # a values_list() path, e.g. "taxpayer__name", "invoice__number"
    kind: str = "text"  # text | money | rate | date | datetime | bool | choice | int | qty


@dataclass(frozen=True)
class ExportSpec:
    name: str
    model: type[models.Model]
    columns: tuple[Col, ...]
    scope_field: str = "taxpayer"
    filename: str = "export"
    choices: dict[str, dict[Any, str]] = field(default_factory=dict)

    def scoped(self, qs: models.QuerySet, user) -> models.QuerySet:
        return scope_queryset(qs, user, self.scope_field)

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.columns]


def _field_choices(model: type[models.Model], path: str) -> dict[Any, str]:
    parts = path.split("__")
    m = model
    for part in parts[:-1]:
        m = m._meta.get_field(part).related_model
    f = m._meta.get_field(parts[-1])
    return {k: str(v) for k, v in (f.choices or [])}


REGISTRY: dict[str, ExportSpec] = {}


def register(name: str, model: type[models.Model], columns: list[Col], *, scope_field: str = "taxpayer",
             filename: str = "") -> ExportSpec:
    choices = {c.path: _field_choices(model, c.path) for c in columns if c.kind == "choice"}
    spec = ExportSpec(name=name, model=model, columns=tuple(columns), scope_field=scope_field,
                      filename=filename or name, choices=choices)
    REGISTRY[name] = spec
    return spec


def get_spec(name: str) -> ExportSpec:
    _load()
    return REGISTRY[name]


def spec_for_model(model: type[models.Model]) -> ExportSpec | None:
    _load()
    for spec in REGISTRY.values():
        if spec.model is model:
            return spec
    return None


_loaded: list[bool] = []


def _load() -> None:
    """Register the specs on first use, not at import: a choice column's labels are read then (``_field_choices``),
    once the translations are ready."""
    if _loaded:
        return
    _loaded.append(True)
    register("billing_documents", BillingDocument, [
        Col("主体", "taxpayer__name"), Col("来源", "source", "choice"), Col("来源系统", "source_system"),
        Col("订单号", "external_no"), Col("业务日期", "business_date", "date"), Col("购买方名称", "buyer_name"),
        Col("购买方纳税人识别号", "buyer_tax_id"), Col("订单金额", "order_amount", "money"),
        Col("实收金额", "paid_amount", "money"), Col("退款金额", "refunded_amount", "money"),
        Col("状态", "status", "choice"), Col("备注", "remark"), Col("创建时间", "created_at", "datetime"),
    ], filename="业务单据")
    register("billing_document_lines", BillingDocumentLine, [
        Col("主体", "document__taxpayer__name"), Col("订单号", "document__external_no"), Col("行号", "line_no", "int"),
        Col("项目名称", "item_name"), Col("规格型号", "spec"), Col("单位", "unit"), Col("数量", "quantity", "qty"),
        Col("单价", "unit_price", "qty"), Col("金额", "amount", "money"), Col("含税", "tax_inclusive", "bool"),
        Col("折扣金额", "discount", "money"), Col("税收分类编码", "tax_category__code"),
        Col("税率", "tax_rate", "rate"), Col("价税合计", "total", "money"),
    ], scope_field="document__taxpayer", filename="业务单据明细")
    register("applications", InvoiceApplication, [
        Col("申请单号", "number"), Col("主体", "taxpayer__name"), Col("发票种类", "kind", "choice"),
        Col("状态", "status", "choice"), Col("来源", "source", "choice"), Col("购买方名称", "buyer_name"),
        Col("购买方纳税人识别号", "buyer_tax_id"), Col("合计金额", "amount", "money"), Col("合计税额", "tax", "money"),
        Col("价税合计", "total", "money"), Col("驳回原因", "reject_reason"), Col("申请时间", "created_at", "datetime"),
        Col("开票时间", "issued_at", "datetime"),
    ], filename="开票申请")
    register("invoices", Invoice, [
        Col("发票号码", "number"), Col("主体", "taxpayer__name"), Col("发票种类", "kind", "choice"),
        Col("红字", "is_red", "bool"), Col("开票日期", "issue_date", "date"), Col("购买方名称", "buyer_name"),
        Col("购买方纳税人识别号", "buyer_tax_id"), Col("合计金额", "amount", "money"), Col("合计税额", "tax", "money"),
        Col("价税合计", "total", "money"), Col("状态", "status", "choice"), Col("对应蓝字发票", "blue_invoice__number"),
        Col("开票人", "drawer"), Col("备注", "remark"),
    ], filename="发票")
    register("invoice_detail", InvoiceLine, [
        Col("发票号码", "invoice__number"), Col("主体", "invoice__taxpayer__name"),
        Col("开票日期", "invoice__issue_date", "date"), Col("红字", "invoice__is_red", "bool"),
        Col("发票状态", "invoice__status", "choice"), Col("购买方名称", "invoice__buyer_name"),
        Col("购买方纳税人识别号", "invoice__buyer_tax_id"), Col("行号", "line_no", "int"),
        Col("项目名称", "item_name"), Col("商品服务简称", "short_name"), Col("规格型号", "spec"), Col("单位", "unit"),
        Col("数量", "quantity", "qty"), Col("单价（不含税）", "unit_price", "qty"), Col("金额", "amount", "money"),
        Col("税率", "tax_rate", "rate"), Col("税额", "tax", "money"), Col("税收分类编码", "tax_category__code"),
        Col("发票行性质", "line_property", "choice"),
    ], scope_field="invoice__taxpayer", filename="发票明细")


Formatter = Callable[[Any], Any]
