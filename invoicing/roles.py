"""The role groups and what each may do.

The groups themselves are created by a migration (``invoicing/migrations/0002_roles.py``); their permissions are
synchronised after every ``migrate`` (permissions of later apps only exist once those apps have migrated).

- 客服 (customer service): reviews applications, creates them for customers, follows status, resends deliveries.
  Never downloads invoice files: it does not get ``issuing.download_invoice_file``.
- 财务 (finance): everything in the business apps except deleting records and managing users.
- 系统管理员 (administrator): everything, including users, roles and the channel.
- 报销审核 (expense reviewer): approves or rejects expense claims (报销单) and sees the receiving side only: the
  pool's invoices, their files and checks, and the claims, of the entities it is given; nothing of issuing.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db.models import Q

CUSTOMER_SERVICE = "客服"
FINANCE = "财务"
ADMINISTRATOR = "系统管理员"
EXPENSE_REVIEWER = "报销审核"
ROLE_NAMES = (CUSTOMER_SERVICE, FINANCE, ADMINISTRATOR, EXPENSE_REVIEWER)

BUSINESS_APPS = ("invoicing", "issuing", "delivery", "receiving", "deduction", "sandbox")

# Explicit grants for customer service, as "app_label.codename". Apps add their own codenames here.
CUSTOMER_SERVICE_PERMISSIONS: set[str] = {
    "invoicing.view_taxpayer",
    "invoicing.view_counterparty",
    "invoicing.add_counterparty",
    "invoicing.change_counterparty",
    "invoicing.view_item",
    "invoicing.view_taxcategory",
    "invoicing.view_event",
    "issuing.view_billingdocument",
    "issuing.view_billingdocumentline",
    "issuing.view_invoiceapplication",
    "issuing.add_invoiceapplication",
    "issuing.change_invoiceapplication",
    "issuing.review_invoiceapplication",
    "issuing.view_applicationline",
    "issuing.add_applicationline",
    "issuing.change_applicationline",
    "issuing.delete_applicationline",
    "issuing.view_applicationsource",
    "issuing.view_invoice",
    "issuing.view_invoiceline",
    "delivery.view_delivery",
    "delivery.resend_delivery",
    "issuing.request_red_flush",
    "issuing.view_redletterform",
    "issuing.view_redletterformline",
    "issuing.add_redletterform",
}

# Explicit grants for the expense reviewer: the receiving side only (no issuing, delivery, mailboxes or platform).
EXPENSE_REVIEWER_PERMISSIONS: set[str] = {
    "invoicing.view_taxpayer",
    "receiving.view_receivedinvoice",
    "receiving.view_receivedinvoiceline",
    "receiving.view_carrier",
    "receiving.download_carrier",
    "receiving.view_source",
    "receiving.view_invoicecheck",
    "receiving.view_verification",
    "receiving.view_ruleoverride",
    "receiving.view_expenseclaim",
    "receiving.view_claimline",
    "receiving.approve_expenseclaim",
}

# Finance may do everything in the business apps except these.
FINANCE_DENIED: set[str] = {
    # The integration log holds raw platform traffic: administrators only.
    "invoicing.view_channelcall",
    "invoicing.add_channelcall",
    "invoicing.change_channelcall",
    "invoicing.delete_channelcall",
    # job rows are written by the jobs themselves and removed by the daily purge
    "invoicing.add_job",
    "invoicing.change_job",
    "invoicing.delete_job",
    "delivery.delete_invoicefile",
    "delivery.delete_delivery",
    "delivery.delete_webhookdelivery",
    "invoicing.delete_taxpayer",
    "invoicing.delete_event",
    "invoicing.change_event",
    "invoicing.add_event",
    "invoicing.delete_taxcategory",
    "invoicing.add_entityscope",
    "invoicing.change_entityscope",
    "invoicing.delete_entityscope",
    "issuing.delete_invoice",
    "issuing.delete_invoiceapplication",
    "issuing.delete_invoiceline",
    "issuing.delete_applicationsource",
    # paper stock is the record of every blank sheet: a batch or a void is never deleted
    "issuing.delete_paperbatch",
    "issuing.delete_papervoid",
    "issuing.change_papervoid",
    "sandbox.delete_ledgerinvoice",
    # received invoices, their files and batches are never deleted (the pool is the record of what came in)
    "receiving.delete_receivedinvoice",
    "receiving.delete_receivedinvoiceline",
    "receiving.delete_carrier",
    "receiving.delete_collection",
    "receiving.delete_collectionitem",
    "receiving.delete_source",
    # mailboxes keep what they read: a mailbox is disabled, not deleted; its messages and pending queue stay
    "receiving.delete_mailbox",
    "receiving.delete_mailmessage",
    "receiving.delete_mailissue",
    "receiving.delete_platformsync",
    "receiving.delete_platformreconciliation",
    # verification results, rule results and overrides are the record of what was checked and decided
    "receiving.delete_verification",
    "receiving.delete_verificationjob",
    "receiving.delete_invoicecheck",
    "receiving.delete_ruleoverride",
    "receiving.add_invoicecheck",
    "receiving.change_invoicecheck",
    "receiving.add_ruleoverride",
    "receiving.change_ruleoverride",
    "receiving.add_verification",
    "receiving.change_verification",
    "receiving.delete_receivedredform",
    "receiving.delete_receivedredformline",
    # a claim is rejected, never deleted; its lines are taken off a draft through the service
    "receiving.delete_expenseclaim",
    "receiving.delete_claimline",
}
# Permissions outside the business apps that finance gets. Not Celery's task results: their arguments and results
# are not scoped to entities (a reconciliation's result names every entity's invoices), so only administrators read
# them; finance follows its jobs on the import/export job pages, which are scoped.
FINANCE_EXTRA: set[str] = set()


def _perms(labels: set[str]) -> list[Permission]:
    query = Q(pk__in=[])
    for label in labels:
        app_label, codename = label.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query))


def role_permissions(role: str) -> list[Permission]:
    if role == CUSTOMER_SERVICE:
        return _perms(CUSTOMER_SERVICE_PERMISSIONS)
    if role == FINANCE:
        business = Permission.objects.filter(content_type__app_label__in=BUSINESS_APPS)
        denied = {(p.content_type.app_label, p.codename) for p in _perms(FINANCE_DENIED)}
        kept = [p for p in business.select_related("content_type") if (p.content_type.app_label, p.codename) not in denied]
        return kept + _perms(FINANCE_EXTRA)
    if role == ADMINISTRATOR:
        return list(Permission.objects.all())
    if role == EXPENSE_REVIEWER:
        return _perms(EXPENSE_REVIEWER_PERMISSIONS)
    raise ValueError(f"unknown role {role!r}")


def sync_role_permissions(**_kwargs: object) -> None:
    """Make each role group's permissions exactly what this module says (idempotent)."""
    for role in ROLE_NAMES:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def user_has_role(user: User | AnonymousUser | None, role: str) -> bool:
    return bool(user and user.is_authenticated and user.groups.filter(name=role).exists())
