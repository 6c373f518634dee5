from decimal import Decimal

import pytest
from django.core.exceptions import FieldError  # noqa: F401
from django_fsm import TransitionNotAllowed

from issuing.applications.models import ApplicationStatus, InvoiceApplication, customer_status

pytestmark = pytest.mark.django_db


def test_an_application_starts_pending_and_its_status_cannot_be_assigned(yuntu):
    app = InvoiceApplication.objects.create(number="SQ1", taxpayer=yuntu, buyer_name="张伟",
                                            amount=Decimal("1.00"), tax=Decimal("0.06"), total=Decimal("1.06"))
    assert app.status == ApplicationStatus.PENDING_REVIEW
    with pytest.raises(AttributeError):
        app.status = ApplicationStatus.ISSUED
    with pytest.raises(TransitionNotAllowed):
        app.mark_issued(at=None)
    assert customer_status(ApplicationStatus.IN_REVIEW) == customer_status(ApplicationStatus.ISSUING)
