"""Who may raise and decide red-letter forms, and each entity's red-flush settings (``RedFlushPolicy``).

Reason 01 开票有误 is full red only; 02 销货退回 and 04 销售折让 allow partial red; 03 服务中止 as the entity's
settings say (domain.md §11.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from invoicing.actors import Actor
from invoicing.events import event_record
from invoicing.models import Taxpayer
from issuing.redletter.models import RedFlushPolicy
from issuing.workflow import authorize

P_REQUEST_ANY = ("issuing.add_redletterform", "issuing.request_red_flush")

P_DECIDE = "issuing.confirm_redletterform"

PARTIAL_REASONS = frozenset({"02", "04"})


def policy_for(taxpayer: Taxpayer) -> RedFlushPolicy:
    try:
        return taxpayer.red_flush_policy
    except RedFlushPolicy.DoesNotExist:
        return RedFlushPolicy(taxpayer=taxpayer)


def reason_allows_partial(reason: str, policy: RedFlushPolicy | None = None) -> bool:
    """01 开票有误: full only (§11.1). 02 / 04: partial allowed. 03 服务中止: as the entity's setting says."""
    if reason in PARTIAL_REASONS:
        return True
    if reason == "03":
        return bool(policy and policy.service_stop_allows_partial)
    return False


def red_flush_policy_save(*, policy: RedFlushPolicy, actor: Actor, changed: Iterable[str] = ()) -> RedFlushPolicy:
    """An entity's red-flush settings, new or changed (set on ``policy`` by the caller's form): checked, saved and
    recorded with the fields that changed."""
    authorize(actor, policy.taxpayer_id, "issuing.change_redflushpolicy" if policy.pk else "issuing.add_redflushpolicy")
    with transaction.atomic():
        if policy.pk is not None:
            RedFlushPolicy.objects.select_for_update().only("pk").get(pk=policy.pk)  # two edits: one at a time
        policy.full_clean()
        policy.save()
        event_record(obj=policy, action="policy_change", actor=actor, taxpayer=policy.taxpayer,
                     data={name: str(getattr(policy, name)) for name in sorted(changed)})
    return policy
