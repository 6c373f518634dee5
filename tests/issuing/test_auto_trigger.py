"""申请时机 (issue 14, defect 6): 付款后自动申请 / 交付后申请 create the application by themselves, once per document
event, under the auto-approval rule, and straight to issuing when the entity says so."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from invoicing.models import CounterpartyKind, Event
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.base import Source
from issuing.billing import services as billing_services
from issuing.billing.models import ApplicationTrigger
from tests.issuing.factories import make_document, policy, software_line
from tests.threads import run_together

S = ApplicationStatus
COMPANY = {"buyer_kind": CounterpartyKind.COMPANY, "buyer_name": "上海白鹭文化传媒有限公司",
           "buyer_tax_id": "91310000MA1K0BA10F"}


def unpaid(yuntu, **kwargs):
    return make_document(yuntu, buyer=COMPANY, paid="0", buyer_email="ap@bailu.example.com",
                         buyer_mobile="13800138000", lines=[software_line("1060.00")], **kwargs)


@pytest.mark.django_db
class TestOnPayment:
    def test_a_payment_that_settles_the_document_creates_one_application_with_its_buyer_and_contacts(self, yuntu):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        app = InvoiceApplication.objects.get(sources__billing_document=doc)
        assert (app.source, app.status, app.total) == (Source.AUTO, S.PENDING_REVIEW, Decimal("1060.00"))
        assert (app.buyer_name, app.buyer_tax_id) == ("上海白鹭文化传媒有限公司", "91310000MA1K0BA10F")
        assert (app.delivery_email, app.delivery_mobile) == ("ap@bailu.example.com", "13800138000")
        assert app.trigger_key == f"paid:{doc.pk}"
        assert Event.objects.filter(object_id=str(doc.pk), action="auto_apply").count() == 1

    def test_a_part_payment_waits_for_the_rest_and_a_second_event_changes_nothing(self, yuntu):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="500.00")
        assert not InvoiceApplication.objects.exists()
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="560.00")
        assert InvoiceApplication.objects.count() == 1
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="10.00")  # an over-payment
        assert application_services.billing_document_auto_apply(document=doc, event=application_services.DocumentEvent.PAID) is None
        assert InvoiceApplication.objects.count() == 1

    def test_a_document_recorded_already_paid_applies_at_once(self, yuntu):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
        doc = make_document(yuntu, buyer=COMPANY, paid="0", paid_amount="106.00")
        assert InvoiceApplication.objects.get().sources.get().billing_document == doc

    def test_manual_and_delivery_triggers_ignore_payments(self, yuntu):
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        policy(yuntu, application_trigger=ApplicationTrigger.ON_DELIVERY)
        doc2 = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc2, actor=None, amount="1060.00")
        assert not InvoiceApplication.objects.exists()

    def test_nothing_left_to_invoice_creates_nothing(self, yuntu):
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        application_services.application_create(actor=None, taxpayer=yuntu, sources=[doc])
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
        assert application_services.billing_document_auto_apply(document=doc, event=application_services.DocumentEvent.PAID) is None
        assert InvoiceApplication.objects.count() == 1

    def test_under_the_auto_approval_rule_it_is_approved_and_waits_in_to_issue(self, yuntu):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT, auto_approve=True,
               auto_approve_company_limit=Decimal("5000.00"))
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        app = InvoiceApplication.objects.get()
        assert app.status == S.APPROVED and app.auto_approved

    def test_with_auto_issue_it_goes_straight_to_issuing_after_commit(self, yuntu, django_capture_on_commit_callbacks,
                                                                      monkeypatch):
        """One application per paid order, on the grouped path: requested in the payment's transaction, a drain
        armed on commit, and the drain starts it (开票中, its serial) on the way to the platform."""
        from issuing.platform import services as platform_services

        drains = []
        monkeypatch.setattr("issuing.platform.tasks.issue_drain_task.apply_async",
                            lambda *args, countdown=None, **kwargs: drains.append(countdown))
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT, auto_approve=True,
               auto_approve_company_limit=Decimal("5000.00"), auto_issue=True)
        doc = unpaid(yuntu)
        with django_capture_on_commit_callbacks(execute=True):
            billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        app = InvoiceApplication.objects.get()
        assert app.status == S.APPROVED and app.issue_requested_at is not None and len(drains) == 1

        claim = platform_services.issue_drain_claim()
        app = InvoiceApplication.objects.get()
        assert claim.marked == [app.pk]
        assert app.status == S.ISSUING and app.issue_serial == app.number and app.issue_requested_at is None

    def test_above_the_auto_approval_limit_auto_issue_does_not_skip_review(self, yuntu):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT, auto_approve=True,
               auto_approve_company_limit=Decimal("100.00"), auto_issue=True)
        doc = unpaid(yuntu)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        assert InvoiceApplication.objects.get().status == S.PENDING_REVIEW

    def test_a_refused_application_keeps_the_payment_and_says_why_in_the_audit_trail(self, yuntu, monkeypatch):
        policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
        doc = unpaid(yuntu)

        def refuse(**kwargs):
            from django.core.exceptions import ValidationError
            raise ValidationError("规则拒绝")

        monkeypatch.setattr(application_services, "application_create", refuse)
        billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
        doc.refresh_from_db()
        assert doc.paid_amount == Decimal("1060.00")
        assert Event.objects.get(object_id=str(doc.pk), action="auto_apply_failed").reason == "规则拒绝"


@pytest.mark.django_db
def test_on_delivery_the_delivered_date_creates_the_application_once(yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_DELIVERY)
    doc = make_document(yuntu, buyer=COMPANY)
    assert not InvoiceApplication.objects.exists()
    billing_services.billing_document_mark_delivered(document=doc, actor=None)
    billing_services.billing_document_mark_delivered(document=doc, actor=None)
    app = InvoiceApplication.objects.get()
    assert app.trigger_key == f"delivered:{doc.pk}" and app.total == Decimal("106.00")
    doc.refresh_from_db()
    assert doc.delivered_on is not None


@pytest.mark.django_db
def test_admin_payment_creates_the_application_and_says_so(client, fiona, yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    doc = unpaid(yuntu)
    client.force_login(fiona)
    page = client.post(reverse("admin:issuing_billingdocument_payment", args=[doc.pk]), {"amount": "1060.00"},
                       follow=True)
    app = InvoiceApplication.objects.get()
    assert "已按开票设置自动生成开票申请" in page.content.decode() and app.number in page.content.decode()


@pytest.mark.django_db
def test_admin_delivery_button_records_the_delivery_and_applies(client, fiona, yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_DELIVERY)
    doc = make_document(yuntu, buyer=COMPANY)
    client.force_login(fiona)
    change = client.get(reverse("admin:issuing_billingdocument_change", args=[doc.pk])).content.decode()
    assert reverse("admin:issuing_billingdocument_delivered", args=[doc.pk]) in change
    page = client.post(reverse("admin:issuing_billingdocument_delivered", args=[doc.pk]),
                       {"delivered_on": "2026-12-01"}, follow=True)
    assert "已登记交付" in page.content.decode()
    doc.refresh_from_db()
    assert str(doc.delivered_on) == "2026-12-01"
    assert InvoiceApplication.objects.get().trigger_key == f"delivered:{doc.pk}"


@pytest.mark.django_db
def test_the_admin_delivery_page_is_scoped_to_the_users_entities(client, lily, yuntu):
    doc = make_document(yuntu, buyer=COMPANY)
    client.force_login(lily)
    assert client.post(reverse("admin:issuing_billingdocument_delivered", args=[doc.pk]), {}).status_code == 404
    doc.refresh_from_db()
    assert doc.delivered_on is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_on_one_document_create_exactly_one_application(yuntu):
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    doc = unpaid(yuntu)
    results, errors = run_together(
        4, lambda: billing_services.billing_document_record_payment(document=doc, actor=None, amount="265.00").paid_amount
    )
    assert not errors, errors
    assert sorted(results) == [Decimal("265.00"), Decimal("530.00"), Decimal("795.00"), Decimal("1060.00")]
    app = InvoiceApplication.objects.get()
    assert app.total == Decimal("1060.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_triggers_of_the_same_event_create_exactly_one_application(yuntu):
    doc = unpaid(yuntu)
    billing_services.billing_document_record_payment(document=doc, actor=None, amount="1060.00")
    policy(yuntu, application_trigger=ApplicationTrigger.ON_PAYMENT)
    results, errors = run_together(
        4, lambda: application_services.billing_document_auto_apply(document=doc, event=application_services.DocumentEvent.PAID)
    )
    assert not errors, errors
    assert len([r for r in results if r is not None]) == 1
    assert InvoiceApplication.objects.count() == 1
