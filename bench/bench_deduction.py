"""Deduction (抵扣): 附列资料二 of a confirmed period as it grows, against the same report at a small size.

Standalone: ``python bench/bench_deduction.py [--small 10000] [--large 100000] [--requests 7]``. Environment:
``BENCH_DEDUCTION_SMALL`` / ``BENCH_DEDUCTION_LARGE`` (the sizes), ``BENCH_DEDUCTION_PG_URL`` (else ``BENCH_PG_URL``,
else postgres://postgres@127.0.0.1:5432/fapiao_bench_deduction, created if missing; its receiving and deduction
tables are emptied and filled, so it must be disposable). PostgreSQL only.

Schedule 2: a period of each size is filled in SQL (received invoices, one accepted selection each: 专票, 通行费,
农产品 with 加计扣除, tickets and a few 不抵扣), confirmed with the service's own snapshot and its totals
(``snapshot_of``, ``snapshot_totals_of``) and a state update, then ``schedule2_of`` on a fresh read of the period as the API reads it, plus its JSON shape (what the API and the command
return), ``--requests`` times. Goals: p50 at the large size ≤ 1 s, and ≤ 1.5× the p50 at the small size.

Bulk selection (``--bulk``, 10,000; ``BENCH_DEDUCTION_BULK``; 0 skips it): as many received invoices, issued on the
sandbox platform to the entity and verified (a fresh result, so no verification call is due), are selected by the bulk
job (``deduction.bulk``: the selection service in chunks, the result workbook) through the in-process sandbox channel;
beside it the channel's selection call alone for the same invoices in the same chunks (then undone on the platform,
untimed), in the same run: invoices per second of each and the ratio (our bookkeeping's cost).

Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GOAL_RATIO = 1.5
GOAL_SECONDS = 1.0


def pg_url() -> str | None:
    url = os.environ.get("BENCH_DEDUCTION_PG_URL") or os.environ.get("BENCH_PG_URL") or ""
    if not url:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        except OSError:
            return None
        url = "postgres://postgres@127.0.0.1:5432/fapiao_bench_deduction"
    from pgdb import ensure_database

    return ensure_database(url)


def empty() -> None:
    from django.db import connection

    from deduction.models import Selection, TaxPeriod, TransferOut
    from receiving.models import ReceivedInvoice
    from sandbox.models import LedgerInvoice, LedgerSelection

    tables = [m._meta.db_table for m in (TransferOut, Selection, TaxPeriod, ReceivedInvoice, LedgerSelection,
                                         LedgerInvoice)]
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def fill_period(entity, period: str, start: int, size: int) -> int:
    """``size`` received invoices (ids from ``start``) and their accepted selections in ``period``; confirmed."""
    from bench_receiving import _defaults, seller_tax_id_sql
    from django.db import connection

    from deduction.models import PeriodState, Selection, TaxPeriod
    from deduction.services import snapshot_of, snapshot_totals_of
    from receiving.models import ReceivedInvoice

    row = TaxPeriod.objects.create(taxpayer=entity, period=period)
    kind = "CASE g % 10 WHEN 0 THEN '85' WHEN 1 THEN '61' WHEN 2 THEN 'agri_purchase' ELSE '81' END"
    inv = {
        "id": "g", "taxpayer_id": str(entity.pk), "kind": kind, "number": "'2644' || lpad(g::text, 16, '0')",
        "issue_date": "DATE '2026-01-01' + (g % 28)", "seller_name": "'供应商' || (g % 50)",
        "seller_tax_id": seller_tax_id_sql("g % 50"), "buyer_name": f"'{entity.name}'",
        "buyer_tax_id": f"'{entity.credit_code}'", "amount": "(g % 500 + 1) * 10", "tax": "(g % 500 + 1) * 0.6",
        "total": "(g % 500 + 1) * 10.6", "review_state": "'clear'", "use_state": "'in_pool'",
        "review_reasons": "'[]'::jsonb", "data_source": "'xml'",
        "created_at": "now()", "updated_at": "now()",
    }
    sel = {
        "id": "g", "tax_period_id": str(row.pk), "invoice_id": "g", "kind": kind,
        "purpose": "CASE WHEN g % 50 = 7 THEN '4' ELSE '1' END",
        "reason": "CASE WHEN g % 50 = 7 THEN '5' ELSE '' END",
        "amount": "(g % 500 + 1) * 10", "face_tax": "(g % 500 + 1) * 0.6", "effective_tax": "(g % 500 + 1) * 0.6",
        "extra_tax": "CASE WHEN g % 10 = 2 THEN (g % 500 + 1) * 0.1 ELSE 0 END", "state": "'accepted'",
        "request_no": "'GXBENCH' || (g / 1000)", "attempts": "1", "created_at": "now()", "updated_at": "now()",
    }
    stop = start + size - 1
    for model, exprs in ((ReceivedInvoice, inv), (Selection, sel)):
        for f in model._meta.concrete_fields:  # the model's plain defaults (numbers, flags, amounts) as literals
            if f.column not in exprs and f.has_default() and not callable(f.default) and f.default is not None:
                value = f.default
                exprs[f.column] = (("true" if value else "false") if isinstance(value, bool)
                                   else f"'{value}'" if isinstance(value, str) else str(value))
    with connection.cursor() as c:
        for model, exprs in ((ReceivedInvoice, inv), (Selection, sel)):
            cols, vals = _defaults(model, exprs)
            table = model._meta.db_table
            c.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(vals)} "
                      f"FROM generate_series({start}, {stop}) g")
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            c.execute(f"ANALYZE {table}")
    snapshot = snapshot_of(row)
    TaxPeriod.objects.filter(pk=row.pk).update(state=PeriodState.CONFIRMED, snapshot=snapshot,
                                               snapshot_totals=snapshot_totals_of(snapshot))
    return row.pk


def schedule2_p50(period_id: int, requests: int) -> tuple[float, int, float]:
    """The report's p50, line 12's count, and the p50 of the first page of line 12's drill-down (read on its own)."""
    from api.selectors import tax_periods
    from deduction import schedule2
    from deduction.models import TaxPeriod
    from deduction.selectors import schedule2_drilldown, schedule2_of

    taxpayer_id = TaxPeriod.objects.values_list("taxpayer_id", flat=True).get(pk=period_id)

    times, drill_times, count = [], [], 0
    for _ in range(requests):
        t = time.perf_counter()
        lines = schedule2_of(tax_periods(taxpayer_ids=[taxpayer_id]).get(pk=period_id))  # the API's read
        body = schedule2.as_json(lines, link=lambda n: f"/schedule2/{n}/")
        times.append(time.perf_counter() - t)
        count = body["lines"]["12"]["count"]
        t = time.perf_counter()
        page = schedule2_drilldown(tax_periods(taxpayer_ids=[taxpayer_id]).get(pk=period_id), "12", limit=50)
        assert len(page.items) == min(50, page.total)
        drill_times.append(time.perf_counter() - t)
    return statistics.median(times), count, statistics.median(drill_times)


def fill_bulk(entity, size: int, period: str) -> list[int]:
    """``size`` received invoices the sandbox issued to ``entity`` (numbers on its ledger), verified a moment ago,
    dated so that ``period`` (the entity's current one) takes them: today, or the period's last day when the period
    is last month's (in its filing window)."""
    from django.utils import timezone

    from deduction.periods import period_last_day
    from receiving.control_models import InvoiceCheck
    from receiving.models import ReceivedInvoice
    from receiving.verification import fingerprint, verify_request
    from sandbox import services as sandbox
    from sandbox.models import IssueState, LedgerInvoice, LedgerStatus, SandboxAccount

    entity.channel_app_key, entity.channel_secret = "bench-deduction-key", "bench-deduction-secret-value"
    entity.save()
    sandbox.account_ensure(credit_code=entity.credit_code, name=entity.name, app_key=entity.channel_app_key,
                           secret=entity.channel_secret, region_code=entity.region_code or "4403")
    seller = sandbox.account_ensure(credit_code="91330106MA2GL8XY7N", name="杭州供应商有限公司",
                                    app_key="bench-seller-key", secret="bench-seller-secret-value", region_code="3301")
    account = seller if isinstance(seller, SandboxAccount) else SandboxAccount.objects.get(
        credit_code="91330106MA2GL8XY7N")
    now, today = timezone.now(), min(timezone.localdate(), period_last_day(period))
    amount, tax = Decimal("1000.00"), Decimal("60.00")
    numbers = [f"2644{900000000000 + i:016d}" for i in range(size)]
    LedgerInvoice.objects.bulk_create([LedgerInvoice(
        account=account, serial=f"BULK{i:08d}", number=n, kind="81", issue_state=IssueState.ISSUED,
        status=LedgerStatus.NORMAL, accepted_at=now, complete_at=now, issued_at=now,
        seller_credit_code=account.credit_code, seller_name="杭州供应商有限公司", buyer_name=entity.name,
        buyer_tax_id=entity.credit_code, total_amount=amount, total_tax=tax, total_with_tax=amount + tax)
        for i, n in enumerate(numbers)], batch_size=2000)
    rows = ReceivedInvoice.objects.bulk_create([ReceivedInvoice(
        taxpayer=entity, kind="81", number=n, issue_date=today, seller_name="杭州供应商有限公司",
        seller_tax_id=account.credit_code, buyer_name=entity.name, buyer_tax_id=entity.credit_code, amount=amount,
        tax=tax, total=amount + tax, data_source="xml", platform_status="normal", review_state="clear",
        use_state="in_pool") for n in numbers], batch_size=2000)
    InvoiceCheck.objects.bulk_create([InvoiceCheck(
        invoice=r, taxpayer=entity, verify_code="00", verify_message="查验成功",
        verify_fingerprint=fingerprint(verify_request(r)), verified_at=now) for r in rows], batch_size=2000)
    return [r.pk for r in rows]


def bulk_figures(entity, size: int, chunk: int) -> tuple[float, float, dict[str, int]]:
    """(the job's seconds, the channel call's seconds, the job's counts) for ``size`` invoices."""
    from django.conf import settings

    from deduction import bulk, services
    from invoicing.channels import get_channel
    from invoicing.channels.base import DeductionItem, DeductionSelectRequest
    from receiving.models import ReceivedInvoice

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    from django.utils import timezone

    from deduction.periods import current_period

    # only the current 所属期 takes selections (domain.md §14.5)
    current = current_period(taxpayer_id=entity.pk, today=timezone.localdate())
    ids = fill_bulk(entity, size, current)
    period = services.tax_period_ensure(taxpayer=entity, period=current, actor=None)
    numbers = list(ReceivedInvoice.objects.filter(pk__in=ids).order_by("pk").values_list("number", flat=True))
    channel = get_channel(entity, transport="inprocess")

    def call(select: bool) -> float:
        t = time.perf_counter()
        for at in range(0, len(numbers), chunk):
            result = channel.deduction_select(DeductionSelectRequest(period=period.period, items=tuple(
                DeductionItem(number=n, select=select, purpose="1", effective_tax=Decimal("60.00"), reason="")
                for n in numbers[at:at + chunk])))
            assert all(r.ok for r in result.results), [r for r in result.results if not r.ok][:3]
        return time.perf_counter() - t

    raw = call(True)  # the channel alone
    call(False)  # undone on the platform: the job selects the same invoices
    t = time.perf_counter()
    job = bulk.deduction_bulk_select_start(tax_period=period, flt=bulk.BulkFilter(), purpose="1", actor=None,
                                           enqueue=False)
    done = bulk.deduction_bulk_select_run(job_id=job["id"], actor=None, channel=channel, chunk=chunk)
    ours = time.perf_counter() - t
    assert done["total"] == size, done
    return ours, raw, dict(done["result"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=int(os.environ.get("BENCH_DEDUCTION_SMALL", "10000")))
    parser.add_argument("--large", type=int, default=int(os.environ.get("BENCH_DEDUCTION_LARGE", "100000")))
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--bulk", type=int, default=int(os.environ.get("BENCH_DEDUCTION_BULK", "10000")))
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()
    url = pg_url()
    if url is None:
        print("skipped: no PostgreSQL")
        return 0
    from bench_receiving import bench_entities, setup_django

    setup_django(url, 0)
    empty()
    entity, _ = bench_entities()
    ok = True
    try:
        t = time.perf_counter()
        small = fill_period(entity, "202601", 1, args.small)
        large = fill_period(entity, "202602", args.small + 1, args.large)
        print(f"filled {args.small:,} + {args.large:,} confirmed selections in {time.perf_counter() - t:.1f} s")
        p_small, d_small, q_small = schedule2_p50(small, args.requests)
        p_large, d_large, q_large = schedule2_p50(large, args.requests)
        ratio = p_large / p_small if p_small else float("inf")
        print(f"schedule 2, {args.small:,} selections: p50 {p_small * 1000:.0f} ms (line 12: {d_small:,} invoices; "
              f"its drill-down's first page p50 {q_small * 1000:.0f} ms)")
        print(f"schedule 2, {args.large:,} selections: p50 {p_large * 1000:.0f} ms (line 12: {d_large:,} invoices; "
              f"its drill-down's first page p50 {q_large * 1000:.0f} ms)"
              f"  goal ≤ {GOAL_SECONDS:.1f} s: {'ok' if p_large <= GOAL_SECONDS else 'MISSED'}")
        per_row = ratio * args.small / args.large
        print(f"ratio large/small {ratio:.2f}× (sizes {args.large / args.small:.0f}×; per row {per_row:.2f}×)"
              f"  goal ≤ {GOAL_RATIO}×: {'ok' if ratio <= GOAL_RATIO else 'MISSED'}")
        ok = p_large <= GOAL_SECONDS and ratio <= GOAL_RATIO
        if args.bulk:
            ours, raw, counts = bulk_figures(entity, args.bulk, args.chunk)
            print(f"bulk selection, {args.bulk:,} invoices in chunks of {args.chunk}: job {ours:.1f} s = "
                  f"{args.bulk / ours:,.0f} invoices/s; channel call alone {raw:.1f} s = {args.bulk / raw:,.0f}/s; "
                  f"ratio {ours / raw:.1f}× (results {counts})")
            ok = ok and counts.get("accepted") == args.bulk
    finally:
        empty()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
