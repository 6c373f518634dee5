"""The soak: 500 applications, ≥20% injected faults, real Celery workers on Redis, one worker SIGKILLed mid-run; and
the same on the Nuonuo channel against the fake Nuonuo platform, with its callbacks (200 applications: its time-outs
are real ones).

PostgreSQL only (the workers are other processes and share the test database); the broker is
``CELERY_BROKER_URL_TEST_REDIS`` (CI) or Redis db 3 on this machine.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from bench.soak import run_soak

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BROKER = os.environ.get("CELERY_BROKER_URL_TEST_REDIS", "redis://127.0.0.1:6379/3")


def _redis_answers() -> bool:
    from urllib.parse import urlparse

    url = urlparse(BROKER)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=2).close()
    except OSError:
        return False
    return True


def test_500_applications_with_faults_and_a_killed_worker_give_exactly_one_invoice_each(capsys):
    if not _redis_answers():
        pytest.fail(f"the soak needs a Redis broker at {BROKER}")
    # As printed by ``python bench/soak.py --json``: the figures as JSON values.
    figures = json.loads(json.dumps(
        run_soak(count=500, fault_rate=0.2, kill_worker=True, broker=BROKER, timeout=240),
        ensure_ascii=False, default=str,
    ))
    with capsys.disabled():  # the figures belong in the CI log, pass or fail
        print("\nsoak figures:", json.dumps(figures, ensure_ascii=False))

    # Nothing went wrong on the way, not even what a retry or the poller then recovered from (a deadlock).
    assert figures["log_problems"] == [] and figures["log_problem_count"] == 0, figures["log_problems"]
    assert figures["ok"], figures
    assert figures["statuses"] == {"issued": 500}
    assert figures["apps_with_one_invoice"] == 500 and figures["apps_with_several"] == 0
    assert figures["numbers_unique"] and figures["numbers_20_digits"]
    assert figures["local_equals_ledger"]
    assert figures["fault_share"] >= 0.2
    assert all(figures["faults_drawn"][kind] > 0 for kind in ("error", "timeout_before", "timeout_after", "duplicate"))
    assert figures["session_drops"] > 0
    assert figures["worker_killed"] and figures["worker_replaced"]
    assert figures["killed_at"]["issued"] < 500  # mid-run, not after the end
    assert 0 < figures["submitted_in_batches"] < 500  # both paths: bulk batch tasks and one-by-one tasks


def test_the_soak_on_nuonuo_with_callbacks_gives_exactly_one_invoice_each(capsys):
    """The same soak with the entity on the Nuonuo channel (the fake Nuonuo platform over HTTP, the same faults, a
    session window, a killed worker), the invoices recorded by Nuonuo's callbacks (repeated ones included) and the
    poller side by side."""
    if not _redis_answers():
        pytest.fail(f"the soak needs a Redis broker at {BROKER}")
    figures = json.loads(json.dumps(
        run_soak(provider="nuonuo", count=200, fault_rate=0.2, kill_worker=True, broker=BROKER, timeout=420),
        ensure_ascii=False, default=str,
    ))
    with capsys.disabled():
        print("\nsoak figures (nuonuo):", json.dumps(figures, ensure_ascii=False))

    assert figures["log_problems"] == [] and figures["log_problem_count"] == 0, figures["log_problems"]
    assert figures["ok"], figures
    assert figures["statuses"] == {"issued": 200}
    assert figures["apps_with_one_invoice"] == 200 and figures["apps_with_several"] == 0
    assert figures["numbers_unique"] and figures["numbers_20_digits"]
    assert figures["local_equals_ledger"]  # the fake platform's orders
    assert figures["fault_share"] >= 0.2
    assert all(figures["faults_drawn"][kind] > 0 for kind in ("error", "timeout_before", "timeout_after", "duplicate"))
    assert figures["session_drops"] > 0
    assert figures["worker_killed"] and figures["killed_at"]["issued"] < 200
    callbacks = figures["callbacks"]
    assert callbacks["sent_by_platform"] == 200 and callbacks["repeated"] > 0
    assert callbacks.get("refused", 0) == 0 and callbacks.get("given_up", 0) == 0
    assert callbacks["answered_0000"] == callbacks["sent_by_platform"] + callbacks["repeated"]
def test_500_single_submissions_on_the_grouped_path_with_faults_and_a_killed_worker_give_one_invoice_each(capsys):
    """The same soak with every application submitted singly (``--singly``: ``application_request_issue``, drain
    tasks on the workers), as the auto-trigger and the API submit them."""
    if not _redis_answers():
        pytest.fail(f"the soak needs a Redis broker at {BROKER}")
    figures = json.loads(json.dumps(
        run_soak(count=500, fault_rate=0.2, kill_worker=True, broker=BROKER, timeout=240, singly=True),
        ensure_ascii=False, default=str,
    ))
    with capsys.disabled():
        print("\nsoak figures (singly, grouped):", json.dumps(figures, ensure_ascii=False))

    assert figures["log_problems"] == [] and figures["log_problem_count"] == 0, figures["log_problems"]
    assert figures["ok"], figures
    assert figures["submitted_singly_grouped"] == 500 and figures["submitted_in_batches"] == 0
    assert figures["statuses"] == {"issued": 500}
    assert figures["apps_with_one_invoice"] == 500 and figures["apps_with_several"] == 0
    assert figures["numbers_unique"] and figures["numbers_20_digits"]
    assert figures["local_equals_ledger"]
    assert figures["fault_share"] >= 0.2
    assert all(figures["faults_drawn"][kind] > 0 for kind in ("error", "timeout_before", "timeout_after", "duplicate"))
    assert figures["worker_killed"] and figures["worker_replaced"]
    assert figures["killed_at"]["issued"] < 500
