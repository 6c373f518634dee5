"""Rule codes of the table imports (billing documents, received invoices), each with the message a user reads.

Every problem found in a file is one ``Issue``: sheet, row, column, value, rule code and message. Row numbers are the
spreadsheet's (the header is row 1); file-level problems have no row.

Messages are Chinese msgids translated by ``gettext`` when the issue is made: in the admin's small-file import they
follow the request's language; the fast path (Celery task, ``manage.py import_billing``) runs in the default language
(``issuing.importing.run``), so job files and error workbooks written in the background stay Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext, gettext_noop

from invoicing.validators import UNSAFE_TEXT

RULES: dict[str, str] = {
    # the file
    "file.type": gettext_noop("文件类型不受支持：请上传 .xlsx 或 .csv 文件（不支持 .xls、改扩展名的其他文件）"),
    "file.encrypted": gettext_noop("工作簿已加密（设置了打开密码），请取消密码后重新导出为 .xlsx"),
    "file.too_large": gettext_noop("文件过大"),
    "file.too_many_rows": gettext_noop("行数超过上限"),
    "file.corrupt": gettext_noop("文件已损坏或无法读取"),
    "file.internal": gettext_noop("导入时发生内部错误，未写入任何数据；请稍后重试，如仍失败请联系管理员"),
    "file.encoding": gettext_noop("CSV 文件编码无法识别，请使用 UTF-8、UTF-16（带 BOM）或 GBK/GB18030"),
    "sheet.empty": gettext_noop("工作表为空：没有表头或没有数据行"),
    "sheet.merged_cells": gettext_noop("存在合并单元格，请取消合并后每行填写完整"),
    "sheet.formula": gettext_noop("单元格含公式，请复制后“选择性粘贴为数值”"),
    "column.missing": gettext_noop("缺少必需的列"),
    "column.unknown": gettext_noop("无法识别的列名，请使用模板中的列名"),
    "column.duplicate": gettext_noop("列名重复"),
    # cells
    "cell.required": gettext_noop("必填"),
    "cell.too_long": gettext_noop("内容过长"),
    "cell.not_number": gettext_noop("不是有效的数字"),
    "cell.decimals": gettext_noop("小数位数过多"),
    "cell.lost_digits": gettext_noop("该单元格以数字格式保存，位数已丢失（如科学计数法）；请将该列设为文本后重新填写"),
    "cell.bad_text": gettext_noop("应为文本，不能是数字格式的小数"),
    "cell.bad_date": gettext_noop("日期格式不正确，应为 YYYY-MM-DD"),
    "cell.bad_choice": gettext_noop("取值不在允许范围内"),
    "cell.bad_email": gettext_noop("邮箱格式不正确"),
    "cell.bad_char": gettext_noop("含有不允许的字符（控制字符、双向文本控制符或零宽字符）"),
    "cell.out_of_range": gettext_noop("数值超出范围"),
    "cell.date_range": gettext_noop("业务日期超出允许范围"),
    "cell.negative": gettext_noop("不能为负数"),
    "cell.zero": gettext_noop("不能为零"),
    # master data and entity
    "user.permission": gettext_noop("没有导入业务单据的权限（需要“添加业务单据”权限）"),
    "entity.unknown": gettext_noop("主体税号不存在"),
    "entity.forbidden": gettext_noop("您无权导入该主体的数据"),
    "entity.mismatch": gettext_noop("与本次导入选择的主体不一致"),
    "customer.unknown": gettext_noop("客户编码不存在"),
    "customer.mismatch": gettext_noop("与客户编码对应的客户资料不一致"),
    "item.unknown": gettext_noop("商品编码不存在"),
    "item.mismatch": gettext_noop("与商品编码对应的商品资料不一致"),
    "tax_id.invalid": gettext_noop("纳税人识别号不正确"),
    "tax_id.required": gettext_noop("企业购买方必须填写纳税人识别号"),
    "rate.invalid": gettext_noop("税率不正确"),
    "rate.not_allowed": gettext_noop("该纳税人类型不能使用此税率"),
    "rate.category": gettext_noop("税率与税收分类编码不符"),
    "tax_code.format": gettext_noop("税收分类编码应为 19 位数字"),
    "tax_code.unknown": gettext_noop("税收分类编码不存在或已停用"),
    "tax_code.summary": gettext_noop("汇总项编码不能用于开票，请选择末级编码"),
    # lines
    "line.negative": gettext_noop("只有折扣行可以为负数"),
    "line.qty_price_pair": gettext_noop("数量和单价须同时填写或同时为空"),
    "line.amount_mismatch": gettext_noop("金额与数量×单价不符（误差超过 0.01）"),
    "line.tax_tolerance": gettext_noop("税额与金额×税率的误差超过 0.06"),
    "line.discount": gettext_noop("折扣不正确"),
    "line.duplicate_no": gettext_noop("同一订单内行号重复"),
    "doc.tax_tolerance": gettext_noop("同一税率的税额合计误差超过 1.27，请拆分或合并明细"),
    "doc.totals": gettext_noop("订单金额与明细价税合计之和不符"),
    "doc.refund_exceeds_paid": gettext_noop("退款金额不能大于实收金额"),
    "doc.inconsistent": gettext_noop("同一订单的各行中，单据字段取值不一致"),
    "doc.remark_too_long": gettext_noop("备注过长"),
    "doc.no_lines": gettext_noop("订单没有明细行"),
    "doc.too_many_lines": gettext_noop("订单明细行数超过上限"),
    "doc.out_of_range": gettext_noop("订单价税合计超出金额范围"),
    "doc.duplicate_in_file": gettext_noop("订单号在文件中重复出现（同一订单的行须连续）"),
    "doc.duplicate_in_db": gettext_noop("订单号已存在"),
    # received invoices (the receiving app's Excel import)
    "receiving.permission": gettext_noop("没有采集发票的权限（需要“添加收票”权限）"),
    "invoice.key": gettext_noop("发票号码或发票代码不正确"),
    "invoice.kind": gettext_noop("票种不正确"),
    "invoice.date": gettext_noop("开票日期不正确"),
    "invoice.amounts": gettext_noop("金额、税额与价税合计不符或缺失"),
    "invoice.party": gettext_noop("购销双方信息不正确"),
    "invoice.wrong_way": gettext_noop("销售方是我方主体而购买方不是本主体：购销双方可能填反"),
    "invoice.duplicate_in_file": gettext_noop("同一张发票在文件中重复出现"),
}


@dataclass(frozen=True, slots=True)
class Issue:
    sheet: str
    row: int | None
    column: str
    value: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = gettext("%(sheet)s 第%(row)s行") % {"sheet": self.sheet, "row": self.row} if self.row else self.sheet
        col = f" [{self.column}]" if self.column else ""
        val = f" “{self.value}”" if self.value else ""
        return gettext("%(where)s：%(message)s（%(code)s）") % {
            "where": f"{where}{col}{val}", "message": self.message, "code": self.code}


def issue(code: str, *, sheet: str = "", row: int | None = None, column: str = "", value: object = "",
          detail: str = "") -> Issue:
    message = gettext(RULES[code])
    if detail:
        message = gettext("%(rule)s：%(detail)s") % {"rule": message, "detail": detail}
    text = "" if value is None else str(value)
    if len(text) > 100:
        text = text[:100] + "…"
    # Shown in the admin and written to the error workbook: a control character would break the workbook, a
    # bidirectional override would garble the page, so each is named instead.
    text = UNSAFE_TEXT.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
    return Issue(sheet=sheet, row=row, column=column, value=text, code=code, message=message)


class FileRejected(Exception):  # noqa: N818 - reads as a verdict
    """The file cannot be read as a table at all; ``issues`` says why."""

    def __init__(self, issues: list[Issue]):
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues
