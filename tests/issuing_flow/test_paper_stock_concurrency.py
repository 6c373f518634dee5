"""Several workers recording 数电纸票 of one entity at the same moment: each takes its own sheet, none twice."""

from __future__ import annotations

import threading

import pytest

from issuing.applications.models import ApplicationStatus
from issuing.base import InvoiceKind
from issuing.paperstock import selectors as paper_selectors
from issuing.paperstock import services as paper_services
from issuing.platform.models import Invoice
from tests.issuing.factories import InvoiceApplicationFactory, issued
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_issuing_never_takes_a_paper_number_twice(seller):
    paper_services.paper_batch_receive(taxpayer=seller, kind=InvoiceKind.PAPER_NORMAL, code="144032400110",
                                       start_number=1, end_number=3, actor=None)
    paper_services.paper_batch_receive(taxpayer=seller, kind=InvoiceKind.PAPER_NORMAL, code="144032400111",
                                       start_number=1, end_number=10, actor=None)
    apps = [InvoiceApplicationFactory(taxpayer=seller, kind=InvoiceKind.PAPER_NORMAL,
                                      status=ApplicationStatus.ISSUING) for _ in range(6)]
    todo = iter(apps)
    lock = threading.Lock()

    def record():
        with lock:
            app = next(todo)
        return issued(app, f"{app.pk:020d}").paper_number

    results, errors = run_together(6, record)

    assert errors == []
    sheets = list(Invoice.objects.filter(application__in=apps).values_list("paper_code", "paper_number"))
    assert len(sheets) == 6 and len(set(sheets)) == 6
    assert sorted(sheets) == [("144032400110", f"{n:08d}") for n in (1, 2, 3)] + [
        ("144032400111", f"{n:08d}") for n in (1, 2, 3)]
    assert paper_selectors.paper_stock_of(seller.pk, InvoiceKind.PAPER_NORMAL) == 7
