"""A realistic demo invoice (the one on docs/invoice-face.png), for previews, tests and benchmarks."""

from __future__ import annotations

from datetime import date, time
from decimal import ROUND_HALF_UP, Decimal

from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty

_ROWS = (
    # item name, spec, unit, quantity, unit price, rate, tax code
    ("*信息技术服务*软件开发服务", "V3.2 定制模块", "项", "1", "45000.00", "0.06", "3040201000000000000"),
    ("*信息技术服务*系统运维服务", "2025年第四季度", "月", "3", "6500.00", "0.06", "3040203000000000000"),
    ("*计算机网络设备*千兆交换机", "S5735-L24T4S", "台", "4", "2380.53", "0.13", "1090511030000000000"),
    ("*计算机外部设备*激光打印机", "HP M404dn", "台", "2", "1946.90", "0.13", "1090512990000000000"),
    ("*纸制品*复印纸", "A4 70g 500张/包", "箱", "20", "176.99", "0.13", "1060101020000000000"),
    ("*电子计算机*笔记本电脑", "ThinkPad T14 Gen5", "台", "5", "7079.65", "0.13", "1090511020000000000"),
    ("*现代服务*技术咨询服务", "数据迁移咨询", "次", "2", "4716.98", "0.06", "3049900000000000000"),
    ("*软件*数据库软件", "企业版 5用户授权", "套", "1", "8849.56", "0.13", "1060301020100000000"),
)

_C = Decimal("0.01")


def demo_document(*, lines: int = 8, red: bool = False, kind: str = "81", number: str = "25312000000123456789",
                  total_in_words: str = "") -> InvoiceDocument:
    """The invoice-face demo with ``lines`` lines (rows repeat beyond 8). ``red`` negates it as a full red flush."""
    sign = Decimal(-1) if red else Decimal(1)
    out = []
    for i in range(lines):
        name, spec, unit, qty, price, rate, code = _ROWS[i % len(_ROWS)]
        q = Decimal(qty) * sign
        amount = (q * Decimal(price)).quantize(_C, ROUND_HALF_UP)
        tax = (amount * Decimal(rate)).quantize(_C, ROUND_HALF_UP)
        out.append(InvoiceLine(
            line_no=i + 1, item_name=name, short_name=name.split("*")[1], spec=spec, unit=unit,
            quantity=q, unit_price=Decimal(price), amount=amount, tax_rate=Decimal(rate), tax=tax, tax_code=code,
        ))
    total = sum((ln.amount for ln in out), Decimal("0.00"))
    tax = sum((ln.tax or Decimal(0) for ln in out), Decimal("0.00"))
    return InvoiceDocument(
        number=number,
        kind=kind,
        issue_date=date(2025, 10, 15),
        issue_time=time(14, 30, 5),
        seller=InvoiceParty("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7Q", "杭州市西湖区文三路90号",
                            "0571-88886666", "招商银行杭州西湖支行", "571900112233445"),
        buyer=InvoiceParty("上海浦江数字科技有限公司", "91310115MA1K4ABC2X", "上海市浦东新区张江路88号",
                           "021-50801234", "中国工商银行上海张江支行", "1001234509000012345"),
        lines=tuple(out),
        total_amount=total,
        total_tax=tax,
        total_with_tax=total + tax,
        total_in_words=total_in_words,
        remark="合同编号：HT-2025-0917；项目：华东区数据中心扩容（一期）",
        drawer="王晓梅",
        is_red=red,
        blue_number="25312000000123450001" if red else "",
        red_form_number="31000025101500000001" if red else "",
        tax_bureau_code="13100000000",
        tax_bureau_name="国家税务总局上海市税务局",
    )
