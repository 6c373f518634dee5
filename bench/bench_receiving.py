"""The invoice pool (用票): collecting files through the upload job, the pool's changelist and the dedupe look-ups,
each against a baseline from the same run.

Standalone: ``python bench/bench_receiving.py [--files 1000] [--rows 1000000] [--only collect|pool]``
(``make bench`` runs it). Environment: ``BENCH_POOL_ROWS`` (default 1000000; the large pool size, 0 skips the
pool part), ``BENCH_RECEIVING_FILES`` (default 1000), ``BENCH_RECEIVING_PG_URL`` (else ``BENCH_PG_URL``, else
postgres://postgres@127.0.0.1:5432/fapiao_bench_receiving, created if missing, when it answers; the receiving
tables are emptied and filled, so it must be disposable). Without PostgreSQL the collecting part runs on SQLite and
the pool part is skipped.

1. Collecting: ``--files`` made-up invoices (distinct numbers) addressed to a bench entity, a third each written by
   the kernel's XML, OFD and PDF writers. Baseline: the kernel readers alone on the same bytes (``receiving.reading``:
   the format by content, then ``read_file``), each file read alone just before the job collects it, so that both
   see the same load on a shared machine (that read is left out of the job's time). Measured: the upload job into
   a fresh pool, ``collecting.upload_stage`` (the files kept, the batch opened) and the Celery task body run in
   process (eager). Prints files/s per format for both and the ratio of the totals. Goal: ≤ 1.5× the readers alone.
2. Pool changelist (PostgreSQL): 10,000 then ``--rows`` received invoices (with a file and a source each), written
   in SQL around the services; the admin changelist for a superuser (default order, the review queue, one entity,
   one seller, one collecting method, a number search, a search by a number's last digits) and for a finance user
   limited to one entity: queries per request and p50 over ``--requests`` requests at each size, each request
   followed by one of a probe page of constant cost (the batches' list). Goals: ≤ 10 queries, p50 at the large size ≤ 1.5× the same page at 10,000,
   each p50 divided by its probe's (raw ratios printed too: on a shared machine they mostly say how the load moved).
3. Dedupe look-ups (PostgreSQL, same pools): the queries ``collection_add_file`` runs to find a record by its key
   (taxpayer + code + number; a key present and a key not yet in the pool) and a file by its SHA-256, 500 of each
   at each size: p50 as the service sees it, and p50 of the database's execution of the same statement (EXPLAIN
   ANALYZE). Goal: the large size ≤ 1.5× the 10,000 figure, in the database (what grows with the table; the
   round trip and the ORM do not, and a neighbour's load makes them jump).

Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GOAL = 1.5
MAX_QUERIES = 10
FORMATS = ("xml", "ofd", "pdf")
BUYER = ("深圳明远信息技术有限公司", "9144030057")  # credit code completed with its check character below
SELLERS = ("杭州西湖云计算服务有限公司", "苏州工业园区启航软件有限公司", "北京海淀数据服务有限公司",
           "广州天河办公用品有限公司", "成都高新网络科技有限公司")


def credit_code(body10: str, n: int) -> str:
    from invoicing.ids import uscc_check_char

    first17 = f"{body10}{n:07d}"
    return first17 + uscc_check_char(first17)


def pg_url() -> str | None:
    url = os.environ.get("BENCH_RECEIVING_PG_URL") or os.environ.get("BENCH_PG_URL") or ""
    if not url:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        except OSError:
            return None
        url = "postgres://postgres@127.0.0.1:5432/fapiao_bench_receiving"
    from pgdb import ensure_database

    return ensure_database(url)


def setup_django(database_url: str | None, files: int) -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"  # the upload job's task body runs in this process
    # one upload of all the files (the default limit is 500 files per upload)
    os.environ["RECEIVING_MAX_UPLOAD_FILES"] = str(max(files, 500))
    os.environ["RECEIVING_MAX_UPLOAD_BYTES"] = str(2 * 1024 ** 3)
    var = tempfile.mkdtemp(prefix="fapiao-bench-receiving-")
    os.environ["FAPIAO_VAR_DIR"] = var
    os.environ["MEDIA_ROOT"] = f"{var}/media"
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def empty_pool() -> None:
    """The receiving tables emptied (the bench database is disposable)."""
    from django.db import connection

    from receiving.models import Carrier, Collection, CollectionItem, ReceivedInvoice, ReceivedInvoiceLine, Source

    tables = [m._meta.db_table for m in (Source, CollectionItem, ReceivedInvoiceLine, Carrier, ReceivedInvoice,
                                         Collection)]
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                c.execute(f"DELETE FROM {table}")


def bench_entities():
    from invoicing.models import Taxpayer

    a, _ = Taxpayer.objects.update_or_create(credit_code=credit_code(BUYER[1], 1),
                                             defaults={"name": BUYER[0], "short_name": "明远", "region_code": "4403"})
    b, _ = Taxpayer.objects.update_or_create(credit_code=credit_code(BUYER[1], 2),
                                             defaults={"name": "深圳明远物联网有限公司", "short_name": "明远物联",
                                                       "region_code": "4403"})
    return a, b


def bench_users(entity):
    from django.contrib.auth.models import Group, User

    from invoicing import roles
    from invoicing.models import EntityScope

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    finance, _ = User.objects.get_or_create(username="bench-finance", defaults={"is_staff": True})
    finance.groups.add(Group.objects.get(name=roles.FINANCE))
    scope, _ = EntityScope.objects.get_or_create(user=finance)
    scope.all_entities = False
    scope.save()
    scope.taxpayers.set([entity])
    return admin, finance


# --- 1. collecting --------------------------------------------------------------------------------------------------


def bench_document(i: int, buyer) -> object:
    """Invoice ``i``: a distinct 20-digit number, one to three lines, from one of five sellers, to ``buyer``."""
    from invoicing.documents.demo import demo_document
    from invoicing.documents.model import InvoiceParty

    doc = demo_document(number=f"2544{i:016d}", kind="81" if i % 4 == 0 else "82", lines=1 + i % 3)
    seller = i % len(SELLERS)
    return doc.with_changes(buyer=InvoiceParty(buyer.name, buyer.credit_code),
                            seller=InvoiceParty(SELLERS[seller], credit_code("9133010657", 100 + seller)))


def _write(args: tuple[int, str, str, str]) -> tuple[str, bytes]:
    from invoicing.documents import render_pdf, write_ofd, write_xml
    from invoicing.models import Taxpayer

    i, fmt, name, code = args
    doc = bench_document(i, Taxpayer(name=name, credit_code=code))
    writer = {"xml": write_xml, "ofd": write_ofd, "pdf": render_pdf}[fmt]
    return f"{doc.number}.{fmt}", writer(doc)


def make_files(n: int, buyer) -> list[tuple[str, bytes]]:
    """``n`` files, the formats in turn; the PDFs (≈0.4 s each) are written by two processes."""
    import multiprocessing

    from django.db import connections

    jobs = [(i, FORMATS[i % 3], buyer.name, buyer.credit_code) for i in range(n)]
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map(_write, jobs, chunksize=8)


def upload_job(files: list[tuple[str, bytes]], entity, user) -> tuple[float, dict[str, float], dict[str, float], object]:
    """The upload as the upload page makes it (staged, the job queued), the job's task body run in process.

    Just before the job collects each file, the kernel reader reads the same bytes on its own (format by content,
    then the reader): the baseline, taken file by file in turn with the job so that both see the same load on a
    shared machine, and left out of the job's time. Returns the job's seconds (staging, the task, every file), the
    seconds per format of the readers alone and of ``collection_add_file``, and the batch."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from receiving import collecting, reading, services
    from receiving.models import Collection

    alone: dict[str, float] = defaultdict(float)
    spent: dict[str, float] = defaultdict(float)
    original = services.collection_add_file

    def timed(**kwargs):
        fmt = reading.extension(kwargs["name"])
        data = kwargs["data"]
        t = time.perf_counter()
        read = reading.read_file(data, reading.sniff_format(data, kwargs["name"]))
        alone[fmt] += time.perf_counter() - t
        assert not read.refused, (kwargs["name"], read.rule, read.message)
        t = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            spent[fmt] += time.perf_counter() - t

    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    services.collection_add_file = timed
    try:
        t = time.perf_counter()
        batch = collecting.upload_stage(taxpayer=entity, files=uploads, actor=user)
        wall = time.perf_counter() - t - sum(alone.values())
    finally:
        services.collection_add_file = original
    return wall, alone, spent, Collection.objects.get(pk=batch.pk)


def collect_figures(n: int) -> bool:
    from django.db import connection

    from receiving import reading
    from receiving.models import CollectionStatus, ReceivedInvoice

    empty_pool()
    entity, _ = bench_entities()
    _, finance = bench_users(entity)
    t = time.perf_counter()
    files = make_files(n, entity)
    made = time.perf_counter() - t
    per_format = {fmt: sum(1 for name, _ in files if name.endswith(fmt)) for fmt in FORMATS}
    size = sum(len(d) for _, d in files)
    print(f"collecting {n:,} files on {connection.vendor} ({', '.join(f'{per_format[f]} {f.upper()}' for f in FORMATS)}"
          f", {size / 1024 / 1024:.1f} MB; written by the kernel's writers in {made:.0f} s)")
    for name, data in files[:30]:  # warm-up: imports, fonts, caches
        reading.read_file(data, reading.sniff_format(data, name))
    wall, base, job, batch = upload_job(files, entity, finance)
    assert batch.status == CollectionStatus.DONE, (batch.status, batch.message)
    assert batch.processed == n and batch.rejected_count == 0, (batch.processed, batch.rejected_count)
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == n
    print(f"  outcomes: {batch.created_count} created, {batch.review_count} to review, "
          f"{batch.rejected_count} rejected")
    for fmt in FORMATS:
        k = per_format[fmt]
        print(f"  {fmt.upper():4} readers alone {k / base[fmt]:8.1f} files/s   upload job {k / job[fmt]:8.1f} files/s"
              f"   ({job[fmt] / base[fmt]:5.2f}× the readers' time; per file {base[fmt] / k * 1000:6.1f} → "
              f"{job[fmt] / k * 1000:6.1f} ms)")
    total_base = sum(base.values())
    ratio = wall / total_base
    print(f"  all  readers alone {n / total_base:8.1f} files/s   upload job {n / wall:8.1f} files/s"
          f"   (job {wall:.1f} s, of which staging and the batch's bookkeeping {wall - sum(job.values()):.1f} s)")
    ok = ratio <= GOAL
    print(f"  upload job / readers alone: {ratio:.2f}× (goal ≤ {GOAL}) {'met' if ok else 'NOT met'}")
    return ok


# --- 2. and 3. the pool at 10k and at the large size ----------------------------------------------------------------


def _defaults(model, exprs: dict[str, str]) -> tuple[list[str], list[str]]:
    cols, vals = [], []
    for f in model._meta.concrete_fields:
        cols.append(f.column)
        if f.column in exprs:
            vals.append(exprs[f.column])
        elif f.get_internal_type() in ("CharField", "TextField", "FileField") or f.__class__.__name__ == "FSMField":
            vals.append("''")
        elif f.get_internal_type() == "BooleanField":
            vals.append("false")
        elif f.get_internal_type() == "JSONField":
            vals.append("'{}'::jsonb")
        elif f.has_default() and isinstance(f.default, int | Decimal) and not isinstance(f.default, bool):
            vals.append(str(f.default))  # a NOT NULL counter or amount (booking_attempts, red_amount ...)
        else:
            vals.append("NULL")
    return cols, vals


def seller_tax_id_sql(expr: str) -> str:
    return f"'9133010657' || lpad(({expr})::text, 7, '0') || 'X'"


def fill_pool_sql(start: int, stop: int, a, b, collections: dict[str, int]) -> None:
    """Received invoices ``start``..``stop - 1`` (ids), each with one file (carrier) and one source, in SQL: every
    50th to review, every 20th by scanner and every 20th by hand, 50 sellers, the two entities alternating."""
    from django.db import connection

    from receiving.models import Carrier, ReceivedInvoice, Source

    inv = {
        "id": "g", "taxpayer_id": f"CASE WHEN g % 2 = 0 THEN {a.pk} ELSE {b.pk} END",
        "kind": "CASE WHEN g % 4 = 0 THEN '81' ELSE '82' END", "number": "'2544' || lpad(g::text, 16, '0')",
        "issue_date": "DATE '2025-01-01' + (g % 365)",
        "seller_name": "'供应商' || (g % 50)", "seller_tax_id": seller_tax_id_sql("g % 50"),
        "buyer_name": f"CASE WHEN g % 2 = 0 THEN '{a.name}' ELSE '{b.name}' END",
        "buyer_tax_id": f"CASE WHEN g % 2 = 0 THEN '{a.credit_code}' ELSE '{b.credit_code}' END",
        "amount": "(g % 500 + 1) * 10", "tax": "(g % 500 + 1) * 0.6", "total": "(g % 500 + 1) * 10.6",
        "review_state": "CASE WHEN g % 50 = 0 THEN 'review' ELSE 'clear' END",
        "use_state": "CASE WHEN g % 50 = 0 THEN 'in_review' ELSE 'in_pool' END",
        "review_reasons": "CASE WHEN g % 50 = 0 THEN '[{\"field\": \"amount\", \"code\": \"carrier_conflict\"}]'::jsonb "
                          "ELSE '[]'::jsonb END",
        "data_source": "'xml'",
        "created_at": "TIMESTAMPTZ '2025-01-01' + g * INTERVAL '1 second'",
        "updated_at": "TIMESTAMPTZ '2025-01-01' + g * INTERVAL '1 second'",
    }
    car = {
        "id": "g", "taxpayer_id": inv["taxpayer_id"], "invoice_id": "g",
        "sha256": "encode(sha256(('bench-' || g)::bytea), 'hex')", "size": "3000", "format": "'xml'",
        "file": "'receiving/bench/' || g || '.xml'", "original_name": "g || '.xml'", "reader": "'xml'",
        "review_reasons": "'[]'::jsonb", "created_at": inv["created_at"],
    }
    src = {
        "id": "g", "invoice_id": "g", "carrier_id": "g",
        "method": "CASE g % 20 WHEN 0 THEN 'scanner' WHEN 1 THEN 'manual' ELSE 'upload' END",
        "collection_id": (f"CASE g % 20 WHEN 0 THEN {collections['scanner']} WHEN 1 THEN {collections['manual']} "
                          f"ELSE {collections['upload']} END"),
        "actor_label": "'bench'", "created_at": inv["created_at"],
    }
    with connection.cursor() as c:
        for model, exprs in ((ReceivedInvoice, inv), (Carrier, car), (Source, src)):
            cols, vals = _defaults(model, exprs)
            table = model._meta.db_table
            step = 200_000
            for lo in range(start, stop, step):
                hi = min(lo + step, stop) - 1
                c.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(vals)} "
                          f"FROM generate_series({lo}, {hi}) g")
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    for model in (ReceivedInvoice, Carrier, Source):
        with connection.cursor() as c:  # as autovacuum would after a bulk load: statistics and the visibility map
            c.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def changelist(client, url: str, probe, requests: int) -> tuple[float, float, int, bool]:
    """p50 (ms) over ``requests`` requests, the p50 of the probe page requested in turn with it, the queries of one
    request, and whether any ran a full COUNT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    probe_client, probe_url = probe
    for _ in range(2):
        assert client.get(url).status_code == 200
    samples, probes = [], []
    queries = 0
    full_count = False
    for _ in range(requests):
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - t)
        assert response.status_code == 200, (url, response.status_code)
        queries = max(queries, len(ctx.captured_queries))
        full_count |= any("COUNT(" in q["sql"].upper() and " LIMIT " not in q["sql"].upper()
                          and "RECEIVING_RECEIVEDINVOICE" in q["sql"].upper() for q in ctx.captured_queries)
        t = time.perf_counter()
        probe_client.get(probe_url)
        probes.append(time.perf_counter() - t)
    return p50_ms(samples), p50_ms(probes), queries, full_count


def lookups(entity, keys: list[int], missing: list[int]) -> dict[str, tuple[float, float]]:
    """The services' look-ups, a record by its key (present, absent) and a file by its SHA-256: p50 (ms) as the
    service sees it (the ORM's round trip), and p50 (ms) of the database's execution of the same statement
    (EXPLAIN ANALYZE's execution time: what grows with the table, without the round trip and the ORM, which do not
    and which a neighbour's load makes jump)."""
    import hashlib
    import re

    from django.db import transaction

    from receiving.models import Carrier, ReceivedInvoice

    executed = re.compile(r"Execution Time: ([0-9.]+) ms")

    def by_key(g: int) -> tuple[float, float]:
        # services._file_into_pool: the record with this key in the entity's pool, locked; the statement is timed,
        # not the commit (in the service the same transaction writes the file's rows anyway)
        qs = ReceivedInvoice.objects.select_for_update().filter(taxpayer=entity, code="", number=f"2544{g:016d}")
        with transaction.atomic():
            t = time.perf_counter()
            qs.first()
            took = time.perf_counter() - t
        with transaction.atomic():
            plan = qs.order_by(*ReceivedInvoice._meta.ordering)[:1].explain(analyze=True)
        return took, float(executed.search(plan).group(1)) / 1000

    def by_sha(g: int) -> tuple[float, float]:
        # services._add_file: a file the entity already holds
        sha = hashlib.sha256(f"bench-{g}".encode()).hexdigest()
        qs = Carrier.objects.filter(taxpayer=entity, sha256=sha).select_related("invoice")
        t = time.perf_counter()
        qs.first()
        took = time.perf_counter() - t
        plan = qs.order_by(*Carrier._meta.ordering)[:1].explain(analyze=True)
        return took, float(executed.search(plan).group(1)) / 1000

    client: dict[str, list[float]] = defaultdict(list)
    server: dict[str, list[float]] = defaultdict(list)
    for _round in range(2):  # the first round warms the connection and the caches
        client.clear()
        server.clear()
        for present, absent in zip(keys, missing, strict=False):
            for label, fn, g in (("record by key", by_key, present), ("record by key, not in pool", by_key, absent),
                                 ("file by SHA-256", by_sha, present)):
                took, ran = fn(g)
                client[label].append(took)
                server[label].append(ran)
    return {label: (p50_ms(client[label]), p50_ms(server[label])) for label in client}


def pool_figures(sizes: list[int], requests: int) -> bool:
    from django.test import Client
    from django.urls import reverse

    from receiving.models import Collection, Method

    empty_pool()
    a, b = bench_entities()
    admin_user, finance = bench_users(a)
    collections = {m: Collection.objects.create(taxpayer=a, method=m, status="done", actor_label="bench").pk
                   for m in (Method.UPLOAD, Method.SCANNER, Method.MANUAL)}
    as_admin, as_finance = Client(), Client()
    as_admin.force_login(admin_user)
    as_finance.force_login(finance)
    pool = reverse("admin:receiving_receivedinvoice_changelist")
    rng = random.Random(15)
    pages = {
        "default order": (as_admin, pool),
        "review queue": (as_admin, f"{pool}?review_state__exact=review"),
        "one entity": (as_admin, f"{pool}?taxpayer__id__exact={a.pk}"),
        "one seller": (as_admin, f"{pool}?seller=9133010657{7:07d}X"),
        "by scanner": (as_admin, f"{pool}?source=scanner"),
        "search a number": (as_admin, f"{pool}?q=2544{2 * 4321:016d}"),
        "search last digits": (as_admin, f"{pool}?q={2 * 4321:08d}"),
        "finance, one entity": (as_finance, pool),
    }
    probe = (as_admin, reverse("admin:receiving_collection_changelist"))  # three batches at every size
    results: dict[int, dict[str, tuple[float, float, int, bool]]] = {}
    found: dict[int, dict[str, tuple[float, float]]] = {}
    have = 0
    for size in sizes:
        t = time.perf_counter()
        fill_pool_sql(have + 1, size + 1, a, b, collections)
        fill = time.perf_counter() - t
        have = size
        print(f"pool of {size:,} received invoices (each with a file and a source), filled in SQL in {fill:.0f} s")
        results[size] = {}
        for label, (client, url) in pages.items():
            results[size][label] = changelist(client, url, probe, requests)
            p50, probe_p50, queries, full = results[size][label]
            print(f"  changelist {label:20} p50 {p50:7.1f} ms (probe {probe_p50:5.1f} ms), {queries} queries"
                  f"{', a full COUNT' if full else ''}")
        keys = [2 * rng.randrange(1, size // 2) for _ in range(500)]  # entity a holds the even ids
        missing = [size + 2 * rng.randrange(1, size) for _ in range(500)]
        found[size] = lookups(a, keys, missing)
        for label, (p50, ran) in found[size].items():
            print(f"  look-up {label:27} p50 {p50:6.3f} ms, in the database {ran:6.3f} ms")
    ok = True
    small, large = sizes[0], sizes[-1]
    if small == large:
        return ok
    print(f"pool {large:,} / {small:,} (raw, and load-normalised: each p50 divided by its probe's, taken in turn "
          f"with it; the goals are judged on the normalised ratio):")
    for label in pages:
        p_small, probe_small, _, _ = results[small][label]
        p_large, probe_large, queries, full = results[large][label]
        raw = p_large / p_small
        ratio = (p_large / probe_large) / (p_small / probe_small)
        good = ratio <= GOAL and queries <= MAX_QUERIES and not full
        ok &= good
        print(f"  changelist {label:20} {raw:5.2f}× raw, {ratio:5.2f}× normalised, {queries} queries "
              f"(goals ≤ {GOAL}×, ≤ {MAX_QUERIES} queries) {'met' if good else 'NOT met'}")
    for label in found[small]:
        raw = found[large][label][0] / found[small][label][0]
        ratio = found[large][label][1] / found[small][label][1]
        good = ratio <= GOAL
        ok &= good
        print(f"  look-up {label:27} p50 {raw:5.2f}× as the service sees it, {ratio:5.2f}× in the database "
              f"(goal ≤ {GOAL}×) {'met' if good else 'NOT met'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=int(os.environ.get("BENCH_RECEIVING_FILES", "1000")))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_POOL_ROWS", "1000000")),
                        help="received invoices in the large pool (0 skips the pool part)")
    parser.add_argument("--small", type=int, default=10_000, help="received invoices in the small pool")
    parser.add_argument("--requests", type=int, default=15, help="requests per changelist page and size")
    parser.add_argument("--only", choices=("collect", "pool"))
    parser.add_argument("--keep", action="store_true", help="leave the filled pool in the database")
    args = parser.parse_args()
    url = pg_url()
    setup_django(url, args.files)
    from django.db import connection

    ok = True
    try:
        if args.only != "pool" and args.files:
            ok &= collect_figures(args.files)
        if args.only != "collect" and args.rows:
            if connection.vendor != "postgresql":
                print("pool part skipped: no PostgreSQL")
            else:
                ok &= pool_figures(sorted({min(args.small, args.rows), args.rows}), args.requests)
                if not args.keep:
                    empty_pool()
    finally:
        shutil.rmtree(os.environ["FAPIAO_VAR_DIR"], ignore_errors=True)  # the stored files and the staging area
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
