"""Run only by tests/kernel/test_db_teardown.py (its name keeps pytest from collecting it on its own): a test that
leaves a thread holding its own database connection, as a careless concurrency test would."""

import threading

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

_stop = threading.Event()


def test_a_thread_keeps_its_connection():
    opened = threading.Event()

    def hold():
        with connection.cursor() as c:
            c.execute("SELECT 1")
        opened.set()
        _stop.wait()  # never closes its connection

    threading.Thread(target=hold, daemon=True).start()
    assert opened.wait(30)
