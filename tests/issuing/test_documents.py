"""Billing documents: balances (never negative, also under 20 concurrent requests), merge and split as services."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_fsm import TransitionNotAllowed

from invoicing.events import events_for
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications import splitting as applications_splitting
from issuing.applications.models import ApplicationSource, InvoiceApplication
from issuing.applications.models import ApplicationStatus as S
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument, BillingDocumentStatus, InvoicingBasis
from tests.factories import CounterpartyFactory
from tests.issuing.factories import CONSTRUCTION, make_document, software_line

pytestmark = pytest.mark.django_db


def test_external_numbers_are_unique_per_entity_and_source_system(yuntu, mingyuan, person):
    make_document(yuntu, counterparty=person, external_no="A1", source_system="shop")
    make_document(yuntu, counterparty=person, external_no="A1", source_system="erp")
    make_document(mingyuan, external_no="A1", source_system="shop")
    with pytest.raises(ValidationError):
        make_document(yuntu, counterparty=person, external_no="A1", source_system="shop")


def test_order_amount_must_match_the_lines(yuntu, person):
    with pytest.raises(ValidationError):
        make_document(yuntu, counterparty=person, order_amount="100.00")


def test_pay_first_documents_are_invoiceable_only_for_what_was_paid(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line("1000.00")], paid="400.00")
    assert application_selectors.billing_document_balance(doc).balance == Decimal("400.00")
    with pytest.raises(ValidationError):
        application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "400.01")])
    invoice_first = make_document(yuntu, counterparty=person, lines=[software_line("1000.00")], paid="0",
                                  invoicing_basis=InvoicingBasis.ORDER)
    assert application_selectors.billing_document_balance(invoice_first).balance == Decimal("1000.00")


def test_a_refund_after_invoicing_shows_as_over_invoiced_never_as_a_negative_balance(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person)
    application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    doc = billing_services.billing_document_refund(document=doc, actor=fiona, amount="30.00")
    bal = application_selectors.billing_document_balance(doc)
    assert (bal.balance, bal.over_invoiced) == (Decimal("0.00"), Decimal("30.00"))
    with pytest.raises(ValidationError):
        billing_services.billing_document_refund(document=doc, actor=fiona, amount="100.00")


def test_withdrawing_gives_the_balance_back_and_the_status_follows(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line("300.00")])
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "100.00")])
    doc.refresh_from_db()
    assert doc.status == BillingDocumentStatus.PARTLY
    application_services.application_withdraw(application=app, actor=fiona)
    doc.refresh_from_db()
    assert doc.status == BillingDocumentStatus.OPEN
    assert application_selectors.billing_document_balance(doc).balance == Decimal("300.00")


def test_partial_application_takes_lines_pro_rata_to_the_fen(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[
        software_line(quantity=3, unit_price="33.33", amount=None),
        software_line("50.00", item_name="实施费", discount="5.00"),
        {"item_name": "安装", "amount": "77.77", "tax_rate": "0.09", "tax_category": CONSTRUCTION},
    ])
    first = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "77.77")])
    second = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    assert first.total + second.total == doc.order_amount
    for app in (first, second):
        lines = list(app.lines.all())
        assert sum(ln.amount + ln.tax for ln in lines) == app.total
        assert application_selectors.application_failures(app) == []


def test_merge_several_documents_of_one_buyer(yuntu, buyer, fiona):
    docs = [make_document(yuntu, counterparty=buyer, lines=[software_line("106.00")]) for _ in range(3)]
    app = application_services.applications_merge(actor=fiona, documents=docs, merge_identical_lines=True)
    assert app.total == Decimal("318.00") and app.lines.count() == 1
    assert app.lines.get().amount == Decimal("300.00")
    assert sorted(app.sources.values_list("amount", flat=True)) == [Decimal("106.00")] * 3
    unmerged = application_services.applications_merge(actor=fiona, documents=[
        make_document(yuntu, counterparty=buyer), make_document(yuntu, counterparty=buyer)])
    assert unmerged.lines.count() == 2


def test_merge_refuses_different_buyers_or_entities(yuntu, mingyuan, buyer, fiona):
    other = CounterpartyFactory(taxpayer=yuntu)
    with pytest.raises(ValidationError):
        application_services.applications_merge(actor=fiona, documents=[make_document(yuntu, counterparty=buyer),
                                                            make_document(yuntu, counterparty=other)])
    with pytest.raises(ValidationError):
        application_services.applications_merge(actor=fiona, documents=[make_document(yuntu, counterparty=buyer),
                                                            make_document(mingyuan)])


def _split_invariants(original, parts):
    assert sum(p.amount for p in parts) == original.amount
    assert sum(p.tax for p in parts) == original.tax
    assert sum(p.total for p in parts) == original.total
    for p in parts:
        lines = list(p.lines.all())
        assert sum(ln.amount for ln in lines) == p.amount and sum(ln.tax for ln in lines) == p.tax
        assert sum(s.amount for s in p.sources.all()) == p.total
        assert p.split_from_id == original.pk
    for src in original.sources.all():
        taken = ApplicationSource.objects.filter(application__in=parts, billing_document=src.billing_document)
        assert sum(s.amount for s in taken) == src.amount


def test_split_by_amount_limit_and_explicit_amounts(yuntu, buyer, fiona):
    yuntu.single_invoice_limit = Decimal("1000.00")
    yuntu.save()
    docs = [make_document(yuntu, counterparty=buyer, lines=[software_line(quantity=7, unit_price="318", amount=None)])
            for _ in range(2)]
    app = application_services.applications_merge(actor=fiona, documents=docs)
    assert app.total == Decimal("4452.00")
    parts = application_services.application_split(application=app, actor=fiona)
    app.refresh_from_db()
    assert app.status == S.WITHDRAWN
    assert all(p.amount <= Decimal("1000.00") and p.status == S.PENDING_REVIEW for p in parts)
    _split_invariants(app, parts)
    for doc in docs:
        assert application_selectors.billing_document_balance(doc).balance == 0
    again = application_services.application_split(application=parts[0], actor=fiona, use_entity_limits=False,
                                       plan=applications_splitting.SplitPlan(amounts=(Decimal("100.00"),)))
    assert [p.total for p in again] == [Decimal("100.00"), parts[0].total - Decimal("100.00")]
    _split_invariants(parts[0], again)


def test_split_by_tax_category_group(yuntu, buyer, fiona):
    doc = make_document(yuntu, counterparty=buyer, lines=[
        software_line("106.00"),
        {"item_name": "安装", "amount": "109.00", "tax_rate": "0.09", "tax_category": CONSTRUCTION},
        software_line("212.00", item_name="维护"),
    ])
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    parts = application_services.application_split(application=app, actor=fiona, plan=applications_splitting.SplitPlan(group_by="category"))
    assert [p.lines.count() for p in parts] == [2, 1]
    _split_invariants(app, parts)


def test_split_refuses_after_approval_or_when_nothing_splits(yuntu, buyer, fiona):
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[make_document(yuntu, counterparty=buyer)])
    with pytest.raises(ValidationError):
        application_services.application_split(application=app, actor=fiona)
    app = application_services.application_approve(application=app, actor=fiona)
    with pytest.raises(ValidationError):
        application_services.application_split(application=app, actor=fiona, plan=applications_splitting.SplitPlan(amounts=(Decimal("1"),)))


@pytest.mark.postgres
def test_twenty_concurrent_applications_never_overdraw_a_document(transactional_db, yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line("100.00")])
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def apply():
        try:
            barrier.wait(timeout=30)
            application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(BillingDocument(pk=doc.pk), "7.00")])
            result = "ok"
        except ValidationError:
            result = "refused"
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            result = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=apply) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(set(outcomes)) == ["ok", "refused"], outcomes
    assert outcomes.count("ok") == 14
    bal = application_selectors.billing_document_balance(BillingDocument.objects.get(pk=doc.pk))
    assert bal.applied == Decimal("98.00") and bal.balance == Decimal("2.00")
    assert InvoiceApplication.objects.count() == 14
    assert len(set(InvoiceApplication.objects.values_list("number", flat=True))) == 14


DS = BillingDocumentStatus
# transition → the statuses it may start from, and the status it ends in
DOCUMENT_MATRIX = {
    "mark_open": ({DS.PARTLY, DS.FULLY}, DS.OPEN),
    "mark_partly_applied": ({DS.OPEN, DS.FULLY}, DS.PARTLY),
    "mark_fully_applied": ({DS.OPEN, DS.PARTLY}, DS.FULLY),
}


@pytest.mark.parametrize("name", DOCUMENT_MATRIX)
@pytest.mark.parametrize("status", list(DS))
def test_every_document_status_and_transition_in_the_model(name, status):
    sources, target = DOCUMENT_MATRIX[name]
    doc = BillingDocument(status=status)
    if status in sources:
        getattr(doc, name)()
        assert doc.status == target
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(doc, name)()
        assert doc.status == status


def test_the_document_status_cannot_be_set_directly(yuntu, person):
    doc = make_document(yuntu, counterparty=person)
    with pytest.raises(AttributeError):
        doc.status = DS.FULLY
    doc.refresh_from_db()  # a protected field still reloads
    assert doc.status == DS.OPEN


def test_each_status_change_is_a_transition_with_its_event(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line("300.00")])
    part = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "100.00")])
    application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    application_services.application_withdraw(application=part, actor=fiona)
    rest = InvoiceApplication.objects.exclude(pk=part.pk).get()
    application_services.application_reject(application=rest, actor=fiona, reason="抬头有误")
    moves = [(e.action, e.from_state, e.to_state, e.actor) for e in events_for(doc).order_by("pk")
             if e.from_state]
    assert moves == [
        ("mark_partly_applied", DS.OPEN, DS.PARTLY, fiona),
        ("mark_fully_applied", DS.PARTLY, DS.FULLY, fiona),
        ("mark_partly_applied", DS.FULLY, DS.PARTLY, fiona),
        ("mark_open", DS.PARTLY, DS.OPEN, fiona),
    ]
    doc.refresh_from_db()
    assert doc.status == DS.OPEN


def test_a_refund_moves_the_status_through_its_transition(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line("300.00")])
    application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "200.00")])
    doc = billing_services.billing_document_refund(document=doc, actor=fiona, amount="100.00")
    assert doc.status == DS.FULLY
    event = events_for(doc).filter(action="mark_fully_applied").get()
    assert (event.from_state, event.to_state, event.data) == (DS.PARTLY, DS.FULLY,
                                                              {"applied": "200.00", "balance": "0.00"})
    refund = events_for(doc).filter(action="refund").get()
    assert refund.data["over_invoiced"] == "0.00"


def test_a_closed_document_keeps_its_status(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person)
    BillingDocument.objects.filter(pk=doc.pk).update(status=DS.CLOSED)  # no service closes a document yet
    doc = BillingDocument.objects.get(pk=doc.pk)
    application_services.billing_document_refresh_status(document=doc, actor=fiona)
    doc.refresh_from_db()
    assert doc.status == DS.CLOSED and not events_for(doc).filter(from_state=DS.CLOSED).exists()
    with pytest.raises(ValidationError):
        application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
