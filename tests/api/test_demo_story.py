"""``make run``'s seed finishes the story of one ride (api/demo.py): 云途's app orders, two invoices issued to 明远
and e-mailed, read by 明远's mailbox into its pool, the ride claimed, approved and booked, the 专票 confirmed for
deduction and on 附列资料（二） line 2. Seeding again adds nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from api import demo
from deduction import selectors as deduction_selectors
from deduction.models import PeriodState, TaxPeriod
from delivery.models import Delivery
from issuing.billing.models import BillingDocument
from issuing.platform.models import Invoice
from receiving.claims_models import ClaimSource, ClaimState, ExpenseClaim
from receiving.mailbox.models import Mailbox, MailMessage, MessageState
from receiving.models import Method, ReceivedInvoice, UseState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_holds_the_finished_story_of_one_ride(seeded):
    docs = BillingDocument.objects.filter(source_system=demo.APP).order_by("external_no")
    assert [(d.taxpayer.credit_code, d.source) for d in docs] == [(demo.YUNTU, "api")] * 2
    ride, monthly = (Invoice.objects.get(application__sources__billing_document__external_no=no, is_red=False)
                     for no, *_ in demo.ORDERS)
    assert (ride.kind, ride.total, monthly.kind, monthly.total, monthly.tax) == (
        "82", Decimal("86.00"), "81", Decimal("2180.00"), Decimal("180.00"))
    assert {ride.buyer_tax_id, monthly.buyer_tax_id} == {demo.MINGYUAN}
    assert Delivery.objects.filter(invoice__in=[ride, monthly], channel="email",
                                   target=demo.COLLECTION_ADDRESS).count() == 2

    # in 明远's pool, by mail: the mailbox's messages name the invoices' files
    box = Mailbox.objects.get(taxpayer__credit_code=demo.MINGYUAN)
    assert not box.enabled and box.message_count == 2 and box.pending_count == 0
    mails = MailMessage.objects.filter(mailbox=box, state=MessageState.DONE)
    assert sorted(a["name"] for m in mails for a in m.attachments if a["name"].endswith(".xml")) == sorted(
        [f"{ride.number}.xml", f"{monthly.number}.xml"])
    records = {r.number: r for r in ReceivedInvoice.objects.filter(taxpayer__credit_code=demo.MINGYUAN,
                                                                 number__in=[ride.number, monthly.number])}
    assert set(records) == {ride.number, monthly.number}
    for record in records.values():
        assert list(record.sources.values_list("method", flat=True).distinct()) == [Method.MAILBOX]
        assert record.seller_tax_id == demo.YUNTU and not record.other_buyer

    # the ride claimed through the API source, approved and booked
    claim = ExpenseClaim.objects.get(taxpayer__credit_code=demo.MINGYUAN)
    assert (claim.source, claim.state, claim.claimant_name) == (ClaimSource.API, ClaimState.APPROVED, "韩梅")
    assert claim.booked_at is not None and [line.invoice_id for line in claim.lines.all()] == [records[ride.number].pk]
    booked = ReceivedInvoice.objects.get(pk=records[ride.number].pk)
    assert booked.use_state != UseState.IN_POOL

    # the 专票 on line 2 of a confirmed period
    period = TaxPeriod.objects.get(taxpayer__credit_code=demo.MINGYUAN, state=PeriodState.CONFIRMED,
                                   selections__invoice=records[monthly.number])
    lines = deduction_selectors.schedule2_of(period)
    drill = deduction_selectors.schedule2_drilldown(period, "2", offset=0, limit=500)
    assert records[monthly.number].pk in [item.invoice_id for item in drill.items]
    assert lines["2"].tax == Decimal("180.00") and lines["2"].amount == Decimal("2000.00")
    assert "附列资料（二） line 2" in seeded

    call_command("seed_demo", stdout=StringIO())  # idempotent
    assert BillingDocument.objects.filter(source_system=demo.APP).count() == 2
    assert ExpenseClaim.objects.filter(taxpayer__credit_code=demo.MINGYUAN).count() == 1
    assert MailMessage.objects.filter(mailbox=box).count() == 2
