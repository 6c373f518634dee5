"""The demo's expense claims: one submitted claim of 云途, waiting for finance (or the expense reviewer) to approve.

It holds invoices the platform download brought (the sandbox platform knows them, so their verification before
use answers 查验成功 and the rules pass). Idempotent: an entity that has a claim gets none.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.management.base import OutputWrapper

from invoicing.actors import SystemActor
from invoicing.models import Taxpayer
from receiving import claims
from receiving.claims import LineInput
from receiving.claims_models import ClaimSource, ExpenseClaim
from receiving.models import Method, PlatformStatus, ReceivedInvoice, ReviewState, UseState

DEMO = SystemActor("demo")


def seed(entity: Taxpayer, stdout: OutputWrapper | None = None) -> ExpenseClaim | None:
    if ExpenseClaim.objects.filter(taxpayer=entity).exists():
        return None
    usable = list(ReceivedInvoice.objects.filter(
        taxpayer=entity, sources__method=Method.PLATFORM, use_state=UseState.IN_POOL, other_buyer=False,
        review_state=ReviewState.CLEAR, platform_status=PlatformStatus.NORMAL, total__gt=0,
    ).order_by("id").distinct()[:2])
    if not usable:
        return None
    lines = [LineInput(invoice=usable[0], note="客户拜访")]
    if len(usable) > 1:  # part of the second: the rest stays free for another claim
        part = (usable[1].total or Decimal("0")) / 2
        lines.append(LineInput(invoice=usable[1], amount=part.quantize(Decimal("0.01")), note="部分报销"))
    claim = claims.claim_create(taxpayer=entity, claimant_name="林小华", claimant_code="YT-0107",
                                department="市场部", title="2026 年 3 月客户拜访", lines=lines,
                                source=ClaimSource.ADMIN, actor=DEMO)
    claims.claim_submit(claim=claim, actor=DEMO)
    if stdout is not None:
        stdout.write(f"receiving: expense claim {claim.claim_no} submitted for approval ({len(lines)} invoices)")
    return claim
