"""The receiving part of the demo world: 云途's pool, filled the way a user fills it, by uploading files.

- one supplier invoice in three carriers (XML, OFD, PDF): one pool record with three files;
- one invoice whose OFD disagrees with its XML on the amount: a record in review with both values shown;
- the licensed sample OFD and PDF files in tests/fixtures (their buyers are other companies: kept and flagged);
- two scans of QR payloads from the shared vectors: prefilled records waiting for their files;
- then, for every entity on the sandbox channel, a first platform download (the sandbox's demo holds invoices from
  third-party sellers to each demo entity), so that the pool is not empty on first login;
- one mailbox per entity, *disabled*, on ``imap.example.invalid`` (a name that never resolves): the mailbox page shows
  what a configured mailbox looks like; nothing connects anywhere until someone puts in a real server and enables it.
- and a submitted expense claim of 云途 over downloaded invoices, for finance or the expense reviewer to approve.

Idempotent: an entity whose pool is not empty gets no uploads; the download is incremental (its watermark).
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import OutputWrapper

from invoicing.actors import SystemActor
from invoicing.channels import get_channel
from invoicing.documents import documents_environment_problems, render_pdf, write_ofd, write_xml
from invoicing.documents.demo import demo_document
from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty
from invoicing.models import Taxpayer
from receiving import demo_claims, demo_controls, platform, services
from receiving.mailbox import services as mailbox_services
from receiving.mailbox.models import Mailbox
from receiving.models import Method, PlatformSync, ReceivedInvoice

DEMO = SystemActor("demo")
YUNTU = "91440101MA5CYUN00U"
SUPPLIER = ("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N")
FIXTURES = Path(settings.BASE_DIR) / "tests" / "fixtures"


def _invoice(number: str, amount: str, buyer: Taxpayer) -> InvoiceDocument:
    a = Decimal(amount)
    tax = (a * Decimal("0.06")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    line = InvoiceLine(line_no=1, item_name="*信息技术服务*云服务器租用", short_name="信息技术服务", amount=a,
                       tax_rate=Decimal("0.06"), tax=tax, quantity=Decimal(1), unit_price=a, unit="月",
                       tax_code="3040203000000000000")
    return demo_document(number=number, kind="81", lines=1).with_changes(
        lines=(line,), total_amount=a, total_tax=tax, total_with_tax=a + tax, issue_date=date(2026, 3, 2),
        seller=InvoiceParty(*SUPPLIER), buyer=InvoiceParty(buyer.name, buyer.credit_code),
        remark="云服务器 2026 年 3 月")


DEMO_MAILBOX_HOST = "imap.example.invalid"  # RFC 2606: .invalid never resolves


def seed(stdout: OutputWrapper | None = None) -> None:
    _seed_uploads(stdout)
    _seed_mailboxes(stdout)
    downloaded = PlatformSync.objects.values_list("taxpayer_id", flat=True)
    for taxpayer in (Taxpayer.objects.filter(channel="sandbox", is_active=True).exclude(channel_app_key="")
                     .exclude(pk__in=downloaded)):  # the first download only: later ones are the daily task's
        result = platform.platform_download(taxpayer=taxpayer, actor=DEMO,
                                            channel=get_channel(taxpayer, transport="inprocess"))
        if stdout is not None:
            stdout.write(f"receiving: platform download for {taxpayer}: {result.summary()}"
                         + ("" if result.ok else f" ({result.message})"))
    entity = Taxpayer.objects.filter(credit_code=YUNTU).first()
    if entity is not None:
        demo_claims.seed(entity, stdout)  # a submitted claim waiting for approval (once)


def _seed_uploads(stdout: OutputWrapper | None = None) -> None:
    entity = Taxpayer.objects.filter(credit_code=YUNTU).first()
    if entity is None:
        return
    demo_controls.seed(entity)  # the bad cases of verification and the receiving rules (once)
    if ReceivedInvoice.objects.filter(taxpayer=entity).exclude(number__in=demo_controls.NUMBERS).exists():
        return
    batch = services.collection_start(taxpayer=entity, method=Method.UPLOAD, actor=DEMO, note="演示数据")
    three = _invoice("26332000000012340001", "8000.00", entity)
    files = [("26332000000012340001.xml", write_xml(three)), ("26332000000012340001.ofd", write_ofd(three))]
    if not documents_environment_problems():
        files.append(("26332000000012340001.pdf", render_pdf(three)))
    disputed = _invoice("26332000000012340002", "1200.00", entity)
    files += [("26332000000012340002.xml", write_xml(disputed)),
              ("26332000000012340002.ofd", write_ofd(_invoice("26332000000012340002", "1300.00", entity)))]
    for folder in ("ofd", "pdf"):
        files += [(p.name, p.read_bytes()) for p in sorted((FIXTURES / folder).glob(f"*.{folder}"))]
    for name, data in files:
        services.collection_add_file(collection=batch, name=name, data=data, actor=DEMO)
    services.collection_finish(collection=batch, actor=DEMO)
    scanner = services.collection_start(taxpayer=entity, method=Method.SCANNER, actor=DEMO, note="演示数据")
    vectors = FIXTURES / "vectors" / "qr_payloads.tsv"
    if vectors.exists():
        with vectors.open(encoding="utf-8") as fh:
            payloads = [row["payload"] for row in csv.DictReader(fh, delimiter="\t")]
        for payload in payloads[1:3]:
            services.collection_add_qr(collection=scanner, payload=payload, actor=DEMO)
    services.collection_finish(collection=scanner, actor=DEMO)
    if stdout is not None:
        count = ReceivedInvoice.objects.filter(taxpayer=entity).count()
        stdout.write(f"receiving: {count} invoices in {entity}'s pool ({batch.processed} files uploaded)")


def _seed_mailboxes(stdout: OutputWrapper | None = None) -> None:
    """A disabled example mailbox for each entity that has none (never read: disabled, and its host never resolves)."""
    have = Mailbox.objects.values_list("taxpayer_id", flat=True)
    for entity in Taxpayer.objects.filter(is_active=True).exclude(pk__in=have).order_by("pk"):
        mailbox_services.mailbox_create(
            taxpayer=entity, name="演示邮箱（未连接，改为真实服务器后启用）", host=DEMO_MAILBOX_HOST,
            username=f"invoice@{entity.credit_code.lower()}.example.com", password="demo-not-a-real-password",
            enabled=False, actor=DEMO)
        if stdout is not None:
            stdout.write(f"receiving: a disabled example mailbox for {entity} ({DEMO_MAILBOX_HOST})")
