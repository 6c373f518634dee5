"""Two people select the same invoice at the same moment: one selection, the other is told (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from deduction import services
from deduction.models import Selection
from deduction.services import SelectionInput
from tests.factories import UserFactory
from tests.receiving.platform_world import channel_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_people_select_the_same_invoice_at_once(period, invoice, fiona, world):
    gina = UserFactory(username="gina", role="财务", entities=None)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(user):
        try:
            barrier.wait()
            services.deduction_select(tax_period=period, items=[SelectionInput(invoice_id=invoice.pk)], actor=user,
                                      channel=channel_of(world))
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in (fiona, gina)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and outcomes.count("ok") == 1, outcomes
    assert any("勾选" in o for o in outcomes if o != "ok")
    assert Selection.objects.filter(invoice=invoice).count() == 1
