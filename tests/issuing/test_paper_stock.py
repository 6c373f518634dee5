"""票仓: batches received, sheets taken in order at issue, blank voids, stock counts, the compliance rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from invoicing.channels.base import IssueResult
from invoicing.events import ACTION_LABELS
from invoicing.models import Event
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.compliance import ComplianceError
from issuing.applications.models import ApplicationStatus
from issuing.base import InvoiceKind
from issuing.paperstock import selectors as paper_selectors
from issuing.paperstock import services as paper_services
from issuing.paperstock.models import PaperBatch, PaperVoid
from issuing.platform import services as platform_services
from tests.issuing.factories import InvoiceApplicationFactory, issued

pytestmark = pytest.mark.django_db
PAPER = InvoiceKind.PAPER_NORMAL  # 86


def receive(taxpayer, start, end, *, code="144032400110", kind=PAPER, actor=None, ago=0):
    return paper_services.paper_batch_receive(
        taxpayer=taxpayer, kind=kind, code=code, start_number=start, end_number=end,
        received_at=timezone.now() - timedelta(days=ago), actor=actor,
    )


def issue_paper(taxpayer, n=1):
    out = []
    for _ in range(n):
        app = InvoiceApplicationFactory(taxpayer=taxpayer, kind=PAPER, status=ApplicationStatus.ISSUING)
        out.append(issued(app, f"{app.pk:020d}"))
    return out


def test_issuing_takes_sheets_in_order_across_two_batches(yuntu):
    receive(yuntu, 101, 102, code="144032400110", ago=2)  # the older batch goes first
    receive(yuntu, 7, 8, code="144032400111", ago=1)

    invoices = issue_paper(yuntu, 4)

    assert [(i.paper_code, i.paper_number) for i in invoices] == [
        ("144032400110", "00000101"), ("144032400110", "00000102"),
        ("144032400111", "00000007"), ("144032400111", "00000008"),
    ]
    assert paper_selectors.paper_stock_counts([yuntu.pk]) == {(yuntu.pk, PAPER): 0}


def test_recording_the_same_invoice_twice_takes_one_sheet(yuntu):
    receive(yuntu, 1, 5)
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind=PAPER, status=ApplicationStatus.ISSUING)
    first = issued(app, "1" * 20)
    again = issued(app, "1" * 20)
    assert first.pk == again.pk and first.paper_number == "00000001"
    assert paper_selectors.paper_stock_of(yuntu.pk, PAPER) == 4


def test_an_electronic_invoice_takes_no_sheet(yuntu):
    receive(yuntu, 1, 5)
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind=InvoiceKind.SHUDIAN_NORMAL, status=ApplicationStatus.ISSUING)
    assert issued(app, "2" * 20).paper_number == ""
    assert paper_selectors.paper_stock_of(yuntu.pk, PAPER) == 5


def test_voided_blank_numbers_are_never_taken(yuntu):
    batch = receive(yuntu, 1, 6)
    assert paper_services.paper_blank_void(batch=batch, start_number=2, end_number=3, reason="damaged",
                                           note="卡纸", actor=None) == 2
    paper_services.paper_blank_void(batch=batch, start_number=5, end_number=5, reason="lost", actor=None)

    numbers = [i.paper_number for i in issue_paper(yuntu, 3)]

    assert numbers == ["00000001", "00000004", "00000006"]
    assert paper_selectors.paper_stock_of(yuntu.pk, PAPER) == 0
    assert PaperVoid.objects.filter(batch=batch).count() == 3
    event = Event.objects.filter(action="paper_void").first()
    assert event is not None and "paper_void" in ACTION_LABELS and "paper_receive" in ACTION_LABELS


def test_a_taken_or_voided_number_cannot_be_voided(yuntu):
    batch = receive(yuntu, 1, 5)
    issue_paper(yuntu, 1)
    with pytest.raises(ValidationError) as taken:
        paper_services.paper_blank_void(batch=batch, start_number=1, end_number=2, reason="blank", actor=None)
    assert "start_number" in taken.value.message_dict
    paper_services.paper_blank_void(batch=batch, start_number=3, end_number=3, reason="blank", actor=None)
    with pytest.raises(ValidationError) as twice:
        paper_services.paper_blank_void(batch=batch, start_number=2, end_number=4, reason="blank", actor=None)
    assert "00000003" in twice.value.message_dict["start_number"][0]
    with pytest.raises(ValidationError) as outside:
        paper_services.paper_blank_void(batch=batch, start_number=4, end_number=9, reason="blank", actor=None)
    assert "start_number" in outside.value.message_dict
    with pytest.raises(ValidationError) as no_reason:
        paper_services.paper_blank_void(batch=batch, start_number=4, end_number=4, reason="", actor=None)
    assert "reason" in no_reason.value.message_dict
    batch.refresh_from_db()
    assert batch.remaining == 3


def test_an_overlapping_range_of_the_same_code_is_refused_with_the_field_named(yuntu, mingyuan):
    receive(yuntu, 100, 199)
    with pytest.raises(ValidationError) as overlap:
        receive(mingyuan, 150, 250)
    assert "start_number" in overlap.value.message_dict
    assert "00000100" in overlap.value.message_dict["start_number"][0]
    receive(mingyuan, 200, 250)  # adjacent is fine
    receive(mingyuan, 150, 250, code="144032400199")  # another code is another run of sheets
    assert PaperBatch.objects.count() == 3


@pytest.mark.parametrize(("fields", "field"), [
    ({"code": "12345"}, "code"),
    ({"kind": InvoiceKind.SHUDIAN_NORMAL}, "kind"),
    ({"start": 10, "end": 9}, "end_number"),
    ({"start": 0, "end": 9}, "start_number"),
    ({"start": 1, "end": 100_000_000}, "end_number"),
])
def test_bad_batch_input_names_the_field(yuntu, fields, field):
    with pytest.raises(ValidationError) as bad:
        receive(yuntu, fields.get("start", 1), fields.get("end", 10), code=fields.get("code", "144032400110"),
                kind=fields.get("kind", PAPER))
    assert field in bad.value.message_dict
    assert not PaperBatch.objects.exists()


def test_compliance_refuses_a_paper_application_without_stock(yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind=PAPER, status=ApplicationStatus.PENDING_REVIEW)
    failures = application_selectors.application_failures(app)
    assert [f.field for f in failures if f.code == "paper_stock"] == ["kind"]

    receive(yuntu, 1, 1, kind=InvoiceKind.PAPER_SPECIAL)  # stock of the other kind does not count
    assert "paper_stock" in {f.code for f in application_selectors.application_failures(app)}

    receive(yuntu, 1, 1, code="144032400222")
    assert "paper_stock" not in {f.code for f in application_selectors.application_failures(app)}
    contexts = application_selectors.compliance_contexts([app])
    assert contexts[app.pk].paper_stock == 1


def test_compliance_ignores_stock_for_electronic_invoices(yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind=InvoiceKind.SHUDIAN_NORMAL)
    assert "paper_stock" not in {f.code for f in application_selectors.application_failures(app)}


def test_stock_counts_and_low_stock_per_entity_and_kind(yuntu, mingyuan, django_assert_num_queries):
    receive(yuntu, 1, 100)
    receive(yuntu, 1, 10, code="144032400112", kind=InvoiceKind.PAPER_SPECIAL)
    receive(mingyuan, 1, 20, code="144032400113")
    with django_assert_num_queries(1):
        counts = paper_selectors.paper_stock_counts([yuntu.pk, mingyuan.pk])
    assert counts == {(yuntu.pk, PAPER): 100, (yuntu.pk, InvoiceKind.PAPER_SPECIAL): 10, (mingyuan.pk, PAPER): 20}
    with django_assert_num_queries(1):
        low = paper_selectors.paper_stock_low([yuntu.pk, mingyuan.pk], threshold=50)
    assert [(row.taxpayer_id, row.kind, row.remaining) for row in low] == [
        (yuntu.pk, InvoiceKind.PAPER_SPECIAL, 10), (mingyuan.pk, PAPER, 20)]
    assert paper_selectors.paper_stock_low([mingyuan.pk], threshold=20) == []


def test_scope_and_permissions_of_the_services(yuntu, mingyuan, lily, sam, fiona):
    with pytest.raises(PermissionDenied):
        receive(yuntu, 1, 10, actor=lily)  # finance of 明远 only
    with pytest.raises(PermissionDenied):
        receive(mingyuan, 1, 10, actor=sam)  # customer service does not manage paper stock
    batch = receive(mingyuan, 1, 10, actor=lily)
    assert batch.received_by == lily
    other = receive(yuntu, 1, 10, code="144032400999", actor=fiona)
    with pytest.raises(PermissionDenied):
        paper_services.paper_blank_void(batch=other, start_number=1, end_number=1, reason="blank", actor=lily)
    with pytest.raises(PermissionDenied):
        paper_services.paper_blank_void(batch=batch, start_number=1, end_number=1, reason="blank", actor=sam)
    assert paper_services.paper_blank_void(batch=batch, start_number=1, end_number=1, reason="blank",
                                           actor=lily) == 1


def test_a_paper_application_without_stock_is_refused_before_the_platform_call(yuntu, fiona):
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind=PAPER, status=ApplicationStatus.APPROVED)
    with pytest.raises(ComplianceError) as refused:
        application_services.application_mark_issuing(application=app, actor=fiona)
    assert [f.code for f in refused.value.failures] == ["paper_stock"]
    app.refresh_from_db()
    assert app.status == ApplicationStatus.APPROVED
    receive(yuntu, 1, 1)
    application_services.application_mark_issuing(application=app, actor=fiona)
    app.refresh_from_db()
    assert app.status == ApplicationStatus.ISSUING


def test_batch_recording_takes_sheets_in_order_too(yuntu):
    receive(yuntu, 11, 12)
    apps = [InvoiceApplicationFactory(taxpayer=yuntu, kind=PAPER, status=ApplicationStatus.ISSUING)
            for _ in range(2)]
    results = [(app.pk, IssueResult(serial=app.number, status="issued", invoice_number=f"{app.pk:020d}"))
               for app in apps]
    invoices = platform_services.invoices_record_issued(results)
    assert sorted(i.paper_number for i in invoices) == ["00000011", "00000012"]
    assert platform_services.invoices_record_issued(results) == []  # recorded already: no sheet taken again
    assert paper_selectors.paper_stock_of(yuntu.pk, PAPER) == 0


def test_an_invoice_the_platform_issued_after_the_stock_ran_out_is_still_recorded(yuntu):
    [invoice] = issue_paper(yuntu, 1)
    assert invoice.pk and (invoice.paper_code, invoice.paper_number) == ("", "")
