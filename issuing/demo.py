"""The issuing part of the demo world: per entity, a few billing documents and applications in several states,
this month's quota, a batch of blank 数电纸票 per paper kind and the entity's issuing settings. Idempotent: an entity that already has demo documents is left
alone."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction

from invoicing.actors import SystemActor
from invoicing.models import Counterparty, Taxpayer
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import QuotaPeriod
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument, InvoicingBasis, IssuingPolicy
from issuing.paperstock import services as paper_services
from issuing.paperstock.models import PaperBatch, PaperKind

DEMO_SOURCE = "demo"
DEMO = SystemActor("demo")  # the demo seed writes through the services like anyone, named in the audit trail

SOFTWARE = "3040201000000000000"
RIDE = "3010101020203000000"

# (external no suffix, buyer code, lines: (item, category, rate, amount incl. tax, quantity, unit price, discount))
DOCUMENTS = [
    ("001", "C002", [("软件技术服务费", SOFTWARE, "0.06", "10600.00", None, None, "0")]),
    ("002", "C002", [("软件技术服务费", SOFTWARE, "0.06", "2120.00", None, None, "0")]),
    ("003", "P001", [("网约车客运服务", RIDE, "0.09", None, "3", "36.00", "0")]),
    ("004", "P002", [("网约车客运服务", RIDE, "0.09", "218.00", None, None, "18.00")]),
    ("005", "C003", [("软件技术服务费", SOFTWARE, "0.06", "5300.00", None, None, "0")]),
    ("006", "C004", [("软件技术服务费", SOFTWARE, "0.06", "1590.00", None, None, "0"),
                     ("网约车客运服务", RIDE, "0.09", "327.00", None, None, "0")]),
    ("007", "P003", [("网约车客运服务", RIDE, "0.09", "64.00", None, None, "0")]),
]


# 票仓: per entity and paper kind, one batch of blank 数电纸票 (paper code by entity tag and kind, numbers 1–200), so the
# demo can issue paper invoices (issuing one without stock is a compliance failure)
PAPER_CODES = {("YT", PaperKind.PAPER_SPECIAL): "144012600185", ("YT", PaperKind.PAPER_NORMAL): "144012600186",
               ("MY", PaperKind.PAPER_SPECIAL): "144032600185", ("MY", PaperKind.PAPER_NORMAL): "144032600186"}
PAPER_SHEETS = 200


def _paper_stock(entity: Taxpayer, tag: str) -> None:
    for kind in PaperKind.values:
        if not PaperBatch.objects.filter(taxpayer=entity, kind=kind).exists():
            paper_services.paper_batch_receive(taxpayer=entity, kind=kind, code=PAPER_CODES[(tag, kind)],
                                               start_number=1, end_number=PAPER_SHEETS, actor=DEMO)


def _line(item, category, rate, amount, quantity, price, discount):
    return {"item_name": item, "tax_category": category, "tax_rate": Decimal(rate),
            "amount": Decimal(amount) if amount else None, "quantity": Decimal(quantity) if quantity else None,
            "unit_price": Decimal(price) if price else None, "discount": Decimal(discount), "tax_inclusive": True}


@transaction.atomic
def seed(stdout=None) -> None:
    reviewer = User.objects.filter(username="service").first()
    made = 0
    for entity in Taxpayer.objects.filter(credit_code__in=["91440101MA5CYUN00U", "91440300MA5FM1NGYB"]):
        if not IssuingPolicy.objects.filter(taxpayer=entity).exists():
            billing_services.issuing_policy_set(actor=DEMO, taxpayer=entity, changes={
                "auto_approve": True, "auto_approve_person_limit": Decimal("100.00"),
                "invoicing_basis": InvoicingBasis.PAID})
        month = application_selectors.quota_month()
        if not QuotaPeriod.objects.filter(taxpayer=entity, month=month).exists():
            quota.quota_set(actor=DEMO, taxpayer=entity, month=month, total=Decimal("1000000.00"))
        tag = "YT" if entity.credit_code.startswith("914401") else "MY"
        _paper_stock(entity, tag)
        if BillingDocument.objects.filter(taxpayer=entity, source_system=DEMO_SOURCE).exists():
            continue
        buyers = {c.code: c for c in Counterparty.objects.filter(taxpayer=entity)}
        docs = {}
        for suffix, buyer_code, lines in DOCUMENTS:
            doc = billing_services.billing_document_create(
                actor=None, taxpayer=entity, external_no=f"DEMO-{tag}-{suffix}", source_system=DEMO_SOURCE,
                counterparty=buyers[buyer_code], lines=[_line(*ln) for ln in lines],
            )
            docs[suffix] = billing_services.billing_document_record_payment(document=doc, actor=None, amount=doc.order_amount)
        # 待审核: two orders of one company merged into one application
        application_services.applications_merge(actor=None, documents=[docs["001"], docs["002"]])
        # 审核中: claimed by customer service
        claimed = application_services.application_create(actor=None, taxpayer=entity, sources=[docs["005"]])
        if reviewer is not None:
            try:  # the demo's 李客服; a user of that name that the demo did not create may not review here
                with transaction.atomic():
                    application_services.application_claim(application=claimed, actor=reviewer)
            except PermissionDenied:
                pass
        # 待开票: a small ordinary invoice to a person, approved by the entity's rule
        application_services.application_create(actor=None, taxpayer=entity, sources=[docs["007"]])
        # 待开票 after review; and part of a refunded ride re-applied
        approved = application_services.application_create(actor=None, taxpayer=entity, sources=[docs["003"]])
        application_services.application_approve(application=approved, actor=None)
        billing_services.billing_document_refund(document=docs["004"], actor=None, amount="50.00", reason="部分退款")
        application_services.application_create(actor=None, taxpayer=entity, sources=[docs["004"]], submit=False)
        # 驳回 with a reason the customer reads, then 已撤销
        rejected = application_services.application_create(actor=None, taxpayer=entity, sources=[(docs["006"], "1000.00")])
        application_services.application_reject(application=rejected, actor=None, reason="购买方名称与税号不一致，请核对后重新申请")
        withdrawn = application_services.application_create(actor=None, taxpayer=entity, sources=[(docs["006"], "500.00")])
        application_services.application_withdraw(application=withdrawn, actor=None, reason="客户取消")
        made += 1
    if stdout:
        stdout.write(f"issuing: demo billing documents and applications for {made} entities")
