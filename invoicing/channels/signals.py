"""What the kernel asks the apps about an entity's channel (the kernel imports no app: the apps answer).

``channel_switch_blockers(sender=Taxpayer, taxpayer=...)`` is sent before an entity's channel changes (the entity's
admin form). Each receiver returns a list of reasons in words, empty when nothing of its own stops the change: work in
flight that only the current platform knows (an application 开票中 was sent there under a serial the new platform has
never seen; its poller would ask the new one, hear "never seen" and send the application again). Issuing connects its
receivers in ``IssuingConfig.ready``. ``channel_switch_refusals`` gathers the reasons.
"""

from __future__ import annotations

from django.dispatch import Signal

from invoicing.models import Taxpayer

channel_switch_blockers = Signal()


def channel_switch_refusals(taxpayer: Taxpayer) -> list[str]:
    """Why this entity's channel must not change now (empty: it may). A receiver that fails fails the question."""
    reasons: list[str] = []
    for _receiver, answer in channel_switch_blockers.send(sender=Taxpayer, taxpayer=taxpayer):
        reasons.extend(str(reason) for reason in answer or ())
    return reasons
