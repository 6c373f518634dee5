"""Exports and reports: rows/s and memory of the streamed CSV / XLSX exports, and, on PostgreSQL, the invoice summary
by tax rate and the invoice changelist at 10k and 1M invoices.

Standalone: ``python bench/bench_export.py`` (``make bench`` runs it). Environment:
``BENCH_EXPORT_ROWS`` (default 100000) invoices to export; ``BENCH_EXPORT_RUNS`` (default 5) floor/ours pairs
for the CSV ratio (their median); ``BENCH_PG_URL`` (default: ``DATABASE_URL`` when it is
PostgreSQL, else postgres://postgres@127.0.0.1:5432/fapiao_bench_export, created if missing, when it answers; the database is emptied and
filled, so it must be disposable); ``BENCH_PG_INVOICES`` (default 1000000; 0 skips the PostgreSQL part, and
PostgreSQL altogether unless ``BENCH_PG_URL`` is set).

* Export floor, same run: ``csv.writer`` / openpyxl write-only over the raw ``values_list`` tuples, no formatting.
  Goals: ours ≥ 10,000 rows/s and peak memory growth ≤ 50 MB for 100k rows; CSV ≤ 1.2× the floor's time (the
  median ratio of the pairs; the bench exits 1 when it is missed).
* PostgreSQL: invoices and lines generated in SQL, then the summary's daily rollup rebuilt from them
  (``rebuild_rollup``, timed, as after any bulk load); ``summary_rows`` (one aggregate over the rollup) p50 of 9 runs
  for everything and for one month, next to ``summary_rows_live`` (the aggregate over every invoice line, the
  same-run baseline) p50 of 3, and checked equal; the admin invoice changelist (issuing/admin.py) p50 over 15
  requests, its query count, and whether it runs a full COUNT. Goals: summary ≤ 1 s, changelist p50 ≤ 200 ms with
  ≤ 10 queries, flat from 10k to 1M.
"""

from __future__ import annotations

import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "100000"))
RUNS = int(os.environ.get("BENCH_EXPORT_RUNS", "5"))
PG_INVOICES = int(os.environ.get("BENCH_PG_INVOICES", "1000000"))


def _october():
    import datetime as dt

    from issuing.reports.summary import ReportFilters

    return ReportFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))


def pg_url() -> str | None:
    url = os.environ.get("BENCH_PG_URL") or ""
    if not url and os.environ.get("DATABASE_URL", "").startswith("postgres"):
        url = os.environ["DATABASE_URL"]
    if not url:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        except OSError:
            return None
        url = "postgres://postgres@127.0.0.1:5432/fapiao_bench_export"
    from pgdb import ensure_database

    return ensure_database(url)


def setup_django(database_url: str | None) -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    var = tempfile.mkdtemp(prefix="fapiao-bench-export-")
    os.environ["FAPIAO_VAR_DIR"] = var
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def entities():
    from invoicing.models import Taxpayer

    a, _ = Taxpayer.objects.get_or_create(credit_code="91440101MA5CYUN00U", defaults={"name": "广州云途出行科技有限公司"})
    b, _ = Taxpayer.objects.get_or_create(credit_code="91440300MA5FM1NGYB", defaults={"name": "深圳明远信息技术有限公司"})
    return a, b


def fill_invoices_sql(n: int) -> None:
    """n invoices (every 20th red, against the one before) with two lines each (6% and 13%), in SQL."""
    from django.db import connection

    from issuing.platform.models import Invoice, InvoiceLine
    from tests.factories import tax_category

    a, b = entities()
    cat = tax_category().pk
    inv, line = Invoice._meta.db_table, InvoiceLine._meta.db_table
    exprs = {
        "id": "g", "taxpayer_id": f"CASE WHEN g % 2 = 0 THEN {a.pk} ELSE {b.pk} END",
        "application_id": "NULL", "number": "lpad(g::text, 20, '0')", "kind": "'82'",
        "is_red": "(g % 20 = 0)", "blue_invoice_id": "CASE WHEN g % 20 = 0 THEN g - 1 END",
        "issue_date": "DATE '2026-01-01' + (g % 365)", "issued_at": "TIMESTAMPTZ '2026-01-01' + (g % 365) * INTERVAL '1 day'",
        "seller_name": "'广州云途出行科技有限公司'", "seller_tax_id": "'91440101MA5CYUN00U'",
        "amount": "CASE WHEN g % 20 = 0 THEN -300 ELSE 300 END",
        "tax": "CASE WHEN g % 20 = 0 THEN -32 ELSE 32 END", "total": "CASE WHEN g % 20 = 0 THEN -332 ELSE 332 END",
        "specific_business_data": "'{}'::jsonb", "status": "'normal'", "red_amount_total": "0",
        "created_at": "now()", "buyer_kind": "'company'", "buyer_name": "'上海白鹭文化传媒有限公司'",
        "buyer_tax_id": "'91310000MA1K0BA10F'",
    }
    cols, vals = [], []
    for f in Invoice._meta.concrete_fields:
        cols.append(f.column)
        vals.append(exprs.get(f.column, "''" if f.get_internal_type() in ("CharField", "TextField") else "NULL"))
    line_exprs = {
        "id": "g * 2 + k - 2", "invoice_id": "g", "line_no": "k", "item_name": "'软件技术服务费'",
        "amount": "CASE WHEN k = 1 THEN 100 ELSE 200 END * CASE WHEN g % 20 = 0 THEN -1 ELSE 1 END",
        "tax_rate": "CASE WHEN k = 1 THEN 0.06 ELSE 0.13 END",
        "tax": "CASE WHEN k = 1 THEN 6 ELSE 26 END * CASE WHEN g % 20 = 0 THEN -1 ELSE 1 END",
        "tax_category_id": str(cat), "line_property": "0", "blue_line_id": "NULL",
    }
    lcols, lvals = [], []
    for f in InvoiceLine._meta.concrete_fields:
        lcols.append(f.column)
        lvals.append(line_exprs.get(f.column, "''" if f.get_internal_type() in ("CharField", "TextField") else "NULL"))
    with connection.cursor() as c:
        c.execute("SELECT COALESCE(MAX(id), 0) FROM " + inv)
        start = c.fetchone()[0] + 1
        step = 200000
        for lo in range(start, start + n, step):
            hi = min(lo + step - 1, start + n - 1)
            c.execute(f"INSERT INTO {inv} ({', '.join(cols)}) SELECT {', '.join(vals)} "
                      f"FROM generate_series({lo}, {hi}) g")
            c.execute(f"INSERT INTO {line} ({', '.join(lcols)}) SELECT {', '.join(lvals)} "
                      f"FROM generate_series({lo}, {hi}) g, generate_series(1, 2) k")
        for table in (inv, line):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            c.execute(f"ANALYZE {table}")


def fill_invoices_orm(n: int) -> None:
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from issuing.platform.models import Invoice

    a, _ = entities()
    day = dt.date(2026, 10, 1)
    at = timezone.now()
    batch = []
    for i in range(n):
        batch.append(Invoice(taxpayer=a, number=f"{i:020d}", kind="82", issue_date=day, issued_at=at,
                             seller_name=a.name, seller_tax_id=a.credit_code, buyer_name="上海白鹭文化传媒有限公司",
                             buyer_tax_id="91310000MA1K0BA10F", amount=Decimal("300.00"), tax=Decimal("32.00"),
                             total=Decimal("332.00")))
        if len(batch) == 5000:
            Invoice.objects.bulk_create(batch)
            batch = []
    Invoice.objects.bulk_create(batch)


def export_figures(n: int, runs: int) -> bool:
    """The CSV and XLSX exports against their floors: ``runs`` pairs (floor, then ours) per format, one after the
    other so that both see the same machine load; the ratio is the median of the pairs' ratios. Returns whether the
    CSV goal is met."""
    from bench_import import PeakRss
    from openpyxl import Workbook

    from issuing.platform.models import Invoice
    from issuing.reports.specs import get_spec
    from issuing.reports.stream import write_file

    spec = get_spec("invoices")
    qs = Invoice.objects.order_by("id")
    out = Path(tempfile.mkdtemp(prefix="fapiao-bench-out-"))

    def floor(fmt: str) -> float:
        started = time.perf_counter()
        if fmt == "csv":
            with open(out / "floor.csv", "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(spec.headers)
                for row in qs.values_list(*spec.paths).iterator(chunk_size=2000):
                    w.writerow(row)
        else:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("x")
            ws.append(spec.headers)
            for row in qs.values_list(*spec.paths).iterator(chunk_size=2000):
                ws.append(row)
            wb.save(out / "floor.xlsx")
        return time.perf_counter() - started

    met = True
    for fmt in ("csv", "xlsx"):
        floors, ours_times, growth = [], [], 0.0
        for _ in range(runs if fmt == "csv" else 1):
            floors.append(floor(fmt))
            with PeakRss() as mem:
                started = time.perf_counter()
                rows = write_file(spec, qs, out / f"ours.{fmt}", fmt)
                ours_times.append(time.perf_counter() - started)
            growth = max(growth, mem.growth_mb)
            assert rows == n, (rows, n)
        ratio = statistics.median(o / f for o, f in zip(ours_times, floors, strict=True))
        ours, fl = statistics.median(ours_times), statistics.median(floors)
        goal = ""
        if fmt == "csv":
            ok = ratio <= 1.2
            met = met and ok
            goal = f" (goal <= 1.2: {'yes' if ok else 'NO'})"
        print(f"export {fmt.upper():4} {n:,} rows: ours {n / ours:9,.0f} rows/s (goal >= 10,000), "
              f"peak RSS +{growth:.0f} MB (goal <= 50); floor {n / fl:9,.0f} rows/s "
              f"-> ours {ratio:.2f}x the floor's time{goal}"
              f"{f', median of {len(floors)} pairs' if len(floors) > 1 else ''}")
    return met


def pg_figures(sizes: list[int]) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from issuing.platform.models import Invoice, InvoiceDailyRate, InvoiceLine
    from issuing.platform.rollup import rebuild_rollup
    from issuing.reports import summary
    from issuing.reports.summary import ReportFilters

    with connection.cursor() as c:
        c.execute(f"TRUNCATE {InvoiceDailyRate._meta.db_table}, {InvoiceLine._meta.db_table}, "
                  f"{Invoice._meta.db_table} CASCADE")
    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    have = 0

    for size in sizes:
        t = time.perf_counter()
        fill_invoices_sql(size - have)
        have = size
        fill = time.perf_counter() - t
        # the invoices were written in SQL, around the services: build the summary's rollup as after a bulk load
        t = time.perf_counter()
        buckets = rebuild_rollup()
        rebuild = time.perf_counter() - t
        times = timed(summary.summary_rows, user, ReportFilters(), 9)
        month = timed(summary.summary_rows, user, _october(), 9)
        live = timed(summary.summary_rows_live, user, ReportFilters(), 3)
        live_month = timed(summary.summary_rows_live, user, _october(), 3)
        rows = summary.summary_rows(user)
        assert rows == summary.summary_rows_live(user), "the rollup and the live aggregate disagree"
        url = reverse("admin:issuing_invoice_changelist")
        client.get(url)
        lat = []
        for _ in range(15):
            with CaptureQueriesContext(connection) as q:
                t = time.perf_counter()
                response = client.get(url)
                lat.append(time.perf_counter() - t)
        assert response.status_code == 200, response.status_code
        full_count = any(  # a COUNT over the whole table: no WHERE and no LIMIT'ed subquery
            "COUNT(*)" in sql and " WHERE " not in sql and " LIMIT " not in sql
            for sql in (x["sql"].upper() for x in q.captured_queries)
        )
        print(f"PostgreSQL {size:>9,} invoices (filled in {fill:.0f} s; rollup rebuilt in {rebuild:.1f} s, "
              f"{buckets:,} day buckets): summary by rate p50 {ms(times)} ms ({len(rows)} rows; goal <= 1000), "
              f"one month {ms(month)} ms; live aggregate (the baseline) p50 {ms(live)} ms, one month "
              f"{ms(live_month)} ms -> rollup {statistics.median(live) / statistics.median(times):,.0f}x faster")
        print(f"PostgreSQL {size:>9,} invoices: changelist p50 {statistics.median(lat) * 1000:5.0f} ms (goal <= 200), "
              f"{len(q.captured_queries)} queries (goal <= 10){', runs a full COUNT' if full_count else ', no full COUNT'}")


def timed(fn, user, filters, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(user, filters)
        times.append(time.perf_counter() - t)
    return times


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:6.0f}"


def main() -> int:
    url = pg_url() if PG_INVOICES or os.environ.get("BENCH_PG_URL") else None
    if url and "fapiao_import" in url:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "fapiao_import"], capture_output=True)
    setup_django(url)
    from django.db import connection

    from issuing.platform.models import Invoice, InvoiceLine

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute(f"TRUNCATE {InvoiceLine._meta.db_table}, {Invoice._meta.db_table} CASCADE")
        fill_invoices_sql(ROWS)
    else:
        fill_invoices_orm(ROWS)
    print(f"database: {connection.vendor}")
    met = export_figures(ROWS, RUNS)
    if connection.vendor == "postgresql" and PG_INVOICES:
        pg_figures(sorted({min(10000, PG_INVOICES), PG_INVOICES}))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
