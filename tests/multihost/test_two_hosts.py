"""Two web processes, two workers and a beat, each with a var/ folder of its own and no shared file system, sharing
only PostgreSQL, Redis and an S3 server (moto's, over HTTP). Through the web processes alternately: an Excel import
with its progress and error workbook, good imports, a bulk approval (finance approves and issues at once) whose
invoices the workers issue through the sandbox channel and render (PDF, OFD, XML) into the bucket; then one worker and
one web process are killed mid-run and every job still finishes, nothing lost, one invoice per application (a render
message the killed worker never sent is sent again by beat's sweep, as in production); each invoice's files are
downloaded through the web process that did not approve it, and the export covers the imports.

Needs PostgreSQL and CELERY_BROKER_URL_TEST_REDIS (CI has both); a queue of its own keeps other tests' workers out.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.importing.conftest import master, row, write_xlsx  # noqa: F401
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3, s3_client  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
APPLICATIONS, APPROVAL_BATCH = 24, 6
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Stack:
    def __init__(self, tmp: Path, endpoint: str, bucket: str, broker: str):
        self.tmp = tmp
        self.queue = f"multihost-{uuid.uuid4().hex[:8]}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "invoicing.settings",
            "DEBUG": "0", "SECRET_KEY": "multihost-test-only", "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The keys of the test process, which writes the entity's channel secret: every host shares them.
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": "django-db",
            "CELERY_TASK_DEFAULT_QUEUE": self.queue, "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "5",
            "FAPIAO_S3_BUCKET": bucket, "FAPIAO_S3_ENDPOINT_URL": endpoint, "FAPIAO_S3_ADDRESSING_STYLE": "path",
            "FAPIAO_S3_REGION": REGION, "FAPIAO_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "FAPIAO_S3_SECRET_ACCESS_KEY": SECRET_KEY, "ISSUING_QUEUE_FILES": "1", "LOG_LEVEL": "WARNING",
            "TAX_CHANNEL_TRANSPORT": "inprocess",
            # Beat's sweep of invoice files whose render message was never sent (the worker that committed them was
            # killed before its on-commit sends): often and soon here, every 5 minutes in production.
            "DELIVERY_RENDER_SWEEP_SECONDS": "5", "DELIVERY_RENDER_PENDING_AFTER_SECONDS": "20",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.webs: dict[str, str] = {}

    def _start(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        var = self.tmp / name  # each "host" its own var/ and media folder: nothing shared on disk
        var.mkdir()
        env = {**self.env, "FAPIAO_VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media"), **(extra or {})}
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def web(self, name: str) -> None:
        port = _free_port()
        self._start(name, [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "invoicing.wsgi"],
                    {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "2",
                     "GUNICORN_WORKER_TMP_DIR": str(self.tmp)})
        self.webs[name] = f"http://127.0.0.1:{port}"

    def worker(self, name: str) -> None:
        self._start(name, [str(BIN / "celery"), "-A", "invoicing", "worker", "-Q", self.queue, "--concurrency=1",
                           "--without-mingle", "--without-gossip", "-n", f"{name}@%h", "--loglevel=WARNING"])

    def beat(self, name: str) -> None:
        """Beat as production runs it (deploy/compose.yaml): the scheduler from settings, one sender by an advisory
        lock, its local schedule file in the host's own var/. What it sends goes to the stack's queue (the default)."""
        self._start(name, [str(BIN / "celery"), "-A", "invoicing", "beat", "--loglevel=INFO",
                           f"--schedule={self.tmp / name / 'celerybeat-schedule'}"])

    def wait_ready(self, names: list[str] | None = None, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for name, url in self.webs.items():
            if names is not None and name not in names:
                continue
            while True:
                try:
                    if requests.get(f"{url}/health/ready", timeout=20).status_code == 200:
                        break
                except (requests.ConnectionError, requests.Timeout):
                    pass
                if time.monotonic() > deadline or self.procs[name].poll() is not None:
                    raise AssertionError(f"{name} not ready:\n{self.log(name)}")
                time.sleep(0.3)

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(10)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]

    def count(self, name: str, text: str) -> int:
        """Lines of ``name``'s whole log that contain ``text``."""
        return sum(text in line for line in (self.tmp / f"{name}.log").read_text(errors="replace").splitlines())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/admin/login/", timeout=10)
    answer = session.post(f"{base}/admin/login/", timeout=10, allow_redirects=False, data={
        "username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"],
        "next": "/admin/"})
    assert answer.status_code == 302, answer.text[:500]
    return session


def _upload(session: requests.Session, base: str, path: Path) -> str:
    page = session.get(f"{base}/issuing/import/", timeout=10)
    assert page.status_code == 200, page.text[:2000]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    with path.open("rb") as fh:
        answer = session.post(f"{base}/issuing/import/", data={"csrfmiddlewaretoken": token}, files={"file": fh},
                              headers={"Referer": f"{base}/issuing/import/"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text[:500]
    return answer.headers["Location"].rstrip("/").split("/")[-1]


def _approve(session: requests.Session, base: str, ids: list[int]) -> None:
    """The changelist action 批准（检查额度）: finance approves and, holding the issue permission, issues at once."""
    changelist = f"{base}/admin/issuing/invoiceapplication/"
    page = session.get(changelist, timeout=30)
    assert page.status_code == 200, page.text[:2000]
    answer = session.post(changelist, timeout=60, allow_redirects=False, headers={"Referer": changelist}, data={
        "csrfmiddlewaretoken": session.cookies["csrftoken"], "action": "approve_selected", "index": "0",
        "select_across": "0", "_selected_action": [str(pk) for pk in ids]})
    assert answer.status_code == 302 and "id__in=" in answer.headers["Location"], (answer.status_code, answer.text[:2000])


def _wait_issued(ids: list[int], timeout: float = 240) -> None:
    """Every application issued, with one invoice, whose PDF, OFD and XML the workers rendered."""
    from delivery.models import InvoiceFile, RenderStatus
    from issuing.applications.models import ApplicationStatus, InvoiceApplication

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        issued = InvoiceApplication.objects.filter(pk__in=ids, status=ApplicationStatus.ISSUED).count()
        rendered = InvoiceFile.objects.filter(invoice__application_id__in=ids, format__in=("pdf", "ofd", "xml"),
                                              status=RenderStatus.DONE).count()
        if issued == len(ids) and rendered == 3 * len(ids):
            return
        time.sleep(1)
    states = list(InvoiceApplication.objects.filter(pk__in=ids).values_list("number", "status", "last_error"))
    files = list(InvoiceFile.objects.filter(invoice__application_id__in=ids).exclude(status=RenderStatus.DONE)
                 .values_list("invoice__number", "format", "status", "message"))
    raise AssertionError(f"not issued and rendered in time: {states} {files}")


def _wait_done(sessions: list[tuple[requests.Session, str]], job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    turn = 0
    while time.monotonic() < deadline:
        session, base = sessions[turn % len(sessions)]  # the web processes alternately
        turn += 1
        try:
            status = session.get(f"{base}/issuing/jobs/{job_id}/status.json", timeout=10).json()
        except (requests.ConnectionError, requests.Timeout):
            continue
        if status["done"]:
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def stack(tmp_path, moto_s3):  # noqa: F811
    broker = os.environ.get("CELERY_BROKER_URL_TEST_REDIS")
    if not broker:
        pytest.skip("needs Redis: set CELERY_BROKER_URL_TEST_REDIS")
    bucket = f"fapiao-{uuid.uuid4().hex[:12]}"
    s3_client(moto_s3).create_bucket(Bucket=bucket)
    stack = Stack(tmp_path, moto_s3, bucket, broker)
    stack.bucket = bucket
    try:
        for name in ("web1", "web2"):
            stack.web(name)
        for name in ("worker1", "worker2"):
            stack.worker(name)
        stack.beat("beat")
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


def test_two_webs_and_two_workers_share_only_the_database_the_broker_and_the_bucket(  # noqa: F811
        stack, master, fiona, yuntu, tmp_path, moto_s3):  # noqa: F811
    from bench.soak import make_approved_applications
    from delivery.models import InvoiceFile, RenderStatus
    from invoicing.models import Job
    from issuing.applications.models import ApplicationStatus, InvoiceApplication
    from issuing.billing.models import BillingDocument
    from issuing.platform.models import Invoice
    from sandbox.models import LedgerInvoice
    from tests.delivery.factories import make_invoice
    from tests.issuing_flow.conftest import connect

    started = time.monotonic()

    # The processes hash as production does (the tests' settings use MD5 for speed).
    fiona.password = PBKDF2PasswordHasher().encode("multihost-pass", "multihostsalt", iterations=1000)
    fiona.save()
    web1, web2 = stack.webs["web1"], stack.webs["web2"]
    one, two = _login(web1, "fiona", "multihost-pass"), _login(web2, "fiona", "multihost-pass")
    both = [(one, web1), (two, web2)]

    # An import with an error: uploaded through web1, its progress read through both, its workbook through web2.
    bad = write_xlsx(tmp_path / "bad.xlsx", [row(), row(external_no="SO-2", amount="abc")])
    job = _upload(one, web1, bad)
    status = _wait_done(both, job)
    assert status["status"] == "failed" and status["issues"][0]["code"] == "cell.not_number"
    link = two.get(f"{web2}{status['errors_url']}", allow_redirects=False, timeout=10)
    assert link.status_code == 302 and link.headers["Location"].startswith(moto_s3)
    workbook = requests.get(link.headers["Location"], timeout=10)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"

    # Applications waiting for review, for 云途 connected to its sandbox account.
    connect(yuntu)
    applications = make_approved_applications(yuntu, APPLICATIONS, prefix="MHAPP")
    InvoiceApplication.objects.filter(pk__in=applications).update(status=ApplicationStatus.PENDING_REVIEW)

    # Good imports and the bulk approvals, through web2 and web1 alternately; then one worker and one web process
    # die while the workers import, issue and render.
    jobs = []
    for i in range(4):
        session, base = both[i % 2]
        rows = [row(external_no=f"MH-{i}-{n}") for n in range(300)]
        jobs.append(_upload(session, base, write_xlsx(tmp_path / f"good-{i}.xlsx", rows)))
    approved_by: dict[int, int] = {}  # application id → the web process (0: web1, 1: web2) that approved it
    for n, start in enumerate(range(0, APPLICATIONS, APPROVAL_BATCH)):
        batch = applications[start:start + APPROVAL_BATCH]
        _approve(*both[n % 2], batch)
        approved_by.update(dict.fromkeys(batch, n % 2))
    stack.kill("worker1")
    stack.kill("web1")
    killed_at = {
        "issued": InvoiceApplication.objects.filter(pk__in=applications, status=ApplicationStatus.ISSUED).count(),
        "imports done": Job.objects.filter(pk__in=jobs, status__in=("succeeded", "failed")).count()}
    # What the kill may leave whether or not it happened this time: an invoice committed with its files pending and
    # their render messages never sent (the worker died before its on-commit sends). Only beat's sweep sends them.
    lost = make_invoice(yuntu, number="26449000000000000001")
    for fmt in ("pdf", "ofd", "xml"):
        InvoiceFile.objects.create(invoice=lost, format=fmt)
    for job_id in jobs:
        status = _wait_done([(two, web2)], job_id, timeout=180)
        assert status["status"] == "succeeded", status
    assert BillingDocument.objects.filter(external_no__startswith="MH-").count() == 4 * 300  # nothing lost, once

    # Every application issued once: one invoice each, one invoice on the platform's ledger per application.
    _wait_issued(applications)
    # The files whose messages were lost are rendered all the same: beat sends the sweep to the stack's queue and a
    # worker of the stack runs it.
    deadline = time.monotonic() + 120
    while InvoiceFile.objects.filter(invoice=lost, status=RenderStatus.DONE).count() < 3:
        assert time.monotonic() < deadline, (list(InvoiceFile.objects.filter(invoice=lost).values_list(
            "format", "status", "message")), stack.log("beat"), stack.log("worker2"))
        time.sleep(1)
    invoices = dict(Invoice.objects.filter(application_id__in=applications, is_red=False)
                    .values_list("application_id", "pk"))
    assert len(invoices) == APPLICATIONS
    assert Invoice.objects.filter(application_id__in=applications).count() == APPLICATIONS
    serials = list(InvoiceApplication.objects.filter(pk__in=applications).values_list("issue_serial", flat=True))
    assert LedgerInvoice.objects.filter(serial__in=serials).count() == APPLICATIONS

    # web1's host comes back (a new process); each invoice's files are fetched through the web process that did not
    # approve it. They were rendered by the workers into the bucket, not on demand by the download.
    stack.web("web1-again")
    stack.wait_ready(["web1-again"])
    again = _login(stack.webs["web1-again"], "fiona", "multihost-pass")
    webs = [(again, stack.webs["web1-again"]), (two, web2)]
    keys = {o["Key"] for o in _bucket_objects(moto_s3, stack.bucket)}
    files = InvoiceFile.objects.filter(invoice_id__in=invoices.values(), format__in=("pdf", "ofd", "xml"))
    assert files.count() == 3 * APPLICATIONS and all(f.file.name in keys for f in files)
    magic = {"pdf": b"%PDF", "ofd": b"PK", "xml": b"<"}
    for application_id, invoice_id in invoices.items():
        session, base = webs[1 - approved_by[application_id]]
        for fmt, start in magic.items():
            answer = session.get(f"{base}/invoices/{invoice_id}/files/{fmt}/", timeout=30)
            assert answer.status_code == 200, (application_id, fmt, answer.text[:300])
            assert answer.content.lstrip().startswith(start), (application_id, fmt, answer.content[:40])

    # An export through the web process left standing: every document imported on either side, once.
    export = two.get(f"{web2}/admin/issuing/billingdocument/export/csv/", timeout=60)
    assert export.status_code == 200
    lines = export.content.decode("utf-8-sig").splitlines()
    assert sum(1 for line in lines if ",MH-" in line or line.startswith("MH-")) == 4 * 300, lines[:3]

    # Nothing was written to any host's local media folder: every file went to the bucket.
    for name in ("web1", "web2", "worker1", "worker2", "web1-again"):
        media = tmp_path / name / "media"
        assert not media.exists() or not any(p.is_file() for p in media.rglob("*")), name
    keys = {o["Key"] for o in _bucket_objects(moto_s3, stack.bucket)}
    assert f"jobs/{job}-errors.xlsx" in keys and not any(key.endswith(".json") for key in keys)
    # The job records are rows, written by the workers and read by the web processes.
    assert Job.objects.filter(pk__in=jobs, status=Job.Status.SUCCEEDED, processed=300).count() == 4
    assert Job.objects.get(pk=job).rows_in_error == 1
    # Beat ran throughout. How many files its sweep queued again besides the 3 lost on purpose (lost by the kill, or
    # waiting in the queue longer than the sweep's age) depends on the run: reported, not asserted.
    assert stack.procs["beat"].poll() is None, stack.log("beat")
    sweeps = stack.count("beat", "Sending due task delivery-requeue-stale-files")
    logs = "".join((stack.tmp / f"{name}.log").read_text(errors="replace") for name in ("worker1", "worker2"))
    requeued = [int(n) for n in re.findall(r"invoice files queued again \(left pending or rendering\): (\d+)", logs)]
    assert sweeps > 0 and requeued, (stack.log("beat"), stack.log("worker2"))
    print(f"\nmultihost: {time.monotonic() - started:.0f} s; killed worker1 and web1 with {killed_at}; beat sent "
          f"{sweeps} sweeps, {len(requeued)} of them queued {sum(requeued)} files again (3 lost on purpose)")


def _bucket_objects(endpoint: str, bucket: str) -> list[dict]:
    objects: list[dict] = []
    for page in s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects.extend(page.get("Contents", []))
    return objects
