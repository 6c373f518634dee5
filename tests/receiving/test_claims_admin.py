"""The admin of 报销单: adding a claim and its lines, the state buttons, bulk actions with counted messages,
entity scope, a constant number of queries, and the printed packet with its count check."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from invoicing import roles
from receiving import claims, claims_print, verification
from receiving.claims import LineInput
from receiving.claims_models import ClaimState, ExpenseClaim
from receiving.models import Carrier, ReceivedInvoice, carrier_path
from tests.factories import UserFactory
from tests.receiving.conftest import as_pdf, small_document
from tests.receiving.controls import FakeVerifier, pool_invoice

pytestmark = pytest.mark.django_db
LIST = "admin:receiving_expenseclaim_changelist"


@pytest.fixture(autouse=True)
def fake(monkeypatch, settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000
    channel = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: channel)
    return channel


@pytest.fixture
def rita(yuntu):
    return UserFactory(username="rita", role=roles.EXPENSE_REVIEWER, entities=[yuntu])


def change(claim):
    return reverse("admin:receiving_expenseclaim_change", args=[claim.pk])


def do(claim, name):
    return reverse("admin:receiving_expenseclaim_do", args=[claim.pk, name])


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def submitted(entity, *records, actor=None):
    claim = claims.claim_create(taxpayer=entity, claimant_name="张三",
                                lines=[LineInput(invoice=r) for r in records], actor=actor)
    return claims.claim_submit(claim=claim, actor=actor)


def test_finance_adds_a_claim_and_its_lines_and_submits_it(client, fiona, yuntu):
    record = pool_invoice(yuntu)
    client.force_login(fiona)
    added = client.post(reverse("admin:receiving_expenseclaim_add"),
                        {"taxpayer": yuntu.pk, "claimant_name": "张三", "department": "研发部", "title": "差旅"})
    assert added.status_code == 302
    claim = ExpenseClaim.objects.get()
    page = client.post(reverse("admin:receiving_expenseclaim_line_add", args=[claim.pk]),
                       {"number": record.number, "amount": "500"}, follow=True)
    assert "报销金额 500.00" in " ".join(messages_of(page))
    over = client.post(reverse("admin:receiving_expenseclaim_line_add", args=[claim.pk]),
                       {"number": "99999999999999999999"}, follow=True)
    assert "没有发票" in " ".join(messages_of(over))
    done = client.post(do(claim, "submit"), follow=True)
    assert "已提交" in " ".join(messages_of(done))
    assert ExpenseClaim.objects.get().state == ClaimState.SUBMITTED
    assert "审批通过" in done.content.decode()


def test_the_reviewer_approves_with_the_button_and_sees_only_its_entities(client, rita, yuntu, mingyuan):
    ours = submitted(yuntu, pool_invoice(yuntu))
    theirs = submitted(mingyuan, pool_invoice(mingyuan))
    client.force_login(rita)
    listing = client.get(reverse(LIST)).content.decode()
    assert ours.claim_no in listing and theirs.claim_no not in listing
    assert client.get(change(theirs)).status_code in (302, 404)
    assert client.post(do(theirs, "approve")).status_code == 404
    page = client.get(change(ours)).content.decode()
    assert "审批通过" in page and "添加发票</h2>" not in page and "入账（" not in page
    done = client.post(do(ours, "approve"), follow=True)
    assert "已审批" in " ".join(messages_of(done))
    assert ExpenseClaim.objects.get(pk=ours.pk).state == ClaimState.APPROVED
    # the reviewer sees the receiving side only: no issuing pages
    assert client.get(reverse("admin:issuing_invoice_changelist")).status_code == 403


def test_reject_needs_a_reason_and_bulk_approval_counts(client, fiona, yuntu):
    good = [submitted(yuntu, pool_invoice(yuntu)) for _ in range(2)]
    bad = submitted(yuntu, pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code)))
    client.force_login(fiona)
    refused = client.post(do(bad, "reject"), {"reason": ""}, follow=True)
    assert "驳回原因" in " ".join(messages_of(refused))
    page = client.post(reverse(LIST), {"action": "approve_selected",
                                       ACTION_CHECKBOX_NAME: [str(c.pk) for c in (*good, bad)]}, follow=True)
    words = " ".join(messages_of(page))
    assert "已审批 2 张报销单" in words and "1 张报销单未能处理" in words and bad.claim_no in words
    rejected = client.post(do(bad, "reject"), {"reason": "购买方名称不符"}, follow=True)
    assert "已驳回" in " ".join(messages_of(rejected))
    assert ExpenseClaim.objects.get(pk=bad.pk).reject_reason == "购买方名称不符"


def test_the_list_runs_a_constant_number_of_queries(client, fiona, yuntu):
    client.force_login(fiona)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(LIST)).status_code == 200
        return len(ctx.captured_queries)

    submitted(yuntu, pool_invoice(yuntu))
    few = count()
    for _ in range(4):
        submitted(yuntu, pool_invoice(yuntu), pool_invoice(yuntu))
    assert count() == few


def with_pdf(entity, number):
    doc = small_document(number=number, buyer=(entity.name, entity.credit_code))
    record = pool_invoice(entity, number=number, seller=("杭州西湖云计算服务有限公司", "91330106MA2GL8XY7N"))
    data = as_pdf(doc)
    sha = hashlib.sha256(data).hexdigest()
    carrier = Carrier(taxpayer=entity, invoice=record, sha256=sha, size=len(data), format="pdf")
    carrier.file.save(carrier_path(sha, "pdf"), ContentFile(data), save=False)
    carrier.save()
    return record


def test_the_packet_holds_a_cover_and_every_invoice_laid_out_by_type(client, fiona, yuntu, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    records = [with_pdf(yuntu, "25312000000100000001"), pool_invoice(yuntu),
               pool_invoice(yuntu, kind="51", amount="500.00", tax="45.00", passenger_name="张三",
                            travel_from="北京南", travel_to="上海虹桥")]
    claim = submitted(yuntu, *records)
    client.force_login(fiona)
    response = client.get(reverse("admin:receiving_expenseclaim_print", args=[claim.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.content))
    assert pdf.metadata["/Subject"] == "invoices=3"
    cover = pdf.pages[0].extract_text()
    assert claim.claim_no in cover and "张三" in cover and "报销人" in cover and "出纳" in cover
    assert "2,665.00" in cover and "545.00" in cover  # totals by type and in all
    # 2 types: the 数电专票 sheet (two invoices), the ticket sheet (one)
    assert len(pdf.pages) == 1 + 2
    text = "".join(p.extract_text() for p in pdf.pages[1:])
    for r in records:
        assert str(r) in text
    assert "无 PDF 版式文件" in text  # the records without a PDF are listed by their fields
    assert "北京南" in text
    assert "软件开发服务" in text  # the PDF's own page, placed in its slot


def test_the_count_check_refuses_a_packet_that_would_drop_an_invoice(yuntu, monkeypatch):
    claim = submitted(yuntu, pool_invoice(yuntu), pool_invoice(yuntu))
    real = claims_print.Slot

    def dropping(**kw):
        slot = real(**kw)
        if kw["position"] == 1:
            slot.line = claim.lines.order_by("id").first()  # the second invoice lost
        return slot

    monkeypatch.setattr(claims_print, "Slot", dropping)
    with pytest.raises(claims_print.PacketCountError):
        claims_print.claim_packet(claim=claim)
    assert ReceivedInvoice.objects.count() == 2 and Decimal("0") < claim.lines.first().amount
