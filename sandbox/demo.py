"""Demo accounts on the sandbox platform: one per entity that uses the sandbox channel, and invoices that
third-party sellers issued to each of them over the last weeks (their received list is not only what one demo
entity issues to the other). Idempotent."""

from __future__ import annotations

from invoicing.models import Taxpayer
from sandbox import services

DEMO_ISSUE_DELAY_SECONDS = 2  # long enough to see 开票中 in the admin, short enough for a demo
THIRD_PARTY_INVOICES = 12  # per demo entity, from the third-party sellers, over the last THIRD_PARTY_DAYS days
THIRD_PARTY_DAYS = 20


def seed(stdout=None) -> None:
    count = 0
    for taxpayer in Taxpayer.objects.filter(channel="sandbox", is_active=True).exclude(channel_app_key=""):
        services.account_ensure(
            credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
            secret=taxpayer.channel_secret, region_code=taxpayer.region_code, is_demo=True,
            issue_delay_seconds=DEMO_ISSUE_DELAY_SECONDS,
        )
        services.received_seed(buyer_credit_code=taxpayer.credit_code, buyer_name=taxpayer.name,
                               count=THIRD_PARTY_INVOICES, days=THIRD_PARTY_DAYS, prefix="demo")
        count += 1
    if stdout is not None:
        stdout.write(f"sandbox: {count} demo platform account(s), each with {THIRD_PARTY_INVOICES} invoices from "
                     f"third-party sellers")
