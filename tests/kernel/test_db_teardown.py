"""The run fails, naming the holder, when something still holds the test database at teardown; the database is
dropped all the same (tests/db_teardown.py)."""

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.parametrize(("workers", "suffix"), [("0", ""), ("1", "_gw0")], ids=["one-process", "xdist-worker"])
def test_a_connection_left_open_fails_the_run_and_the_test_database_is_still_dropped(workers, suffix):
    """In one process, and in a pytest-xdist worker (its own database, reported by the controlling process)."""
    db = settings.DATABASES["default"]
    base = db["NAME"].removeprefix("test_") + "_teardown_probe"
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    url = f"postgres://{auth}{'@' if auth else ''}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{base}"
    env = dict(os.environ, DATABASE_URL=url)
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/kernel/teardown_probe.py", "-q", "-p", "no:cacheprovider",
         "-n", workers],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=600,
    )
    out = run.stdout + run.stderr
    assert "1 passed" in out, out[-3000:]
    assert run.returncode != 0, out[-3000:]
    assert "connections still open on the test database at teardown: 1" in out, out[-3000:]
    assert "held by this test process" in out, out[-3000:]
    assert "being accessed by other users" not in out, out[-3000:]
    with psycopg.connect(host=db.get("HOST") or None, port=db.get("PORT") or None, user=db.get("USER") or None,
                         password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True) as c:
        assert c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"test_{base}{suffix}"]).fetchone() is None
