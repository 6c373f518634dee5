"""Benchmark: one invoice as PDF (WeasyPrint), OFD and XML, against a reportlab drawing of the same face.

Run from the repository root:  python bench/bench_documents.py [--runs N] [--batch 50]

The floor is reportlab drawing the same invoice with an embedded TrueType CJK font (the "physical limit" for a
PDF of this face in Python). Ratios are taken against the floor measured in the same run. Goals: PDF <= 4x floor,
OFD <= 10 ms, XML <= 2 ms.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django  # noqa: E402

django.setup()

from invoicing.documents.demo import demo_document  # noqa: E402
from invoicing.documents.fonts import documents_environment_problems, find_cjk_font  # noqa: E402
from invoicing.documents.model import (  # noqa: E402
    InvoiceDocument,
    format_cn_date,
    format_money,
    format_plain,
    printed_total_in_words,
)
from invoicing.documents.ofd import read_ofd, write_ofd  # noqa: E402
from invoicing.documents.pdf import render_batch_pdf, render_pdf  # noqa: E402
from invoicing.documents.qr import qr_payload  # noqa: E402
from invoicing.documents.xml import full_remark, read_xml, write_xml  # noqa: E402


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    """Median wall time; like timeit, the garbage collector is off while timing (collected between runs)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1000)
        finally:
            gc.enable()
    return statistics.median(samples)


def interleaved_medians(fns: dict[str, object], runs: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time of each function, timing them in turns so that all see the same machine load."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()  # type: ignore[operator]
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                fn()  # type: ignore[operator]
                samples[name].append((time.perf_counter() - t0) * 1000)
            finally:
                gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


_FONT = "InvoiceCJK"


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        path = find_cjk_font()
        kwargs = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
        pdfmetrics.registerFont(TTFont(_FONT, str(path), **kwargs))


def reportlab_face(doc: InvoiceDocument) -> bytes:
    """The same face drawn with reportlab (A5 landscape, mm coordinates from the top-left)."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.colors import Color
    from reportlab.lib.pagesizes import A5, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    w, h = landscape(A5)
    brown, red = Color(0.56, 0.36, 0.12), Color(0.69, 0.15, 0.18)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(w, h))

    def text(x, y, s, size=9, color=None, right=False, center=False):
        c.setFont(_FONT, size)
        c.setFillColor(color or Color(0.1, 0.1, 0.1))
        if right:
            c.drawRightString(x * mm, h - y * mm, s)
        elif center:
            c.drawCentredString(x * mm, h - y * mm, s)
        else:
            c.drawString(x * mm, h - y * mm, s)

    def line(x1, y1, x2, y2):
        c.setStrokeColor(red)
        c.setLineWidth(0.9)
        c.line(x1 * mm, h - y1 * mm, x2 * mm, h - y2 * mm)

    qr = QrCodeWidget(qr_payload(doc))
    x0, y0, x1, y1 = qr.getBounds()
    d = Drawing(19 * mm, 19 * mm, transform=[19 * mm / (x1 - x0), 0, 0, 19 * mm / (y1 - y0), 0, 0])
    d.add(qr)
    renderPDF.draw(d, c, 6 * mm, h - 23 * mm)
    text(105, 14, doc.title, 17, red, center=True)
    line(62, 17, 148, 17)
    line(62, 18, 148, 18)
    text(152, 11, "发票号码：", color=brown)
    text(168, 11, doc.number)
    text(152, 17, "开票日期：", color=brown)
    text(168, 17, format_cn_date(doc.issue_date))
    c.setStrokeColor(red)
    c.rect(5 * mm, h - 133 * mm, 200 * mm, 107 * mm)
    line(5, 48, 205, 48)
    for x in (11, 105, 111):
        line(x, 26, x, 48)
    for i, ch in enumerate("购买方信息"):
        text(6.5, 31 + i * 4, ch, 8.5, brown)
        text(106.5, 31 + i * 4, ch if i > 1 else "销售"[i], 8.5, brown)
    for x, party in ((13, doc.buyer), (113, doc.seller)):
        text(x, 33, "名称：", color=brown)
        text(x + 10, 33, party.name)
        text(x, 42, "统一社会信用代码/纳税人识别号：", color=brown)
        text(x + 49, 42, party.tax_id)
    cols = ((6, "项目名称"), (62, "规格型号"), (94, "单位"), (108, "数量"), (128, "单价"), (150, "金额"),
            (171, "税率/征收率"), (192, "税额"))
    for x, title in cols:
        text(x + (8 if x == 6 else 0), 53, title, 8.6, brown, center=x != 6)
    y = 58.5
    for ln in doc.lines:
        text(6, y, ln.item_name, 8.6)
        text(57, y, ln.spec, 8.6)
        text(94, y, ln.unit, 8.6, center=True)
        text(113, y, format_plain(ln.quantity), 8.6, right=True)
        text(134, y, format_plain(ln.unit_price), 8.6, right=True)
        text(160, y, format_money(ln.amount), 8.6, right=True)
        text(171, y, ln.rate_display, 8.6, center=True)
        text(203, y, ln.tax_display, 8.6, right=True)
        y += 4.6
    text(28, 97, "合　　计", color=brown)
    text(160, 97, f"¥{format_money(doc.total_amount)}", right=True)
    text(203, 97, f"¥{format_money(doc.total_tax)}", right=True)
    line(5, 99, 205, 99)
    text(8, 104, "价税合计（大写）", color=brown)
    text(45, 104, f"⊗ {printed_total_in_words(doc)}")
    text(150, 104, "（小写）", color=brown)
    text(166, 104, f"¥{format_money(doc.total_with_tax)}")
    line(5, 107, 205, 107)
    line(11, 107, 11, 133)
    text(6.5, 114, "备", color=brown)
    text(6.5, 124, "注", color=brown)
    text(13, 112, full_remark(doc), 8.6)
    text(6, 139, "开票人：", color=brown)
    text(20, 139, doc.drawer)
    c.showPage()
    c.save()
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per PDF measurement (default 20)")
    parser.add_argument("--fast-runs", type=int, default=200, help="timed runs for XML/OFD (default 200)")
    parser.add_argument("--batch", type=int, default=50, help="invoices in the batch PDF (default 50)")
    args = parser.parse_args()

    problems = documents_environment_problems()
    for p in problems:
        print(f"WARNING: {p}")
    if any("font" in p for p in problems):
        return 1

    doc = demo_document()  # the 8-line face of docs/invoice-face.png
    doc = doc.with_changes(total_in_words=printed_total_in_words(doc))
    _register_font()
    xml_bytes, ofd_bytes = write_xml(doc), write_ofd(doc)

    pdf = interleaved_medians({
        "floor": lambda: reportlab_face(doc),
        "A4": lambda: render_pdf(doc, paper="A4"),
        "A5": lambda: render_pdf(doc, paper="A5"),
    }, args.runs)
    floor = pdf["floor"]
    rows = [
        ("reportlab + embedded TTF (floor)", floor, len(reportlab_face(doc)), "floor"),
        ("PDF, WeasyPrint A4", pdf["A4"], len(render_pdf(doc, paper="A4")), "<= 4x floor"),
        ("PDF, WeasyPrint A5", pdf["A5"], len(render_pdf(doc, paper="A5")), "<= 4x floor"),
        ("OFD write", median_ms(lambda: write_ofd(doc), args.fast_runs), len(ofd_bytes), "<= 10 ms"),
        ("XML write", median_ms(lambda: write_xml(doc), args.fast_runs), len(xml_bytes), "<= 2 ms"),
        ("OFD read (embedded XML)", median_ms(lambda: read_ofd(ofd_bytes), args.fast_runs), None, ""),
        ("XML read", median_ms(lambda: read_xml(xml_bytes), args.fast_runs), None, ""),
    ]

    print(f"\nOne 8-line invoice, medians ({args.runs} PDF runs interleaved with the floor, "
          f"{args.fast_runs} XML/OFD runs)\n")
    print(f"{'work':36} {'median ms':>10} {'x floor':>8} {'bytes':>8}  goal          ok")
    for name, ms, size, goal in rows:
        ratio = ms / floor
        if goal.startswith("<= 4x"):
            ok = "yes" if ratio <= 4 else "NO"
        elif goal.endswith("ms"):
            ok = "yes" if ms <= float(goal.split()[1]) else "NO"
        else:
            ok = ""
        size_s = f"{size:8d}" if size is not None else f"{'':8}"
        print(f"{name:36} {ms:10.2f} {ratio:8.2f} {size_s}  {goal:13} {ok}")

    docs = [demo_document(number=f"25312000000{i:09d}") for i in range(args.batch)]
    docs = [d.with_changes(total_in_words=printed_total_in_words(d)) for d in docs]
    render_batch_pdf(docs[:2], "A4")  # warm-up
    t0 = time.perf_counter()
    batch = render_batch_pdf(docs, "A4")
    seconds = time.perf_counter() - t0
    print(f"\nBatch print: {args.batch} invoices in one PDF in {seconds:.2f} s = {args.batch / seconds:.1f} "
          f"invoices/s ({len(batch) // 1024} KB); floor (reportlab, one by one) {1000 / floor:.1f} invoices/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
