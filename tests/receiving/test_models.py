"""The pool's tables hold their invariants themselves: one record per invoice per entity, keys shaped as domain.md
§2.3 says, totals that add up, one carrier per file per entity, states that only transitions move."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from invoicing.channels import base as channel_base
from receiving.models import (
    Carrier,
    ReceivedInvoice,
    ReviewState,
    UseState,
    carrier_path,
)
from tests.factories import TaxpayerFactory

pytestmark = pytest.mark.django_db

SHA = "ab" * 32


def _record(entity, **changes) -> ReceivedInvoice:
    values = {"taxpayer": entity, "kind": "82", "number": "25312000000123456789", "issue_date": date(2025, 10, 15),
              "seller_name": "杭州西湖云计算服务有限公司", "amount": Decimal("100.00"), "tax": Decimal("6.00"),
              "total": Decimal("106.00"), "data_source": "xml"}
    values.update(changes)
    return ReceivedInvoice.objects.create(**values)


def _refused(**kwargs) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        _record(**kwargs)


def test_one_record_per_invoice_per_entity(pujiang):
    _record(pujiang)
    _refused(entity=pujiang)


def test_the_same_invoice_may_sit_in_two_entities_pools(pujiang):
    other = TaxpayerFactory()
    _record(pujiang)
    assert _record(other).pk


def test_a_legacy_invoice_is_keyed_by_code_and_number(pujiang):
    _record(pujiang, kind="10", code="042002200411", number="51905150")
    assert _record(pujiang, kind="10", code="042002200412", number="51905150").pk  # another code: another invoice
    _refused(entity=pujiang, kind="10", code="042002200411", number="51905150")


@pytest.mark.parametrize("kind,code,number", [
    ("82", "", "51905150"),  # 数电 with an 8-digit number
    ("81", "042002200411", "25312000000123456789"),  # 数电 with a code
    ("82", "", "2531200000012345678X"),
    ("10", "", "51905150"),  # legacy without a code
    ("10", "04200220041", "51905150"),  # 11 digits
    ("04", "4200161350", "1504"),  # number not padded to 8
    ("other", "", ""),
])
def test_keys_of_the_wrong_shape_are_refused_by_the_database(pujiang, kind, code, number):
    _refused(entity=pujiang, kind=kind, code=code, number=number)


def test_a_customs_form_has_a_number_of_its_own_shape(pujiang):
    assert _record(pujiang, kind="customs", number="530520211111111111-L01").pk


def test_totals_that_do_not_add_up_are_refused_but_unknown_figures_are_allowed(pujiang):
    _refused(entity=pujiang, total=Decimal("106.01"))
    scanned = _record(pujiang, amount=None, tax=None, total=Decimal("106.00"), data_source="qr")
    assert scanned.amount is None


def test_a_file_is_kept_once_per_entity_under_a_path_derived_from_its_hash(pujiang):
    Carrier.objects.create(taxpayer=pujiang, sha256=SHA, size=3, format="pdf", file=carrier_path(SHA, "pdf"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Carrier.objects.create(taxpayer=pujiang, sha256=SHA, size=3, format="pdf", file=carrier_path(SHA, "pdf"))
    assert Carrier.objects.create(taxpayer=TaxpayerFactory(), sha256=SHA, size=3, format="pdf",
                                  file=carrier_path(SHA, "pdf")).pk
    assert carrier_path(SHA, "pdf") == f"receiving/carriers/ab/ab/{SHA}.pdf"


def test_review_and_use_states_move_only_by_transitions(pujiang):
    record = _record(pujiang)
    with pytest.raises(AttributeError):
        record.use_state = UseState.BOOKED
    with pytest.raises(AttributeError):
        record.review_state = ReviewState.RESOLVED
    record.flag_for_review(reasons=[{"field": "amount", "code": "x", "message": "m"}])
    record.flag_for_review(reasons=[{"field": "amount", "code": "x", "message": "m"}])  # the same reason once
    record.hold_for_review()
    assert (record.review_state, record.use_state, len(record.review_reasons)) == (
        ReviewState.NEEDS_REVIEW, UseState.IN_REVIEW, 1)
    record.resolve_review()
    record.release_to_pool()
    assert (record.review_state, record.use_state) == (ReviewState.RESOLVED, UseState.IN_POOL)


def test_the_channel_contract_names_the_platform_s_record_inbound_invoice():
    assert hasattr(channel_base, "InboundInvoice")
    assert not hasattr(channel_base, "ReceivedInvoice")  # the name belongs to the pool record
