"""Demo accounts on the sandbox platform: one per entity that uses the sandbox channel. Idempotent."""

from __future__ import annotations

from invoicing.models import Taxpayer
from sandbox import services

DEMO_ISSUE_DELAY_SECONDS = 2  # long enough to see 开票中 in the admin, short enough for a demo


def seed(stdout=None) -> None:
    count = 0
    for taxpayer in Taxpayer.objects.filter(channel="sandbox", is_active=True).exclude(channel_app_key=""):
        services.account_ensure(
            credit_code=taxpayer.credit_code, name=taxpayer.name, app_key=taxpayer.channel_app_key,
            secret=taxpayer.channel_secret, region_code=taxpayer.region_code, is_demo=True,
            issue_delay_seconds=DEMO_ISSUE_DELAY_SECONDS,
        )
        count += 1
    if stdout is not None:
        stdout.write(f"sandbox: {count} demo platform account(s)")
