"""Writing the audit trail. Every state change in every app calls ``event_record``."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.dispatch import Signal

from invoicing.models import Event, Taxpayer
from invoicing.redaction import redact, redact_text

# Sent with ``events=[...]`` after ``events_record_many`` (bulk inserts send no ``post_save``): whatever listens to
# new events one by one (webhooks) listens here too.
events_recorded = Signal()


def event_record(
    *,
    obj: models.Model,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    taxpayer: Taxpayer | None = None,
) -> Event:
    """Append one event for ``obj``. ``actor`` is a user (or None for the system / an API client)."""
    event = _event(obj=obj, action=action, actor=actor, actor_label=actor_label, from_state=from_state,
                   to_state=to_state, reason=reason, data=data, taxpayer=taxpayer)
    event.save()
    return event


def events_record_many(rows: list[dict[str, Any]]) -> list[Event]:
    """Append many events in one insert; each row holds ``event_record``'s keyword arguments. For services that
    change many objects in one transaction (batch issuing)."""
    events = Event.objects.bulk_create([_event(**row) for row in rows])
    if events:
        events_recorded.send(sender=Event, events=events)
    return events


def _event(
    *,
    obj: models.Model,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    taxpayer: Taxpayer | None = None,
) -> Event:
    if taxpayer is None:
        taxpayer = getattr(obj, "taxpayer", None) if not isinstance(obj, Taxpayer) else obj
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    if not actor_label and actor is not None and user is None:
        actor_label = str(actor)
    return Event(
        actor=user,
        actor_label=actor_label[:100],
        taxpayer=taxpayer,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        action=action,
        from_state=str(from_state or ""),
        to_state=str(to_state or ""),
        # Customer links and API tokens are masked: whoever reads the trail must not be able to use them.
        reason=redact_text(reason),
        data=redact(data or {}),
    )


def events_for(obj: models.Model) -> models.QuerySet[Event]:
    return Event.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("actor")
