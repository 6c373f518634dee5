"""Writing the audit trail. Every state change in every app calls ``event_record``."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from invoicing.models import Event, Taxpayer


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
    if taxpayer is None:
        taxpayer = getattr(obj, "taxpayer", None) if not isinstance(obj, Taxpayer) else obj
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    if not actor_label and actor is not None and user is None:
        actor_label = str(actor)
    return Event.objects.create(
        actor=user,
        actor_label=actor_label[:100],
        taxpayer=taxpayer,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        action=action,
        from_state=str(from_state or ""),
        to_state=str(to_state or ""),
        reason=reason,
        data=data or {},
    )


def events_for(obj: models.Model) -> models.QuerySet[Event]:
    return Event.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("actor")
