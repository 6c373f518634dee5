"""The real admin in Debian's headless Chromium: each demo role logs in and sees its home page."""

from __future__ import annotations

import pytest

from invoicing.demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (username, text the home page must show, text it must not show)
CASES = [
    ("admin", "用户", None),
    ("finance", "主体", "用户"),
    ("service", "购买方", "用户"),
    ("finance_sz", "主体", "用户"),
]


@pytest.mark.parametrize("username,must_see,must_not_see", CASES)
def test_each_demo_role_logs_in_and_sees_its_admin_home(browser, live_server, demo_world, username, must_see,
                                                        must_not_see, tmp_path):
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")
    body = page.inner_text("#content")
    assert "发票台" in page.inner_text("#header")
    assert must_see in body, body
    if must_not_see:
        assert must_not_see not in page.inner_text("#content-main"), body
    page.screenshot(path=str(tmp_path / f"{username}.png"))
    page.close()
