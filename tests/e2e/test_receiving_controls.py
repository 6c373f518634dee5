"""Verification and rules as finance meets them in the browser: the demo's bad cases in the pool filtered by rule
outcome, the record page's results, and an override with a reason."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pool_world(demo_world):
    from receiving.demo import seed

    seed()


def test_blocked_invoices_are_listed_explained_and_overridden(login, live_server, pool_world, shots):
    from receiving.demo_controls import WRONG_TITLE

    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/?rules=block")
    shots(page, "blocked")
    listed = page.locator("#result_list tbody").inner_text()
    assert WRONG_TITLE in listed and "不可使用" in listed
    assert page.evaluate("document.querySelector('#changelist .results').scrollWidth <= "
                         "document.querySelector('#changelist .results').clientWidth + 1")
    page.click(f"#result_list a >> text={WRONG_TITLE}")
    page.wait_for_selector("text=购买方名称与本主体不一致")
    shots(page, "record")
    page.click("text=放行规则")
    page.fill("#id_reason", "简称，已与业务部门核实")
    shots(page, "override")
    page.click("input[type=submit]")
    page.wait_for_selector("text=发票如有变更，放行失效")
    assert "已放行" in page.locator("body").inner_text()
    shots(page, "overridden")
