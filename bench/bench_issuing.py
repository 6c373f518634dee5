"""Issuing throughput: invoices issued per second, and how the per-invoice cost changes from 1k to 10k applications.

Standalone: ``python bench/bench_issuing.py [--sizes 1000,10000] [--soak 2000 | --no-soak]``.

* In process, no worker, no file rendering: for each size, a fresh entity with that many approved applications;
  each is submitted (``application_submit_issue``, the task queue stubbed out) and issued (``issue_attempt``) through
  the in-process sandbox channel, exactly as a worker would. Prints invoices/s and the per-invoice cost ratio
  (largest size / smallest; 1.0 is flat).
* Baseline from the same run: the channel alone (``issue_invoice`` straight to the sandbox, no local bookkeeping),
  so the figure says what our exactly-once bookkeeping costs on top of the platform call.
* Then the soak (``manage.py soak_issuing``) with 2,000 applications, 20% faults and a killed worker, when a Redis
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
        from invoicing.channels import get_channel
        from issuing import issuing
        from issuing.management.commands.soak_issuing import make_approved_applications, soak_entity
        from issuing.models import InvoiceApplication

        taxpayer = soak_entity(n=n_entity)
        ids = make_approved_applications(taxpayer, per_probe * probes)
        self.requests = []
        for app in InvoiceApplication.objects.filter(pk__in=ids).select_related("taxpayer").order_by("id"):
            app.issue_serial = f"PROBE-{app.number}"
            self.requests.append(issuing.build_issue_request(app))
        self.channel = get_channel(taxpayer)
        self.per_probe = per_probe

    def ms_per_call(self) -> float:
        batch, self.requests = self.requests[: self.per_probe], self.requests[self.per_probe:]
        started = time.perf_counter()
        for request in batch:
            self.channel.issue_invoice(request)
        return (time.perf_counter() - started) / max(1, len(batch)) * 1000


def measure(size: int, n_entity: int, *, segment: int = 1000, probe: Probe | None = None) -> dict:
    from issuing import issuing
    from issuing.management.commands.soak_issuing import make_approved_applications, soak_entity
    from issuing.models import ApplicationStatus, Invoice, InvoiceApplication

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    apps = list(InvoiceApplication.objects.filter(pk__in=ids).order_by("id"))
    original = issuing._queue_issue
    issuing._queue_issue = lambda application_id: None  # no worker: this process makes each attempt itself
    segments = []
    elapsed = 0.0
    try:
        for k in range(0, size, segment):
            probe_ms = probe.ms_per_call() if probe else None
            started = time.perf_counter()
            for app in apps[k:k + segment]:
                issuing.application_submit_issue(application=app)
                issuing.issue_attempt(application_id=app.pk)
            seconds = time.perf_counter() - started
            elapsed += seconds
            n = len(apps[k:k + segment])
            segments.append({"ms": seconds / n * 1000, "probe_ms": probe_ms})
    finally:
        issuing._queue_issue = original
    issued = InvoiceApplication.objects.filter(pk__in=ids, status=ApplicationStatus.ISSUED).count()
    invoices = Invoice.objects.filter(application_id__in=ids).count()
    assert issued == invoices == size, (issued, invoices, size)
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000,
            "segments": segments}


def measure_channel_only(size: int, n_entity: int) -> dict[str, float]:
    """The platform call alone (sign, in-process sandbox, ledger, call log): the floor of what issuing can cost."""
    from invoicing.channels import get_channel
    from issuing import issuing
    from issuing.management.commands.soak_issuing import make_approved_applications, soak_entity
    from issuing.models import InvoiceApplication

    taxpayer = soak_entity(n=n_entity)
    ids = make_approved_applications(taxpayer, size)
    requests = []
    for app in InvoiceApplication.objects.filter(pk__in=ids).select_related("taxpayer").order_by("id"):
        app.issue_serial = f"BASE-{app.number}"
        requests.append(issuing.build_issue_request(app))
    channel = get_channel(taxpayer)
    started = time.perf_counter()
    for request in requests:
        channel.issue_invoice(request)
    elapsed = time.perf_counter() - started
    return {"size": size, "seconds": elapsed, "per_second": size / elapsed, "ms_per_invoice": elapsed / size * 1000}


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
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"issuing benchmark on {connection.vendor}, in process, no worker, no rendering")
    base = measure_channel_only(args.baseline, n_entity=90)
    print(f"  baseline: channel call alone ({base['size']}): {base['per_second']:.1f} calls/s, "
          f"{base['ms_per_invoice']:.2f} ms each")
    results = []
    probe = Probe(n_entity=91, probes=sum(max(1, -(-size // args.segment)) for size in sizes) + 1)
    for i, size in enumerate(sizes):
        r = measure(size, n_entity=100 + i, segment=args.segment, probe=probe)
        results.append(r)
        print(f"  {size:>6} applications: {r['seconds']:.1f} s, {r['per_second']:.1f} invoices/s, "
              f"{r['ms_per_invoice']:.2f} ms per invoice ({r['ms_per_invoice'] / base['ms_per_invoice']:.2f}× the "
              f"channel call alone)")
    if len(results) >= 2:
        first, last = results[0], results[-1]
        ratio = last["ms_per_invoice"] / first["ms_per_invoice"]
        print(f"  per-invoice cost {last['size']} / {first['size']}: {ratio:.2f} (1.00 = flat)")
        # The last segment of the largest run (the database already holds ~all its rows) against the first segment
        # of the smallest, each divided by the probe timed just before it: what growth costs, not what the
        # neighbours' load costs.
        a, z = first["segments"][0], last["segments"][-1]
        if a["probe_ms"] and z["probe_ms"]:
            normalised = (z["ms"] / z["probe_ms"]) / (a["ms"] / a["probe_ms"])
            print(f"  first segment {a['ms']:.1f} ms/invoice (probe {a['probe_ms']:.1f} ms), last segment of "
                  f"{last['size']} {z['ms']:.1f} ms/invoice (probe {z['probe_ms']:.1f} ms): load-normalised ratio "
                  f"{normalised:.2f}")
    goal = 100.0
    best = max(r["per_second"] for r in results)
    print(f"  goal ≥{goal:.0f} invoices/s: {'met' if best >= goal else 'NOT met'} (best {best:.1f})")

    if args.no_soak:
        return 0
    if not redis_answers(args.broker):
        print(f"  soak skipped: no broker at {args.broker.rsplit('@', 1)[-1]}")
        return 0
    database_url = soak_database_url(connection)
    print(f"== soak: {args.soak} applications, 20% faults, one worker killed "
          f"({database_url.split('://', 1)[0]}, broker {args.broker.rsplit('@', 1)[-1]})")
    env = dict(os.environ, DATABASE_URL=database_url)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--noinput"], env=env, cwd=ROOT, check=True)
    done = subprocess.run(
        [*manage, "soak_issuing", f"--count={args.soak}", "--fault-rate=0.2", "--kill-worker",
         f"--broker={args.broker}", f"--timeout={max(300, args.soak // 3)}"],
        env=env, cwd=ROOT,
    )
    return done.returncode


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
