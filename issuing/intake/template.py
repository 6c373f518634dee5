"""The downloadable import template: an empty data sheet with the Chinese headers, an example sheet with one example
document of two lines (the document fields repeated on each line; never imported, copy its rows to start), and an
instructions sheet listing every column and the rules.

The example names the entity it is given (one the downloading user may see) or leaves the 主体税号 blank: it never
shows another entity's tax id."""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from invoicing.intake.template import help_sheet_add, workbook_bytes
from invoicing.models import Taxpayer
from issuing.intake.columns import COLUMNS

DATA_SHEET = "业务单据明细"
EXAMPLE_SHEET = "示例（不导入）"
HELP_SHEET = "填写说明"

RULES_TEXT = [
    "在“业务单据明细”工作表填写；“示例（不导入）”工作表只是填写示例，导入时不读取。",
    "一行是一条明细；同一订单的多行须连续排列，订单字段（主体、订单号、购买方等）在每一行重复填写且一致。",
    "整个文件全部校验通过才会导入；任何一行有错，都不会写入任何数据，并列出全部错误（可下载错误清单）。",
    "订单号在主体+来源系统内唯一：文件内重复或系统中已存在都会报错。",
    "税号、订单号、税收分类编码、银行账号请设为“文本”格式，避免 Excel 把长数字变成科学计数法。",
    "不要合并单元格，不要使用公式（请“选择性粘贴为数值”），不要加密工作簿。支持 .xlsx 和 UTF-8/GBK 编码的 .csv。",
    "金额最多 2 位小数；数量、单价最多 13 位小数，二者同时填写或同时为空，金额须等于数量×单价（误差不超过 0.01）。",
    "含税行按价税分离计算税额；如填写税额，须与 金额×税率 相差不超过 0.06；同一订单同一税率的税额合计误差不超过 1.27。",
    "负数只能出现在折扣行：行性质填“折扣行”，紧跟被折扣行，金额为负，商品名称和税率与被折扣行一致。",
    "填写客户编码时自动带出购买方名称、税号、地址电话、开户行账号；填写商品编码时自动带出项目名称、税收分类编码、税率、规格、单位。",
    "税收分类编码须为末级编码（汇总项不能开票），税率须为该编码和纳税人类型适用的税率。",
]


def build_template(*, entity: Taxpayer | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    example_ws = wb.create_sheet(EXAMPLE_SHEET)
    headers = [("*" if c.required_column else "") + c.header for c in COLUMNS]
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    doc_fill = PatternFill("solid", fgColor="FFF2CC")
    for sheet in (ws, example_ws):
        sheet.append(headers)
        for i, col in enumerate(COLUMNS, 1):
            cell = sheet.cell(row=1, column=i)
            cell.font = Font(bold=True)
            cell.fill = doc_fill if col.doc else head_fill
            sheet.column_dimensions[get_column_letter(i)].width = max(10, len(col.header) * 2 + 4)
        sheet.freeze_panes = "A2"
    example = {c.key: c.example for c in COLUMNS}
    example["entity"] = entity.credit_code if entity is not None else ""
    first = dict(example, paid_amount="2120.00")
    second = dict(first, line_no="2", item_name="运维服务", quantity="2", unit_price="530", amount="1060.00")
    for values in (first, second):
        example_ws.append([values.get(col.key) or None for col in COLUMNS])
    # Codes and ids as text, so that Excel keeps every digit of what people type or paste.
    for sheet in (ws, example_ws):
        for i, col in enumerate(COLUMNS, 1):
            if col.kind == "code":
                for r in range(2, 502):
                    sheet.cell(row=r, column=i).number_format = "@"

    help_sheet_add(
        wb, title=HELP_SHEET, header=["列名", "级别", "是否必填", "说明", "示例"],
        rows=([col.header, "订单" if col.doc else "明细",
               "必填" if col.required_column else ("见说明" if "必填" in col.help else "选填"), col.help, example[col.key]]
              for col in COLUMNS),
        rules=RULES_TEXT, widths={"A": 22, "D": 80, "E": 24},
    )
    return workbook_bytes(wb)
