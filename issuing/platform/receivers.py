"""The platform's answers to what applications tell (``issuing.applications.signals``), connected in
``issuing.apps.IssuingConfig.ready``."""

from __future__ import annotations

from typing import Any

from invoicing.actors import Actor
from issuing.applications.models import InvoiceApplication
from issuing.billing.models import IssuingPolicy
from issuing.platform import services as platform_services


def on_auto_application_approved(
    sender: type[InvoiceApplication], *, application: InvoiceApplication, policy: IssuingPolicy, actor: Actor = None,
    **kwargs: Any,
) -> None:
    """自动审核通过后直接开票: with the entity's ``auto_issue`` an automatic application approved by the rule is
    requested for issuing in the same transaction (``application_request_issue``, the grouped path: one per paid
    order, issued in batches by the drain armed on commit)."""
    if policy.auto_issue:
        platform_services.application_request_issue(application=application, actor=actor)
