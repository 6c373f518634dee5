"""The PDF face reader's layout rules, on synthetic faces written for each rule (no real sample needed).

Faces are drawn with WeasyPrint as absolutely positioned text (millimetres on an A5 landscape page), so each test
places the cells the way a given producer does: a space after ¥, a name wrapped onto two lines, an id on the line
below its label, letter-spaced legacy labels, figures in the wrong columns.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from invoicing.documents.errors import UnsupportedDocument
from invoicing.documents.fonts import find_cjk_font
from invoicing.documents.pdf import read_pdf, read_pdf_result

pytestmark = pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font")


def face_pdf(cells: list[tuple[float, float, str]], *, size: float = 3.2) -> bytes:
    from weasyprint import HTML

    font = find_cjk_font().as_uri()
    divs = "".join(f'<div style="position:absolute;left:{x}mm;top:{y}mm;white-space:pre">{t}</div>'
                   for x, y, t in cells)
    html = (f'<html><head><style>@font-face{{font-family:F;src:url("{font}")}} @page{{size:210mm 140mm;margin:0}}'
            f'body{{margin:0;font-family:F;font-size:{size}mm}}</style></head><body>{divs}</body></html>')
    return HTML(string=html, base_url=str(find_cjk_font().parent)).write_pdf()


def vertical(x: float, y: float, chars: str, step: float = 4.5) -> list[tuple[float, float, str]]:
    return [(x, y + i * step, c) for i, c in enumerate(chars)]


def shudian_face(*, seller_lines=("上海示例贸易有限公司",), buyer_id_below=False, yen_space=False,
                 amount="272.25", tax="35.39", line_amount="272.25", line_tax="35.39", total="307.64",
                 words="叁佰零柒圆陆角肆分", with_blocks=True) -> bytes:
    yen = "¥ " if yen_space else "¥"
    cells = [(70, 6, "电子发票（普通发票）"), (150, 10, "发票号码：25312000000123456789"),
             (150, 16, "开票日期：2025年03月04日")]
    if with_blocks:
        cells += vertical(4, 28, "购买方信息") + vertical(104, 28, "销售方信息")
    cells += [(9, 30, "名称：北京测试科技有限公司")]
    if buyer_id_below:
        cells += [(9, 42, "统一社会信用代码/纳税人识别号："), (20, 48, "91110108MA01ABCD3X")]
    else:
        cells += [(9, 42, "统一社会信用代码/纳税人识别号：91110108MA01ABCD3X")]
    cells += [(109, 30, "名称：" + seller_lines[0])]
    for i, more in enumerate(seller_lines[1:], start=1):
        cells += [(109, 30 + 5 * i, more)]
    cells += [(109, 42, "统一社会信用代码/纳税人识别号：91310115MA1K4LXX6F"),
              (12, 56, "项目名称"), (50, 56, "规格型号"), (72, 56, "单位"), (90, 56, "数量"), (112, 56, "单价"),
              (138, 56, "金额"), (155, 56, "税率/征收率"), (186, 56, "税额"),
              (4, 63, "*乙醇汽油*92号车用乙醇"), (50, 63, "92号"), (73, 63, "升"), (84, 63, "37.7833"),
              (108, 63, "7.2055"), (135, 63, line_amount), (160, 63, "13%"), (184, 63, line_tax),
              (4, 68, "汽油(E10)"),
              (20, 95, "合计"), (133, 95, yen + amount), (182, 95, yen + tax),
              (15, 102, "价税合计（大写）"), (60, 102, words), (140, 102, "（小写）" + yen + total),
              (4, 112, "备注"), (20, 130, "开票人：王五")]
    return face_pdf(cells)


def test_space_after_yen_is_read_and_the_money_is_confirmed():
    result = read_pdf_result(shudian_face(yen_space=True))
    doc = result.document
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (
        Decimal("272.25"), Decimal("35.39"), Decimal("307.64"))
    assert all(result.is_sure(f) for f in ("amount", "tax", "total", "lines")), result.review
    (line,) = doc.lines
    assert line.item_name == "*乙醇汽油*92号车用乙醇汽油(E10)" and line.tax_rate == Decimal("0.13")


def test_wrapped_seller_name_and_id_on_the_next_line():
    # the first line runs to the edge of the seller's box, the rest continues below it
    first = "中国石化销售股份有限公司湖北省武汉市江汉区万松第二石油"
    result = read_pdf_result(shudian_face(seller_lines=(first, "分公司"), buyer_id_below=True))
    doc = result.document
    assert doc.seller.name == first + "分公司"
    assert doc.buyer.tax_id == "91110108MA01ABCD3X"
    assert result.fields["buyer_tax_id"].source == "text-next-line"
    assert doc.buyer.name == "北京测试科技有限公司" and doc.seller.tax_id == "91310115MA1K4LXX6F"


def test_amount_and_tax_in_each_others_columns_go_to_review():
    # amount + tax = total still holds, but tax is not amount x rate: never accepted as sure
    result = read_pdf_result(shudian_face(amount="35.39", tax="272.25", line_amount="35.39", line_tax="272.25"))
    assert not result.is_sure("amount") and not result.is_sure("tax")
    assert {r.code for r in result.reasons_for("amount")} >= {"line_rate"}


def test_words_that_disagree_with_the_total_send_it_to_review():
    result = read_pdf_result(shudian_face(words="叁佰零捌圆陆角肆分"))
    assert not result.is_sure("total")
    assert [r.code for r in result.reasons_for("total")] == ["words_mismatch"]


def test_without_block_labels_parties_are_flagged_not_trusted():
    result = read_pdf_result(shudian_face(with_blocks=False))
    assert result.document.buyer.name == "北京测试科技有限公司"
    assert not result.is_sure("buyer_name")
    assert any(r.code == "party_by_position" for r in result.review)


def test_legacy_face_with_letter_spaced_labels_and_a_seller_block_below():
    cells = [(60, 6, "北京增值税电子普通发票"), (140, 4, "发票代码:"), (158, 4, "011002100311"),
             (140, 10, "发票号码:"), (158, 10, "12345678"), (140, 16, "开票日期:"), (158, 16, "2021"),
             (168, 16, "年"), (172, 16, "07"), (178, 16, "月"), (182, 16, "17"), (188, 16, "日"),
             (140, 22, "校"), (145, 22, "验"), (150, 22, "码:"), (158, 22, "12345 67890 12345 67890")]
    cells += vertical(6, 30, "购买方") + vertical(6, 100, "销售方")
    cells += [(14, 29, "名"), (28, 29, "称:"), (36, 29, "北京甲乙丙有限公司"), (14, 35, "纳税人识别号:"),
              (36, 35, "91110108MA01ABCD3X"), (115, 30, "密"), (115, 40, "码")]
    cells += [(12, 52, "货物或应税劳务、服务名称"), (60, 52, "规格型号"), (78, 52, "单位"), (92, 52, "数"),
              (97, 52, "量"), (112, 52, "单"), (117, 52, "价"), (138, 52, "金"), (144, 52, "额"),
              (158, 52, "税率"), (178, 52, "税"), (184, 52, "额"),
              (8, 58, "*移动通信设备*通讯器材"), (98, 58, "1"), (112, 58, "100.00"), (145, 58, "100.00"),
              (160, 58, "13%"), (185, 58, "13.00"),
              (20, 88, "合"), (34, 88, "计"), (140, 88, "¥100.00"), (180, 88, "¥13.00"),
              (20, 94, "价税合计(大写)"), (60, 94, "壹佰壹拾叁圆整"), (145, 94, "(小写)"), (158, 94, "¥113.00"),
              (14, 99, "名"), (28, 99, "称:"), (36, 99, "上海丁戊己贸易有限公司"), (14, 105, "纳税人识别号:"),
              (36, 105, "91310115MA1K4LXX6F"), (115, 100, "备"), (115, 110, "注")]
    result = read_pdf_result(face_pdf(cells))
    doc = result.document
    assert (doc.legacy_code, doc.legacy_number, doc.kind) == ("011002100311", "12345678", "10")
    assert doc.check_code == "12345678901234567890"
    assert (doc.buyer.name, doc.buyer.tax_id) == ("北京甲乙丙有限公司", "91110108MA01ABCD3X")
    assert (doc.seller.name, doc.seller.tax_id) == ("上海丁戊己贸易有限公司", "91310115MA1K4LXX6F")
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (Decimal("100"), Decimal("13"), Decimal("113"))
    assert all(result.is_sure(f) for f in ("amount", "tax", "total")), result.review


def test_image_only_pdf_needs_entry():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (600, 400), "white").save(buf, format="PDF")
    result = read_pdf_result(buf.getvalue())
    assert result.document is None
    assert [r.code for r in result.review] == ["needs_entry"]
    with pytest.raises(UnsupportedDocument):
        read_pdf(buf.getvalue())
