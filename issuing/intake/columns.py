"""The columns of the billing import template: one row per line, the document fields repeated on every line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str  # text | code | money | qty | rate | date | choice | int | email
    doc: bool  # a document field, repeated on each line of the document
    max_len: int = 0
    required_column: bool = False
    help: str = ""
    example: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("entity", "主体税号", "code", True, 20, False, "开票主体（销售方）的统一社会信用代码；导入时选定主体则可留空"),
    Column("source_system", "来源系统", "text", True, 50, False, "如 shop、erp；与订单号一起在主体内唯一", "shop"),
    Column("external_no", "订单号", "code", True, 64, True, "必填；同一订单的多行须连续排列", "SO202611220001"),
    Column("business_date", "业务日期", "date", True, 0, False, "YYYY-MM-DD", "2026-11-22"),
    Column("customer_code", "客户编码", "code", True, 50, False, "填写后自动带出购买方名称、税号等", "C0001"),
    Column("buyer_kind", "购买方类型", "choice", True, 0, False, "企业 或 个人；默认企业", "企业"),
    Column("buyer_name", "购买方名称", "text", True, 150, False, "未填客户编码时必填", "上海白鹭文化传媒有限公司"),
    Column("buyer_tax_id", "购买方纳税人识别号", "code", True, 20, False, "企业必填；请设为文本格式", "91310000MA1K0BA10F"),
    Column("buyer_address", "购买方地址", "text", True, 300, False, "", ""),
    Column("buyer_phone", "购买方电话", "text", True, 60, False, "", ""),
    Column("buyer_bank_name", "购买方开户行", "text", True, 120, False, "", ""),
    Column("buyer_bank_account", "购买方银行账号", "code", True, 100, False, "请设为文本格式", ""),
    Column("buyer_email", "收票邮箱", "email", True, 254, False, "", "finance@example.com"),
    Column("buyer_mobile", "收票手机", "code", True, 20, False, "", ""),
    Column("order_amount", "订单金额", "money", True, 0, False, "含税；填写时须等于各行价税合计之和，留空则自动汇总", ""),
    Column("paid_amount", "实收金额", "money", True, 0, False, "留空为 0", "1060.00"),
    Column("refunded_amount", "退款金额", "money", True, 0, False, "留空为 0；不能大于实收金额", ""),
    Column("invoicing_basis", "开票口径", "choice", True, 0, False, "先款后票 或 先票后款；留空使用主体设置", ""),
    Column("remark", "备注", "text", True, 450, False, "最多 150 个汉字", ""),
    Column("line_no", "行号", "int", False, 0, False, "留空按顺序编号", "1"),
    Column("line_property", "行性质", "choice", False, 0, False, "正常行 或 折扣行；折扣行紧跟被折扣行，金额为负", "正常行"),
    Column("item_code", "商品编码", "code", False, 50, False, "填写后自动带出项目名称、税收分类编码、税率", "S0001"),
    Column("item_name", "项目名称", "text", False, 300, False, "未填商品编码时必填", "软件技术服务费"),
    Column("spec", "规格型号", "text", False, 150, False, "", ""),
    Column("unit", "单位", "text", False, 300, False, "", "项"),
    Column("quantity", "数量", "qty", False, 0, False, "与单价同时填写或同时为空；最多 13 位小数", "1"),
    Column("unit_price", "单价", "qty", False, 0, False, "按含税标志口径；最多 13 位小数", "1060"),
    Column("amount", "金额", "money", False, 0, True, "必填；按含税标志口径，最多 2 位小数", "1060.00"),
    Column("tax_inclusive", "含税标志", "choice", False, 0, False, "是（含税）或 否（不含税）；默认是", "是"),
    Column("tax_rate", "税率", "rate", False, 0, False, "如 13%、0.06；未填商品编码时必填", "6%"),
    Column("tax", "税额", "money", False, 0, False, "可留空（自动计算）；填写时与金额×税率误差不超过 0.06", ""),
    Column("discount", "折扣金额", "money", False, 0, False, "正数，按含税标志口径；也可用折扣行表示", ""),
    Column("tax_code", "税收分类编码", "code", False, 19, False, "19 位；未填商品编码时必填；不能是汇总项",
           "3040201000000000000"),
    Column("delivered_on", "交付日期", "date", True, 0, False,
           "已交付时填写，YYYY-MM-DD；主体设置为“交付后申请”时据此自动申请开票", ""),
)

BY_KEY = {c.key: c for c in COLUMNS}
DOC_KEYS = tuple(c.key for c in COLUMNS if c.doc)
LINE_KEYS = tuple(c.key for c in COLUMNS if not c.doc)

CHOICES: dict[str, dict[str, object]] = {
    "buyer_kind": {"企业": "company", "单位": "company", "企业/单位": "company", "company": "company",
                   "个人": "person", "person": "person"},
    "invoicing_basis": {"先款后票": "paid", "按实收": "paid", "paid": "paid",
                        "先票后款": "order", "按订单金额": "order", "order": "order"},
    "line_property": {"正常行": 0, "正常": 0, "0": 0, "折扣行": 1, "折扣": 1, "1": 1},
    "tax_inclusive": {"是": True, "含税": True, "1": True, "true": True, "y": True, "yes": True,
                      "否": False, "不含税": False, "0": False, "false": False, "n": False, "no": False},
}


def normalise_header(text: str) -> str:
    return (
        str(text or "").strip().replace("*", "").replace("＊", "").replace("（", "(").replace("）", ")").replace(" ", "")
        .split("(")[0]
    )


HEADER_ALIASES: dict[str, str] = {normalise_header(c.header): c.key for c in COLUMNS}
HEADER_ALIASES.update({c.key: c.key for c in COLUMNS})
HEADER_ALIASES.update({
    "销售方纳税人识别号": "entity", "外部单号": "external_no", "单号": "external_no", "商品名称": "item_name",
    "货物或应税劳务、服务名称": "item_name", "税收编码": "tax_code", "税率/征收率": "tax_rate", "购方名称": "buyer_name",
    "购方税号": "buyer_tax_id", "含税": "tax_inclusive",
})
