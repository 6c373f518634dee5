"""Notifications in the browser: finance turns on the daily digest under 基础资料 › 通知设置 and saves (and is then
among the digest's recipients, in the language chosen); a large billing import run in the background finishes, and
finance's next admin page says so once, the page after that no more."""

from __future__ import annotations

import pytest

from tests.e2e.test_import_flow import _filled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _messages(page) -> str:
    box = page.locator(".messagelist")
    return box.inner_text() if box.count() else ""


def test_finance_turns_on_the_daily_digest(login, live_server, demo_world, shots):
    from django.contrib.auth.models import User

    from invoicing.models import NotificationPreference
    from invoicing.notifications import digest_recipients

    finance = User.objects.get(username="finance")
    page = login("finance")
    module = page.locator("#content-main .app-invoicing")
    assert module.locator("caption").inner_text().strip() == "基础资料"
    module.locator("a", has_text="通知设置").first.click()
    page.wait_for_selector("#id_daily_digest")
    pref = NotificationPreference.objects.get(user=finance)
    assert page.url.endswith(f"/admin/invoicing/notificationpreference/{pref.pk}/change/")
    assert not page.is_checked("#id_daily_digest")  # off until the user turns it on
    assert finance not in [user for user, _language in digest_recipients()]
    shots(page, "settings-off")

    page.check("#id_daily_digest")
    page.select_option("#id_language", "en")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "通知设置已保存" in _messages(page)
    assert page.is_checked("#id_daily_digest") and page.input_value("#id_language") == "en"
    shots(page, "settings-saved")
    assert (finance, "en") in digest_recipients()

    # someone else's settings are not reachable by their id
    other = NotificationPreference.objects.create(user=User.objects.get(username="finance_sz"), daily_digest=True)
    page.goto(f"{live_server.url}/admin/invoicing/notificationpreference/{other.pk}/change/")
    assert not page.url.endswith(f"/{other.pk}/change/") and not page.locator("#id_daily_digest").count()


def test_the_finished_background_import_is_announced_once_on_the_next_admin_page(login, live_server, demo_world,
                                                                                 shots, tmp_path):
    from invoicing.models import UserNotice

    page = login("finance")
    template = page.request.get(f"{live_server.url}/issuing/import/template.xlsx")
    assert template.ok
    upload = _filled(template.body(), tmp_path / "十二月账单.xlsx", order_no="E2E-NOTE-1")

    page.goto(f"{live_server.url}/issuing/import/")
    page.set_input_files("input[name=file]", str(upload))
    page.locator("#content-main input[type=submit]").click()
    page.wait_for_function("() => document.getElementById('job-status').textContent.includes('已完成')")
    assert "已导入 1 张单据、2 行明细" in page.inner_text("#job-message")
    # the job page is not where the notice goes: the user is looking at the outcome already
    assert "十二月账单.xlsx" not in _messages(page)
    [notice] = UserNotice.objects.filter(user__username="finance")
    assert notice.succeeded and notice.shown_at is None
    shots(page, "job-done")

    page.goto(f"{live_server.url}/admin/")
    assert "导入任务（十二月账单.xlsx）已完成" in _messages(page)
    assert page.locator(".messagelist li.success", has_text="十二月账单.xlsx").count() == 1
    shots(page, "notice-shown")
    page.goto(f"{live_server.url}/admin/issuing/billingdocument/")
    assert "十二月账单.xlsx" not in _messages(page)
    assert "E2E-NOTE-1" in page.inner_text("#result_list")
    page.reload()
    assert "十二月账单.xlsx" not in _messages(page)
    notice.refresh_from_db()
    assert notice.shown_at is not None
    shots(page, "notice-gone")

    # another user's admin pages never show it
    other = login("finance_sz")
    assert "十二月账单" not in _messages(other)
