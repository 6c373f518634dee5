import pytest
from django.core.management import call_command

from issuing.applications.models import ApplicationStatus as S
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import BillingDocument

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
