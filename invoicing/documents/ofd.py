"""OFD (GB/T 33190-2016) invoice packages: a writer of our own and a reader for real-world files.

``write_ofd`` builds the package with the standard library (zipfile + XML text): OFD.xml, Document.xml,
PublicRes.xml, DocumentRes.xml (the QR image), one Content.xml per page, Tags/CustomTag.xml and the 数电 XML as an
attachment (the very bytes ``write_xml`` produces). Invoices with more than ``FACE_LINES`` lines print
"（详见销货清单）" on the face and list the lines on the following pages.

``read_ofd`` prefers, in this order: the embedded invoice XML (数电 ``EInvoice``, legacy ``original_invoice.xml``
or XBRL), then the custom tags and ``DocInfo/CustomDatas``, then the page text with label heuristics.
"""

from __future__ import annotations

import io
import posixpath
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date
from xml.sax.saxutils import escape

from lxml import etree

from invoicing.documents._safety import SafeZip, local
from invoicing.documents.errors import DocumentError, MalformedDocument, UnsupportedDocument
from invoicing.documents.facetext import (
    PlacedText,
    advance,
    header_values,
    kind_from_title,
    table_lines,
    text_width,
)
from invoicing.documents.model import (
    FORMAT_OFD,
    InvoiceDocument,
    InvoiceLine,
    format_cn_date,
    format_money,
    format_plain,
    normalize_text,
    printed_total_in_words,
)
from invoicing.documents.qr import qr_png
from invoicing.documents.xml import document_from_values, full_remark, read_xml_element, write_xml

NS = "http://www.ofdspec.org/2016"
FACE_LINES = 8  # lines that fit on the face; more go to the 销货清单 pages
PAGE_W, PAGE_H = 210.0, 140.0
LIST_ROWS_PER_PAGE = 18
BROWN = "128 0 0"
BLACK = "0 0 0"
CREATOR = "FapiaoDesk"

# Table columns: (key, header, left, right, align)
COLUMNS = (
    ("item", "项目名称", 4.5, 58.0, "left"),
    ("spec", "规格型号", 58.0, 86.0, "left"),
    ("unit", "单位", 86.0, 98.0, "center"),
    ("qty", "数量", 98.0, 114.0, "right"),
    ("price", "单价", 114.0, 136.0, "right"),
    ("amount", "金额", 136.0, 160.0, "right"),
    ("rate", "税率/征收率", 160.0, 180.0, "center"),
    ("tax", "税额", 180.0, 205.5, "right"),
)

# ----------------------------------------------------------------------------------------------- writing

# A 3.2 mm circle (four cubic Béziers, k = 0.5523) with a cross inside, in the object's own coordinates.
_CIRCLED_CROSS = (
    "M 3.1 1.6 B 3.1 2.4284 2.4284 3.1 1.6 3.1 B 0.7716 3.1 0.1 2.4284 0.1 1.6 "
    "B 0.1 0.7716 0.7716 0.1 1.6 0.1 B 2.4284 0.1 3.1 0.7716 3.1 1.6 "
    "M 0.6 0.6 L 2.6 2.6 M 0.6 2.6 L 2.6 0.6"
)


def _delta_x(text: str, size: float) -> str:
    adv = [advance(c, size) for c in text[:-1]]
    if not adv:
        return ""
    parts: list[str] = []
    i = 0
    while i < len(adv):
        j = i
        while j < len(adv) and adv[j] == adv[i]:
            j += 1
        n = j - i
        v = f"{adv[i]:g}"
        parts.append(f"g {n} {v}" if n > 1 else v)
        i = j
    return " ".join(parts)


@dataclass
class _Page:
    id: int = 0
    layer_id: int = 0
    objects: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.next_id = 0
        self.pages: list[_Page] = []
        self.tags: dict[str, list[tuple[int, int]]] = {}
        self.font_id = self.new_id()
        self.mono_id = self.new_id()
        self.qr_id = self.new_id()

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def page(self) -> _Page:
        p = _Page(id=self.new_id(), layer_id=self.new_id())
        self.pages.append(p)
        return p

    def text(self, page: _Page, x: float, y: float, text: str, *, size: float = 3.0, color: str = BLACK,
             align: str = "left", width: float | None = None, tag: str | None = None, mono: bool = False) -> int:
        """Text whose top-left (or right/centre edge, per ``align``) is at x, y (mm)."""
        if not text:
            return 0
        w = text_width(text, size)
        if width is not None and w > width and len(text) > 1:
            size = max(1.6, size * width / w)
            w = text_width(text, size)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        oid = self.new_id()
        h = size * 1.3
        dx = _delta_x(text, size)
        dx_attr = f' DeltaX="{dx}"' if dx else ""
        fill = f'<ofd:FillColor Value="{color}"/>' if color != BLACK else ""
        font = self.mono_id if mono else self.font_id
        page.objects.append(
            f'<ofd:TextObject ID="{oid}" Boundary="{x:.2f} {y:.2f} {w + 0.5:.2f} {h:.2f}" Font="{font}" '
            f'Size="{size:g}">{fill}<ofd:TextCode X="0" Y="{size * 1.0:.3f}"{dx_attr}>{escape(text)}'
            f"</ofd:TextCode></ofd:TextObject>"
        )
        if tag:
            self.tags.setdefault(tag, []).append((page.id, oid))
        return oid

    def path(self, page: _Page, x: float, y: float, w: float, h: float, data: str, *, width: float = 0.25,
             color: str = BROWN) -> int:
        oid = self.new_id()
        page.objects.append(
            f'<ofd:PathObject ID="{oid}" Boundary="{x:.2f} {y:.2f} {max(w, 0.1):.2f} {max(h, 0.1):.2f}" '
            f'LineWidth="{width:g}"><ofd:StrokeColor Value="{color}"/>'
            f"<ofd:AbbreviatedData>{data}</ofd:AbbreviatedData></ofd:PathObject>"
        )
        return oid

    def hline(self, page: _Page, x1: float, x2: float, y: float, **kw: object) -> int:
        return self.path(page, x1, y, x2 - x1, 0.4, f"M 0 0 L {x2 - x1:.2f} 0", **kw)  # type: ignore[arg-type]

    def vline(self, page: _Page, x: float, y1: float, y2: float, **kw: object) -> int:
        return self.path(page, x, y1, 0.4, y2 - y1, f"M 0 0 L 0 {y2 - y1:.2f}", **kw)  # type: ignore[arg-type]

    def rect(self, page: _Page, x: float, y: float, w: float, h: float, **kw: object) -> int:
        return self.path(page, x, y, w, h, f"M 0 0 L {w:.2f} 0 L {w:.2f} {h:.2f} L 0 {h:.2f} C", **kw)  # type: ignore[arg-type]

    def vertical_label(self, page: _Page, x: float, y1: float, y2: float, text: str, size: float = 3.0) -> None:
        step = (y2 - y1) / len(text)
        for i, ch in enumerate(text):
            self.text(page, x, y1 + i * step + (step - size) / 2, ch, size=size, color=BROWN)


def _line_cells(line: InvoiceLine) -> dict[str, str]:
    return {
        "item": line.item_name,
        "spec": line.spec,
        "unit": line.unit,
        "qty": format_plain(line.quantity),
        "price": format_plain(line.unit_price),
        "amount": format_money(line.amount),
        "rate": line.rate_display,
        "tax": line.tax_display,
    }


def _draw_row(b: _Builder, page: _Page, y: float, cells: dict[str, str], *, size: float = 2.8,
              color: str = BLACK) -> None:
    for key, _header, left, right, align in COLUMNS:
        text = cells.get(key, "")
        if not text:
            continue
        width = right - left - 1.5
        if align == "left":
            b.text(page, left + 0.8, y, text, size=size, width=width, color=color)
        elif align == "right":
            b.text(page, right - 0.8, y, text, size=size, align="right", width=width, color=color)
        else:
            b.text(page, (left + right) / 2, y, text, size=size, align="center", width=width, color=color)


def _draw_header(b: _Builder, page: _Page, doc: InvoiceDocument, title: str, page_no: int, pages: int,
                 qr: bool) -> None:
    if qr:
        page.objects.append(f'<ofd:ImageObject ID="{b.new_id()}" CTM="20 0 0 20 0 0" Boundary="6.5 6 20 20" '
                            f'ResourceID="{b.qr_id}"/>')
    size = min(6.0, 80.0 / max(len(title), 1))  # keep the title (and its rule) clear of 发票号码 at x = 150
    b.text(page, PAGE_W / 2, 9.5, title, size=size, color=BROWN, align="center")
    tw = text_width(title, size) + 6
    b.hline(page, PAGE_W / 2 - tw / 2, PAGE_W / 2 + tw / 2, 18.0)
    b.hline(page, PAGE_W / 2 - tw / 2, PAGE_W / 2 + tw / 2, 19.0)
    b.text(page, 150, 10.5, "发票号码：", color=BROWN)
    b.text(page, 166, 10.5, doc.number, tag="InvoiceNo" if page_no == 1 else None)
    b.text(page, 150, 16.5, "开票日期：", color=BROWN)
    b.text(page, 166, 16.5, format_cn_date(doc.issue_date), tag="IssueDate" if page_no == 1 else None)
    if pages > 1:
        b.text(page, 205.5, 24.5, f"共{pages}页 第{page_no}页", size=2.5, align="right")


def _draw_parties(b: _Builder, page: _Page, doc: InvoiceDocument, tagged: bool) -> None:
    top, bottom = 29.8, 51.8
    b.rect(page, 4.5, top, 201, bottom - top)
    for x in (10.5, 105.0, 111.0):
        b.vline(page, x, top, bottom)
    b.vertical_label(page, 6.0, top + 1, bottom - 1, "购买方信息")
    b.vertical_label(page, 106.5, top + 1, bottom - 1, "销售方信息")
    for x0, party, prefix in ((12.0, doc.buyer, "Buyer"), (112.5, doc.seller, "Seller")):
        b.text(page, x0, 34.5, "名称：", color=BROWN)
        b.text(page, x0 + 9.5, 34.5, party.name, width=92 - 9.5, tag=f"{prefix}Name" if tagged else None)
        label = "统一社会信用代码/纳税人识别号："
        b.text(page, x0, 43.5, label, color=BROWN)
        b.text(page, x0 + text_width(label, 3.0) + 0.5, 43.5, party.tax_id, mono=True,
               tag=f"{prefix}TaxID" if tagged else None)


def _draw_table_header(b: _Builder, page: _Page, y: float) -> None:
    for _key, header, left, right, _align in COLUMNS:
        b.text(page, (left + right) / 2, y, header, size=3.0, color=BROWN, align="center")


def _draw_face(b: _Builder, doc: InvoiceDocument, pages: int) -> None:
    page = b.page()
    _draw_header(b, page, doc, doc.title, 1, pages, qr=True)
    _draw_parties(b, page, doc, tagged=True)
    top, bottom = 51.8, 123.8
    b.rect(page, 4.5, top, 201, bottom - top)
    _draw_table_header(b, page, 53.0)
    if len(doc.lines) <= FACE_LINES:
        y = 58.0
        for line in doc.lines:
            cells = _line_cells(line)
            _draw_row(b, page, y, cells)
            y += 4.0
    else:
        rates = {ln.rate_display for ln in doc.lines}
        _draw_row(b, page, 58.0, {
            "item": "（详见销货清单）",
            "amount": format_money(doc.total_amount),
            "rate": rates.pop() if len(rates) == 1 else "",
            "tax": format_money(doc.total_tax),
        })
    # 合计 row
    b.text(page, 20.0, 91.0, "合　　计", color=BROWN)
    b.text(page, 159.2, 91.0, f"¥{format_money(doc.total_amount)}", size=2.9, align="right",
           tag="TaxExclusiveTotalAmount")
    b.text(page, 204.7, 91.0, f"¥{format_money(doc.total_tax)}", size=2.9, align="right", tag="TaxTotalAmount")
    b.hline(page, 4.5, 205.5, 95.8)
    # 价税合计
    b.text(page, 8.0, 98.3, "价税合计（大写）", color=BROWN)
    # ⊗ drawn as a path (a circle and a cross), as real invoice OFDs do: no font needs the glyph
    b.path(page, 56.5, 98.2, 3.2, 3.2, _CIRCLED_CROSS, width=0.2, color=BLACK)
    b.text(page, 61.0, 98.3, printed_total_in_words(doc), tag="TaxInclusiveTotalAmountInWords")
    b.text(page, 150.0, 98.3, "（小写）", color=BROWN)
    b.text(page, 162.0, 98.3, f"¥{format_money(doc.total_with_tax)}", tag="TaxInclusiveTotalAmount")
    b.hline(page, 4.5, 205.5, 103.8)
    # 备注
    b.vline(page, 10.5, 103.8, 123.8)
    b.vertical_label(page, 6.0, 105.0, 122.5, "备注")
    remark = full_remark(doc)
    per_line = 62
    for i in range(0, min(len(remark), per_line * 4), per_line):
        b.text(page, 12.0, 105.5 + (i // per_line) * 4.2, remark[i:i + per_line], size=2.8, tag="Note")
    # 开票人
    b.text(page, 8.0, 128.0, "开票人：", color=BROWN)
    b.text(page, 22.0, 128.0, doc.drawer, tag="InvoiceClerk")
    if doc.is_red:
        b.text(page, 30.0, 21.0, "红字发票", size=3.5, color="200 0 0")


def _draw_list_pages(b: _Builder, doc: InvoiceDocument, pages: int) -> None:
    lines = list(doc.lines)
    for index in range(pages - 1):
        chunk = lines[index * LIST_ROWS_PER_PAGE:(index + 1) * LIST_ROWS_PER_PAGE]
        page = b.page()
        _draw_header(b, page, doc, "销售货物或者提供应税劳务、服务清单", index + 2, pages, qr=False)
        b.text(page, 6.0, 22.0, f"购买方名称：{doc.buyer.name}", size=2.8)
        b.text(page, 6.0, 25.5, f"销售方名称：{doc.seller.name}", size=2.8)
        b.rect(page, 4.5, 29.8, 201, 100.0)
        _draw_table_header(b, page, 31.0)
        b.hline(page, 4.5, 205.5, 35.5)
        y = 36.5
        for line in chunk:
            _draw_row(b, page, y, _line_cells(line))
            y += 4.8
        if index == pages - 2:
            b.hline(page, 4.5, 205.5, 124.0)
            b.text(page, 20.0, 125.2, "合　　计", color=BROWN)
            b.text(page, 159.2, 125.2, f"¥{format_money(doc.total_amount)}", size=2.9, align="right")
            b.text(page, 204.7, 125.2, f"¥{format_money(doc.total_tax)}", size=2.9, align="right")


def _page_xml(page: _Page) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="{NS}"><ofd:Area>'
        f"<ofd:PhysicalBox>0 0 {PAGE_W:g} {PAGE_H:g}</ofd:PhysicalBox></ofd:Area><ofd:Content>"
        f'<ofd:Layer ID="{page.layer_id}" Type="Body">{"".join(page.objects)}</ofd:Layer>'
        f"</ofd:Content></ofd:Page>"
    )


def write_ofd(doc: InvoiceDocument, *, created: date | None = None) -> bytes:
    """Build an OFD package for ``doc``. The invoice XML (``write_xml(doc)``) is embedded as an attachment."""
    xml_bytes = write_xml(doc)
    list_pages = 0 if len(doc.lines) <= FACE_LINES else -(-len(doc.lines) // LIST_ROWS_PER_PAGE)
    pages = 1 + list_pages

    b = _Builder()
    _draw_face(b, doc, pages)
    _draw_list_pages(b, doc, pages)
    attachment_id = b.new_id()
    max_id = b.next_id

    created_s = (created or date.today()).isoformat()
    doc_id = uuid.uuid5(uuid.NAMESPACE_URL, f"fapiaodesk:{doc.number}:{doc.legacy_code}").hex
    custom = {
        "发票号码": doc.number,
        "开票日期": format_cn_date(doc.issue_date),
        "合计金额": format_money(doc.total_amount),
        "合计税额": format_money(doc.total_tax),
        "价税合计": format_money(doc.total_with_tax),
        "购买方名称": doc.buyer.name,
        "购买方纳税人识别号": doc.buyer.tax_id,
        "销售方名称": doc.seller.name,
        "销售方纳税人识别号": doc.seller.tax_id,
    }
    if doc.legacy_code:
        custom["发票代码"] = doc.legacy_code
    custom_xml = "".join(f'<ofd:CustomData Name="{escape(k)}">{escape(v)}</ofd:CustomData>'
                         for k, v in custom.items() if v)
    ofd_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD xmlns:ofd="{NS}" DocType="OFD" Version="1.0">'
        f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>{doc_id}</ofd:DocID><ofd:Title>{escape(doc.title)}</ofd:Title>"
        f"<ofd:CreationDate>{created_s}</ofd:CreationDate><ofd:Creator>{CREATOR}</ofd:Creator>"
        f"<ofd:CreatorVersion>1.0</ofd:CreatorVersion><ofd:CustomDatas>{custom_xml}</ofd:CustomDatas>"
        f"</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    pages_xml = "".join(f'<ofd:Page ID="{p.id}" BaseLoc="Pages/Page_{i}/Content.xml"/>'
                        for i, p in enumerate(b.pages))
    document_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="{NS}"><ofd:CommonData>'
        f"<ofd:MaxUnitID>{max_id}</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 {PAGE_W:g} {PAGE_H:g}"
        f"</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>"
        f"<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes></ofd:CommonData>"
        f"<ofd:Pages>{pages_xml}</ofd:Pages><ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>"
        f"<ofd:CustomTags>Tags/CustomTags.xml</ofd:CustomTags></ofd:Document>"
    )
    public_res = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:Fonts>'
        f'<ofd:Font ID="{b.font_id}" FontName="宋体" FamilyName="SimSun"/>'
        f'<ofd:Font ID="{b.mono_id}" FontName="Courier New" FamilyName="Courier New"/>'
        f"</ofd:Fonts></ofd:Res>"
    )
    document_res = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:MultiMedias>'
        f'<ofd:MultiMedia ID="{b.qr_id}" Type="Image" Format="PNG"><ofd:MediaFile>qr.png</ofd:MediaFile>'
        f"</ofd:MultiMedia></ofd:MultiMedias></ofd:Res>"
    )
    attachments = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Attachments xmlns:ofd="{NS}">'
        f'<ofd:Attachment ID="{attachment_id}" Name="invoice" Format="xml" CreationDate="{created_s}" '
        f'Size="{len(xml_bytes) / 1024:.4f}" Visible="false"><ofd:FileLoc>invoice.xml</ofd:FileLoc>'
        f"</ofd:Attachment></ofd:Attachments>"
    )
    custom_tags = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:CustomTags xmlns:ofd="{NS}">'
        f'<ofd:CustomTag TypeID="invoice"><ofd:FileLoc>CustomTag.xml</ofd:FileLoc></ofd:CustomTag>'
        f"</ofd:CustomTags>"
    )
    custom_tag = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:root xmlns:ofd="{NS}" version="1.0">']
    for name in ("InvoiceNo", "IssueDate"):
        custom_tag.append(_tag_xml(name, b.tags.get(name, [])))
    for prefix in ("Buyer", "Seller"):
        custom_tag.append(f"<ofd:{prefix}>{_tag_xml(prefix + 'Name', b.tags.get(prefix + 'Name', []))}"
                          f"{_tag_xml(prefix + 'TaxID', b.tags.get(prefix + 'TaxID', []))}</ofd:{prefix}>")
    for name in ("TaxExclusiveTotalAmount", "TaxTotalAmount", "TaxInclusiveTotalAmount", "InvoiceClerk", "Note"):
        if b.tags.get(name):
            custom_tag.append(_tag_xml(name, b.tags[name]))
    custom_tag.append("</ofd:root>")

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr("OFD.xml", ofd_xml)
        z.writestr("Doc_0/Document.xml", document_xml)
        z.writestr("Doc_0/PublicRes.xml", public_res)
        z.writestr("Doc_0/DocumentRes.xml", document_res)
        z.writestr("Doc_0/Res/qr.png", qr_png(doc), compress_type=zipfile.ZIP_STORED)
        for i, p in enumerate(b.pages):
            z.writestr(f"Doc_0/Pages/Page_{i}/Content.xml", _page_xml(p))
        z.writestr("Doc_0/Attachs/Attachments.xml", attachments)
        z.writestr("Doc_0/Attachs/invoice.xml", xml_bytes)
        z.writestr("Doc_0/Tags/CustomTags.xml", custom_tags)
        z.writestr("Doc_0/Tags/CustomTag.xml", "".join(custom_tag))
    return out.getvalue()


def _tag_xml(name: str, refs: list[tuple[int, int]]) -> str:
    inner = "".join(f'<ofd:ObjectRef PageRef="{p}">{o}</ofd:ObjectRef>' for p, o in refs)
    return f"<ofd:{name}>{inner}</ofd:{name}>"


# ----------------------------------------------------------------------------------------------- reading

@dataclass
class _Package:
    zip: SafeZip
    doc_dir: str = ""
    custom_datas: dict[str, str] = field(default_factory=dict)
    document: etree._Element | None = None


# CustomData names (Chinese, as producers write them) -> our XML local names.
_CUSTOM_DATA = {
    "发票代码": "InvoiceCode",
    "发票号码": "InvoiceNo",
    "开票日期": "IssueDate",
    "校验码": "InvoiceCheckCode",
    "合计金额": "TaxExclusiveTotalAmount",
    "合计税额": "TaxTotalAmount",
    "价税合计": "TaxInclusiveTotalAmount",
    "购买方名称": "BuyerName",
    "购买方纳税人识别号": "BuyerTaxID",
    "销售方名称": "SellerName",
    "销售方纳税人识别号": "SellerTaxID",
    "开票人": "InvoiceClerk",
    "模板编号": "TypeOfInvoice",
}
_TAG_NAMES = {
    "InvoiceNo", "InvoiceCode", "IssueDate", "InvoiceCheckCode", "BuyerName", "BuyerTaxID", "SellerName",
    "SellerTaxID", "TaxExclusiveTotalAmount", "TaxTotalAmount", "TaxInclusiveTotalAmount", "InvoiceClerk", "Note",
    "BuyerAddrTel", "BuyerFinancialAccount", "SellerAddrTel", "SellerFinancialAccount",
}
def _child_text(el: etree._Element | None, name: str) -> str:
    if el is None:
        return ""
    for c in el:
        if local(c) == name:
            return normalize_text(c.text)
    return ""


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el.iter() if local(c) == name]


def _open(data: bytes) -> _Package:
    z = SafeZip(data, what="OFD")
    entry = z.resolve("OFD.xml")
    if entry is None:
        raise MalformedDocument("OFD: no OFD.xml entry point")
    root = z.read_xml(entry)
    if local(root) != "OFD":
        raise UnsupportedDocument("OFD: OFD.xml has no <OFD> root")
    pkg = _Package(zip=z)
    for cd in _children(root, "CustomData"):
        name = normalize_text(cd.get("Name"))
        if name:
            pkg.custom_datas[name] = normalize_text(cd.text)
    doc_roots = [normalize_text(e.text) for e in _children(root, "DocRoot")]
    if not doc_roots or not doc_roots[0]:
        raise MalformedDocument("OFD: no DocRoot")
    doc_path = z.resolve(doc_roots[0])
    if doc_path is None:
        raise MalformedDocument(f"OFD: DocRoot {doc_roots[0]!r} does not exist")
    pkg.doc_dir = posixpath.dirname(doc_path)
    pkg.document = z.read_xml(doc_path)
    return pkg


def _embedded_xml(pkg: _Package) -> InvoiceDocument | None:
    z, candidates = pkg.zip, []
    for loc_el in _children(pkg.document, "Attachments"):
        path = z.resolve(normalize_text(loc_el.text), pkg.doc_dir)
        if path is None:
            continue
        base = posixpath.dirname(path)
        for att in _children(z.read_xml(path), "Attachment"):
            fmt = (att.get("Format") or "").lower()
            loc = _child_text(att, "FileLoc")
            target = z.resolve(loc, base)
            if target and (fmt in {"xml", "xbrl", ""} or target.lower().endswith(".xml")):
                candidates.append(target)
    if not candidates:  # some producers skip Attachments.xml
        candidates = [n for n in z.names() if "/attachs/" in n.lower() and n.lower().endswith(".xml")
                      and not n.lower().endswith("attachments.xml")]
    for target in candidates:
        try:
            return read_xml_element(z.read_xml(target), source_format=FORMAT_OFD)
        except (MalformedDocument, UnsupportedDocument):
            continue
    return None


def _pages(pkg: _Package) -> list[tuple[str, list[str]]]:
    """(page id, [content paths: template(s) then page]) in page order."""
    z, doc = pkg.zip, pkg.document
    templates: dict[str, str] = {}
    for tp in _children(doc, "TemplatePage"):
        path = z.resolve(tp.get("BaseLoc", ""), pkg.doc_dir)
        if path:
            templates[tp.get("ID", "")] = path
    out: list[tuple[str, list[str]]] = []
    for page in _children(doc, "Page"):
        path = z.resolve(page.get("BaseLoc", ""), pkg.doc_dir)
        if path is None:
            continue
        content = z.read_xml(path)
        paths = [templates[t.get("TemplateID", "")] for t in _children(content, "Template")
                 if t.get("TemplateID", "") in templates]
        if not paths and len(templates) == 1 and not out:
            paths = list(templates.values())  # producers that omit the <Template> reference on page 1
        out.append((page.get("ID", ""), [*paths, path]))
    return out


def _texts(pkg: _Package, pages: list[tuple[str, list[str]]]) -> list[PlacedText]:
    texts: list[PlacedText] = []
    for index, (_pid, paths) in enumerate(pages):
        for path in paths:
            root = pkg.zip.read_xml(path)
            for obj in root.iter():
                if local(obj) != "TextObject":
                    continue
                try:
                    bx, by, _bw, _bh = (float(v) for v in obj.get("Boundary", "0 0 0 0").split()[:4])
                    a, b, c, d, e, f = (float(v) for v in (obj.get("CTM") or "1 0 0 1 0 0").split()[:6])
                    size = float(obj.get("Size", "3"))
                except ValueError:
                    continue
                scale = (a * a + b * b) ** 0.5 or 1.0
                for tc in obj:
                    if local(tc) != "TextCode":
                        continue
                    text = normalize_text("".join(tc.itertext()))
                    if not text:
                        continue
                    try:
                        x, y = float(tc.get("X", "0")), float(tc.get("Y", "0"))
                    except ValueError:
                        x = y = 0.0
                    px, py = bx + a * x + c * y + e, by + b * x + d * y + f
                    fs = size * scale
                    texts.append(PlacedText(index, obj.get("ID", ""), px, py, text_width(text, fs), fs, text))
    return texts


def _tag_values(pkg: _Package, pages: list[tuple[str, list[str]]], texts: list[PlacedText]) -> dict[str, str]:
    z, out = pkg.zip, {}
    page_index = {pid: i for i, (pid, _paths) in enumerate(pages)}
    by_id: dict[tuple[int, str], list[PlacedText]] = {}
    for t in texts:
        by_id.setdefault((t.page, t.id), []).append(t)
    for loc_el in _children(pkg.document, "CustomTags"):
        path = z.resolve(normalize_text(loc_el.text), pkg.doc_dir)
        if path is None:
            continue
        base = posixpath.dirname(path)
        for tag in _children(z.read_xml(path), "CustomTag"):
            target = z.resolve(_child_text(tag, "FileLoc"), base)
            if target is None:
                continue
            for el in z.read_xml(target).iter():
                name = local(el)
                if name not in _TAG_NAMES or name in out:
                    continue
                parts: list[str] = []
                for ref in el:
                    if local(ref) != "ObjectRef":
                        continue
                    page = page_index.get(ref.get("PageRef", ""), 0)
                    parts.extend(t.text for t in by_id.get((page, normalize_text(ref.text)), []))
                value = "".join(parts).strip()
                if value:
                    out[name] = value
    return out


def read_ofd(data: bytes) -> InvoiceDocument:
    """Read an invoice OFD. Raises only ``DocumentError`` subclasses."""
    try:
        return _read_ofd(data)
    except DocumentError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError, OSError, zipfile.BadZipFile) as exc:
        raise MalformedDocument(f"OFD: cannot read ({exc})") from exc


def _read_ofd(data: bytes) -> InvoiceDocument:
    pkg = _open(data)
    embedded = _embedded_xml(pkg)
    if embedded is not None:
        return embedded

    pages = _pages(pkg)
    texts = _texts(pkg, pages)
    values = _tag_values(pkg, pages, texts)
    for name, key in _CUSTOM_DATA.items():
        v = pkg.custom_datas.get(name)
        if v and key not in values:
            values[key] = v
    for key, v in header_values(texts).items():
        values.setdefault(key, v)

    for key in ("TaxExclusiveTotalAmount", "TaxTotalAmount", "TaxInclusiveTotalAmount"):
        if key in values:
            values[key] = values[key].replace("¥", "").replace("￥", "").strip()
    number = values.pop("InvoiceNo", "").replace(" ", "")
    if len(number) == 20 and not values.get("InvoiceCode"):
        values["EIid"] = number
    elif number:
        values["InvoiceNo"] = number
    if "InvoiceCheckCode" in values:
        values["InvoiceCheckCode"] = values["InvoiceCheckCode"].replace(" ", "")
    title = values.get("TypeOfInvoice", "")
    values["_kind"] = kind_from_title(title) or "82"
    if not values.get("EIid") and not values.get("InvoiceNo"):
        raise UnsupportedDocument("OFD: no invoice number found in attachments, tags or page text")
    doc = document_from_values(values, source_format=FORMAT_OFD)
    lines = table_lines(texts)
    if lines and sum(ln.amount for ln in lines) == doc.total_amount:  # only lines that add up
        doc = doc.with_changes(lines=tuple(lines))
    return doc
