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
