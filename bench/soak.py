"""``python bench/soak.py --count 500 --fault-rate 0.2 --kill-worker``: exactly-once issuing under faults.

Creates ``--count`` approved applications for a soak entity, switches on the sandbox's fault injection (5xx, time-outs
before and after processing, duplicate replies, and one window where the bureau session drops), starts real Celery
workers (``celery -A invoicing worker -P prefork``) on ``--broker``, submits the applications one by one
(``application_submit_issue``) and, half of them unless ``--no-batches``, in bulk (``applications_submit_issue``:
batch tasks), or with ``--singly`` every one on the grouped path (``application_request_issue``: drain tasks),
SIGKILLs one worker (its whole process group) mid-run and starts a replacement, polls
until everything is issued or ``--timeout``, then checks:

* exactly one Invoice per application, every application 已开票;
* invoice numbers unique, 20 digits;
* the local set of (serial, number, 价税合计) equals the sandbox ledger's set for the entity;
* no worker log (and no log record of this process) shows an error: a deadlock, a traceback, an ERROR or CRITICAL
  record. A retry or the poller recovering from it would hide it from the checks above, so it fails the soak.

It prints its figures and exits non-zero if a check fails. The workers reach the sandbox in process (the views run
in the worker against the same database) unless ``TAX_CHANNEL_TRANSPORT=http``.

``--provider nuonuo`` runs the same soak with the soak entity on the Nuonuo channel: the fake Nuonuo open platform
(``tests/channels/fake_nuonuo.py``) is served over HTTP on 127.0.0.1 by this process, the workers reach it with the
Nuonuo client (signatures, access tokens, its codes), and the fake draws the same four faults (its time-outs are real:
it holds the answer longer than the workers' read time-out); the session window is the fake refusing every access
token. Nuonuo answers every issue request "pending", so invoices are recorded by the poller and, unless
``--no-callbacks``, by Nuonuo's callbacks: this process plays Nuonuo's side, posting each callback the fake sends to the
real endpoint (``issuing/platform/callbacks.py``, resolved by URL), again while the answer is not ``0000``, and every
fifth one twice, as Nuonuo repeats them. The local set is compared with the fake's orders instead of the ledger.

A test and benchmark tool, not part of the product: it drives the sandbox through the sandbox's own services (an
account per soak entity, the fault profile, the ledger), which no app may import. Run it from anywhere with the
environment ``manage.py`` would get (``DATABASE_URL``, ``CELERY_BROKER_URL_TEST_REDIS``); ``--help`` lists the options.
tests/issuing_flow (``run_soak``, the world builders, the log checks) and bench/bench_issuing.py import it as
``bench.soak``.
"""

# ruff: noqa: E402 - run as a script, Django is set up before the project's modules are imported below

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":  # as a script: the project on the path and Django set up, as manage.py does
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")
    import django

    django.setup()

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.test import RequestFactory
from django.test.utils import override_settings
from django.urls import resolve
from kombu import pools as kombu_pools
from stdnum.cn import uscc

from invoicing.celery import app as celery_app
from invoicing.channels.models import ChannelToken
from invoicing.channels.nuonuo_protocol import CALLBACK_ANSWER
from invoicing.models import ChannelCall, TaxCategory, Taxpayer
from issuing.applications.models import ApplicationLine, ApplicationStatus, InvoiceApplication
from issuing.platform.models import Invoice
from issuing.platform.services import (
    application_request_issue,
    application_submit_issue,
    applications_submit_issue,
    issue_poll_pending,
)
from sandbox import faults as sandbox_faults
from sandbox import services as sandbox_services
from sandbox.models import IssueState, SandboxAccount
from tests.channels import fake_nuonuo

S = ApplicationStatus
SOAK_NAME = "压测主体（沙箱）有限公司"
SOAK_NAME_NUONUO = "压测主体（诺诺）有限公司"
PROVIDERS = ("sandbox", "nuonuo")
NUONUO_CALLBACK_BASE = "http://soak.invalid/channels/nuonuo/callback"  # the path is the endpoint's route
TAX_CODE = "3040201000000000000"  # 信息技术服务 (in the catalogue the migration loads)
FAULT_KINDS = sandbox_faults.DRAWN_KINDS  # error, timeout_before, timeout_after, duplicate


class SoakError(Exception):
    """The soak cannot run as asked (no real broker, a database the workers cannot share)."""


# --- building the world (also used by tests and the benchmark) ----------------------------------------------------


def soak_credit_code(n: int = 1) -> str:
    body = f"9144010157{n:07d}"
    return body + uscc.calc_check_digit(body)


def soak_entity(*, n: int = 1, name: str = SOAK_NAME) -> Taxpayer:
    """A taxpayer connected to its own sandbox account (idempotent), with a quota that never runs out."""
    code = soak_credit_code(n)
    taxpayer, _ = Taxpayer.objects.update_or_create(
        credit_code=code,
        defaults={"name": f"{name}{n}" if n != 1 else name, "channel": "sandbox", "channel_app_key": f"soak-{code}",
                  "channel_secret": f"soak-secret-{code}", "drawer": "压测", "region_code": "4401"},
    )
    sandbox_services.account_ensure(
        credit_code=code, name=taxpayer.name, app_key=taxpayer.channel_app_key, secret=taxpayer.channel_secret,
        region_code="4401", issue_delay_seconds=0, monthly_quota=Decimal("999999999999.00"),
    )
    return taxpayer


def make_approved_applications(taxpayer: Taxpayer, count: int, *, prefix: str | None = None,
                               batch: int = 1000) -> list[int]:
    """``count`` applications 待开票 (one 6% line each, amounts varying), inserted in bulk. Returns their ids."""
    category = TaxCategory.objects.get(code=TAX_CODE)
    prefix = prefix or f"SK{uuid.uuid4().hex[:8].upper()}"
    ids: list[int] = []
    rate = Decimal("0.06")
    for start in range(0, count, batch):
        apps, amounts = [], []
        for i in range(start, min(count, start + batch)):
            # Multiples of 50 at 6%: whole-yuan tax, so SQLite's float arithmetic in the CHECK total = amount + tax
            # holds exactly (with cents it may not, on SQLite only).
            amount = Decimal(50 * (2 + (i * 37) % 400)).quantize(Decimal("0.01"))
            tax = (amount * rate).quantize(Decimal("0.01"))
            amounts.append((amount, tax))
            apps.append(InvoiceApplication(
                number=f"{prefix}{i:07d}", taxpayer=taxpayer, kind="82", status=S.APPROVED,
                buyer_name=f"压测购方{i % 97}有限公司", buyer_tax_id="91310000MA1K0BA10F",
                amount=amount, tax=tax, total=amount + tax,
            ))
        with transaction.atomic():
            created = InvoiceApplication.objects.bulk_create(apps)
            if not all(a.pk for a in created):  # backends without RETURNING
                created = list(InvoiceApplication.objects.filter(number__in=[a.number for a in apps]).order_by("id"))
            ApplicationLine.objects.bulk_create(
                ApplicationLine(
                    application=a, line_no=1, item_name="软件技术服务费", short_name="信息技术服务", unit="项",
                    quantity=Decimal(1), unit_price=amount, amount=amount, tax_rate=rate, tax=tax,
                    tax_category=category,
                )
                for a, (amount, tax) in zip(created, amounts, strict=True)
            )
        ids.extend(a.pk for a in created)
    return ids


def sandbox_account(taxpayer: Taxpayer) -> SandboxAccount:
    return sandbox_services.account_get(credit_code=taxpayer.credit_code)


def ledger_set(taxpayer: Taxpayer, serials: set[str]) -> set[tuple[str, str, str]]:
    """The sandbox ledger's (serial, number, 价税合计) for these serials (issued ones only)."""
    rows = sandbox_services.ledger_by_serials(account=sandbox_account(taxpayer), serials=serials)
    return {(r.serial, r.number or "", str(r.total_with_tax)) for r in rows if r.issue_state == IssueState.ISSUED} | {
        (r.serial, "", "pending") for r in rows if r.issue_state != IssueState.ISSUED
    }


def local_set(application_ids: list[int]) -> set[tuple[str, str, str]]:
    return {
        (serial, number, str(total))
        for serial, number, total in Invoice.objects.filter(application_id__in=application_ids, is_red=False)
        .values_list("channel_serial", "number", "total")
    }


def verify(taxpayer: Taxpayer, application_ids: list[int], *, remote_set: Any = None) -> dict[str, Any]:
    """The soak's assertions, as figures. ``ok`` is True when every one holds. ``remote_set(taxpayer, serials)``:
    the platform's side (default: the sandbox ledger)."""
    apps = InvoiceApplication.objects.filter(pk__in=application_ids)
    statuses = Counter(apps.values_list("status", flat=True))
    per_app = (
        Invoice.objects.filter(application_id__in=application_ids, is_red=False)
        .values("application_id").annotate(n=Count("id"))
    )
    counts = Counter(row["n"] for row in per_app)
    numbers = list(Invoice.objects.filter(application_id__in=application_ids).values_list("number", flat=True))
    serials = set(apps.values_list("issue_serial", flat=True))
    local = local_set(application_ids)
    remote = (remote_set or ledger_set)(taxpayer, serials)
    result = {
        "applications": len(application_ids),
        "statuses": {str(k): v for k, v in statuses.items()},
        "needs_attention": apps.filter(needs_attention=True).count(),
        "invoices": len(numbers),
        "apps_with_one_invoice": counts.get(1, 0),
        "apps_with_several": sum(v for k, v in counts.items() if k > 1),
        "numbers_unique": len(numbers) == len(set(numbers)),
        "numbers_20_digits": all(len(n) == 20 and n.isdigit() for n in numbers),
        "local_equals_ledger": local == remote,
        "only_local": sorted(local - remote)[:5],
        "only_ledger": sorted(remote - local)[:5],
    }
    result["ok"] = (
        statuses.get(S.ISSUED, 0) == len(application_ids)
        and result["apps_with_one_invoice"] == len(application_ids)
        and result["apps_with_several"] == 0
        and result["numbers_unique"]
        and result["numbers_20_digits"]
        and result["local_equals_ledger"]
    )
    return result


def replay_fault_draws(account: SandboxAccount, *, first_draw: int, last_draw: int) -> Counter:
    """Which faults the sandbox drew for draws ``first_draw+1 .. last_draw``, recomputed by the sandbox's own draw
    from its seeded generator."""
    profile = account.fault
    drawn: Counter = Counter()
    for n in range(first_draw + 1, last_draw + 1):
        kinds = sandbox_faults.drawn_kinds(profile, n)
        drawn["calls"] += 1
        if kinds:
            drawn["faulted_calls"] += 1
        for k in kinds:
            drawn[k] += 1
    return drawn


# --- the platforms ---------------------------------------------------------------------------------------------


class SandboxPlatform:
    """The sandbox: an account per soak entity, its fault profile (shared with the workers through the database),
    its ledger."""

    name = "sandbox"
    session_code = "1005"  # the sandbox's "bureau session expired"

    def __init__(self) -> None:
        self.account: SandboxAccount | None = None
        self.first_draw = 0

    def entity(self) -> Taxpayer:
        taxpayer = soak_entity()
        self.account = sandbox_account(taxpayer)
        return taxpayer

    def prepare_faults(self, per_kind: Decimal, seed: int) -> None:
        assert self.account is not None
        profile = sandbox_faults.profile_set(
            account=self.account, enabled=False, error_rate=per_kind, timeout_before_rate=per_kind,
            timeout_after_rate=per_kind, duplicate_reply_rate=per_kind, seed=seed,
            session_dropped=False, latency_ms=0, rate_limit_per_second=0,
        )
        self.first_draw = profile.draws

    def switch(self, **values: Any) -> None:
        # Only these columns: the workers are incrementing the profile's draw counter at the same moment.
        assert self.account is not None
        sandbox_faults.profile_switch(account=self.account, **values)

    def settings(self) -> dict[str, Any]:
        return {}

    def worker_env(self) -> dict[str, str]:
        return {}

    def remote_set(self, taxpayer: Taxpayer, serials: set[str]) -> set[tuple[str, str, str]]:
        return ledger_set(taxpayer, serials)

    def draws(self) -> Counter:
        assert self.account is not None
        self.account.refresh_from_db()
        self.account.fault.refresh_from_db()
        return replay_fault_draws(self.account, first_draw=self.first_draw, last_draw=self.account.fault.draws)

    def stop(self) -> None:
        pass


class NuonuoPlatform:
    """The fake Nuonuo open platform served on 127.0.0.1 by this process (its state in memory here; the workers reach
    it over HTTP with the Nuonuo client)."""

    name = "nuonuo"
    session_code = fake_nuonuo.TOKEN_INVALID  # the gateway refusing the access token
    read_timeout = 2  # the workers' NUONUO_READ_TIMEOUT; the fake holds a timed-out answer longer

    def __init__(self, *, callbacks: bool = True, issue_delay_seconds: float = 1.0) -> None:
        self.fake = fake_nuonuo.FakeNuonuo().start()
        self.fake.hang_seconds = self.read_timeout + 1.5
        self.fake.issue_delay = timedelta(seconds=issue_delay_seconds)
        # Invoice numbers are unique in the database; the fake's sequence lives in memory and would start at 1 again
        # (where the sandbox's numbers are too): each run counts from its own start, far above the sandbox's.
        self.fake.start_numbers_at(900_000_000_000_000 + int(time.time() * 1000))
        self.callbacks = callbacks

    def entity(self) -> Taxpayer:
        code = soak_credit_code(2)
        taxpayer, _ = Taxpayer.objects.update_or_create(
            credit_code=code,
            defaults={"name": SOAK_NAME_NUONUO, "channel": "nuonuo", "channel_app_key": f"soak-nn-{code}",
                      "channel_secret": f"soak-nn-secret-{code}", "drawer": "压测", "region_code": "4401"},
        )
        ChannelToken.objects.filter(taxpayer=taxpayer).delete()  # a token of an earlier run's fake means nothing here
        app = self.fake.add_app(app_key=taxpayer.channel_app_key, secret=taxpayer.channel_secret, tax_no=code,
                                name=taxpayer.name)
        app.credit_total = Decimal("999999999999.00")
        return taxpayer

    def prepare_faults(self, per_kind: Decimal, seed: int) -> None:
        rate = float(per_kind)
        self.fake.faults = fake_nuonuo.Faults(enabled=False, error_rate=rate, timeout_before_rate=rate,
                                              timeout_after_rate=rate, duplicate_reply_rate=rate, seed=seed)

    def switch(self, **values: Any) -> None:
        with self.fake.lock:
            for key, value in values.items():
                setattr(self.fake.faults, key, value)

    def settings(self) -> dict[str, Any]:
        """This process's settings (its poller and the callback endpoint it plays to call Nuonuo)."""
        return {"NUONUO_API_URL": self.fake.api_url, "NUONUO_TOKEN_URL": self.fake.token_url,
                "NUONUO_CONNECT_TIMEOUT": 2, "NUONUO_READ_TIMEOUT": self.read_timeout,
                "NUONUO_CALLBACK_URL": NUONUO_CALLBACK_BASE if self.callbacks else ""}

    def worker_env(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.settings().items()}

    def remote_set(self, taxpayer: Taxpayer, serials: set[str]) -> set[tuple[str, str, str]]:
        """The fake's orders for these serials: (order number, invoice number, 价税合计), or pending."""
        with self.fake.lock:
            orders = [i for i in self.fake.invoices.values()
                      if i.tax_no == taxpayer.credit_code and i.order_no in serials]
            issued = {"2", "3", "31"}
            return ({(i.order_no, i.number, str(i.amount + i.tax)) for i in orders if i.status in issued}
                    | {(i.order_no, "", "pending") for i in orders if i.status not in issued})

    def draws(self) -> Counter:
        with self.fake.lock:
            drawn = Counter(k for k in self.fake.fault_log if k in FAULT_KINDS)
            drawn["calls"] = self.fake.draws
            drawn["faulted_calls"] = self.fake.faulted_calls
        return drawn

    def stop(self) -> None:
        self.fake.stop()


class PollerThread(threading.Thread):
    """The periodic poller (beat's ``issue_poll_pending``), more often, beside the soak's main loop: on Nuonuo a
    query may take the read time-out under faults, and with every answer "pending" the poller has a lot to do; inline
    it would hold up the loop's kill and session-window timing."""

    def __init__(self, taxpayer_id: int, *, every: float = 3.0, limit: int = 100) -> None:
        super().__init__(name="soak-poller", daemon=True)
        self.taxpayer_id = taxpayer_id
        self.every = every
        self.limit = limit
        self.stopping = threading.Event()
        self.rounds = self.requeued = 0

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.every):
                report = issue_poll_pending(older_than_seconds=15, taxpayer_id=self.taxpayer_id, limit=self.limit)
                self.rounds += 1
                self.requeued += report.requeued
        except Exception:
            logging.getLogger(__name__).exception("the soak's poller failed")
            raise
        finally:
            connection.close()

    def finish(self) -> None:
        self.stopping.set()
        self.join(120)


class CallbackCourier(threading.Thread):
    """Nuonuo's side of the callbacks: each one the fake sends is posted to the endpoint (the real view, resolved by
    its URL, in this process; ``senders`` at a time), again after a moment while the answer is not ``0000`` (at most
    ``tries`` times), and every ``repeat_every``-th one a second time at once, as Nuonuo repeats callbacks."""

    def __init__(self, fake: fake_nuonuo.FakeNuonuo, *, repeat_every: int = 5, tries: int = 8,
                 senders: int = 4) -> None:
        super().__init__(name="soak-callbacks", daemon=True)
        self.fake = fake
        self.repeat_every = repeat_every
        self.tries = tries
        self.senders = senders
        self.stopping = threading.Event()
        self.stats: Counter = Counter()
        self.lock = threading.Lock()
        self.factory = RequestFactory()

    def post(self, url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        path = urlsplit(url).path
        request = self.factory.post(path, urlencode(form), content_type="application/x-www-form-urlencoded")
        match = resolve(path)
        try:
            response = match.func(request, *match.args, **match.kwargs)
        finally:
            connection.close()  # this sender thread's connection (the pool's threads outlive no run)
        return response.status_code, json.loads(response.content or b"{}")

    def deliver(self, url: str, form: dict[str, str], tried: int) -> tuple[str, dict[str, str], int] | None:
        """One post; what to post again later (or None)."""
        status, body = self.post(url, form)
        with self.lock:
            self.stats["posted"] += 1
            if status == 200 and body == dict(CALLBACK_ANSWER):
                self.stats["answered_0000"] += 1
                return None
            if status == 403:
                self.stats["refused"] += 1
                return None
            if tried + 1 >= self.tries:
                self.stats["given_up"] += 1
                return None
            self.stats["answered_try_again"] += 1
        return url, form, tried + 1

    def run(self) -> None:
        waiting: list[tuple[float, str, dict[str, str], int]] = []  # (due, url, form, tries so far)
        try:
            with ThreadPoolExecutor(self.senders, thread_name_prefix="soak-callback") as pool:
                while not (self.stopping.is_set() and not waiting and not self.fake.callbacks):
                    with self.fake.lock:
                        arrived, self.fake.callbacks[:] = list(self.fake.callbacks), []
                    for url, form in arrived:
                        self.stats["sent_by_platform"] += 1
                        waiting.append((0.0, url, form, 0))
                        if self.stats["sent_by_platform"] % self.repeat_every == 0:
                            self.stats["repeated"] += 1
                            waiting.append((0.0, url, form, 0))
                    now = time.monotonic()
                    due, waiting = [w for w in waiting if w[0] <= now], [w for w in waiting if w[0] > now]
                    for again in pool.map(lambda w: self.deliver(w[1], w[2], w[3]), due):
                        if again is not None:
                            waiting.append((time.monotonic() + 1.0, *again))
                    if not due:
                        time.sleep(0.1)
        except Exception:
            logging.getLogger(__name__).exception("the callback courier failed")
            raise

    def finish(self, timeout: float = 60) -> dict[str, int]:
        self.stopping.set()
        self.join(timeout)
        return dict(self.stats)


def soak_platform(provider: str, *, callbacks: bool = True) -> SandboxPlatform | NuonuoPlatform:
    if provider == "sandbox":
        return SandboxPlatform()
    if provider == "nuonuo":
        return NuonuoPlatform(callbacks=callbacks)
    raise SoakError(f"unknown provider {provider!r} (one of {', '.join(PROVIDERS)})")


# --- the logs --------------------------------------------------------------------------------------------------

# What no run may log: Celery's "[…: ERROR/ForkPoolWorker-1]", the plain "… ERROR name message" of LOGGING, a
# traceback, a deadlock (whatever recovered from it afterwards).
LOG_PROBLEM = re.compile(
    r": (ERROR|CRITICAL)/|^\S+ \S+ (ERROR|CRITICAL) |Traceback \(most recent call last\)|deadlock detected"
)


def log_problems(lines: Any, *, source: str = "") -> list[str]:
    """The lines of a log that show an error, each shortened to one line of at most 300 characters."""
    found = []
    for line in lines:
        if LOG_PROBLEM.search(line):
            found.append(f"{source}{': ' if source else ''}{line.strip()[:300]}")
    return found


def worker_log_problems(paths: list[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8", errors="replace") as f:
            found += log_problems(f, source=path.name)
    return found


class ErrorRecords(logging.Handler):
    """Collects the ERROR (and worse) records logged in this process while installed on the root logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name} {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"
        self.found.append(f"this process: {text[:300]}")

    def __enter__(self) -> ErrorRecords:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger().removeHandler(self)


# --- the workers -------------------------------------------------------------------------------------------------


def worker_env(broker: str, *, database_url: str | None = None, queue: str = "") -> dict[str, str]:
    """The environment of a worker: the production settings module, the same database, the soak's broker."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    env["CELERY_BROKER_URL"] = broker
    env["CELERY_RESULT_BACKEND"] = "cache+memory://"  # results are not needed: the database is the outcome
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    env.setdefault("DEBUG", "1")
    # The same key as this process: it encrypts the channel secrets the workers decrypt (FIELD_ENCRYPTION_KEYS,
    # when not set, derives from it).
    env["SECRET_KEY"] = settings.SECRET_KEY
    env.setdefault("ISSUING_RETRY_BASE_SECONDS", "1")
    env.setdefault("ISSUING_RETRY_MAX_SECONDS", "8")
    env["ISSUING_QUEUE_FILES"] = "0"  # the soak measures issuing, not rendering
    if queue:  # what the tasks send (a drain's next, a batch's retries) comes back to this run's workers
        env["CELERY_TASK_DEFAULT_QUEUE"] = queue
    env["PGAPPNAME"] = "fapiao-soak-worker"  # named in pg_stat_activity (and in the test database's teardown check)
    env.setdefault("TAX_CHANNEL_TRANSPORT", getattr(settings, "TAX_CHANNEL_TRANSPORT", "inprocess"))
    if database_url:
        env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(settings.BASE_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def database_url_of_connection() -> str:
    """A DATABASE_URL for the database this process uses now (the test database under pytest)."""
    s = connection.settings_dict
    engine = s["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    if engine.endswith("postgresql"):
        auth = s.get("USER") or ""
        if s.get("PASSWORD"):
            auth += f":{s['PASSWORD']}"
        host = s.get("HOST") or "127.0.0.1"
        port = s.get("PORT") or "5432"
        return f"postgres://{auth + '@' if auth else ''}{host}:{port}/{s['NAME']}"
    raise SoakError(f"unsupported database engine for workers: {engine}")


class Worker:
    def __init__(self, name: str, *, broker: str, queue: str, concurrency: int, env: dict[str, str],
                 log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        celery = str(Path(sys.executable).with_name("celery"))
        cmd = [celery, "-A", "invoicing", "worker", "-P", "prefork", f"--concurrency={concurrency}",
               "-Q", queue, "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "-l", "WARNING", "--prefetch-multiplier=1"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(settings.BASE_DIR), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: nothing gets to clean up, acknowledge or roll forward."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            # A warm shutdown: SIGTERM to the main process only, which lets the pool finish the tasks it is running
            # (a batch task may still be going through its list when the callbacks or the poller have recorded every
            # invoice). SIGTERM to the whole group would kill those children mid-task, and the log would say so.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stray pool children
        if not self.log.closed:
            self.log.close()


@contextlib.contextmanager
def sending_to(broker: str, queue: str):
    """Make this process's ``delay()`` go to ``broker``/``queue`` (not eager), and restore afterwards."""
    conf = celery_app.conf
    saved = {k: conf.get(k) for k in ("broker_url", "task_always_eager", "task_default_queue", "broker_write_url")}

    def reset_pools() -> None:
        pool = celery_app.__dict__.get("_pool")
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.force_close_all()
            celery_app._pool = None
        amqp = celery_app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
        # The app's pool is kombu's global one for this broker URL: closed above, it would stay registered and a
        # second run in this process (two soaks in one test session) would get it back closed. Forget them all.
        kombu_pools.reset()

    conf.update(broker_url=broker, broker_write_url=broker, task_always_eager=False, task_default_queue=queue)
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        conf.update(**saved)


def redis_cleanup(broker: str, queue: str) -> int:
    """Remove what this run left on a Redis broker: its queue (and priority sub-queues), the queue's bindings, and
    unacknowledged messages of the killed worker that were bound for it. Only keys of this run's queue are touched."""
    if not broker.startswith(("redis://", "rediss://")):
        return 0
    client = redis.Redis.from_url(broker)
    removed = 0
    try:
        for key in client.scan_iter(match=f"{queue}*"):
            removed += client.delete(key)
        for key in (f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"):
            removed += client.delete(key)
        for tag, raw in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                removed += client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()
    return removed


# --- the run -----------------------------------------------------------------------------------------------------


def run_soak(
    *,
    count: int = 500,
    fault_rate: float = 0.2,
    kill_worker: bool = False,
    broker: str = "",
    workers: int = 2,
    concurrency: int = 2,
    timeout: int = 240,
    seed: int = 20261122,
    session_drop_seconds: float = 1.5,
    database_url: str = "",
    no_batches: bool = False,
    submitters: int = 0,
    provider: str = "sandbox",
    no_callbacks: bool = False,
    singly: bool = False,
) -> dict[str, Any]:
    """One soak run on this process's database (the test database under pytest); returns its figures, with ``ok``
    False when a check failed. The options are the command line's (``--help``)."""
    platform = soak_platform(provider, callbacks=not no_callbacks)
    try:
        with override_settings(**platform.settings()):
            return _run_soak(platform, count=count, fault_rate=fault_rate, kill_worker=kill_worker, broker=broker,
                             workers=workers, concurrency=concurrency, timeout=timeout, seed=seed,
                             session_drop_seconds=session_drop_seconds, database_url=database_url,
                             no_batches=no_batches, submitters=submitters, singly=singly)
    finally:
        platform.stop()


def _run_soak(  # noqa: C901 - one linear script
    platform: SandboxPlatform | NuonuoPlatform,
    *,
    count: int,
    fault_rate: float,
    kill_worker: bool,
    broker: str,
    workers: int,
    concurrency: int,
    timeout: int,
    seed: int,
    session_drop_seconds: float,
    database_url: str,
    no_batches: bool,
    submitters: int,
    singly: bool,
) -> dict[str, Any]:
    rate = fault_rate
    broker = broker or os.environ.get("CELERY_BROKER_URL_TEST_REDIS") or "redis://127.0.0.1:6379/3"
    if not broker.startswith(("redis://", "rediss://", "amqp://")):
        raise SoakError(f"the soak needs a real broker (redis:// or amqp://), not {broker!r}")
    database_url = database_url or database_url_of_connection()
    queue = f"soak-{uuid.uuid4().hex[:10]}"
    submitters = submitters or (4 if connection.vendor == "postgresql" else 1)
    log_dir = Path(settings.VAR_DIR) / "soak"
    log_dir.mkdir(parents=True, exist_ok=True)

    taxpayer = platform.entity()
    # Four independent kinds. Aim 5 points above the asked rate so that the share observed over a few hundred
    # calls (the draws are random) is at least the asked rate; the figures report the observed share.
    target = min(0.95, rate + 0.05) if rate else 0.0
    per_kind = Decimal(math.ceil((1 - (1 - target) ** (1 / len(FAULT_KINDS))) * 1000)) / 1000
    platform.prepare_faults(per_kind, seed)
    ids = make_approved_applications(taxpayer, count)
    last_call_id = ChannelCall.objects.order_by("-id").values_list("id", flat=True).first() or 0
    env = worker_env(broker, database_url=database_url, queue=queue) | platform.worker_env()
    courier = CallbackCourier(platform.fake) if isinstance(platform, NuonuoPlatform) and platform.callbacks else None
    callbacks: dict[str, int] = {}
    poller = PollerThread(taxpayer.pk) if isinstance(platform, NuonuoPlatform) else None
    running = [Worker(f"soak{i}-{queue}", broker=broker, queue=queue, concurrency=concurrency, env=env,
                      log_dir=log_dir) for i in range(workers)]
    killed = replaced = False
    state: dict[str, Any] = {"killed_at": None, "session": False}
    poll_rounds = requeued = 0
    started = time.monotonic()

    def set_knobs(**values: Any) -> None:
        platform.switch(**values)

    errors_here = ErrorRecords()
    try:
        errors_here.__enter__()
        set_knobs(enabled=True)
        if courier is not None:
            courier.start()
        if poller is not None:
            poller.start()
        with sending_to(broker, queue):

            def tick() -> int:
                """Kill a worker once 30% are issued (while others are in flight), drop the session at 50%."""
                issued = InvoiceApplication.objects.filter(pk__in=ids, status=S.ISSUED).count()
                if kill_worker and state["killed_at"] is None and issued >= count * 0.3:
                    in_flight = InvoiceApplication.objects.filter(pk__in=ids, status=S.ISSUING).count()
                    running[0].kill()
                    state["killed_at"] = {"issued": issued, "in_flight": in_flight,
                                          "second": round(time.monotonic() - started, 1)}
                    running.append(Worker(f"soak-replacement-{queue}", broker=broker, queue=queue,
                                          concurrency=concurrency, env=env, log_dir=log_dir))
                if session_drop_seconds and not state["session"] and issued >= count * 0.5:
                    set_knobs(session_dropped=True)  # the bureau session drops…
                    state["session"] = time.monotonic()
                    state["session_window"] = {"opened_at_issued": issued}
                if state["session"] and state["session"] is not True:
                    drops = ChannelCall.objects.filter(taxpayer=taxpayer, id__gt=last_call_id,
                                                       error_code=platform.session_code).count()
                    open_for = time.monotonic() - state["session"]
                    if (open_for >= session_drop_seconds and drops >= 3) or open_for >= 10:
                        set_knobs(session_dropped=False)  # …and is restored
                        state["session"] = True
                        state["session_window"].update(seconds=round(open_for, 1), drops=drops)
                return issued

            in_batches: list[int] = []

            def submit_many(apps: list[InvoiceApplication], bulk: bool = False) -> None:
                try:
                    if bulk:  # as a finance user's bulk 发起开票: batch tasks on the workers
                        for k in range(0, len(apps), 25):
                            applications_submit_issue(applications=apps[k:k + 25], actor=None)
                            in_batches.extend(a.pk for a in apps[k:k + 25])
                        return
                    for app in apps:
                        if singly:  # as the auto-trigger and the API: the grouped path, drain tasks on the workers
                            application_request_issue(application=app, actor=None)
                        else:
                            application_submit_issue(application=app, actor=None)
                finally:
                    if submitters > 1:
                        connection.close()  # this thread's own connection

            apps = list(InvoiceApplication.objects.filter(pk__in=ids).order_by("id"))
            if submitters > 1:
                with ThreadPoolExecutor(submitters) as pool:
                    futures = [pool.submit(submit_many, apps[k::submitters],
                                           not (no_batches or singly) and k % 2 == 1) for k in range(submitters)]
                    while not all(f.done() for f in futures):
                        tick()
                        time.sleep(0.5)
                    for f in futures:
                        f.result()
            else:
                for k in range(0, len(apps), 20):
                    submit_many(apps[k:k + 20], not (no_batches or singly) and (k // 20) % 2 == 1)
                    tick()
            submitted_at = time.monotonic()
            last_poll = time.monotonic()
            while True:
                issued = tick()
                if issued >= count or time.monotonic() - started > timeout:
                    break
                if poller is None and time.monotonic() - last_poll > 3:
                    # What the periodic poller does, more often; a small batch keeps the ticks going.
                    report = issue_poll_pending(older_than_seconds=15, taxpayer_id=taxpayer.pk, limit=40)
                    poll_rounds += 1
                    requeued += report.requeued
                    last_poll = time.monotonic()
                time.sleep(0.25)
            wall = time.monotonic() - started
            drain = time.monotonic() - submitted_at
            killed, replaced = state["killed_at"] is not None, state["killed_at"] is not None
            set_knobs(enabled=False)
            if poller is not None:
                poller.finish()
                poll_rounds, requeued = poller.rounds, poller.requeued
            if courier is not None:  # what Nuonuo still had to post, with the faults off
                callbacks = courier.finish()
            # A follow-up poll for anything left (needs_attention included): issued ones get recorded.
            final_poll = issue_poll_pending(older_than_seconds=0, taxpayer_id=taxpayer.pk).as_dict()
    finally:
        if courier is not None and courier.is_alive():
            courier.finish(timeout=10)
        if poller is not None and poller.is_alive():
            poller.finish()
        errors_here.__exit__()
        for w in running:
            if w.proc.poll() is None:
                w.stop()
        with contextlib.suppress(Exception):
            set_knobs(enabled=False, session_dropped=False)
        with contextlib.suppress(Exception):
            redis_cleanup(broker, queue)

    drawn = platform.draws()
    calls = ChannelCall.objects.filter(taxpayer=taxpayer, id__gt=last_call_id)
    outcomes = Counter(calls.values_list("outcome", flat=True))
    session_drops = calls.filter(error_code=platform.session_code).count()
    figures = verify(taxpayer, ids, remote_set=platform.remote_set)
    problems = errors_here.found + worker_log_problems([w.log_path for w in running])
    attempts = InvoiceApplication.objects.filter(pk__in=ids).values_list("issue_attempts", flat=True)
    figures.update({
        "provider": platform.name,
        "count": count,
        "fault_rate_asked": rate,
        "faults_drawn": {k: drawn.get(k, 0) for k in FAULT_KINDS},
        "calls_drawn": drawn.get("calls", 0),
        "faulted_calls": drawn.get("faulted_calls", 0),
        "fault_share": round(drawn.get("faulted_calls", 0) / max(1, drawn.get("calls", 0)), 3),
        "session_drops": session_drops,
        "channel_outcomes": dict(outcomes),
        "retries": sum(max(0, a - 1) for a in attempts),
        "worker_killed": killed,
        "worker_replaced": replaced,
        "killed_at": state["killed_at"],
        "submit_seconds": round(submitted_at - started, 2),
        "submitters": submitters,
        "submitted_in_batches": len(in_batches),
        "submitted_singly_grouped": count if singly else 0,
        "session_window": state.get("session_window"),
        "poll_rounds": poll_rounds,
        "requeued_by_poller": requeued,
        "final_poll": final_poll,
        "wall_seconds": round(wall, 2),
        "issue_seconds": round(drain, 2),
        "invoices_per_second": round(figures["invoices"] / wall, 1) if wall else 0.0,
        "broker": broker.rsplit("@", 1)[-1],
        "database": connection.vendor,
        "logs": str(log_dir),
        "log_problems": problems[:20],
        "log_problem_count": len(problems),
        "callbacks": callbacks,
        "callbacks_recorded": calls.filter(operation="callback", outcome="ok").count(),
    })
    figures["ok"] = figures["ok"] and not problems and not callbacks.get("refused") and not callbacks.get("given_up")
    return figures


def figures_text(figures: dict[str, Any]) -> str:
    """The figures of a run, in a few lines."""
    problems = figures["log_problems"]
    return (
        f"soak ({figures['provider']}): {figures['count']} applications, "
        f"fault rate {figures['fault_rate_asked']:.0%} asked, "
        f"{figures['fault_share']:.1%} of {figures['calls_drawn']} calls faulted {figures['faults_drawn']}, "
        f"session drops {figures['session_drops']}, worker killed: {figures['killed_at']}\n"
        f"  {figures['invoices']} invoices in {figures['wall_seconds']} s "
        f"({figures['invoices_per_second']} invoices/s), retries {figures['retries']}, "
        f"poller re-queued {figures['requeued_by_poller']}, channel outcomes {figures['channel_outcomes']}\n"
        f"  statuses {figures['statuses']}, one invoice each: {figures['apps_with_one_invoice']}, "
        f"several: {figures['apps_with_several']}, numbers unique: {figures['numbers_unique']}, "
        f"local == ledger: {figures['local_equals_ledger']}\n"
        + (f"  callbacks {figures['callbacks']}, recorded through the endpoint {figures['callbacks_recorded']}\n"
           if figures["callbacks"] else "")
        + f"  errors in the logs: {figures['log_problem_count']}" + "".join(f"\n    {p}" for p in problems)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/soak.py",
                                     description="Soak test of exactly-once issuing with real Celery workers and "
                                                 "sandbox faults.")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of channel calls that get a fault")
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL one worker mid-run, start another")
    parser.add_argument("--broker", default="", help="default: CELERY_BROKER_URL_TEST_REDIS, else redis db 3")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=240, help="seconds to wait for everything to be issued")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--session-drop-seconds", type=float, default=1.5)
    parser.add_argument("--database-url", default="", help="for the workers (default: this connection)")
    parser.add_argument("--no-batches", action="store_true",
                        help="submit every application one by one (default: every other submitter in bulk)")
    parser.add_argument("--singly", action="store_true",
                        help="submit every application singly on the grouped path (application_request_issue, drain "
                             "tasks), as the auto-trigger and the API do")
    parser.add_argument("--submitters", type=int, default=0,
                        help="threads submitting applications (default 4 on PostgreSQL, 1 on SQLite)")
    parser.add_argument("--provider", choices=PROVIDERS, default="sandbox",
                        help="the platform: the sandbox, or the fake Nuonuo open platform served by this process")
    parser.add_argument("--no-callbacks", action="store_true",
                        help="Nuonuo only: no callbacks, the poller records everything")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    options = vars(parser.parse_args(argv))
    as_json = options.pop("json")
    try:
        figures = run_soak(**options)
    except SoakError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(figures, ensure_ascii=False, default=str) if as_json else figures_text(figures))
    if not figures["ok"]:
        print(f"soak failed: {json.dumps(figures, ensure_ascii=False, default=str)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
