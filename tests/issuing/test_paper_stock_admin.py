"""票仓 admin: the list with counts, receiving a batch, voiding blank sheets, scope, roles, constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issuing.base import InvoiceKind
from issuing.paperstock import services as paper_services
from issuing.paperstock.models import PaperBatch, PaperVoid

pytestmark = pytest.mark.django_db
LIST = "admin:issuing_paperbatch_changelist"
ADD = "admin:issuing_paperbatch_add"


def batch(taxpayer, start=1, end=50, code="144032400110"):
    return paper_services.paper_batch_receive(taxpayer=taxpayer, kind=InvoiceKind.PAPER_NORMAL, code=code,
                                              start_number=start, end_number=end, actor=None)


def test_finance_receives_a_batch_and_sees_the_counts(client, fiona, yuntu):
    client.force_login(fiona)
    response = client.post(reverse(ADD), {"taxpayer": yuntu.pk, "kind": "86", "code": "144032400110",
                                          "start_number": "00000101", "end_number": "00000150"}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "共 50 份" in page  # the counted message
    created = PaperBatch.objects.get()
    assert (created.start_number, created.end_number, created.remaining) == (101, 150, 50)
    assert 'id="paper-stock"' in page and "00000101" in page


def test_an_overlapping_batch_is_refused_on_the_form_with_the_field_named(client, fiona, yuntu):
    batch(yuntu, 100, 199)
    client.force_login(fiona)
    response = client.post(reverse(ADD), {"taxpayer": yuntu.pk, "kind": "86", "code": "144032400110",
                                          "start_number": "150", "end_number": "250"})
    assert response.status_code == 200
    assert "start_number" in response.context["form"].errors
    assert "重叠" in response.content.decode()
    assert PaperBatch.objects.count() == 1


def test_finance_voids_blank_numbers_through_the_action_and_the_form(client, fiona, yuntu):
    b = batch(yuntu, 1, 10)
    client.force_login(fiona)
    response = client.post(reverse(LIST), {"action": "void_blank", "_selected_action": [b.pk]})
    url = reverse("admin:issuing_paperbatch_void", args=[b.pk])
    assert response.status_code == 302 and response["Location"] == url
    response = client.post(url, {"start_number": "3", "end_number": "5", "reason": "damaged", "note": "受潮"},
                           follow=True)
    assert "已作废 3 份空白纸票" in response.content.decode()
    assert sorted(PaperVoid.objects.values_list("number", flat=True)) == [3, 4, 5]
    b.refresh_from_db()
    assert b.remaining == 7
    response = client.post(url, {"start_number": "5", "end_number": "6", "reason": "lost"})
    assert "start_number" in response.context["form"].errors


def test_customer_service_sees_no_paper_stock(client, sam, yuntu):
    b = batch(yuntu)
    client.force_login(sam)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    assert client.get(reverse("admin:issuing_paperbatch_void", args=[b.pk])).status_code == 403


def test_an_entity_limited_user_sees_only_their_entities_batches(client, lily, yuntu, mingyuan):
    theirs = batch(mingyuan, code="144032400777")
    other = batch(yuntu, code="144032400888")
    client.force_login(lily)
    page = client.get(reverse(LIST)).content.decode()
    assert "144032400777" in page and "144032400888" not in page and yuntu.name not in page
    assert client.get(reverse("admin:issuing_paperbatch_change", args=[theirs.pk])).status_code == 200
    assert client.get(reverse("admin:issuing_paperbatch_void", args=[other.pk])).status_code == 404
    form = client.get(reverse(ADD)).context["form"]
    assert list(form.fields["taxpayer"].queryset) == [mingyuan]
    response = client.post(reverse(ADD), {"taxpayer": yuntu.pk, "kind": "86", "code": "144032400110",
                                          "start_number": "1", "end_number": "2"})
    assert "taxpayer" in response.context["form"].errors
    assert not PaperBatch.objects.filter(taxpayer=yuntu, code="144032400110").exists()
    assert client.get(reverse("admin:issuing_papervoid_changelist")).status_code == 200


def test_the_list_runs_a_constant_number_of_queries(client, fiona, yuntu, mingyuan):
    client.force_login(fiona)
    batch(yuntu, 1, 10, code="144032400001")
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(LIST)).status_code == 200
    for n in range(2, 8):
        b = batch(mingyuan if n % 2 else yuntu, 1, 10, code=f"14403240000{n}")
        paper_services.paper_blank_void(batch=b, start_number=1, end_number=2, reason="blank", actor=None)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse(LIST)).status_code == 200
    assert len(many) == len(few)
