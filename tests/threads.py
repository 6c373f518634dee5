"""Running a piece of work in several threads at the same moment (PostgreSQL concurrency tests)."""

from __future__ import annotations

import threading

from django.db import connection


def run_together(n, target):
    """Start ``target`` in ``n`` threads released together by a barrier; return (results, errors). Each thread
    closes its own database connection."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def body():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors
