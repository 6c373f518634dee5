"""Two workers submitting the same serial at once still make one invoice (PostgreSQL: real row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelDuplicate
from sandbox.models import LedgerInvoice, LedgerQuota
from tests.channels.conftest import connect, issue_request


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_of_one_serial_issue_exactly_one_invoice(yuntu):
    seller = connect(yuntu)
    request = issue_request(seller)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def submit():
        try:
            barrier.wait()
            get_channel(seller, transport="inprocess").issue_invoice(request)
            outcomes.append("issued")
        except ChannelDuplicate:
            outcomes.append("duplicate")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "issued"]
    assert LedgerInvoice.objects.filter(serial=request.serial).count() == 1
    assert LedgerQuota.objects.get().used == request.total_amount  # consumed once
