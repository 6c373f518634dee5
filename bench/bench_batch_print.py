"""Benchmark: batch printing from the database (the admin's "批量打印") against rendering the same documents alone.

Run from the repository root:  python bench/bench_batch_print.py [--invoices 50] [--lines 8] [--paper A4]

Builds an in-memory SQLite database and the invoices, then times what batch printing adds to the rendering (the
scoped query, one query for all the lines, the mapping to documents and the print events) against
``render_batch_pdf`` of the mapped documents in the same run (the baseline; the documents bench measures rendering
itself). Goals: the data side costs at most 5% of the rendering, and the number of queries does not grow with the
batch (checked on one end-to-end ``invoices_batch_print_response``). Issue 21's goal: the whole batch print
(data side + rendering) at most 2x reportlab drawing the same faces one by one (``bench_documents.reportlab_face``,
measured in the same run).
"""

from __future__ import annotations

import argparse
import io
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=20, help="invoices in the batch (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs, best taken (default 3)")
    parser.add_argument("--lines", type=int, default=8, help="lines per invoice (default 8)")
    parser.add_argument("--paper", choices=("A4", "A5"), default="A4")
    parser.add_argument("--inline-max", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()

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

    from delivery.printing import invoices_for_print, record_printed
    from delivery.rendering import invoice_to_document
    from delivery.views import invoices_batch_print_response
    from invoicing.documents.pdf import render_batch_pdf
    from invoicing.scoping import scope_queryset
    from issuing.platform.models import Invoice
    from tests.delivery.factories import make_invoice
    from tests.factories import TaxpayerFactory

    seller = TaxpayerFactory(name="广州云途出行科技有限公司", short_name="云途", credit_code="91440101MA5CYUN00U")
    for _ in range(args.invoices):
        make_invoice(seller, lines=args.lines)
    user = User.objects.create_superuser("bench", "bench@example.com", "x")
    request = RequestFactory().get("/")
    request.user = user

    def end_to_end() -> bytes:
        response = invoices_batch_print_response(request, Invoice.objects.all(), args.paper)
        return b"".join(response.streaming_content)

    def data_side() -> list:
        """Everything but the PDF: the scoped query with prefetched lines, the mapping and the print events."""
        invoices = invoices_for_print(scope_queryset(Invoice.objects.all(), user))
        docs = [invoice_to_document(inv) for inv in invoices]
        record_printed(invoices, user, args.paper)
        return docs

    with CaptureQueriesContext(connection) as queries:
        pdf = end_to_end()  # also the warm-up: fonts, templates
    docs = data_side()
    data_runs, render_runs = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        data_side()
        data_runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        render_batch_pdf(docs, args.paper)
        render_runs.append(time.perf_counter() - t0)
    data, render = min(data_runs), min(render_runs)

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_documents import _register_font, reportlab_face

    _register_font()
    reportlab_face(docs[0])  # warm-up
    floor_runs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for doc in docs:
            reportlab_face(doc)
        floor_runs.append(time.perf_counter() - t0)
    floor = min(floor_runs)

    from pypdf import PdfReader

    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    share = data / render
    print(f"\nBatch print of {args.invoices} invoices x {args.lines} lines, {args.paper} (best of {args.runs})\n")
    print(f"{'work':52} {'seconds':>8} {'x render':>9}  goal        ok")
    print(f"{'render_batch_pdf of the mapped documents (baseline)':52} {render:8.3f} {1:9.3f}")
    print(f"{'query + map to documents + print events':52} {data:8.3f} {share:9.3f}  <= 0.05x    "
          f"{'yes' if share <= 0.05 else 'NO'}")
    ratio = (data + render) / floor
    print(f"{'reportlab, the same faces one by one (floor)':52} {floor:8.3f} {floor / render:9.3f}")
    print(f"{'batch print (query + map + render) vs the floor':52} {data + render:8.3f} {ratio:9.3f}  "
          f"<= 2x floor  {'yes' if ratio <= 2 else 'NO'}")
    print(f"\nend to end: {pages} pages, {len(pdf) // 1024} KB, {len(queries)} queries "
          f"({'constant' if len(queries) <= 8 else 'GROWS'}), about {args.invoices / (data + render):.1f} invoices/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
