"""Platform download throughput: invoices per second into the pool, beside the channel calls alone.

Standalone: ``python bench/bench_platform_download.py [--size 10000]``.

* Setup (not timed): one receiving entity on the in-process sandbox channel, and ``--size`` invoices from the
  sandbox's third-party sellers to it over the last 30 days (``sandbox.services.received_seed``).
* Baseline from the same run: the channel calls alone, as the download makes them (``list_received`` page by page
  over the same days, then ``download_files`` of the XML of each invoice), with nothing written locally.
* The download: ``receiving.platform.platform_download`` over the same invoices (the same calls, plus reading each
  XML, the pool record, its carrier, source, batch item, status and events). Printed: invoices/s of each, and the
  ratio download / channel alone (1.0 would mean the pool's bookkeeping costs nothing).
* Then a second run (nothing new: each invoice's status compared, nothing downloaded twice) and its invoices/s.

Database: ``DATABASE_URL`` if set (it must be disposable: the bench writes tens of thousands of rows), else a fresh
SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("TAX_CHANNEL_TRANSPORT", "inprocess")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("DATABASE_URL"):
        var = tempfile.mkdtemp(prefix="fapiao-bench-platform-")
        os.environ["FAPIAO_VAR_DIR"] = var
        os.environ["DATABASE_URL"] = f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def entity(size: int):  # noqa: ANN201 - a Taxpayer, imported after setup
    from invoicing.models import Taxpayer
    from sandbox import services as sandbox

    taxpayer, _ = Taxpayer.objects.get_or_create(
        credit_code="91440300MA5FM1NGYB",
        defaults={"name": "深圳明远信息技术有限公司", "short_name": "明远", "region_code": "4403",
                  "channel": "sandbox", "channel_app_key": "bench-mingyuan", "channel_secret": "bench-secret"})
    sandbox.account_ensure(credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
                           secret=taxpayer.channel_secret, region_code="4403")
    started = time.perf_counter()
    sandbox.received_seed(buyer_credit_code=taxpayer.credit_code, buyer_name=taxpayer.name, count=size, days=30,
                          prefix="bench")
    print(f"setup: {size} invoices from third-party sellers in the sandbox ({time.perf_counter() - started:.0f} s)")
    return taxpayer


def channel_alone(taxpayer, days: int) -> tuple[int, float]:  # noqa: ANN001
    from invoicing.channels import get_channel
    from receiving import platform

    channel = get_channel(taxpayer, transport="inprocess")
    today = platform.china_today()
    started = time.perf_counter()
    count, page = 0, 1
    while True:
        listed = channel.list_received(date_from=today - timedelta(days=days), date_to=today, page=page,
                                       page_size=platform.page_size())
        for invoice in listed.items:
            channel.download_files(invoice.number, platform.download_formats())
            count += 1
        if not listed.items or page * listed.page_size >= listed.total:
            break
        page += 1
    return count, time.perf_counter() - started


def download(taxpayer) -> tuple[object, float]:  # noqa: ANN001
    from invoicing.channels import get_channel
    from receiving import platform

    started = time.perf_counter()
    result = platform.platform_download(taxpayer=taxpayer, channel=get_channel(taxpayer, transport="inprocess"))
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args()
    setup_django()
    from receiving import platform
    from receiving.models import ReceivedInvoice

    taxpayer = entity(args.size)
    days = platform.first_days()
    calls, alone = channel_alone(taxpayer, days)
    print(f"channel alone: {calls} invoices listed and their XML downloaded in {alone:.1f} s = "
          f"{calls / alone:.0f} invoices/s")
    result, took = download(taxpayer)
    assert result.ok and result.created == args.size, result  # type: ignore[attr-defined]
    assert ReceivedInvoice.objects.filter(taxpayer=taxpayer).count() == args.size
    print(f"platform download: {args.size} invoices into the pool in {took:.1f} s = {args.size / took:.0f} "
          f"invoices/s; ratio download / channel alone = {took / alone:.2f}")
    again, took2 = download(taxpayer)
    print(f"second run (nothing new, status compared): {again.listed} listed in {took2:.1f} s = "  # type: ignore[attr-defined]
          f"{again.listed / took2:.0f} invoices/s; created {again.created}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
