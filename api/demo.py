"""The demo's whole story of one ride, finished, so that a new user can follow it by clicking (the same steps the
end-to-end test tests/e2e/test_story.py drives in the browser):

1. 云途's ride-hailing app sends two orders for 明远 through the API (业务单据, source API): an employee's business
   ride (数电普票, 86.00) and the month's company rides (数电专票, 2,180.00); both are approved and issued on the
   sandbox, and delivery e-mails them to 明远's collection address (交付记录; with the development settings the
   e-mail lands in var/outbox once the worker runs);
2. the same e-mail reaches 明远's demo mailbox: it is read as a mailbox run reads fetched mail, so both invoices are
   in 明远's pool with the source 邮箱 and the message on the mailbox's page (the mailbox itself stays disabled);
3. 明远's expense system claims the ride for 韩梅 (报销单 source API): submitted, approved and booked (入账);
4. the 专票 is selected for deduction in the period of its issue date, the statistics applied and confirmed: the
   period's 附列资料（二） line 2 shows it, with a link to the invoice in the pool.

Runs last (the api app is the top layer and last in INSTALLED_APPS: it may use every side). Idempotent: once 云途
has the story's order, nothing more is done.
"""

from __future__ import annotations

import time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import OutputWrapper
from django.utils import timezone

from deduction import services as deduction_services
from deduction.models import PeriodState
from deduction.periods import period_of
from delivery.services import build_email
from invoicing.actors import SystemActor
from invoicing.channels import get_channel
from invoicing.channels.base import ChannelError
from invoicing.models import Taxpayer
from issuing.applications import services as application_services
from issuing.applications.models import InvoiceApplication
from issuing.base import Source
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument
from issuing.platform import services as platform_services
from issuing.platform.models import Invoice
from receiving import claims
from receiving.claims_models import ClaimSource
from receiving.mailbox.fetching import mailbox_read
from receiving.mailbox.models import Mailbox
from receiving.models import ReceivedInvoice

DEMO = SystemActor("demo")
APP = "demo-ride-app"  # the source system: 云途's ride-hailing app
YUNTU = "91440101MA5CYUN00U"
MINGYUAN = "91440300MA5FM1NGYB"
COLLECTION_ADDRESS = "finance@mingyuan.example.com"  # 明远's address in 云途's customer list
RIDE = "3010101020203000000"
ORDERS = [("DEMO-RIDE-0001", "82", "86.00", "客户拜访用车"), ("DEMO-CORP-0001", "81", "2180.00", "企业用车月结")]
ISSUE_WAIT_SECONDS = 30


def _title(entity: Taxpayer) -> dict[str, str]:
    return {"buyer_name": entity.name, "buyer_tax_id": entity.credit_code, "buyer_address": entity.address,
            "buyer_phone": entity.phone, "buyer_bank_name": entity.bank_name,
            "buyer_bank_account": entity.bank_account}


def _issue(application: InvoiceApplication, channel) -> Invoice | None:
    """Approve and issue now; the sandbox completes an issue a few seconds later, so ask again until it has."""
    # issuing's services take None for the system (the demo's issuing part does the same)
    application_services.application_approve(application=application, actor=None)
    application_services.application_mark_issuing(application=application, actor=None)
    deadline = time.monotonic() + ISSUE_WAIT_SECONDS
    while True:
        platform_services.issue_attempt(application_id=application.pk, channel=channel)
        invoice = Invoice.objects.filter(application=application, is_red=False).first()
        if invoice is not None or time.monotonic() > deadline:
            return invoice
        time.sleep(1)


def seed(stdout: OutputWrapper | None = None) -> None:
    def say(text: str) -> None:
        if stdout is not None:
            stdout.write(f"api: {text}")

    yuntu = Taxpayer.objects.filter(credit_code=YUNTU, channel="sandbox").exclude(channel_app_key="").first()
    mingyuan = Taxpayer.objects.filter(credit_code=MINGYUAN, channel="sandbox").exclude(channel_app_key="").first()
    if yuntu is None or mingyuan is None:
        return
    if BillingDocument.objects.filter(taxpayer=yuntu, source_system=APP).exists():
        return
    seller_channel = get_channel(yuntu, transport="inprocess")
    invoices: list[Invoice] = []
    for external_no, kind, total, remark in ORDERS:
        doc = billing_services.billing_document_create(
            actor=None, taxpayer=yuntu, external_no=external_no, source=Source.API, source_system=APP,
            buyer=_title(mingyuan), buyer_email=COLLECTION_ADDRESS, paid_amount=total, remark=remark,
            lines=[{"item_name": "网约车客运服务", "tax_category": RIDE, "tax_rate": "0.09", "amount": total}])
        application = application_services.application_create(
            actor=None, taxpayer=yuntu, kind=kind, sources=[doc], delivery_email=COLLECTION_ADDRESS,
            source=Source.API)
        invoice = _issue(application, seller_channel)
        if invoice is None:
            say(f"the sandbox did not issue {application.number} in time; the story stops here")
            return
        invoices.append(invoice)
    say(f"云途 issued {', '.join(i.number for i in invoices)} to {mingyuan} and e-mailed them to {COLLECTION_ADDRESS}")

    mailbox = Mailbox.objects.filter(taxpayer=mingyuan).order_by("pk").first()
    if mailbox is None:
        return
    raws = [build_email(invoice, COLLECTION_ADDRESS).message().as_bytes() for invoice in invoices]
    read = mailbox_read(mailbox_id=mailbox.pk, raws=raws)
    records = {r.number: r for r in ReceivedInvoice.objects.filter(taxpayer=mingyuan,
                                                                 number__in=[i.number for i in invoices])}
    ride, monthly = (records.get(i.number) for i in invoices)
    say(f"明远's mailbox read {read.messages} e-mail(s), {read.files} file(s) into the pool")
    if ride is None or monthly is None:
        return

    try:
        claim = claims.claim_create(
            taxpayer=mingyuan, claimant_name="韩梅", claimant_code="MY-0042", department="销售部",
            title="客户拜访用车", external_ref="DEMO-EXP-0001", lines=[claims.LineInput(invoice=ride, note="客户拜访")],
            source=ClaimSource.API, actor=DEMO)
        claims.claim_submit(claim=claim, actor=DEMO)
        claims.claim_approve(claim=claim, actor=DEMO)
        claims.claim_book(claim=claim, voucher_no="记-0086", booked_on=timezone.localdate(), actor=DEMO,
                          account_code="6601 销售费用-差旅费")
        say(f"expense claim {claim.claim_no} of 明远 approved and booked")
    except (ValidationError, ChannelError) as exc:
        say(f"the story's claim stopped: {exc}")

    buyer_channel = get_channel(mingyuan, transport="inprocess")
    period = period_of(monthly.issue_date or timezone.localdate())
    try:
        row = deduction_services.tax_period_ensure(taxpayer=mingyuan, period=period, actor=DEMO)
        if row.state == PeriodState.OPEN:
            deduction_services.deduction_select(
                tax_period=row, items=[deduction_services.SelectionInput(invoice_id=monthly.pk)], actor=DEMO,
                channel=buyer_channel)
            row = deduction_services.tax_period_statistics_apply(tax_period=row, actor=DEMO, channel=buyer_channel)
        if row.state == PeriodState.STATISTICS:
            row = deduction_services.tax_period_confirm(tax_period=row, actor=DEMO, channel=buyer_channel)
    except (ValidationError, ChannelError) as exc:
        say(f"the story's deduction stopped: {exc}")
        return
    tax = monthly.tax or Decimal("0.00")
    say(f"明远 {row.period} {row.get_state_display()}: {monthly.number} (tax {tax}) on 附列资料（二） line 2")
