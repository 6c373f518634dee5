import pytest
from django.core.exceptions import ValidationError

from invoicing.events import event_record, events_for
from invoicing.models import Event

pytestmark = pytest.mark.django_db


def test_it_records_who_what_from_to_and_why(yuntu, fiona):
    event = event_record(obj=yuntu, action="channel_changed", actor=fiona, from_state="a", to_state="b",
                         reason="新账号", data={"k": 1})
    assert event.actor == fiona and event.taxpayer == yuntu
    assert (event.action, event.from_state, event.to_state, event.reason, event.data) == (
        "channel_changed", "a", "b", "新账号", {"k": 1})
    assert list(events_for(yuntu)) == [event]


def test_a_system_actor_is_named_by_label(yuntu):
    event = event_record(obj=yuntu, action="poll", actor_label="celery:poll_issue_results")
    assert event.actor is None and event.who == "celery:poll_issue_results"


def test_events_are_append_only(yuntu):
    event = event_record(obj=yuntu, action="x")
    event.reason = "changed"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()
    assert Event.objects.get(pk=event.pk).reason == ""


def test_the_admin_trail_shows_state_labels_and_escapes_reasons(yuntu, fiona):
    from invoicing.admin import EventsReadonlyMixin
    from issuing.applications.models import InvoiceApplication
    from tests.issuing.factories import InvoiceApplicationFactory

    app = InvoiceApplicationFactory(taxpayer=yuntu)
    event_record(obj=app, action="claim", actor=fiona, from_state="pending_review", to_state="in_review",
                 reason="<script>alert(1)</script>")
    html = str(EventsReadonlyMixin().events_table(app))
    labels = dict(InvoiceApplication._meta.get_field("status").choices)
    assert f"{labels['pending_review']} → {labels['in_review']}" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
