"""The admin home (the number cards and the charts) on PostgreSQL at a large number of invoices, beside the invoice
changelist in the same run.

Standalone: ``python bench/bench_dashboard.py`` (``make bench`` runs it). Environment: ``BENCH_PG_URL`` (default
postgres://postgres@127.0.0.1:5432/fapiao_bench_dashboard, created if missing; it is emptied and filled, so it must
be disposable); ``BENCH_DASHBOARD_INVOICES`` (default 1000000) issued invoices with two lines each and
``BENCH_DASHBOARD_RECEIVED`` (default 200000) pool records with one line each, all generated in SQL
(``generate_series``), then both rollups rebuilt from them as after any bulk load; ``BENCH_DASHBOARD_RUNS``
(default 15) requests per page.

Figures: the fill and rebuild times; the admin home's p50 and its query count, for an administrator (every entity)
and for finance of one entity; the invoice changelist's p50 for the administrator (the same-run baseline) and the
ratio. Goal: the home page no slower than the changelist and its query count the same at 10k and at full size.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_export import entities, fill_invoices_sql, setup_django  # noqa: E402
from pgdb import ensure_database  # noqa: E402

INVOICES = int(os.environ.get("BENCH_DASHBOARD_INVOICES", "1000000"))
RECEIVED = int(os.environ.get("BENCH_DASHBOARD_RECEIVED", "200000"))
RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "15"))
URL = os.environ.get("BENCH_PG_URL") or "postgres://postgres@127.0.0.1:5432/fapiao_bench_dashboard"


def _default_sql(field) -> str:
    kind = field.get_internal_type()
    if field.null:
        return "NULL"
    if kind in ("CharField", "TextField", "FSMField"):
        return "''"
    if kind == "BooleanField":
        return "false"
    if kind == "JSONField":
        return f"'{json.dumps(field.get_default())}'::jsonb"
    if kind in ("DateTimeField",):
        return "now()"
    if kind in ("DateField",):
        return "CURRENT_DATE"
    return "0"


def fill_received_sql(n: int) -> None:
    """n pool records over the last 400 days, from 50 suppliers and three sources, each with one 6% or 13% line."""
    from django.db import connection

    from receiving.models import ReceivedInvoice, ReceivedInvoiceLine

    a, b = entities()
    inv, line = ReceivedInvoice._meta.db_table, ReceivedInvoiceLine._meta.db_table
    exprs = {
        "id": "g", "taxpayer_id": f"CASE WHEN g % 2 = 0 THEN {a.pk} ELSE {b.pk} END", "kind": "'82'",
        "number": "lpad(g::text, 20, '0')", "code": "''", "issue_date": "CURRENT_DATE - (g % 400)",
        "seller_name": "'供应商' || (g % 50)::text", "seller_tax_id": "'9144' || lpad((g % 50)::text, 14, '0')",
        "buyer_name": "'广州云途出行科技有限公司'", "buyer_tax_id": "'91440101MA5CYUN00U'",
        "amount": "1000", "tax": "CASE WHEN g % 3 = 0 THEN 130 ELSE 60 END",
        "total": "CASE WHEN g % 3 = 0 THEN 1130 ELSE 1060 END", "review_state": "'clear'", "use_state": "'in_pool'",
        "data_source": "(ARRAY['xml', 'pdf', 'platform'])[g % 3 + 1]", "created_at": "now()", "updated_at": "now()",
        "red_amount": "0", "red_tax": "0",
    }
    cols, vals = [], []
    for f in ReceivedInvoice._meta.concrete_fields:
        cols.append(f.column)
        vals.append(exprs.get(f.column, _default_sql(f)))
    line_exprs = {
        "id": "g", "invoice_id": "g", "line_no": "1", "item_name": "'*信息技术服务*软件开发服务'", "amount": "1000",
        "tax_rate": "CASE WHEN g % 3 = 0 THEN 0.13 ELSE 0.06 END", "tax": "CASE WHEN g % 3 = 0 THEN 130 ELSE 60 END",
    }
    lcols, lvals = [], []
    for f in ReceivedInvoiceLine._meta.concrete_fields:
        lcols.append(f.column)
        lvals.append(line_exprs.get(f.column, _default_sql(f)))
    with connection.cursor() as c:
        c.execute("SELECT COALESCE(MAX(id), 0) FROM " + inv)
        start = c.fetchone()[0] + 1
        step = 200000
        for lo in range(start, start + n, step):
            hi = min(lo + step - 1, start + n - 1)
            c.execute(f"INSERT INTO {inv} ({', '.join(cols)}) SELECT {', '.join(vals)} FROM generate_series({lo}, {hi}) g")
            c.execute(f"INSERT INTO {line} ({', '.join(lcols)}) SELECT {', '.join(lvals)} "
                      f"FROM generate_series({lo}, {hi}) g")
        for table in (inv, line):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            c.execute(f"ANALYZE {table}")


def pages(client, url: str, runs: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200  # warm: sessions, content types, templates
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as q:
            t = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t)
        assert response.status_code == 200, (url, response.status_code)
    return times, len(q.captured_queries)


def ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def main() -> int:
    setup_django(ensure_database(URL))
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from invoicing import roles
    from invoicing.models import EntityScope
    from issuing.platform.models import Invoice, InvoiceDailyRate, InvoiceLine
    from issuing.platform.rollup import rebuild_rollup
    from receiving.models import ReceivedInvoice, ReceivedInvoiceLine
    from receiving.stats import rebuild_received_rollup, received_rollup_differences
    from receiving.stats_models import ReceivedMonthlyStat

    if connection.vendor != "postgresql":
        print("bench_dashboard needs PostgreSQL")
        return 1
    tables = [InvoiceDailyRate, InvoiceLine, Invoice, ReceivedMonthlyStat, ReceivedInvoiceLine, ReceivedInvoice]
    with connection.cursor() as c:
        c.execute("TRUNCATE " + ", ".join(m._meta.db_table for m in tables) + " CASCADE")
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    a, _b = entities()
    finance, created = User.objects.get_or_create(username="bench-finance", defaults={"is_staff": True})
    if created:
        finance.groups.add(Group.objects.get(name=roles.FINANCE))
        EntityScope.objects.create(user=finance).taxpayers.add(a)
    clients = {}
    for name, user in (("admin", admin), ("finance", finance)):
        clients[name] = Client()
        clients[name].force_login(user)
    home, changelist = reverse("admin:index"), reverse("admin:issuing_invoice_changelist")
    have_issued = have_received = 0
    sizes = sorted({min(10000, INVOICES), INVOICES})
    queries_at: dict[int, int] = {}
    for size in sizes:
        received = max(1, RECEIVED * size // INVOICES)
        t = time.perf_counter()
        fill_invoices_sql(size - have_issued)
        fill_received_sql(received - have_received)
        have_issued, have_received = size, received
        fill = time.perf_counter() - t
        t = time.perf_counter()
        issued_buckets, received_buckets = rebuild_rollup(), rebuild_received_rollup()
        rebuild = time.perf_counter() - t
        assert received_rollup_differences() == []
        home_admin, queries = pages(clients["admin"], home, RUNS)
        home_finance, queries_finance = pages(clients["finance"], home, RUNS)
        cl_admin, cl_queries = pages(clients["admin"], changelist, RUNS)
        queries_at[size] = queries
        print(f"PostgreSQL {size:>9,} issued invoices, {received:,} received (filled in {fill:.0f} s; rollups rebuilt "
              f"in {rebuild:.1f} s: {issued_buckets:,} day and {received_buckets:,} month buckets)")
        print(f"  admin home p50 {ms(home_admin):6.0f} ms ({queries} queries); finance of one entity "
              f"{ms(home_finance):6.0f} ms ({queries_finance} queries)")
        print(f"  invoice changelist p50 {ms(cl_admin):6.0f} ms ({cl_queries} queries) -> home / changelist "
              f"{ms(home_admin) / ms(cl_admin):.2f}x")
    flat = len(set(queries_at.values())) == 1
    print(f"home page queries {'the same' if flat else 'NOT the same'} at every size: {queries_at}")
    return 0 if flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
