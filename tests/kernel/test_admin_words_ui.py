"""Codes read as their labels in the admin: the audit trail's detail page, states recorded on another model's trail,
decimal values in list filters."""

from __future__ import annotations

import pytest
from django.urls import reverse

from invoicing.actors import SYSTEM
from invoicing.admin import EventsReadonlyMixin
from invoicing.events import event_record
from receiving import sellers
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def test_an_event_page_names_the_action_the_system_actor_and_the_states_in_words(client, fiona, yuntu):
    from tests.issuing.factories import InvoiceApplicationFactory

    app = InvoiceApplicationFactory(taxpayer=yuntu)
    event = event_record(obj=app, action="refund_red_none", actor=SYSTEM, from_state="pending_review",
                         to_state="in_review")
    client.force_login(fiona)
    page = client.get(reverse("admin:invoicing_event_change", args=[event.pk])).content.decode()
    content = page.split('id="content"')[1]
    assert "退款无需红冲" in content and "refund_red_none" not in content
    assert '<div class="readonly">系统</div>' in content and ">system<" not in content
    assert "待审核" in content and "pending_review" not in content


def test_a_blacklisting_reads_in_words_on_the_seller_s_trail_and_in_the_list(client, fiona, yuntu):
    seller = sellers.seller_blacklist_add(taxpayer=yuntu, tax_id="91441900MA4WDEMO1K", name="东莞速达商贸有限公司",
                                          reason="税务机关通报", actor=fiona)
    html = str(EventsReadonlyMixin().events_table(seller))
    assert "- → 已列入黑名单" in html and "blacklisted" not in html and "未核实" not in html
    client.force_login(fiona)
    trail = client.get(reverse("admin:invoicing_event_changelist"), {"action": "blacklist_add"}).content.decode()
    assert '<td class="field-to_state_display">已列入黑名单</td>' in trail


def test_a_rule_change_names_its_severities(client, fiona, yuntu):
    from receiving import rules

    rules.receiving_rule_save(taxpayer=yuntu, code="second_approver", severity="warn", params={}, actor=fiona)
    rules.receiving_rule_save(taxpayer=yuntu, code="second_approver", severity="block", params={}, actor=fiona)
    client.force_login(fiona)
    trail = client.get(reverse("admin:invoicing_event_changelist"), {"action": "rule_change"}).content.decode()
    assert '<td class="field-from_state_display">提醒</td>' in trail
    assert '<td class="field-to_state_display">阻止</td>' in trail


def test_the_sandbox_models_have_chinese_names_in_the_trail_s_type_filter(client, fiona):
    from sandbox.models import LedgerLine, LedgerRedFormLine, NumberSequence, SandboxNonce

    names = [str(m._meta.verbose_name) for m in (LedgerLine, LedgerRedFormLine, NumberSequence, SandboxNonce)]
    assert names == ["台账发票明细", "红字确认单明细", "发票号码序列", "防重放随机串"]


def test_the_item_list_filters_rates_as_percentages(client, fiona, yuntu):
    ItemFactory(taxpayer=yuntu, tax_rate="0.06")
    ItemFactory(taxpayer=yuntu, tax_rate="0.09")
    client.force_login(fiona)
    page = client.get(reverse("admin:invoicing_item_changelist")).content.decode()
    filters = page.split('id="changelist-filter"')[1]
    assert ">6%</a>" in filters and ">9%</a>" in filters and ">0.0600<" not in filters
    assert "?tax_rate=0.0600" in filters  # the query keeps the stored value
    assert client.get(reverse("admin:invoicing_item_changelist"), {"tax_rate": "0.0600"}).context["cl"].result_count == 1
