"""The test database is dropped at the end of the run: nothing may still be connected to it.

A connection left open (a thread that never closed its own, a worker process still running, a pooled connection)
makes ``DROP DATABASE`` fail with "being accessed by other users" and leaves ``test_…`` behind on the server. Just
before pytest-django drops the database, this lists every other session on it (after a few seconds' grace for the
backends of killed processes to go), with the process that holds it when it is on this machine, ends them so that
the drop goes through, and fails the run. After the run it checks that the database is gone.

Under pytest-xdist each worker has a database of its own (``test_…_gw0``, ``test_…_gw1``) and checks it the same
way; what it finds goes back to the controlling process, which reports it and fails the run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

GRACE_SECONDS = 10
left_behind: list[str] = []
threads_seen: list[str] = []
not_dropped: list[str] = []
_checked: dict[str, bool] = {}


def _socket_owner(client_port: int | None) -> str:
    """Which local process holds the TCP connection from ``client_port`` (by its socket inode), if any."""
    if not client_port:
        return "unknown process"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == client_port:
                inodes.add(f"socket:[{fields[9]}]")
    procs = [Path("/proc") / str(os.getpid())] + [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    for proc in procs:
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile (the listing's own descriptor, say)
                continue
            if target in inodes:
                if int(proc.name) == os.getpid():
                    return "this test process (a thread that did not close its connection?)"
                try:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                except OSError:
                    cmd = "?"
                return f"process {proc.name}: {cmd[:200]}"
    return "a process not on this machine or already gone"


def _other_sessions(name: str) -> list[tuple]:
    with connection._nodb_cursor() as c:
        c.execute(
            "SELECT pid, application_name, client_port, state, backend_start, left(query, 200) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        return c.fetchall()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, request):
    """pytest-django's, with the check above in its teardown (which runs before pytest-django's drop)."""
    yield
    if connection.vendor != "postgresql":
        return
    name = connection.settings_dict["NAME"]
    keep = bool(request.config.getoption("reuse_db", False))
    with django_db_blocker.unblock():
        connections.close_all()
        deadline = time.monotonic() + GRACE_SECONDS
        sessions = _other_sessions(name)
        while sessions and time.monotonic() < deadline:
            time.sleep(0.2)
            sessions = _other_sessions(name)
        for pid, app, port, state, started, query in sessions:
            left_behind.append(f"backend {pid} ({app or 'no application_name'}, {state}, since {started:%H:%M:%S}) "
                               f"held by {_socket_owner(port)}; last query: {query!r}")
        if sessions:
            others = [t for t in threading.enumerate() if t is not threading.current_thread()]
            threads_seen.append(f"threads still running in this process: {[t.name for t in others] or 'none'}")
            with connection._nodb_cursor() as c:
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        connections.close_all()
    if not keep:
        _checked[name] = True


def _still_there(name: str) -> bool:
    """Asked over a connection of its own: pytest-django blocks Django's connections outside the tests."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db.get("HOST") or None, port=db.get("PORT") or None, user=db.get("USER") or None,
                         password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True) as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


WORKER_KEY = "db_teardown"
from_workers: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist, in the controlling process: what a worker found at its own database's teardown."""
    worker = getattr(getattr(node, "gateway", None), "id", "a worker")
    from_workers.extend(f"[{worker}] {line}" for line in getattr(node, "workeroutput", {}).get(WORKER_KEY, []))


def pytest_sessionfinish(session, exitstatus):
    for name in _checked:
        try:
            if _still_there(name):
                not_dropped.append(name)
        except Exception as exc:  # noqa: BLE001 - reported, not raised: the run's own result comes first
            not_dropped.append(f"{name} (could not check: {exc})")
    lines = list(from_workers)
    if left_behind or not_dropped:
        lines += [f"connections still open on the test database at teardown: {len(left_behind)}", *left_behind,
                  *threads_seen]
        lines += [f"test database not dropped: {name}" for name in not_dropped]
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker (its own test_…_gwN): the controller reports and fails
        workeroutput[WORKER_KEY] = lines
        return
    if lines:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "test database teardown", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
