"""The printed packet of a claim, as finance files it: a cover sheet (the claim, the claimant, totals by ticket
type, signature boxes) and then the invoices laid out two to an A4 page, grouped by type.

An invoice that came as a PDF is placed as its own first page, scaled into its slot (pypdf page transformations:
nothing is rasterised); one without a PDF file (XML, OFD, an image, a manual entry) or when the reader may not
download files is listed by its fields in the slot instead. The count check: the packet holds one slot per line of
the claim, and the cover says how many; a packet that would drop an invoice is refused, never printed short.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.utils import timezone
from django.utils.translation import gettext
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.errors import PyPdfError

from invoicing.documents.pdf import font_face_css, html_to_pdf
from receiving.claims_models import ClaimLine, ExpenseClaim
from receiving.models import Carrier, CarrierFormat

logger = logging.getLogger(__name__)

MM = 72 / 25.4  # PDF points per millimetre
PAGE_H = 297.0
PER_SHEET = 2
SLOT_LEFT, SLOT_W, SLOT_H = 10.0, 190.0, 128.0
SLOT_TOPS = (16.0, 160.0)  # millimetres from the top of the sheet
ZERO = Decimal("0.00")


class PacketCountError(Exception):
    """The packet would not hold every invoice of the claim."""


@dataclass
class Slot:
    line: ClaimLine
    sheet: int
    position: int
    pdf: bytes | None


def _pdf_of(line: ClaimLine, with_files: bool) -> bytes | None:
    if not with_files:
        return None
    carrier = (Carrier.objects.filter(invoice_id=line.invoice_id, format=CarrierFormat.PDF).order_by("id").first())
    if carrier is None:
        return None
    try:
        with carrier.file.open("rb") as fh:
            data: bytes = fh.read()
        if not PdfReader(io.BytesIO(data)).pages:
            return None
    except (OSError, PyPdfError, ValueError):
        logger.warning("carrier %s of invoice %s could not be read for printing", carrier.pk, line.invoice_id)
        return None
    return data


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _fields_html(line: ClaimLine) -> str:
    r = line.invoice
    rows = [(gettext("票种"), r.get_kind_display()), (gettext("发票号码"), str(r)),
            (gettext("开票日期"), f"{r.issue_date:%Y-%m-%d}"), (gettext("销售方名称"), r.seller_name),
            (gettext("销售方纳税人识别号"), r.seller_tax_id), (gettext("购买方名称"), r.buyer_name),
            (gettext("合计金额"), _money(r.amount)), (gettext("合计税额"), _money(r.tax)),
            (gettext("价税合计"), _money(r.total))]
    if r.is_ticket:
        rows += [(gettext("旅客姓名"), r.passenger_name),
                 (gettext("行程"), f"{r.travel_from} → {r.travel_to} {r.vehicle_number}".strip())]
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v or ''))}</td></tr>" for k, v in rows)
    note = escape(gettext("无 PDF 版式文件：列示发票信息"))
    return f'<p class="nofile">{note}</p><table class="fields">{body}</table>'


def claim_packet(*, claim: ExpenseClaim, with_files: bool = True) -> bytes:
    """The packet as PDF bytes (see the module's docstring). ``with_files``: the reader may see invoice files."""
    lines = list(ClaimLine.objects.filter(claim=claim).select_related("invoice").order_by("invoice__kind", "id"))
    groups: dict[str, list[ClaimLine]] = defaultdict(list)
    for line in lines:
        groups[str(line.invoice.get_kind_display())].append(line)
    slots: list[Slot] = []
    sheet = 0
    for _kind, members in groups.items():  # each type starts on a sheet of its own
        for i, line in enumerate(members):
            if i and i % PER_SHEET == 0:
                sheet += 1
            slots.append(Slot(line=line, sheet=sheet, position=i % PER_SHEET, pdf=_pdf_of(line, with_files)))
        sheet += 1
    sheets = sheet
    # the count check, before anything is printed
    if len(slots) != len(lines) or {s.line.pk for s in slots} != {x.pk for x in lines}:
        raise PacketCountError(gettext("报销单 %(no)s：打印件中的发票数与报销单不符") % {"no": claim.claim_no})
    html = _html(claim, lines, groups, slots, sheets)
    base = PdfReader(io.BytesIO(html_to_pdf(html)))
    cover_pages = len(base.pages) - sheets
    if cover_pages < 1:
        raise PacketCountError(gettext("报销单 %(no)s：打印件的页数不符") % {"no": claim.claim_no})
    writer = PdfWriter(clone_from=base)
    placed = 0
    for slot in slots:
        if slot.pdf is None:
            placed += 1  # listed by its fields in the HTML
            continue
        src = PdfReader(io.BytesIO(slot.pdf)).pages[0]
        box = src.mediabox
        sw, sh = float(box.width), float(box.height)
        w, h = SLOT_W * MM, (SLOT_H - 8) * MM
        x = SLOT_LEFT * MM
        y = (PAGE_H - SLOT_TOPS[slot.position] - SLOT_H) * MM
        scale = min(w / sw, h / sh)
        tx = x + (w - sw * scale) / 2 - float(box.left) * scale
        ty = y + (h - sh * scale) / 2 - float(box.bottom) * scale
        writer.pages[cover_pages + slot.sheet].merge_transformed_page(
            src, Transformation().scale(scale, scale).translate(tx, ty))
        placed += 1
    if placed != len(lines):
        raise PacketCountError(gettext("报销单 %(no)s：打印件中的发票数与报销单不符") % {"no": claim.claim_no})
    writer.add_metadata({"/Title": claim.claim_no, "/Subject": f"invoices={len(lines)}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _html(claim: ExpenseClaim, lines: list[ClaimLine], groups: dict[str, list[ClaimLine]], slots: list[Slot],
          sheets: int) -> str:
    t = gettext
    total_claimed = sum((x.amount for x in lines), ZERO)
    group_rows = "".join(
        f"<tr><td>{escape(kind)}</td><td class='n'>{len(members)}</td>"
        f"<td class='n'>{_money(sum((m.invoice.total or ZERO for m in members), ZERO))}</td>"
        f"<td class='n'>{_money(sum((m.amount for m in members), ZERO))}</td></tr>"
        for kind, members in groups.items())
    line_rows = "".join(
        f"<tr><td class='n'>{i}</td><td>{escape(str(x.invoice.get_kind_display()))}</td><td>{escape(str(x.invoice))}"
        f"</td><td>{escape(x.invoice.seller_name)}</td><td>{x.invoice.issue_date:%Y-%m-%d}</td>"
        f"<td class='n'>{_money(x.invoice.total)}</td><td class='n'>{_money(x.amount)}</td></tr>"
        for i, x in enumerate(lines, start=1))
    signatures = "".join(f"<td><div class='sig-label'>{escape(w)}</div><div class='sig-box'></div>"
                         f"<div class='sig-date'>{escape(t('日期'))}：</div></td>"
                         for w in (t("报销人"), t("部门负责人"), t("财务审核"), t("审批人"), t("出纳")))
    head = [(t("报销单号"), claim.claim_no), (t("主体"), claim.taxpayer.name), (t("报销人"), claim.claimant_name),
            (t("员工编号"), claim.claimant_code), (t("部门"), claim.department), (t("事由"), claim.title),
            (t("状态"), claim.get_state_display()),
            (t("打印时间"), f"{timezone.localtime():%Y-%m-%d %H:%M}")]
    head_rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v or ''))}</td></tr>" for k, v in head)
    count_words = t("发票 %(n)d 张，已全部排入本打印件（%(sheets)d 页）") % {"n": len(lines), "sheets": sheets}
    sheet_html = []
    for s in range(sheets):
        parts = []
        for slot in (x for x in slots if x.sheet == s):
            top = SLOT_TOPS[slot.position]
            number = slots.index(slot) + 1
            caption = t("%(kind)s · 第 %(i)d / %(n)d 张 · %(number)s · 报销金额 %(amount)s") % {
                "kind": slot.line.invoice.get_kind_display(), "i": number, "n": len(slots),
                "number": slot.line.invoice, "amount": _money(slot.line.amount)}
            inner = "" if slot.pdf is not None else _fields_html(slot.line)
            parts.append(f"<div class='caption' style='top:{top - 7}mm'>{escape(caption)}</div>"
                         f"<div class='slot' style='top:{top}mm'>{inner}</div>")
        footer = t("%(no)s　第 %(s)d / %(n)d 页") % {"no": claim.claim_no, "s": s + 1, "n": sheets}
        sheet_html.append(f"<section class='sheet'>{''.join(parts)}<div class='foot'>{escape(footer)}</div></section>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
{font_face_css()}
@page cover {{ size: A4; margin: 15mm; }}
@page sheet {{ size: A4; margin: 0; }}
body {{ font-family: "FapiaoCJK"; font-size: 10pt; }}
.cover {{ page: cover; }}
h1 {{ text-align: center; font-size: 18pt; margin: 0 0 6mm; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 5mm; }}
th, td {{ border: 0.5pt solid #444; padding: 1.2mm 2mm; text-align: left; }}
td.n {{ text-align: right; }}
.sig td {{ width: 20%; height: 24mm; vertical-align: top; }}
.sig-box {{ height: 12mm; }}
.count {{ font-weight: bold; }}
.sheet {{ page: sheet; position: relative; width: 210mm; height: 296mm; overflow: hidden; break-before: page; }}
.slot {{ position: absolute; left: {SLOT_LEFT}mm; width: {SLOT_W}mm; height: {SLOT_H - 8}mm;
         border: 0.4pt dashed #999; }}
.caption {{ position: absolute; left: {SLOT_LEFT}mm; width: {SLOT_W}mm; font-size: 9pt; }}
.fields {{ width: 170mm; margin: 6mm auto; }}
.fields th {{ width: 45mm; }}
.nofile {{ text-align: center; color: #666; margin: 3mm 0 0; }}
.foot {{ position: absolute; left: 10mm; bottom: 6mm; font-size: 8pt; color: #666; }}
</style></head><body>
<div class="cover">
<h1>{escape(t("费用报销单"))}</h1>
<table>{head_rows}</table>
<h2>{escape(t("按票种合计"))}</h2>
<table><tr><th>{escape(t("票种"))}</th><th>{escape(t("张数"))}</th><th>{escape(t("价税合计"))}</th>
<th>{escape(t("报销金额"))}</th></tr>{group_rows}
<tr><th>{escape(t("合计"))}</th><th class='n'>{len(lines)}</th>
<th class='n'>{_money(sum((x.invoice.total or ZERO for x in lines), ZERO))}</th>
<th class='n'>{_money(total_claimed)}</th></tr></table>
<h2>{escape(t("发票清单"))}</h2>
<table><tr><th>#</th><th>{escape(t("票种"))}</th><th>{escape(t("发票号码"))}</th><th>{escape(t("销售方名称"))}</th>
<th>{escape(t("开票日期"))}</th><th>{escape(t("价税合计"))}</th><th>{escape(t("报销金额"))}</th></tr>{line_rows}</table>
<p class="count">{escape(count_words)}</p>
<table class="sig"><tr>{signatures}</tr></table>
</div>
{''.join(sheet_html)}
</body></html>"""
