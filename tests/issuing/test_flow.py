"""The whole way: a billing document, an application, review by customer service, approval, issuing."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from invoicing.events import events_for
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus as S
from issuing.applications.models import QuotaPeriod
from issuing.base import InvoiceKind
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocumentStatus
from issuing.platform.models import Invoice
from tests.issuing.factories import issued, make_document, software_line

pytestmark = pytest.mark.django_db


def test_customer_service_takes_an_application_from_creation_to_approved(yuntu, buyer, sam):
    doc = make_document(yuntu, counterparty=buyer, lines=[software_line("1060.00"), software_line("212.00", item_name="运维服务费")])
    app = application_services.application_create(actor=sam, taxpayer=yuntu, sources=[doc], kind=InvoiceKind.SHUDIAN_SPECIAL)
    assert app.status == S.PENDING_REVIEW
    assert (app.amount, app.tax, app.total) == (Decimal("1200.00"), Decimal("72.00"), Decimal("1272.00"))
    assert app.number.startswith("SQ") and len(app.number) == 16
    doc.refresh_from_db()
    assert doc.status == BillingDocumentStatus.FULLY
    app = application_services.application_claim(application=app, actor=sam)
    assert app.status == S.IN_REVIEW and app.reviewer == sam
    with pytest.raises(ValidationError) as exc:
        application_services.application_approve(application=app, actor=sam)
    # buyer has no address/bank: 专票 needs them
    assert any("专票必须填写购买方地址" in m for m in exc.value.messages)
    buyer.address, buyer.phone, buyer.bank_name, buyer.bank_account = "上海市静安区1号", "021-1", "工行", "1001"
    buyer.save()


def test_person_gets_ordinary_invoice_and_it_is_issued(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person)
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    app = application_services.application_approve(application=app, actor=fiona)
    assert app.status == S.APPROVED
    app = application_services.application_mark_issuing(application=app, actor=fiona)
    assert app.status == S.ISSUING and app.issue_serial == app.number and app.issue_attempts == 1
    invoice = issued(app, "26442000000000000001")
    assert isinstance(invoice, Invoice) and invoice.total == Decimal("106.00") and invoice.lines.count() == 1
    again = issued(app, "26442000000000000001")
    assert again.pk == invoice.pk
    actions = list(events_for(app).order_by("id").values_list("action", flat=True))
    assert actions == ["create", "approve", "start_issuing", "issued"]


def test_lily_cannot_touch_yuntu(yuntu, person, lily):
    doc = make_document(yuntu, counterparty=person)
    with pytest.raises(PermissionDenied):
        application_services.application_create(actor=lily, taxpayer=yuntu, sources=[doc])


def test_partial_refund_then_reapplication_for_the_rest(yuntu, person, fiona):
    doc = make_document(yuntu, counterparty=person, lines=[software_line(quantity=3, unit_price="100", amount=None)])
    first = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[(doc, "100.00")])
    assert first.total == Decimal("100.00")
    assert application_selectors.billing_document_balance(doc).balance == Decimal("200.00")
    billing_services.billing_document_refund(document=doc, actor=fiona, amount="50.00", reason="部分退款")
    second = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    assert second.total == Decimal("150.00")
    doc.refresh_from_db()
    assert application_selectors.billing_document_balance(doc).balance == 0
    with pytest.raises(ValidationError):
        application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    application_services.application_reject(application=second, actor=fiona, reason="金额有误")
    assert application_selectors.billing_document_balance(doc).balance == Decimal("150.00")


def test_quota_is_consumed_at_issue(yuntu, person, fiona):
    quota.quota_set(actor=fiona, taxpayer=yuntu, month=application_selectors.quota_month(), total="1000.00")
    doc = make_document(yuntu, counterparty=person)
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    app = application_services.application_approve(application=app, actor=fiona)
    app = application_services.application_mark_issuing(application=app, actor=fiona)
    issued(app, "26442000000000000002")
    assert QuotaPeriod.objects.get(taxpayer=yuntu).used == Decimal("100.00")


def test_red_invoices_restore_quota_only_when_the_entity_says_so(yuntu):
    from tests.issuing.factories import policy

    month = application_selectors.quota_month()
    quota.quota_set(actor=None, taxpayer=yuntu, month=month, total="1000.00", used="300.00")
    assert quota.quota_restore(taxpayer=yuntu, amount=Decimal("100.00"), month=month) is None
    policy(yuntu, red_restores_quota=True)
    period = quota.quota_restore(taxpayer=yuntu, amount=Decimal("-500.00"), month=month)
    assert period.used == Decimal("0.00")


def test_quota_counts_what_is_approved_but_not_yet_issued(yuntu, fiona):
    from tests.issuing.factories import InvoiceApplicationFactory

    month = application_selectors.quota_month()
    quota.quota_set(actor=fiona, taxpayer=yuntu, month=month, total="250.00")
    apps = [InvoiceApplicationFactory(taxpayer=yuntu) for _ in range(3)]
    result = application_services.applications_approve_batch(applications=apps, actor=fiona)
    assert [a.number for a in result.approved] == [apps[0].number, apps[1].number]
    assert result.not_fitting == [apps[2].number]
    assert application_selectors.quota_available(yuntu.pk, month) == Decimal("50.00")
    assert "额度不足" in result.summary


def test_batch_approval_reports_refusals_without_stopping(yuntu, mingyuan, lily, sam):
    from tests.issuing.factories import InvoiceApplicationFactory

    theirs = InvoiceApplicationFactory(taxpayer=yuntu)
    ours = InvoiceApplicationFactory(taxpayer=mingyuan)
    done = InvoiceApplicationFactory(taxpayer=mingyuan, status=S.ISSUED)
    result = application_services.applications_approve_batch(applications=[theirs, ours, done], actor=lily)
    assert [a.pk for a in result.approved] == [ours.pk]
    assert set(result.refused) == {theirs.number, done.number}
    not_claimed = InvoiceApplicationFactory(taxpayer=yuntu)
    assert not_claimed.number in application_services.applications_approve_batch(applications=[not_claimed], actor=sam).refused


def test_quota_months_are_validated_and_only_finance_sets_them(yuntu, sam):
    with pytest.raises(ValidationError):
        quota.quota_set(actor=None, taxpayer=yuntu, month="2026-13", total="1")
    with pytest.raises(PermissionDenied):
        quota.quota_set(actor=sam, taxpayer=yuntu, month="2026-01", total="1")


def test_every_issuing_codename_in_roles_exists():
    from django.contrib.auth.models import Permission

    from invoicing import roles

    labels = {x for x in roles.CUSTOMER_SERVICE_PERMISSIONS | roles.FINANCE_DENIED if x.startswith("issuing.")}
    mine = {x for x in labels if x.split(".")[1].split("_", 1)[-1] in {
        "billingdocument", "billingdocumentline", "invoiceapplication", "applicationline", "applicationsource",
        "invoice", "invoiceline", "quotaperiod", "issuingpolicy", "invoice_file", "red_flush"}}
    existing = {f"issuing.{c}" for c in Permission.objects.filter(content_type__app_label="issuing")
                .values_list("codename", flat=True)}
    assert mine and mine <= existing
