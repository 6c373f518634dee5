"""Billing import throughput: 100k lines through django-import-export's default path, the raw floor, and ours.

Standalone: ``python bench/bench_import.py`` (``make bench`` runs it). Sizes from the environment:
``BENCH_IMPORT_LINES`` (default 100000), ``BENCH_IE_LINES`` (default 10000: import-export's default path runs row by
row with a query per foreign key and would take many minutes at 100k; its rate is compared, set 100000 to time it
in full), ``BENCH_IMPORT_FLAT_LINES`` (default 0: skip; e.g. 500000 to check that memory stays flat).

The flat-memory check runs ``manage.py import_billing FILE`` (the fast path, as an operator would) in a fresh
process (DEBUG off) for ``BENCH_IMPORT_LINES`` and for ``BENCH_IMPORT_FLAT_LINES``, one after the other, and
prints each process's peak RSS (VmHWM, Django and all) and wall time. Writing the 500k-line file takes a minute or two
and the import a few more, so ``make bench`` leaves it off. The check at 500k lines::

    BENCH_IMPORT_FLAT_LINES=500000 DEBUG=1 .venv/bin/python bench/bench_import.py

Goals (issue 21): the 500k-line peak no higher than the 100k-line one plus 32 MB (memory does not grow with the
file), and the per-line cost at 500k ≤ 1.2× the one at 100k, in CPU seconds of the import process plus its
PostgreSQL backend (read from /proc when the server is local), so that the load of a shared machine does not count;
the wall-time ratio is printed beside it. The bench exits 1 when one of these is missed.

* **floor**: python-calamine reads the template-shaped file, each row becomes a BillingDocument / BillingDocumentLine
  with plain ``Decimal(str(cell))`` conversions and no checks, then ``bulk_create`` (batch 1000).
* **ours**: ``issuing.importing.run.import_billing_file``: sniffing, structure scan, every cell checked, master
  data, duplicate checks, price-tax separation, tolerances, bulk insert (COPY on PostgreSQL), one transaction.
* **import-export default**: a plain ``ModelResource`` for BillingDocumentLine, the file read by tablib (openpyxl),
  ``import_data`` with the defaults (the documents exist beforehand; their creation is not timed).

Goals (issue #8): ours ≥ 10× import-export's default and ≤ 1.3× the floor's time. Memory: peak RSS growth.

Database: ``DATABASE_URL`` if set (it must be disposable), else a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES = int(os.environ.get("BENCH_IMPORT_LINES", "100000"))
IE_LINES = int(os.environ.get("BENCH_IE_LINES", "10000"))
FLAT_LINES = int(os.environ.get("BENCH_IMPORT_FLAT_LINES", "0"))
PER_DOC = 5
ENTITY = "91440101MA5CYUN00U"


def setup_django() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    # The import command runs with DEBUG=0 (below), which requires an explicit key: the same one in both processes.
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtb25seS1ub3Qtc2VjcmV0LWZlcm5ldC1rZXk=")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("DATABASE_URL"):
        var = tempfile.mkdtemp(prefix="fapiao-bench-import-")
        os.environ["FAPIAO_VAR_DIR"] = var
        os.environ["DATABASE_URL"] = f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class PeakRss:
    """Peak resident memory above the starting point, sampled every 20 ms."""

    def __init__(self):
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024 / 1024


def write_template_file(path: Path, lines: int) -> None:
    from openpyxl import Workbook

    from issuing.intake.columns import COLUMNS

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("业务单据明细")
    ws.append([c.header for c in COLUMNS])
    keys = [c.key for c in COLUMNS]
    for i in range(lines):
        d, n = divmod(i, PER_DOC)
        values = {
            "entity": ENTITY, "external_no": f"SO{d:09d}", "buyer_name": "上海白鹭文化传媒有限公司",
            "buyer_tax_id": "91310000MA1K0BA10F", "paid_amount": 530, "line_no": n + 1,
            "item_name": "软件技术服务费", "quantity": 2, "unit_price": 53, "amount": 106, "tax_inclusive": "是",
            "tax_rate": "6%", "tax_code": "3040201000000000000",
        }
        if d % 3 == 0:  # a third of the documents name the customer by code, autofilled from master data
            values.update(customer_code="C0001", buyer_name=None, buyer_tax_id=None)
        ws.append([values.get(k) for k in keys])
    wb.save(path)


def clear() -> None:
    from django.db import connection

    from issuing.billing.models import BillingDocument, BillingDocumentLine

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute(f"TRUNCATE {BillingDocumentLine._meta.db_table}, {BillingDocument._meta.db_table} CASCADE")
    else:  # plain DELETEs: the ORM's cascade would list every id in one statement (too many SQL variables at 500k)
        with connection.cursor() as c:
            c.execute(f"DELETE FROM {BillingDocumentLine._meta.db_table}")
            c.execute(f"DELETE FROM {BillingDocument._meta.db_table}")


def run_floor(path: Path, taxpayer, category) -> float:
    """calamine + model instances + bulk_create, no validation at all."""
    from django.db import transaction
    from python_calamine import CalamineWorkbook

    from issuing.billing.models import BillingDocument, BillingDocumentLine
    from issuing.intake.columns import COLUMNS

    idx = {c.key: i for i, c in enumerate(COLUMNS)}
    started = time.perf_counter()
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("业务单据明细")
    rows = sheet.iter_rows()
    next(rows)
    with transaction.atomic():
        docs: list = []
        pending: list = []
        current = None

        def flush():
            BillingDocument.objects.bulk_create(docs, batch_size=1000)
            BillingDocumentLine.objects.bulk_create(
                [BillingDocumentLine(document=doc, **kw) for doc, kw in pending], batch_size=1000)
            docs.clear()
            pending.clear()

        for r in rows:
            no = str(r[idx["external_no"]])
            if no != current:
                current = no
                if len(pending) >= 5000:
                    flush()
                doc = BillingDocument(taxpayer=taxpayer, source="import", external_no=no,
                                      buyer_name=str(r[idx["buyer_name"]] or ""),
                                      buyer_tax_id=str(r[idx["buyer_tax_id"]] or ""),
                                      paid_amount=Decimal(str(r[idx["paid_amount"]])),
                                      order_amount=Decimal(str(r[idx["paid_amount"]])))
                docs.append(doc)
            pending.append((doc, {
                "line_no": int(r[idx["line_no"]]), "item_name": str(r[idx["item_name"]]),
                "quantity": Decimal(str(r[idx["quantity"]])), "unit_price": Decimal(str(r[idx["unit_price"]])),
                "amount": Decimal(str(r[idx["amount"]])), "tax_inclusive": True, "tax_category": category,
                "tax_rate": Decimal("0.06"), "total": Decimal(str(r[idx["amount"]])),
            }))
        flush()
    return time.perf_counter() - started


def run_ours(path: Path) -> tuple[float, float, object]:
    from issuing.intake.run import import_billing_file
    from issuing.management.commands.import_billing import _SystemUser

    with PeakRss() as mem:
        started = time.perf_counter()
        out = import_billing_file(path, user=_SystemUser())
        elapsed = time.perf_counter() - started
    assert out.ok, [str(i) for i in out.issues[:5]]
    return elapsed, mem.growth_mb, out


def run_import_export_default(lines: int, taxpayer, category, tmp: Path) -> float:
    """The documents exist; import-export reads a line-level xlsx with tablib and imports it with its defaults."""
    from import_export import resources
    from import_export.formats.base_formats import XLSX
    from openpyxl import Workbook

    from issuing.billing.models import BillingDocument, BillingDocumentLine

    docs = BillingDocument.objects.bulk_create(
        [BillingDocument(taxpayer=taxpayer, source="import", external_no=f"IE{d:09d}", buyer_name="上海白鹭文化传媒有限公司")
         for d in range((lines + PER_DOC - 1) // PER_DOC)], batch_size=1000)
    path = tmp / "ie.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("lines")
    ws.append(["document", "line_no", "item_name", "quantity", "unit_price", "amount", "tax_inclusive",
               "tax_category", "tax_rate", "total"])
    for i in range(lines):
        d, n = divmod(i, PER_DOC)
        ws.append([docs[d].pk, n + 1, "软件技术服务费", 2, 53, 106, 1, category.pk, 0.06, 106])
    wb.save(path)

    class LineResource(resources.ModelResource):
        class Meta:
            model = BillingDocumentLine
            fields = ("document", "line_no", "item_name", "quantity", "unit_price", "amount", "tax_inclusive",
                      "tax_category", "tax_rate", "total")
            import_id_fields = ("document", "line_no")

    started = time.perf_counter()
    dataset = XLSX().create_dataset(path.read_bytes())
    result = LineResource().import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - started
    assert not result.has_errors() and result.totals["new"] == lines, result.totals
    return elapsed


def main() -> int:
    setup_django()
    from django.db import connection

    from invoicing.models import Counterparty, Taxpayer
    from tests.factories import tax_category

    taxpayer, _ = Taxpayer.objects.get_or_create(credit_code=ENTITY, defaults={"name": "广州云途出行科技有限公司"})
    Counterparty.objects.get_or_create(taxpayer=taxpayer, code="C0001", defaults={
        "name": "上海白鹭文化传媒有限公司", "tax_id": "91310000MA1K0BA10F"})
    category = tax_category()
    clear()
    tmp = Path(tempfile.mkdtemp(prefix="fapiao-bench-files-"))
    path = tmp / "lines.xlsx"
    t = time.perf_counter()
    write_template_file(path, LINES)
    print(f"database: {connection.vendor}; file: {LINES:,} lines in {LINES // PER_DOC:,} documents, "
          f"{path.stat().st_size / 1e6:.1f} MB (written in {time.perf_counter() - t:.1f} s, not timed)")

    floor = run_floor(path, taxpayer, category)
    clear()
    ours, ours_mem, out = run_ours(path)
    clear()
    print(f"floor  (calamine + bulk_create, no checks): {floor:7.2f} s  {LINES / floor:9,.0f} lines/s")
    print(f"ours   (validated, all or nothing)        : {ours:7.2f} s  {LINES / ours:9,.0f} lines/s  "
          f"peak RSS +{ours_mem:.0f} MB  -> {ours / floor:.2f}x the floor's time (goal <= 1.3x)")

    ie = run_import_export_default(IE_LINES, taxpayer, category, tmp)
    ie_rate = IE_LINES / ie
    print(f"import-export default ({IE_LINES:,} lines)   : {ie:7.2f} s  {ie_rate:9,.0f} lines/s  "
          f"-> ours is {LINES / ours / ie_rate:.1f}x faster (goal >= 10x)")
    clear()

    if FLAT_LINES:
        from invoicing.intake.readers import _scan_structure, stream_above_bytes

        runs: dict[int, Command] = {}
        for n in (LINES, FLAT_LINES):
            big = tmp / f"flat-{n}.xlsx"
            if n == LINES:
                big.symlink_to(path)
            else:
                write_template_file(big, n)
            clear()
            runs[n] = run = run_command(big)
            xml = _scan_structure(big, "业务单据明细").xml_bytes
            reader = "in slices (calamine)" if xml > stream_above_bytes() else "whole sheet (calamine)"
            print(f"manage.py import_billing, {n:,} lines ({big.stat().st_size / 1e6:.0f} MB, sheet XML "
                  f"{xml / 1e6:.0f} MB, {reader}): {run.wall:6.1f} s wall, {n / run.wall:9,.0f} lines/s; CPU "
                  f"{run.cpu:.1f} s importer + {run.db_cpu:.1f} s database; process peak RSS {run.peak_mb:.0f} MB")
            clear()
        small, large = runs[LINES], runs[FLAT_LINES]
        growth = large.peak_mb - small.peak_mb
        cpu_ratio = (large.cpu + large.db_cpu) / FLAT_LINES / ((small.cpu + small.db_cpu) / LINES)
        wall_ratio = large.wall / FLAT_LINES / (small.wall / LINES)
        flat = growth <= FLAT_MARGIN_MB
        print(f"peak RSS {FLAT_LINES:,} vs {LINES:,} lines: {large.peak_mb / small.peak_mb:.2f}x "
              f"({growth:+.0f} MB; goal: flat, at most +{FLAT_MARGIN_MB} MB: {'yes' if flat else 'NO'})")
        print(f"per-line cost {FLAT_LINES:,} vs {LINES:,} lines: {cpu_ratio:.2f}x in CPU, importer + database "
              f"(goal <= 1.2: {'yes' if cpu_ratio <= 1.2 else 'NO'}); {wall_ratio:.2f}x in wall time")
        return 0 if flat and cpu_ratio <= 1.2 else 1
    return 0


# Runs manage.py and, at exit, writes the process's VmHWM (its peak RSS since exec) to the file named in argv[1], and
# the CPU seconds of its PostgreSQL backend (the server process serving its connection, read from /proc when the
# server runs on this machine, just before the command closes its connections; 0 otherwise). ru_maxrss from wait4
# would not do: a forked child counts the parent's resident pages at the fork.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
from django.db import connections
out = sys.argv[1]
db_cpu = [0.0]
def backend_cpu():
    try:
        conn = connections['default']
        if conn.vendor == 'postgresql' and conn.connection is not None:
            with open(f'/proc/{conn.connection.info.backend_pid}/stat') as fh:
                fields = fh.read().rsplit(')', 1)[1].split()
            db_cpu[0] = max(db_cpu[0], (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'))
    except (OSError, AttributeError, ValueError):
        pass
close_all = connections.close_all
def close_all_measured():
    backend_cpu()
    close_all()
connections.close_all = close_all_measured
def peak():
    backend_cpu()
    with open('/proc/self/status') as fh:
        kb = next(int(x.split()[1]) for x in fh if x.startswith('VmHWM:'))
    with open(out, 'w') as fh:
        fh.write(f'{kb} {db_cpu[0]}')
atexit.register(peak)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


@dataclass
class Command:
    wall: float  # seconds
    cpu: float  # CPU seconds of the import process (user + system)
    db_cpu: float  # CPU seconds of its PostgreSQL backend (0 when not measurable)
    peak_mb: float  # the import process's peak RSS


FLAT_MARGIN_MB = 32


def run_command(path: Path) -> Command:
    """``manage.py import_billing`` in a fresh process on the same database, DEBUG off as in production (DEBUG keeps
    the last 9,000 statements in memory). CPU time is the fair per-line measure on a shared machine (wall time
    counts the waits for a core); it includes the database server's work for the import when it can be read."""
    import resource
    import subprocess

    peak_file = path.with_suffix(".peak")
    env = os.environ | {"DEBUG": "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), str(ROOT / "manage.py"),
                           "import_billing", str(path)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"import_billing failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    kb, db_cpu = peak_file.read_text().split()
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Command(wall=elapsed, cpu=cpu, db_cpu=float(db_cpu), peak_mb=int(kb) / 1024)


if __name__ == "__main__":
    raise SystemExit(main())
