"""The admin of verification and rules: results and filters on the pool, bulk actions with counted messages, the
verify and override pages, the rules (a bad parameter refused on the form), the blacklist and its import."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.events import events_for
from receiving import rules, verification
from receiving.control_models import InvoiceCheck, ReceivingRule, RuleOverride, Seller, Severity, VerificationJob
from tests.receiving.controls import FakeVerifier, pool_invoice

pytestmark = pytest.mark.django_db

POOL = "admin:receiving_receivedinvoice_changelist"


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.RECEIVING_VERIFY_PER_ENTITY_SECOND = 1000


@pytest.fixture
def fake(monkeypatch):
    channel = FakeVerifier()
    monkeypatch.setattr(verification, "channel_for", lambda taxpayer: channel)
    return channel


def test_the_pool_shows_and_filters_by_verification_and_rule_results(client, fiona, yuntu, fake):
    good = pool_invoice(yuntu)
    bad = pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code))
    unverified = pool_invoice(yuntu)
    fake.answers[bad.number] = "02"
    for record in (good, bad):
        verification.received_invoice_verify(record=record, actor=fiona)
    rules.rules_run(taxpayer=yuntu, actor=None)
    client.force_login(fiona)
    page = client.get(reverse(POOL)).content.decode()
    assert "查验成功" in page and "查无此票" in page and "不可使用" in page
    only = client.get(reverse(POOL), {"verify": "02"}).content.decode()
    assert bad.number in only and good.number not in only
    none = client.get(reverse(POOL), {"verify": "none"}).content.decode()
    assert unverified.number in none and good.number not in none
    blocked = client.get(reverse(POOL), {"rules": "block"}).content.decode()
    assert bad.number in blocked and good.number not in blocked
    by_rule = client.get(reverse(POOL), {"rule": "buyer_name"}).content.decode()
    assert bad.number in by_rule and good.number not in by_rule


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_pool_with_results_runs_a_constant_number_of_queries(client, fiona, yuntu, fake):
    client.force_login(fiona)
    for _ in range(2):
        verification.received_invoice_verify(record=pool_invoice(yuntu, buyer=("别的", yuntu.credit_code)), actor=None)
    rules.rules_run(taxpayer=yuntu, actor=None)
    few = _count(client, reverse(POOL))
    for _ in range(10):
        verification.received_invoice_verify(record=pool_invoice(yuntu, buyer=("别的", yuntu.credit_code)), actor=None)
    rules.rules_run(taxpayer=yuntu, actor=None)
    assert _count(client, reverse(POOL)) == few


def test_the_record_page_shows_verifications_and_rule_results(client, fiona, yuntu, fake):
    record = pool_invoice(yuntu, buyer=("别的公司", yuntu.credit_code))
    fake.answers[record.number] = "03"
    verification.received_invoice_verify(record=record, actor=fiona)
    rules.rules_run(taxpayer=yuntu, actor=None)
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[record.pk])).content.decode()
    assert "查验不一致" in page and "价税合计：记录 1,060.00" in page
    assert "购买方名称与本主体不一致" in page and "查验失败或不一致" in page
    assert reverse("admin:receiving_receivedinvoice_verify", args=[record.pk]) in page
    assert reverse("admin:receiving_receivedinvoice_override", args=[record.pk]) in page  # it is blocked
    clean = pool_invoice(yuntu)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[clean.pk])).content.decode()
    assert reverse("admin:receiving_receivedinvoice_override", args=[clean.pk]) not in page


def test_the_record_page_shows_verification_and_rule_times_in_china_time(client, fiona, yuntu, fake):
    from datetime import UTC, datetime

    from receiving.control_models import Verification

    record = pool_invoice(yuntu)
    verification.received_invoice_verify(record=record, actor=fiona)
    rules.rules_run(taxpayer=yuntu, actor=None)
    at = datetime(2026, 12, 6, 20, 48, tzinfo=UTC)  # 2026-12-07 04:48 in China
    Verification.objects.filter(invoice=record).update(verified_at=at, created_at=at)
    InvoiceCheck.objects.filter(invoice=record).update(rules_checked_at=at)
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[record.pk])).content.decode()
    assert "<td>2026-12-07 04:48</td>" in page and "全部通过（2026-12-07 04:48）" in page
    assert "2026-12-06 20:48" not in page


def test_the_bulk_verify_action_starts_a_job_and_counts(client, fiona, yuntu, fake,
                                                        django_capture_on_commit_callbacks):
    records = [pool_invoice(yuntu) for _ in range(3)] + [pool_invoice(yuntu, kind="rail_paper", number="E1")]
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(POOL), {"action": "verify_selected",
                                               "_selected_action": [r.pk for r in records]}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("已提交 3 张发票批量查验" in t for t in texts)
    assert any("1 张发票缺少查验要素或不支持查验" in t for t in texts)
    job = VerificationJob.objects.get()
    assert (job.total, job.done, job.status) == (3, 3, "done")  # the task ran eagerly
    assert len(fake.calls) == 3


def test_the_rerun_rules_action_counts_what_is_blocked(client, fiona, yuntu):
    records = [pool_invoice(yuntu), pool_invoice(yuntu, buyer=("别的", yuntu.credit_code))]
    client.force_login(fiona)
    response = client.post(reverse(POOL), {"action": "rerun_rules", "_selected_action": [r.pk for r in records]},
                           follow=True)
    assert "已对 2 张发票运行收票规则，其中 1 张不可使用" in [str(m) for m in response.context["messages"]]


def test_customer_service_has_no_verify_action_nor_page(client, sam, yuntu):
    record = pool_invoice(yuntu)
    client.force_login(sam)
    assert client.get(reverse("admin:receiving_receivedinvoice_verify", args=[record.pk])).status_code == 403


def test_the_verify_page_verifies_again(client, fiona, yuntu, fake):
    record = pool_invoice(yuntu)
    client.force_login(fiona)
    url = reverse("admin:receiving_receivedinvoice_verify", args=[record.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, follow=True)
    assert any("查验成功" in str(m) for m in response.context["messages"])
    assert InvoiceCheck.objects.get(invoice=record).verify_code == "00"


def test_a_user_of_another_entity_cannot_reach_its_records_pages(client, lily, yuntu):
    record = pool_invoice(yuntu)
    client.force_login(lily)
    for name in ("verify", "override"):
        assert client.get(reverse(f"admin:receiving_receivedinvoice_{name}", args=[record.pk])).status_code in (403,
                                                                                                             404)


def test_the_override_page_lets_finance_through_a_blocking_rule_with_a_reason(client, fiona, yuntu):
    record = pool_invoice(yuntu, buyer=("云途", yuntu.credit_code))
    rules.rules_run(taxpayer=yuntu, actor=None)
    client.force_login(fiona)
    url = reverse("admin:receiving_receivedinvoice_override", args=[record.pk])
    assert "购买方名称" in client.get(url).content.decode()
    assert "This field is required" in client.post(url, {"rule": "buyer_name", "reason": ""}).content.decode() or \
        "必填" in client.post(url, {"rule": "buyer_name", "reason": ""}).content.decode() or \
        not RuleOverride.objects.exists()
    client.post(url, {"rule": "buyer_name", "reason": "简称"})
    assert RuleOverride.objects.get().reason == "简称"
    assert InvoiceCheck.objects.get(invoice=record).rules_outcome == "overridden"
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[record.pk])).content.decode()
    assert "不可使用 → 已放行" in page  # the audit trail names the outcomes


def test_a_rule_with_a_bad_parameter_is_refused_on_the_form(client, fiona, yuntu):
    client.force_login(fiona)
    url = reverse("admin:receiving_receivingrule_add")
    page = client.post(url, {"taxpayer": yuntu.pk, "code": "issue_date_age", "severity": "warn",
                             "params": '{"days": "soon"}'}).content.decode()
    assert "应为整数天数" in page
    assert not ReceivingRule.objects.exists()
    client.post(url, {"taxpayer": yuntu.pk, "code": "issue_date_age", "severity": "warn", "params": '{"days": 90}'})
    rule = ReceivingRule.objects.get()
    assert (rule.params, rule.version) == ({"days": 90}, 1)
    assert events_for(rule).get().action == "rule_create"


def test_the_blacklist_is_managed_and_imported_in_the_admin(client, fiona, yuntu):
    client.force_login(fiona)
    client.post(reverse("admin:receiving_seller_add"), {"taxpayer": yuntu.pk, "tax_id": "91310000MA1FL0BK1X",
                                                        "name": "黑石", "blacklisted": "on", "reason": "虚开",
                                                        "status": ""})
    seller = Seller.objects.get()
    assert (seller.blacklisted, seller.reason) == (True, "虚开")
    assert client.get(reverse("admin:receiving_seller_changelist")).status_code == 200
    wb = openpyxl.Workbook()
    wb.active.append(["销售方纳税人识别号", "销售方名称", "列入原因"])
    wb.active.append(["91330106MA2GL8XY7N", "西湖", "失信"])
    data = io.BytesIO()
    wb.save(data)
    upload = SimpleUploadedFile("b.xlsx", data.getvalue())
    response = client.post(reverse("admin:receiving_seller_import"), {"taxpayer": yuntu.pk, "file": upload},
                           follow=True)
    assert any("新增 1 家" in str(m) for m in response.context["messages"])
    assert Seller.objects.filter(blacklisted=True).count() == 2


def test_a_bad_import_shows_each_row_and_writes_nothing(client, fiona, yuntu):
    client.force_login(fiona)
    wb = openpyxl.Workbook()
    wb.active.append(["销售方纳税人识别号", "销售方名称", "列入原因"])
    wb.active.append(["bad", "西湖", "失信"])
    data = io.BytesIO()
    wb.save(data)
    page = client.post(reverse("admin:receiving_seller_import"),
                       {"taxpayer": yuntu.pk, "file": SimpleUploadedFile("b.xlsx", data.getvalue())}).content.decode()
    assert "纳税人识别号不正确" in page and "未导入任何数据" in page
    assert not Seller.objects.exists()


def test_the_rules_page_shows_every_rule_in_effect_for_the_users_entities_only(client, lily, yuntu, mingyuan):
    """An entity that never saved a rule still sees every rule that runs, with its default severity and
    parameters; a saved rule shows its own; another entity's rules are not shown."""
    rules.receiving_rule_save(taxpayer=mingyuan, code="consecutive_numbers", severity=Severity.BLOCK,
                              params={"days": 7}, actor=lily)
    client.force_login(lily)
    page = client.get(reverse("admin:receiving_receivingrule_changelist")).content.decode()
    box = page[page.index("生效中的收票规则"):]
    for spec in rules.SPECS.values():
        assert str(spec.name) in box
    assert mingyuan.short_name in box and yuntu.short_name not in box
    def row(code):
        start = box.index(str(rules.SPECS[code].name))
        return box[start:box.index("</tr>", start)]

    assert "阻止" in row("consecutive_numbers") and "：7<" in row("consecutive_numbers")
    assert "默认" not in row("consecutive_numbers")
    assert "提醒" in row("issue_date_age") and "360" in row("issue_date_age") and "默认" in row("issue_date_age")


def test_the_rules_page_shows_amounts_as_money_and_its_add_button_above_the_rules(client, lily, mingyuan):
    rules.receiving_rule_save(taxpayer=mingyuan, code="second_approver", severity=Severity.WARN,
                              params={"amount": "50000"}, actor=lily)
    client.force_login(lily)
    page = client.get(reverse("admin:receiving_receivingrule_changelist")).content.decode()
    box = page[page.index("生效中的收票规则"):]
    assert "价税合计超过：50,000.00" in box and "50000.00" not in page
    saved = page[page.index('id="result_list"'):]
    assert "价税合计超过：50,000.00" in saved  # the saved rule's parameters in words too, not its JSON
    # the 增加 button floats up beside the title: placed before the rules, not after them where it lay over the
    # last row
    assert page.index('class="object-tools"') < page.index("生效中的收票规则")
