import pytest
from django.core.management import call_command

from issuing.applications import selectors as application_selectors
from issuing.applications.models import ApplicationStatus as S
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import BillingDocument
from issuing.paperstock.models import PaperKind
from issuing.paperstock.selectors import paper_stock_counts

pytestmark = pytest.mark.django_db


def test_the_demo_adds_documents_and_applications_in_several_states_and_is_idempotent(settings):
    settings.DEBUG = True  # seed_demo is for development (it refuses production settings)
    call_command("seed_demo")
    counts = (BillingDocument.objects.count(), InvoiceApplication.objects.count())
    call_command("seed_demo")
    assert (BillingDocument.objects.count(), InvoiceApplication.objects.count()) == counts
    states = set(InvoiceApplication.objects.values_list("status", flat=True))
    assert {S.PENDING_REVIEW, S.IN_REVIEW, S.APPROVED, S.REJECTED, S.WITHDRAWN, S.DRAFT} <= states
    assert InvoiceApplication.objects.filter(auto_approved=True).count() == 2


def test_the_demo_gives_each_entity_paper_stock_of_both_paper_kinds_once(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    entities = set(InvoiceApplication.objects.values_list("taxpayer_id", flat=True))
    assert len(entities) == 2
    assert paper_stock_counts(entities) == {(pk, kind): 200 for pk in entities for kind in PaperKind.values}
    # a demo application switched to a paper kind passes the paper stock rule
    app = InvoiceApplication.objects.filter(status=S.PENDING_REVIEW).first()
    app.kind = PaperKind.PAPER_NORMAL
    assert "paper_stock" not in {f.code for f in application_selectors.application_failures(app)}
