"""Receiving rules and the verification budget.

Standalone: ``python bench/bench_rules.py`` (``make bench`` runs it). Sizes from the environment:
``BENCH_RULES_INVOICES`` (default 100000), ``BENCH_VERIFY_INVOICES`` (default 1000); ``BENCH_RULES_REUSE=1`` keeps
a pool of the right size from an earlier run (its results are cleared) instead of writing it again.

* **rules**: every rule on (the seller-status rule too), over the entity's whole pool of ``BENCH_RULES_INVOICES``
  records with one line each; about one in twenty fails something (a wrong buyer title, a blacklisted seller, a
  red-flushed invoice, consecutive numbers, an old date, a large total, a gift line, a ticket without a passenger).
  Timed beside a **baseline** of reading the same rows and lines (``rules.load_rows``) in the same run: the first
  run stores every result (and an event per failing record), the second finds nothing changed.
  Goal (issue 17): at least 5,000 invoices a second.
* **budget**: ``BENCH_VERIFY_INVOICES`` pool records verified through the sandbox (in process) by three forced bulk
  jobs with a per-invoice daily budget of 2 and an entity rate of 200 a second. Calls are counted at the sandbox
  (its integration log) and the rate windows as written: never more than 2 calls per invoice, never more than 200
  in one second; the third job's requests wait, none fails.

Database: ``DATABASE_URL`` if set (it must be disposable), else a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

INVOICES = int(os.environ.get("BENCH_RULES_INVOICES", "100000"))
VERIFY = int(os.environ.get("BENCH_VERIFY_INVOICES", "1000"))
GOAL_PER_SECOND = 5000


def setup_django() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        from pgdb import ensure_database

        os.environ["DATABASE_URL"] = ensure_database(os.environ["DATABASE_URL"])
    else:
        var = tempfile.mkdtemp(prefix="fapiao-bench-rules-")
        os.environ["FAPIAO_VAR_DIR"] = var
        os.environ["DATABASE_URL"] = f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def fill(entity, n: int) -> None:
    from receiving.control_models import InvoiceCheck, RuleOverride, Seller
    from receiving.models import ReceivedInvoice, ReceivedInvoiceLine

    RuleOverride.objects.filter(invoice__taxpayer=entity).delete()
    InvoiceCheck.objects.filter(taxpayer=entity).delete()
    ReceivedInvoiceLine.objects.filter(invoice__taxpayer=entity).delete()
    ReceivedInvoice.objects.filter(taxpayer=entity).delete()
    Seller.objects.filter(taxpayer=entity).delete()
    rng = random.Random(17)
    sellers = [(f"供应商{i:03d}有限公司", f"91330106MA{i:07d}X") for i in range(500)]
    Seller.objects.bulk_create([Seller(taxpayer=entity, tax_id=t, name=nm, status="active",
                                       blacklisted=i % 100 == 0, reason="虚开" if i % 100 == 0 else "")
                                for i, (nm, t) in enumerate(sellers)])
    today = date.today()
    rows, lines = [], []
    for i in range(n):
        seller = sellers[rng.randrange(len(sellers))]
        buyer = entity.name if i % 40 else entity.name.replace("有限公司", "公司")
        amount = Decimal(rng.randrange(100, 900000)) / 100
        if i % 97 == 0:
            amount = Decimal("50000.00")
        tax = (amount * Decimal("0.06")).quantize(Decimal("0.01"))
        kind = "51" if i % 211 == 0 else "81"
        rows.append(ReceivedInvoice(
            taxpayer=entity, kind=kind, number=f"2544200000{i * 3 + (1 if i % 150 == 0 else 0):010d}",
            issue_date=today - timedelta(days=(400 if i % 300 == 0 else rng.randrange(1, 200))),
            seller_name=seller[0], seller_tax_id=seller[1], buyer_name=buyer, buyer_tax_id=entity.credit_code,
            amount=amount, tax=tax, total=amount + tax, data_source="xml",
            platform_status="red_full" if i % 250 == 0 else ("normal" if i % 2 else ""),
            passenger_name="" if kind == "51" else "", risk_level=""))
    ReceivedInvoice.objects.bulk_create(rows, batch_size=5000)
    ids = list(ReceivedInvoice.objects.filter(taxpayer=entity).order_by("pk").values_list("pk", flat=True))
    for i, pk in enumerate(ids):
        name = "*礼品*月饼礼盒" if i % 500 == 0 else "*信息技术服务*软件开发服务"
        lines.append(ReceivedInvoiceLine(invoice_id=pk, line_no=1, item_name=name, amount=Decimal("1.00"),
                                         tax_code="3040201000000000000"))
    ReceivedInvoiceLine.objects.bulk_create(lines, batch_size=5000)
    from django.db import connection

    if connection.vendor == "postgresql":  # what autovacuum does after a bulk load: the planner needs the statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE receiving_receivedinvoice, receiving_receivedinvoiceline, receiving_invoicecheck")


def bench_rules() -> bool:
    from invoicing.models import Taxpayer
    from receiving import rules
    from receiving.control_models import RulesOutcome

    entity, _ = Taxpayer.objects.get_or_create(credit_code="91440101MA5CYUN00U",
                                               defaults={"name": "广州云途出行科技有限公司", "short_name": "云途"})
    from receiving.control_models import InvoiceCheck
    from receiving.models import ReceivedInvoice

    t0 = time.perf_counter()
    if ReceivedInvoice.objects.filter(taxpayer=entity).count() != INVOICES or not os.environ.get("BENCH_RULES_REUSE"):
        fill(entity, INVOICES)
        print(f"rules: {INVOICES} pool records written in {time.perf_counter() - t0:.1f}s")
    InvoiceCheck.objects.filter(taxpayer=entity).delete()  # the first run stores every result
    for code, spec in rules.SPECS.items():
        rules.receiving_rule_save(taxpayer=entity, code=code,
                                  severity="warn" if spec.severity == "off" else spec.severity, params={}, actor=None)

    t0 = time.perf_counter()
    rows, lines = rules.load_rows(entity.pk, None)
    baseline = time.perf_counter() - t0
    assert len(rows) == INVOICES
    t0 = time.perf_counter()
    first = rules.rules_run(taxpayer=entity, actor=None)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = rules.rules_run(taxpayer=entity, actor=None)
    second_s = time.perf_counter() - t0
    outcomes = Counter(InvoiceCheck.objects.filter(taxpayer=entity).values_list("rules_outcome", flat=True))
    print(f"rules: baseline (reading rows and lines) {baseline:.2f}s = {INVOICES / baseline:,.0f}/s")
    print(f"rules: first run (store all, {first.changed} changed) {first_s:.2f}s = {INVOICES / first_s:,.0f}/s, "
          f"{first_s / baseline:.1f}x the baseline")
    print(f"rules: second run ({second.changed} changed) {second_s:.2f}s = {INVOICES / second_s:,.0f}/s, "
          f"{second_s / baseline:.1f}x the baseline")
    print(f"rules: outcomes {dict(outcomes)}")
    ok = INVOICES / first_s >= GOAL_PER_SECOND and INVOICES / second_s >= GOAL_PER_SECOND
    ok = ok and outcomes[RulesOutcome.BLOCK] > 0 and second.changed == 0
    print(f"rules: goal ≥ {GOAL_PER_SECOND:,}/s: {'met' if ok else 'NOT met'}")
    return ok


def bench_budget() -> bool:
    from django.conf import settings
    from django.db.models.signals import post_save

    from invoicing.channels import get_channel
    from invoicing.models import ChannelCall, Taxpayer
    from receiving import verification
    from receiving.control_models import JobStatus, Verification, VerificationRate, VerifyState
    from receiving.models import ReceivedInvoice
    from sandbox import services as sandbox

    settings.RECEIVING_VERIFY_PER_INVOICE_DAILY = 2
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 200
    entity, _ = Taxpayer.objects.get_or_create(credit_code="91440300MA5FM1NGYB",
                                               defaults={"name": "深圳明远信息技术有限公司", "short_name": "明远"})
    entity.channel_app_key, entity.channel_secret = "bench-mingyuan-key", "bench-mingyuan-secret-value"
    entity.save()
    sandbox.account_ensure(credit_code=entity.credit_code, name=entity.name, app_key=entity.channel_app_key,
                           secret=entity.channel_secret, region_code="4403")
    ReceivedInvoice.objects.filter(taxpayer=entity).delete()
    ReceivedInvoice.objects.bulk_create([
        ReceivedInvoice(taxpayer=entity, kind="81", number=f"2544300000{i:010d}", issue_date=date.today(),
                        seller_name="供应商", seller_tax_id="91330106MA2GL8XY7N", buyer_name=entity.name,
                        buyer_tax_id=entity.credit_code, amount=Decimal("100.00"), tax=Decimal("6.00"),
                        total=Decimal("106.00"), data_source="xml") for i in range(VERIFY)])
    ids = list(ReceivedInvoice.objects.filter(taxpayer=entity).values_list("pk", flat=True))
    verification.channel_for = lambda taxpayer: get_channel(taxpayer, transport="inprocess")
    verification._enqueue = lambda job_id, countdown=0: None  # the jobs are run here, not by a worker
    windows: list[int] = []
    post_save.connect(lambda sender, instance, **kw: windows.append(instance.calls), sender=VerificationRate,
                      weak=False)
    last = ChannelCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    mine = ChannelCall.objects.filter(taxpayer=entity, operation="verify", pk__gt=last)
    t0 = time.perf_counter()
    jobs = []
    for _ in range(3):
        job = verification.verification_job_start(taxpayer=entity, invoice_ids=ids, actor=None, force=True)
        jobs.append(verification.verification_job_run(job=job, actor=None))
    elapsed = time.perf_counter() - t0
    calls = mine.count()
    per_invoice = Counter(mine.values_list("serial", flat=True))
    waiting = Verification.objects.filter(job=jobs[-1], state=VerifyState.PENDING, wait_reason="budget").count()
    print(f"budget: {VERIFY} invoices × 3 forced jobs in {elapsed:.1f}s: {calls} platform calls "
          f"(budget {2 * VERIFY}), at most {max(per_invoice.values())} per invoice, at most {max(windows)} in one "
          f"second (limit 200); third job: {jobs[-1].status}, {waiting} waiting on the budget, "
          f"{Verification.objects.filter(job__in=jobs, code__in=['01']).count()} failed")
    ok = calls <= 2 * VERIFY and max(per_invoice.values()) <= 2 and max(windows) <= 200
    ok = ok and jobs[-1].status == JobStatus.WAITING and waiting == VERIFY
    print(f"budget: never exceeded: {'yes' if ok else 'NO'}")
    return ok


def main() -> int:
    setup_django()
    ok = bench_rules()
    ok = bench_budget() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
