"""The platform's answers to what applications tell (``issuing.applications.signals``) and to the kernel's question
before an entity's channel changes (``invoicing.channels.signals``), connected in ``issuing.apps.IssuingConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import ngettext

from invoicing.actors import Actor
from invoicing.models import Taxpayer
from issuing.applications.models import ApplicationStatus, InvoiceApplication
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


def on_channel_switch(sender: type[Taxpayer], *, taxpayer: Taxpayer, **kwargs: Any) -> list[str]:
    """Applications 开票中 were sent to the current platform under serials the new one has never seen."""
    n = InvoiceApplication.objects.filter(taxpayer=taxpayer, status=ApplicationStatus.ISSUING).count()
    if not n:
        return []
    return [ngettext("有 %(n)d 张申请单开票中，结果只能向原通道查询；请待其开票完成后再切换通道",
                     "有 %(n)d 张申请单开票中，结果只能向原通道查询；请待其开票完成后再切换通道", n) % {"n": n}]
