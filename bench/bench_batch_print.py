"""Benchmark: batch printing from the database (the admin's "批量打印") against rendering the same documents alone.

Run from the repository root:  python bench/bench_batch_print.py [--invoices 50,500] [--lines 8] [--paper A4]

Builds an in-memory SQLite database and the invoices, then, for each batch size, times what batch printing adds to
the rendering (the scoped query, one query for all the lines, the mapping to documents and the print events) and
``render_batch_pdf`` of the mapped documents, next to reportlab drawing the same faces one by one
(``bench_documents.reportlab_face``, the floor), in turns (data side, render, floor) so that all three see the same
machine load. Times are CPU seconds of this process (``time.process_time``): all three are single-threaded work in
this process (the SQLite database is in memory), and on a shared machine CPU time does not count the time spent
waiting for a core; wall seconds are printed too. Each timed piece ends with a garbage collection, so that it pays
for its own garbage. Ratios are the median over the runs of each run's ratio.

Goals: the data side costs at most 5% of the rendering; the number of reads does not grow with the batch (checked
on one end-to-end ``invoices_batch_print_response``; SQLite splits the print events' bulk INSERT into batches of
about a hundred rows, so INSERTs are not counted); issue 21: the whole batch print (data side + rendering) at
most 2x the floor, for 50 and for 500 invoices. Exits 1 when a goal is missed.

``--bound`` also times what WeasyPrint costs for the same batch with the QR code and every printed label left out of
the markup (not a face anyone may print: it shows how close any change that keeps WeasyPrint and the face's layout
could come to the floor).
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
os.environ["DATABASE_URL"] = "sqlite://:memory:"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def _timed(fn) -> tuple[float, float, object]:
    """(CPU seconds, wall seconds, result) of one call, with a garbage collection at the end: each piece of work pays
    for the garbage it leaves (the renderer pauses the collector, which would otherwise bill the next piece)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    del out
    gc.collect()
    return time.process_time() - cpu, time.perf_counter() - wall, None


# the face's printed labels (everything the template writes itself), left out for --bound
LABELS = ("发票号码：", "开票日期：", "名称：", "统一社会信用代码/纳税人识别号：", "项目名称", "规格型号", "单 位", "数 量",
          "单 价", "金 额", "税率/征收率", "税 额", "合　　计", "价税合计（大写）", "（小写）", "开票人：")


def _bare_markup(docs: list, paper: str) -> str:
    """The batch's markup with the QR code and the printed labels left out (the vertical labels emptied)."""
    import re

    from invoicing.documents.pdf import _html

    html = _html(docs, paper)
    bare = re.sub(r'<img class="qr"[^>]*/>', "", html)
    bare = re.sub(r'<th class="vlabel">[^<]*(?:<br/>[^<]*)*</th>', '<th class="vlabel"></th>', bare)
    for label in LABELS:
        bare = bare.replace(label, "")
    left = [label for label in ('class="qr"', "购<br/>", *LABELS) if label in bare]
    if left:  # the template changed: a bound that kept some of the face would say nothing
        raise SystemExit(f"--bound: the face's markup changed, still there: {left}")
    return bare


def _render_markup(html: str, paper: str) -> bytes:
    """``render_batch_pdf``'s steps on given markup (same fonts, stylesheet, parser and collector pause)."""
    from invoicing.documents.pdf import _collector_paused, _parsed, _styles

    font_config, stylesheet, fetcher = _styles(paper)
    with _collector_paused():
        document = _parsed(html, fetcher).render(stylesheets=[stylesheet], font_config=font_config)
        pdf: bytes = document.write_pdf()
    return pdf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", default="50,500", help="batch sizes, comma-separated (default 50,500)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size, median taken (default 3)")
    parser.add_argument("--lines", type=int, default=8, help="lines per invoice (default 8)")
    parser.add_argument("--paper", choices=("A4", "A5"), default="A4")
    parser.add_argument("--bound", action="store_true",
                        help="also time the batch without the QR code and the labels (the renderer's bound)")
    parser.add_argument("--inline-max", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(x) for x in args.invoices.split(",")]

    from invoicing.documents.fonts import documents_environment_problems

    problems = documents_environment_problems()
    for p in problems:
        print(f"WARNING: {p}")
    if any("font" in p for p in problems):
        return 1

    from django.conf import settings

    settings.DELIVERY_BATCH_PRINT_INLINE_MAX = args.inline_max  # time the in-request path, not the job redirect
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth.models import User
    from pypdf import PdfReader

    from delivery.printing import invoices_for_print, record_printed
    from delivery.rendering import invoice_to_document
    from delivery.views import invoices_batch_print_response
    from invoicing.documents.pdf import render_batch_pdf
    from invoicing.scoping import scope_queryset
    from issuing.platform.models import Invoice
    from tests.delivery.factories import make_invoice
    from tests.factories import TaxpayerFactory

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_documents import _register_font, reportlab_face

    seller = TaxpayerFactory(name="广州云途出行科技有限公司", short_name="云途", credit_code="91440101MA5CYUN00U")
    ids = [make_invoice(seller, lines=args.lines).pk for _ in range(max(sizes))]
    user = User.objects.create_superuser("bench", "bench@example.com", "x")
    request = RequestFactory().get("/")
    request.user = user
    _register_font()
    met = True

    for n in sizes:
        batch = Invoice.objects.filter(pk__in=ids[:n])

        def end_to_end(batch=batch) -> bytes:
            response = invoices_batch_print_response(request, batch, args.paper)
            return b"".join(response.streaming_content)

        def data_side(batch=batch) -> list:
            """Everything but the PDF: the scoped query with prefetched lines, the mapping and the print events."""
            invoices = invoices_for_print(scope_queryset(batch, user))
            docs = [invoice_to_document(inv) for inv in invoices]
            record_printed(invoices, user, args.paper)
            return docs

        with CaptureQueriesContext(connection) as queries:
            pdf = end_to_end()  # also the warm-up: fonts, templates
        docs = data_side()
        reportlab_face(docs[0])  # warm-up
        bare = _bare_markup(docs, args.paper) if args.bound else ""
        data, render, floor, wall, bound = [], [], [], [], []
        for _ in range(args.runs):
            d_cpu, d_wall, _ = _timed(data_side)
            r_cpu, r_wall, _ = _timed(lambda docs=docs: render_batch_pdf(docs, args.paper))
            f_cpu, f_wall, _ = _timed(lambda docs=docs: [reportlab_face(doc) for doc in docs])
            if bare:
                bound.append(_timed(lambda bare=bare: _render_markup(bare, args.paper))[0] / f_cpu)
            data.append(d_cpu)
            render.append(r_cpu)
            floor.append(f_cpu)
            wall.append((d_wall + r_wall, f_wall))
        share = statistics.median(d / r for d, r in zip(data, render, strict=True))
        ratio = statistics.median((d + r) / f for d, r, f in zip(data, render, floor, strict=True))
        wall_ratio = statistics.median(ours / fl for ours, fl in wall)
        med_data, med_render, med_floor = (statistics.median(x) for x in (data, render, floor))
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        # SQLite caps the parameters of one statement, so the print events' bulk INSERT comes in batches of about a
        # hundred invoices: the reads are what must not grow with the batch
        reads = sum(1 for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("INSERT"))
        constant = reads <= 7
        met = met and share <= 0.05 and ratio <= 2 and constant

        print(f"\nBatch print of {n} invoices x {args.lines} lines, {args.paper} "
              f"(CPU seconds, medians of {args.runs} runs in turns)\n")
        print(f"{'work':52} {'seconds':>8} {'x render':>9}  goal        ok")
        print(f"{'render_batch_pdf of the mapped documents (baseline)':52} {med_render:8.3f} {1:9.3f}")
        print(f"{'query + map to documents + print events':52} {med_data:8.3f} {share:9.3f}  <= 0.05x    "
              f"{'yes' if share <= 0.05 else 'NO'}")
        print(f"{'reportlab, the same faces one by one (floor)':52} {med_floor:8.3f} {med_floor / med_render:9.3f}")
        print(f"{'batch print (query + map + render) vs the floor':52} {med_data + med_render:8.3f} "
              f"{'':9}  {ratio:.2f}x <= 2x {'yes' if ratio <= 2 else 'NO'}")
        if bound:
            print(f"{'bound: the same batch without QR code and labels':52} {'':8} {'':9}  "
                  f"{statistics.median(bound):.2f}x the floor")
        print(f"\nend to end: {pages} pages, {len(pdf) // 1024} KB, {len(queries)} queries, {reads} of them reads "
              f"({'constant' if constant else 'GROWS'}), about {n / (med_data + med_render):.1f} invoices/s "
              f"(CPU); wall clock: batch print {wall_ratio:.2f}x the floor")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
