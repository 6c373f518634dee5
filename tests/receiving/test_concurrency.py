"""Files of one invoice arriving at the same moment through different batches (PostgreSQL, real threads): one record,
every file kept once."""

from __future__ import annotations

import itertools
import queue

import pytest

from receiving import services
from receiving.models import Carrier, Method, Outcome, ReceivedInvoice
from tests.receiving.conftest import as_ofd, as_xml, small_document
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DOC = small_document(number="25312000000000000901")


def test_four_files_of_one_invoice_from_four_batches_at_once_make_one_record(pujiang):
    files = itertools.cycle([("a.xml", as_xml(DOC)), ("a.ofd", as_ofd(DOC))])
    work = [next(files) for _ in range(4)]  # the XML and the OFD, each sent twice
    batches = [services.collection_start(taxpayer=pujiang, method=Method.UPLOAD, actor=None) for _ in work]
    slots: queue.Queue = queue.Queue()
    for slot in zip(batches, work, strict=True):
        slots.put(slot)

    def collect():
        batch, (name, data) = slots.get_nowait()
        return services.collection_add_file(collection=batch, name=name, data=data, actor=None).outcome

    results, errors = run_together(4, collect)
    assert errors == []
    assert ReceivedInvoice.objects.count() == 1
    assert Carrier.objects.count() == 2
    assert sorted(results) == sorted([Outcome.CREATED, Outcome.ATTACHED, Outcome.DUPLICATE, Outcome.DUPLICATE])
    assert ReceivedInvoice.objects.get().sources.count() == 4
