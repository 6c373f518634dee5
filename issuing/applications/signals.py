"""What applications tell the sub-package above them (platform), which listens (connected in
``issuing.apps.IssuingConfig.ready``), so that applications never import it.

``auto_application_approved(sender=InvoiceApplication, application=..., policy=IssuingPolicy, actor=...)``
    An application that the entity's 申请时机 created (``billing_document_auto_apply``) passed the entity's
    auto-approval rule and is 待开票. Sent synchronously inside the creating transaction, with the application's
    row locked. The platform starts issuing it when ``policy.auto_issue`` says so: the transition to 开票中 commits
    with the application, and the channel call is queued only after that commit.
"""

from __future__ import annotations

from django.dispatch import Signal

auto_application_approved = Signal()
