"""The soak's own checks: an error in a worker's log fails it, even when a retry made up for it."""

from __future__ import annotations

import logging

from bench.soak import ErrorRecords, log_problems, worker_log_problems

# From a soak's worker log (the deadlock of the one-by-one recording against a batch), shortened.
WORKER_LOG = """\
/venv/lib/python3.11/site-packages/celery/platforms.py:893: SecurityWarning: You're running the worker with superuser privileges: this is
absolutely not recommended!
 -------------- soak1-soak-83aaa8c616@vm v5.7.0 (collider)
[2026-12-06 14:26:23,487: ERROR/ForkPoolWorker-1] Task issuing.issue_application[9d0a83b2] raised unexpected: OperationalError('deadlock detected')
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/django/db/backends/utils.py", line 105, in _execute
psycopg.errors.DeadlockDetected: deadlock detected
CONTEXT:  while inserting index tuple (0,13) in relation "issuing_invoicedailyrate"
[2026-12-06 14:26:24,001: WARNING/MainProcess] Restoring 2 unacknowledged message(s)
worker: Warm shutdown (MainProcess)
"""


def test_a_deadlock_or_an_error_in_a_worker_log_is_a_problem(tmp_path):
    log = tmp_path / "soak1.log"
    log.write_text(WORKER_LOG, encoding="utf-8")
    found = worker_log_problems([log, tmp_path / "never-started.log"])
    assert len(found) == 3
    assert found[0].startswith("soak1.log: [2026-12-06 14:26:23,487: ERROR/ForkPoolWorker-1] Task issuing")
    assert any("DeadlockDetected: deadlock detected" in line for line in found)
    assert any(line.endswith("Traceback (most recent call last):") for line in found)


def test_a_clean_worker_log_has_no_problem():
    clean = [ln for ln in WORKER_LOG.splitlines() if "14:26:23" not in ln and "Traceback" not in ln
             and "deadlock" not in ln and "File " not in ln]
    assert log_problems(clean) == []
    assert log_problems(["2026-12-06 14:26:23,487 ERROR issuing.platform.services batch record failed"]) != []
    assert log_problems(["2026-12-06 14:26:23,487 INFO issuing.issuing an ERROR code 1005 was retried"]) == []


def test_error_records_of_the_soak_process_are_collected():
    with ErrorRecords() as errors:
        logging.getLogger("issuing.platform.services").warning("a warning is no problem")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("issuing.platform.services").exception("batch record failed; recording one by one")
    logging.getLogger("issuing.platform.services").error("after the run: not collected")
    assert errors.found == ["this process: ERROR issuing.platform.services batch record failed; recording one by one: "
                            "RuntimeError('boom')"]
