import pytest
from django.contrib.auth.models import AnonymousUser

from invoicing.models import Counterparty
from invoicing.scoping import allowed_taxpayer_ids, scope_queryset, user_may_act_on
from tests.factories import CounterpartyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_limited_to_one_entity_sees_only_its_rows(yuntu, mingyuan, lily):
    CounterpartyFactory(taxpayer=yuntu)
    mine = CounterpartyFactory(taxpayer=mingyuan)
    assert list(scope_queryset(Counterparty.objects.all(), lily)) == [mine]
    assert user_may_act_on(lily, mingyuan.id)
    assert not user_may_act_on(lily, yuntu.id)


def test_a_user_with_all_entities_sees_everything(yuntu, mingyuan, fiona):
    CounterpartyFactory(taxpayer=yuntu)
    CounterpartyFactory(taxpayer=mingyuan)
    assert allowed_taxpayer_ids(fiona) is None
    assert scope_queryset(Counterparty.objects.all(), fiona).count() == 2


def test_a_user_without_a_scope_sees_nothing(yuntu, django_user_model):
    CounterpartyFactory(taxpayer=yuntu)
    stranger = django_user_model.objects.create_user("stranger", password="pw", is_staff=True)
    assert scope_queryset(Counterparty.objects.all(), stranger).count() == 0
    assert scope_queryset(Counterparty.objects.all(), AnonymousUser()).count() == 0


def test_an_empty_entity_list_means_no_entity(yuntu):
    nobody = UserFactory(username="nobody", entities=[])
    CounterpartyFactory(taxpayer=yuntu)
    assert allowed_taxpayer_ids(nobody) == set()
    assert scope_queryset(Counterparty.objects.all(), nobody).count() == 0


def test_the_capped_paginator_counts_no_further_than_its_cap(yuntu):
    from invoicing.admin import CappedCountPaginator

    for _ in range(5):
        CounterpartyFactory(taxpayer=yuntu)

    class Capped(CappedCountPaginator):
        CAP = 3

    assert Capped(Counterparty.objects.order_by("pk"), 2).count == 3
    assert CappedCountPaginator(Counterparty.objects.order_by("pk"), 2).count == 5


ENTITY_FILTERED = [
    "admin:issuing_invoiceapplication_changelist",
    "admin:issuing_billingdocument_changelist",
    "admin:issuing_invoice_changelist",
    "admin:invoicing_counterparty_changelist",
    "admin:invoicing_event_changelist",
    "admin:sandbox_sandboxaccount_changelist",
    "admin:sandbox_ledgerinvoice_changelist",
]


@pytest.mark.parametrize("name", ENTITY_FILTERED)
def test_filters_and_lists_name_only_the_users_entities(client, yuntu, mingyuan, lily, fiona, name):
    """The stock "by entity" filter lists every entity; a user limited to 明远 must not even read 云途's name."""
    from django.urls import reverse

    from sandbox import services as sandbox

    for taxpayer in (yuntu, mingyuan):
        CounterpartyFactory(taxpayer=taxpayer)
        sandbox.account_ensure(credit_code=taxpayer.credit_code, name=taxpayer.name, is_demo=True,
                               app_key=f"{taxpayer.credit_code}-k", secret=f"{taxpayer.credit_code}-s")
    url = reverse(name)

    client.force_login(fiona)  # all entities: the page does name 云途, so the check below can fail
    seen_by_all = client.get(url).content.decode()
    assert str(yuntu) in seen_by_all or yuntu.name in seen_by_all

    client.force_login(lily)
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    for secret in (yuntu.name, yuntu.credit_code, f">{yuntu}<"):
        assert secret not in text, secret
