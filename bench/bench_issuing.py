"""Issuing throughput: invoices issued per second, and how the per-invoice cost changes from 1k to 10k applications.

Standalone: ``python bench/bench_issuing.py [--sizes 1000,10000] [--soak 2000 | --no-soak]``.

* In process, no worker, no file rendering: for each size, a fresh entity with that many approved applications,
  issued through the in-process sandbox channel exactly as a worker would, two ways: one by one (each submitted
  with ``application_submit_issue``, the task queue stubbed out, and issued with ``issue_attempt``), and in bulk
  (``applications_submit_issue`` per ``ISSUING_BATCH_SIZE``, then ``issue_batch`` for each batch task); and a stream
  of single submissions on the grouped path (``application_request_issue`` each, the drains run as the worker would:
  ``issue_drain``). Prints invoices/s and the per-invoice cost ratio (largest size / smallest; 1.0 is flat), and the
  goal for single submissions (stream ≥ the batch path's rate, ≤ 2× the channel call): exit status 3 if missed.
* On PostgreSQL when one answers (``BENCH_ISSUING_PG_URL`` or a ``fapiao_bench_issuing`` database, created if
  missing): the bulk path with 1 and 2 forked worker processes (``--processes``), as a deployment on this
  machine would run it, next to the channel call alone on the same database.
* Baseline from the same run: the channel alone (``issue_invoice`` straight to the sandbox, no local bookkeeping),
  so the figure says what our exactly-once bookkeeping costs on top of the platform call.
* Then the soak (``bench/soak.py``) with 2,000 applications, 20% faults and a killed worker, twice (half in bulk;
  then all single submissions on the grouped path, ``--singly``), when a Redis
  broker answers (``CELERY_BROKER_URL_TEST_REDIS`` or redis://127.0.0.1:6379/3), on PostgreSQL when one answers
  (see ``soak_database_url``).

Database: ``DATABASE_URL`` if set (it must be disposable: the bench writes thousands of rows), else a fresh SQLite
file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ["ISSUING_QUEUE_FILES"] = "0"  # "without rendering"
    os.environ.setdefault("TAX_CHANNEL_TRANSPORT", "inprocess")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("DATABASE_URL"):
        var = tempfile.mkdtemp(prefix="fapiao-bench-issuing-")
        os.environ["FAPIAO_VAR_DIR"] = var
        os.environ["DATABASE_URL"] = f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class Probe:
    """A fixed piece of work (the channel call alone, 20 times) timed next to each segment: the machine is shared,
    so a segment's cost is also reported relative to the probe measured at the same moment."""

    def __init__(self, n_entity: int, per_probe: int = 20, probes: int = 40) -> None:
        from bench.soak import make_approved_applications, soak_entity
        from invoicing.channels import get_channel
        from issuing.applications.models import InvoiceApplication
        from issuing.platform import services as platform_services

        taxpayer = soak_entity(n=n_entity)
        ids = make_approved_applications(taxpayer, per_probe * probes)
        self.requests = []
        for app in InvoiceApplication.objects.filter(pk__in=ids).select_related("taxpayer").order_by("id"):
            app.issue_serial = f"PROBE-{app.number}"
            self.requests.append(platform_services.build_issue_request(app))
        self.channel = get_channel(taxpayer)
        self.per_probe = per_probe

    def ms_per_call(self) -> float:
        batch, self.requests = self.requests[: self.per_probe], self.requests[self.per_probe:]
        started = time.perf_counter()
        for request in batch:
            self.channel.issue_invoice(request)
        return (time.perf_counter() - started) / max(1, len(batch)) * 1000


def measure(size: int, n_entity: int, *, segment: int = 1000, probe: Probe | None = None) -> dict:
    from bench.soak import make_approved_applications, soak_entity
    from issuing.applications.models import ApplicationStatus, InvoiceApplication
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    apps = list(InvoiceApplication.objects.filter(pk__in=ids).order_by("id"))
    original = platform_services.application_issue_queue
    # no worker: this process makes each attempt itself
    platform_services.application_issue_queue = lambda application_id: None
    segments = []
    elapsed = 0.0
    try:
        for k in range(0, size, segment):
            probe_ms = probe.ms_per_call() if probe else None
            started = time.perf_counter()
            for app in apps[k:k + segment]:
                platform_services.application_submit_issue(application=app)
                platform_services.issue_attempt(application_id=app.pk)
            seconds = time.perf_counter() - started
            elapsed += seconds
            n = len(apps[k:k + segment])
            segments.append({"ms": seconds / n * 1000, "probe_ms": probe_ms})
    finally:
        platform_services.application_issue_queue = original
    issued = InvoiceApplication.objects.filter(pk__in=ids, status=ApplicationStatus.ISSUED).count()
    invoices = Invoice.objects.filter(application_id__in=ids).count()
    assert issued == invoices == size, (issued, invoices, size)
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000,
            "segments": segments}


def measure_batch(size: int, n_entity: int, *, segment: int = 1000, probe: Probe | None = None) -> dict:
    """The bulk path (a finance user's bulk 发起开票): ``applications_submit_issue`` per ``ISSUING_BATCH_SIZE``
    applications, then ``issue_batch`` for each batch task it would queue, as a worker would run them."""
    from bench.soak import make_approved_applications, soak_entity
    from issuing.applications.models import ApplicationStatus, InvoiceApplication
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    batch = platform_services.issue_batch_size()
    queued: list[list[int]] = []
    original = platform_services.applications_issue_queue
    platform_services.applications_issue_queue = queued.append  # no worker: this process runs each batch task itself
    segments = []
    elapsed = 0.0
    try:
        for k in range(0, size, segment):
            probe_ms = probe.ms_per_call() if probe else None
            started = time.perf_counter()
            part = ids[k:k + segment]
            for j in range(0, len(part), batch):
                platform_services.applications_submit_issue(applications=part[j:j + batch])
                while queued:
                    report = platform_services.issue_batch(application_ids=queued.pop(0))
                    assert not report.retry and not report.errors, report.as_dict()
            seconds = time.perf_counter() - started
            elapsed += seconds
            segments.append({"ms": seconds / len(part) * 1000, "probe_ms": probe_ms})
    finally:
        platform_services.applications_issue_queue = original
    issued = InvoiceApplication.objects.filter(pk__in=ids, status=ApplicationStatus.ISSUED).count()
    invoices = Invoice.objects.filter(application_id__in=ids).count()
    assert issued == invoices == size, (issued, invoices, size)
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000,
            "segments": segments}


def measure_stream(size: int, n_entity: int, *, segment: int = 1000, probe: Probe | None = None) -> dict:
    """A stream of single submissions (one application per paid order: the auto-trigger, the API): each one
    requested in its own transaction (``application_request_issue``), and the drain run as a worker would run
    ``issue_drain_task`` once ``ISSUING_BATCH_SIZE`` are waiting or the first has waited ``ISSUING_GROUP_MAX_WAIT``
    (``issue_drain``: the claim, then ``issue_batch``; again at once while a batch comes out full). This process
    makes the requests and plays the worker in turn, so the time is both."""
    from bench.soak import make_approved_applications, soak_entity
    from issuing.applications.models import ApplicationStatus, InvoiceApplication
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    apps = list(InvoiceApplication.objects.filter(pk__in=ids).order_by("id"))
    batch = platform_services.issue_batch_size()
    max_wait = platform_services.group_max_wait()
    armed: list[bool] = []
    original = platform_services.issue_drain_arm
    platform_services.issue_drain_arm = lambda now=False: armed.append(now)  # no worker: this process drains
    drains = 0
    drain_seconds = 0.0

    def drain() -> None:
        nonlocal drains, drain_seconds
        began = time.perf_counter()
        try:
            run_drains()
        finally:
            drain_seconds += time.perf_counter() - began

    def run_drains() -> None:
        nonlocal drains
        while True:
            claim, report = platform_services.issue_drain()
            assert not report.retry and not report.errors and not claim.refused, report.as_dict()
            drains += bool(claim.marked)
            if not claim.full:
                return

    segments = []
    elapsed = 0.0
    try:
        for k in range(0, size, segment):
            probe_ms = probe.ms_per_call() if probe else None
            started = time.perf_counter()
            waiting, first_at = 0, 0.0
            for app in apps[k:k + segment]:
                platform_services.application_request_issue(application=app)
                waiting += 1
                first_at = first_at or time.perf_counter()
                if waiting >= batch or time.perf_counter() - first_at >= max_wait:
                    drain()
                    waiting, first_at = 0, 0.0
            if waiting:
                drain()
            seconds = time.perf_counter() - started
            elapsed += seconds
            n = len(apps[k:k + segment])
            segments.append({"ms": seconds / n * 1000, "probe_ms": probe_ms})
    finally:
        platform_services.issue_drain_arm = original
    issued = InvoiceApplication.objects.filter(pk__in=ids, status=ApplicationStatus.ISSUED).count()
    invoices = Invoice.objects.filter(application_id__in=ids).count()
    assert issued == invoices == size and len(armed) == size, (issued, invoices, size, len(armed))
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000,
            "segments": segments, "batches": drains, "drain_ms_per_invoice": drain_seconds / size * 1000}


def measure_processes(size: int, processes: int, n_entity: int) -> dict:
    """The bulk path as a deployment runs it: the batches submitted here, then ``processes`` forked worker
    processes running the batch tasks side by side (each its own database connection). Wall time, both steps."""
    from django.db import connections

    from bench.soak import make_approved_applications, soak_entity
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    queued: list[list[int]] = []
    platform_services.applications_issue_queue = queued.append
    started = time.perf_counter()
    batch = platform_services.issue_batch_size()
    for k in range(0, size, batch):
        platform_services.applications_submit_issue(applications=ids[k:k + batch])
    connections.close_all()  # each child opens its own
    children = []
    for w in range(processes):
        pid = os.fork()
        if pid == 0:  # a worker process
            code = 0
            try:
                for chunk in queued[w::processes]:
                    report = platform_services.issue_batch(application_ids=chunk)
                    code |= bool(report.retry or report.errors)
            except BaseException:  # noqa: BLE001 - reported through the exit code
                code = 1
            finally:
                connections.close_all()
                os._exit(int(code))
        children.append(pid)
    failed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in children)
    seconds = time.perf_counter() - started
    invoices = Invoice.objects.filter(application_id__in=ids).count()
    assert failed == 0 and invoices == size, (failed, invoices, size)
    return {"size": size, "processes": processes, "seconds": seconds, "per_second": size / seconds}


def pg_child(args: argparse.Namespace) -> int:
    from django.db import connection

    print(f"  on {connection.vendor} (batch path, {args.pg_size} applications, worker processes forked here):")
    base = measure_channel_only(500, n_entity=300)
    print(f"    baseline: channel call alone: {base['per_second']:.1f} calls/s ({base['ms_per_invoice']:.2f} ms)")
    for i, n in enumerate(int(x) for x in args.processes.split(",")):
        r = measure_processes(args.pg_size, n, n_entity=310 + i)
        print(f"    {n} worker process{'es' if n > 1 else ''}: {r['seconds']:.1f} s, {r['per_second']:.1f} invoices/s "
              f"({r['per_second'] / base['per_second']:.2f}× the single channel-call rate)")
    return 0


def measure_channel_only(size: int, n_entity: int) -> dict[str, float]:
    """The platform call alone (sign, in-process sandbox, ledger, call log): the floor of what issuing can cost."""
    from bench.soak import make_approved_applications, soak_entity
    from invoicing.channels import get_channel
    from issuing.applications.models import InvoiceApplication
    from issuing.platform import services as platform_services

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    requests = []
    for app in InvoiceApplication.objects.filter(pk__in=ids).select_related("taxpayer").order_by("id"):
        app.issue_serial = f"BASE-{app.number}"
        requests.append(platform_services.build_issue_request(app))
    channel = get_channel(taxpayer)
    started = time.perf_counter()
    for request in requests:
        channel.issue_invoice(request)
    elapsed = time.perf_counter() - started
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000}


def issue_batch_size() -> int:
    from issuing.platform.services import issue_batch_size as size

    return size()


def report_flatness(results: list[dict]) -> None:
    if len(results) < 2:
        return
    first, last = results[0], results[-1]
    ratio = last["ms_per_invoice"] / first["ms_per_invoice"]
    print(f"    per-invoice cost {last['size']} / {first['size']}: {ratio:.2f} (1.00 = flat)")
    # The last segment of the largest run (the database already holds ~all its rows) against the first segment
    # of the smallest, each divided by the probe timed just before it: what growth costs, not what the
    # neighbours' load costs.
    a, z = first["segments"][0], last["segments"][-1]
    if a["probe_ms"] and z["probe_ms"]:
        normalised = (z["ms"] / z["probe_ms"]) / (a["ms"] / a["probe_ms"])
        print(f"    first segment {a['ms']:.1f} ms/invoice (probe {a['probe_ms']:.1f} ms), last segment of "
              f"{last['size']} {z['ms']:.1f} ms/invoice (probe {z['probe_ms']:.1f} ms): load-normalised ratio "
              f"{normalised:.2f}")


class Statements:
    """Counts the SQL statements this process sends (commits included) while installed: a figure the machine's load
    does not move, next to the timings it does."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204 - Django's execute_wrapper
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> Statements:
        from django.db import connection

        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)


def measure_pairs(pairs: int, size: int, probe: Probe) -> dict[str, float]:
    """The stream against the batch path in alternating rounds of ``size`` applications each (the machine's load
    drifts: each ratio compares neighbours), with the channel call timed in the same round. Medians."""
    from statistics import median

    rates, costs, batch_costs, drain_costs = [], [], [], []
    for k in range(pairs):
        channel_ms = probe.ms_per_call()
        with Statements() as b_sql:
            b = measure_batch(size, n_entity=400 + 2 * k, segment=size)
        with Statements() as s_sql:
            s = measure_stream(size, n_entity=401 + 2 * k, segment=size)
        if k == 0:  # the same every round (Django's BEGIN/COMMIT are not statements it sees; savepoints are)
            print(f"    SQL statements per invoice, setup included: stream {s_sql.count / size:.1f}, "
                  f"batch path {b_sql.count / size:.1f}")
        channel_ms = (channel_ms + probe.ms_per_call()) / 2
        rates.append(s["per_second"] / b["per_second"])
        costs.append(s["ms_per_invoice"] / channel_ms)
        batch_costs.append(b["ms_per_invoice"] / channel_ms)
        drain_costs.append(s["drain_ms_per_invoice"] / b["ms_per_invoice"])
        print(f"    round {k + 1}: stream {s['per_second']:.1f}/s, batch {b['per_second']:.1f}/s "
              f"(ratio {rates[-1]:.2f}); per invoice {costs[-1]:.2f}× (stream) and {batch_costs[-1]:.2f}× (batch) the "
              f"channel call of this round ({channel_ms:.1f} ms); the stream's drains alone "
              f"{drain_costs[-1]:.2f}× the batch path")
    return {"rate": median(rates), "cost": median(costs), "batch_cost": median(batch_costs),
            "drains": median(drain_costs)}


def report_stream_goal(stream: list[dict], batch: list[dict], base: dict, pairs: dict[str, float] | None) -> bool:
    """Issue 21's goal for single submissions: a stream issues at ≥ the batch path's rate and costs ≤ 2× the channel
    call per invoice. Judged on the paired rounds' medians when there are some (``--pairs``), else on each size."""
    for s, b in zip(stream, batch, strict=True):
        print(f"  {s['size']} single submissions: stream {s['per_second']:.1f}/s = "
              f"{s['per_second'] / b['per_second']:.2f}× the batch path's {b['per_second']:.1f}/s, "
              f"{s['ms_per_invoice'] / base['ms_per_invoice']:.2f}× the channel call")
    if pairs:
        rate, cost = pairs["rate"], pairs["cost"]
    else:
        rate = min(s["per_second"] / b["per_second"] for s, b in zip(stream, batch, strict=True))
        cost = max(s["ms_per_invoice"] for s in stream) / base["ms_per_invoice"]
    met = rate >= 1.0 and cost <= 2.0
    print(f"  goal for single submissions (stream ≥ batch rate, ≤ 2× the channel call): {'met' if met else 'NOT met'} "
          f"(stream {rate:.2f}× the batch rate, {cost:.2f}× the channel call"
          + (f"; medians of the paired rounds; batch {pairs['batch_cost']:.2f}× the channel call, "
             f"the stream's drains alone {pairs['drains']:.2f}× the batch path)" if pairs else ")"))
    return met


def redis_answers(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2).close()
    except OSError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--baseline", type=int, default=1000, help="applications for the channel-only baseline")
    parser.add_argument("--segment", type=int, default=1000, help="applications timed together (with a probe)")
    parser.add_argument("--soak", type=int, default=2000, help="applications for the soak run")
    parser.add_argument("--no-soak", action="store_true")
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL_TEST_REDIS", "redis://127.0.0.1:6379/3"))
    parser.add_argument("--processes", default="1,2", help="worker processes for the PostgreSQL run ('' skips it)")
    parser.add_argument("--pg-size", type=int, default=3000, help="applications for the PostgreSQL run")
    parser.add_argument("--pg-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=5,
                        help="alternating rounds of the stream and the batch path, judged on their medians (0: none)")
    parser.add_argument("--pair-size", type=int, default=300, help="applications per path in each round")
    parser.add_argument("--skip-one-by-one", action="store_true",
                        help="leave out the old one-by-one path (the slowest, for a quicker run)")
    args = parser.parse_args()
    setup_django()
    if args.pg_child:
        return pg_child(args)
    from django.db import connection

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"issuing benchmark on {connection.vendor}, in process, no worker, no rendering")
    base = measure_channel_only(args.baseline, n_entity=90)
    print(f"  baseline: channel call alone ({base['size']}): {base['per_second']:.1f} calls/s, "
          f"{base['ms_per_invoice']:.2f} ms each")
    probe = Probe(n_entity=91, probes=3 * sum(max(1, -(-size // args.segment)) for size in sizes) + 2 * args.pairs + 2)
    best = 0.0
    by_path: dict[str, list[dict]] = {}
    for key, label, run, offset in (
        ("one", "one by one (application_submit_issue + issue_attempt)", measure, 100),
        ("batch", f"in batches of {issue_batch_size()} (applications_submit_issue + issue_batch)", measure_batch, 200),
        ("stream", "one by one on the grouped path (application_request_issue each, then the drains: "
                   "issue_drain_claim + issue_batch)", measure_stream, 300),
    ):
        if key == "one" and args.skip_one_by_one:
            continue
        print(f"  {label}:")
        results = by_path.setdefault(key, [])
        for i, size in enumerate(sizes):
            r = run(size, n_entity=offset + i, segment=args.segment, probe=probe)
            results.append(r)
            best = max(best, r["per_second"])
            extra = f", {r['batches']} batches" if "batches" in r else ""
            print(f"    {size:>6} applications: {r['seconds']:.1f} s, {r['per_second']:.1f} invoices/s, "
                  f"{r['ms_per_invoice']:.2f} ms per invoice ({r['ms_per_invoice'] / base['ms_per_invoice']:.2f}× "
                  f"the channel call alone){extra}")
        report_flatness(results)
    goal = 100.0
    print(f"  goal ≥{goal:.0f} invoices/s: {'met' if best >= goal else 'NOT met'} (best {best:.1f})")
    pairs = None
    if args.pairs:
        print(f"  the stream against the batch path, {args.pairs} alternating rounds of {args.pair_size}:")
        pairs = measure_pairs(args.pairs, args.pair_size, probe)
    stream_met = report_stream_goal(by_path["stream"], by_path["batch"], base, pairs)

    if args.processes:
        try:
            from pgdb import ensure_database

            pg_url = os.environ.get("BENCH_ISSUING_PG_URL") or ensure_database(
                "postgres://postgres@127.0.0.1:5432/fapiao_bench_issuing")
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so
            print(f"  PostgreSQL run skipped: {exc.__class__.__name__}: {exc}")
        else:
            subprocess.run([sys.executable, __file__, "--pg-child", f"--processes={args.processes}",
                            f"--pg-size={args.pg_size}"], env=dict(os.environ, DATABASE_URL=pg_url), check=True)

    missed = 0 if stream_met else 3
    if args.no_soak:
        return missed
    if not redis_answers(args.broker):
        print(f"  soak skipped: no broker at {args.broker.rsplit('@', 1)[-1]}")
        return missed
    database_url = soak_database_url(connection)
    print(f"== soak: {args.soak} applications, 20% faults, one worker killed "
          f"({database_url.split('://', 1)[0]}, broker {args.broker.rsplit('@', 1)[-1]})")
    env = dict(os.environ, DATABASE_URL=database_url)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0", "--noinput"], env=env, cwd=ROOT,
                   check=True)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), f"--count={args.soak}", "--fault-rate=0.2",
         "--kill-worker", f"--broker={args.broker}", f"--timeout={max(300, args.soak // 3)}"],
        env=env, cwd=ROOT,
    )
    if done.returncode:
        return done.returncode
    print(f"== soak on the grouped path: {args.soak} single submissions (--singly), 20% faults, one worker killed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), f"--count={args.soak}", "--fault-rate=0.2",
         "--kill-worker", "--singly", f"--broker={args.broker}", f"--timeout={max(300, args.soak // 3)}"],
        env=env, cwd=ROOT,
    )
    return done.returncode or missed


def soak_database_url(connection) -> str:  # noqa: ANN001
    """The soak's workers share one database with the command. SQLite serialises writers and answers "database is
    locked" under four worker processes, so use PostgreSQL when it answers: ``BENCH_SOAK_DATABASE_URL``, the
    bench's own PostgreSQL database, or a ``fapiao_bench_soak`` database on 127.0.0.1 (created if missing)."""
    if os.environ.get("BENCH_SOAK_DATABASE_URL"):
        return os.environ["BENCH_SOAK_DATABASE_URL"]
    if connection.vendor == "postgresql":
        return os.environ["DATABASE_URL"]
    try:
        from pgdb import ensure_database

        return ensure_database("postgres://postgres@127.0.0.1:5432/fapiao_bench_soak")
    except Exception as exc:  # noqa: BLE001 - fall back to the bench's SQLite file
        print(f"  (no PostgreSQL for the soak: {exc.__class__.__name__}; using SQLite)")
        return os.environ["DATABASE_URL"]


if __name__ == "__main__":
    sys.exit(main())
