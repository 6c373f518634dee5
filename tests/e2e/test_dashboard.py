"""The admin home's number cards in Chromium: finance sees every card, finance_sz (one entity) the same cards with
its own numbers, customer service its queue and deliveries only; a card opens the list behind it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from invoicing.dashboard import dashboard_cards
from invoicing.models import Taxpayer
from issuing.applications.models import ApplicationStatus
from tests.issuing.factories import InvoiceApplicationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shown(page) -> dict[str, str]:
    cards = page.locator(".fapiao-card")
    return {cards.nth(i).locator(".fapiao-card-title").inner_text(): cards.nth(i).locator(".fapiao-card-value")
            .inner_text() for i in range(cards.count())}


@pytest.mark.parametrize("username", ["finance", "finance_sz"])
def test_finance_sees_the_cards_of_its_entities(demo_world, login, shots, username):
    entities = list(Taxpayer.objects.all())
    for entity in entities:  # one failed issue in each entity: finance counts them all, finance_sz its own
        InvoiceApplicationFactory(taxpayer=entity, status=ApplicationStatus.FAILED)
    page = login(username)
    page.wait_for_selector(".fapiao-dashboard")
    shots(page, "home")
    shown = _shown(page)
    expected = {str(card.title): card.value for card in dashboard_cards(User.objects.get(username=username))}
    assert shown == expected
    assert shown["开票失败"] == (str(len(entities)) if username == "finance" else "1")
    assert "开票失败" in shown and "交付失败" in shown and "通道近1小时不可用比例" in shown
    assert page.locator(".fapiao-dashboard + #content-main, .fapiao-dashboard ~ #content-main").count() == 1
    page.locator(".fapiao-card", has_text="开票失败").click()
    page.wait_for_selector("#changelist")
    assert "status__exact=failed" in page.url
    shots(page, "failed-applications")


def test_customer_service_sees_its_queue_and_deliveries(demo_world, login, shots):
    page = login("service")
    page.wait_for_selector(".fapiao-dashboard")
    shots(page, "home")
    assert set(_shown(page)) == {"待审核申请", "待审核超时", "交付失败"}
