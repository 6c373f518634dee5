"""Rule codes of the billing import, each with the Chinese message a user reads.

Every problem found in a file is one ``Issue``: sheet, row, column, value, rule code and message. Row numbers are the
spreadsheet's (the header is row 1); file-level problems have no row.
"""

from __future__ import annotations

from dataclasses import dataclass

RULES: dict[str, str] = {
    # the file
    "file.type": "文件类型不受支持：请上传 .xlsx 或 .csv 文件（不支持 .xls、改扩展名的其他文件）",
    "file.encrypted": "工作簿已加密（设置了打开密码），请取消密码后重新导出为 .xlsx",
    "file.too_large": "文件过大",
    "file.too_many_rows": "行数超过上限",
    "file.corrupt": "文件已损坏或无法读取",
    "file.encoding": "CSV 文件编码无法识别，请使用 UTF-8 或 GBK/GB18030",
    "sheet.empty": "工作表为空：没有表头或没有数据行",
    "sheet.merged_cells": "存在合并单元格，请取消合并后每行填写完整",
    "sheet.formula": "单元格含公式，请复制后“选择性粘贴为数值”",
    "column.missing": "缺少必需的列",
    "column.unknown": "无法识别的列名，请使用模板中的列名",
    "column.duplicate": "列名重复",
    # cells
    "cell.required": "必填",
    "cell.too_long": "内容过长",
    "cell.not_number": "不是有效的数字",
    "cell.decimals": "小数位数过多",
    "cell.lost_digits": "该单元格以数字格式保存，位数已丢失（如科学计数法）；请将该列设为文本后重新填写",
    "cell.bad_text": "应为文本，不能是数字格式的小数",
    "cell.bad_date": "日期格式不正确，应为 YYYY-MM-DD",
    "cell.bad_choice": "取值不在允许范围内",
    "cell.bad_email": "邮箱格式不正确",
    "cell.negative": "不能为负数",
    "cell.zero": "不能为零",
    # master data and entity
    "user.permission": "没有导入业务单据的权限（需要“添加业务单据”权限）",
    "entity.unknown": "主体税号不存在",
    "entity.forbidden": "您无权导入该主体的数据",
    "entity.mismatch": "与本次导入选择的主体不一致",
    "customer.unknown": "客户编码不存在",
    "customer.mismatch": "与客户编码对应的客户资料不一致",
    "item.unknown": "商品编码不存在",
    "item.mismatch": "与商品编码对应的商品资料不一致",
    "tax_id.invalid": "纳税人识别号不正确",
    "tax_id.required": "企业购买方必须填写纳税人识别号",
    "rate.invalid": "税率不正确",
    "rate.not_allowed": "该纳税人类型不能使用此税率",
    "rate.category": "税率与税收分类编码不符",
    "tax_code.format": "税收分类编码应为 19 位数字",
    "tax_code.unknown": "税收分类编码不存在或已停用",
    "tax_code.summary": "汇总项编码不能用于开票，请选择末级编码",
    # lines
    "line.negative": "只有折扣行可以为负数",
    "line.qty_price_pair": "数量和单价须同时填写或同时为空",
    "line.amount_mismatch": "金额与数量×单价不符（误差超过 0.01）",
    "line.tax_tolerance": "税额与金额×税率的误差超过 0.06",
    "line.discount": "折扣不正确",
    "line.duplicate_no": "同一订单内行号重复",
    "doc.tax_tolerance": "同一税率的税额合计误差超过 1.27，请拆分或合并明细",
    "doc.totals": "订单金额与明细价税合计之和不符",
    "doc.refund_exceeds_paid": "退款金额不能大于实收金额",
    "doc.inconsistent": "同一订单的各行中，单据字段取值不一致",
    "doc.remark_too_long": "备注过长",
    "doc.no_lines": "订单没有明细行",
    "doc.duplicate_in_file": "订单号在文件中重复出现（同一订单的行须连续）",
    "doc.duplicate_in_db": "订单号已存在",
}


@dataclass(frozen=True, slots=True)
class Issue:
    sheet: str
    row: int | None
    column: str
    value: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f"{self.sheet} 第{self.row}行" if self.row else self.sheet
        col = f" [{self.column}]" if self.column else ""
        val = f" “{self.value}”" if self.value else ""
        return f"{where}{col}{val}：{self.message}（{self.code}）"


def issue(code: str, *, sheet: str = "", row: int | None = None, column: str = "", value: object = "",
          detail: str = "") -> Issue:
    message = RULES[code] + (f"：{detail}" if detail else "")
    text = "" if value is None else str(value)
    if len(text) > 100:
        text = text[:100] + "…"
    return Issue(sheet=sheet, row=row, column=column, value=text, code=code, message=message)


class FileRejected(Exception):  # noqa: N818 - reads as a verdict
    """The file cannot be read as a table at all; ``issues`` says why."""

    def __init__(self, issues: list[Issue]):
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues
