"""Notifications: the daily digest of the admin home's red cards (per user, scoped to their entities, opt-in, in
their language) and the one-time admin message when a background job the user started ends."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from invoicing import tasks as kernel_tasks
from invoicing.intake import jobs
from invoicing.models import NotificationPreference, UserNotice
from invoicing.notifications import digest_cards
from issuing.applications.models import ApplicationStatus
from tests.issuing.factories import InvoiceApplicationFactory

pytestmark = pytest.mark.django_db

HTML = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


def _opt_in(user, *, email, language="zh-hans", on=True):
    user.email = email
    user.save(update_fields=["email"])
    NotificationPreference.objects.update_or_create(user=user, defaults={"daily_digest": on, "language": language})


@pytest.fixture
def failures(yuntu, mingyuan):
    """开票失败 (a red card): 2 at 云途, 3 at 明远."""
    for entity, n in ((yuntu, 2), (mingyuan, 3)):
        for _ in range(n):
            InvoiceApplicationFactory(taxpayer=entity, status=ApplicationStatus.FAILED)


def _mail_to(address):
    sent = [m for m in mail.outbox if m.to == [address]]
    assert len(sent) <= 1
    return sent[0] if sent else None


def test_each_opted_in_user_gets_only_the_red_cards_of_their_entities(failures, fiona, lily):
    _opt_in(fiona, email="fiona@example.com")
    _opt_in(lily, email="lily@example.com")

    assert kernel_tasks.dashboard_digests_send() == 2

    all_entities = _mail_to("fiona@example.com").body
    one_entity = _mail_to("lily@example.com")
    assert "开票失败：5" in all_entities
    assert "开票失败：3" in one_entity.body
    assert "开票失败：5" not in one_entity.body and "云途" not in one_entity.body
    assert "开票失败" in one_entity.alternatives[0][0]  # the HTML part too
    assert "发票台每日摘要" in one_entity.subject
    # only red cards: the review queue (info/warn) is not in it
    assert "待审核申请" not in all_entities
    assert {c.title for c in digest_cards(lily)} == {c.title for c in digest_cards(fiona)}


def test_opted_out_users_and_users_without_an_address_get_nothing(failures, fiona, lily, ada):
    _opt_in(fiona, email="fiona@example.com", on=False)
    _opt_in(lily, email="")
    # ada opts in: an administrator sees the same cards as finance
    _opt_in(ada, email="ada@example.com")

    kernel_tasks.dashboard_digests_send()

    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_customer_service_and_users_with_nothing_red_get_no_digest(yuntu, sam, fiona):
    _opt_in(sam, email="sam@example.com")
    _opt_in(fiona, email="fiona@example.com")
    InvoiceApplicationFactory(taxpayer=yuntu, status=ApplicationStatus.FAILED)
    fiona.groups.clear()  # no role any more: no cards

    assert kernel_tasks.dashboard_digests_send() == 0
    assert mail.outbox == []


def test_the_digest_is_written_in_the_users_language(failures, lily):
    _opt_in(lily, email="lily@example.com", language="en")

    kernel_tasks.dashboard_digests_send()

    message = _mail_to("lily@example.com")
    assert "daily digest" in message.subject.lower()
    assert "开票" not in message.body
    assert ": 3" in message.body


def test_the_digest_runs_daily_on_beat():
    from invoicing.celery import app

    app.finalize()
    assert app.conf.beat_schedule["invoicing-dashboard-digest"]["task"] == "invoicing.send_dashboard_digests"


def test_users_edit_only_their_own_notification_settings(client, fiona, lily):
    client.force_login(fiona)
    url = reverse("admin:invoicing_notificationpreference_changelist")
    response = client.get(url)
    pref = NotificationPreference.objects.get(user=fiona)
    assert not pref.daily_digest  # off until the user turns it on
    change = reverse("admin:invoicing_notificationpreference_change", args=[pref.pk])
    assert response.status_code == 302 and response["Location"] == change

    response = client.post(change, {"daily_digest": "on", "language": "en"})
    assert response.status_code == 302
    pref.refresh_from_db()
    assert pref.daily_digest and pref.language == "en"

    others = NotificationPreference.objects.create(user=lily, daily_digest=True)
    other_url = reverse("admin:invoicing_notificationpreference_change", args=[others.pk])
    assert client.post(other_url, {"language": "en"}).status_code in (302, 403, 404)
    others.refresh_from_db()
    assert others.daily_digest and others.language == "zh-hans"


def _finish(user, status=jobs.SUCCEEDED, **extra):
    job_id = jobs.create("export", user_id=user.pk, filename="开票明细.xlsx", notify=True)
    jobs.update(job_id, status=jobs.RUNNING)
    jobs.update(job_id, status=status, **extra)
    return job_id


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_a_finished_job_is_announced_once_on_the_next_admin_page(client, fiona, sam):
    _finish(fiona)
    home = reverse("admin:index")

    client.force_login(sam)  # somebody else's job: nothing for sam
    assert not any("开票明细" in m for m in _messages(client.get(home, **HTML)))

    client.force_login(fiona)
    client.get(home)  # a poll or a non-HTML request leaves it for the next page
    first = _messages(client.get(home, **HTML))
    assert "导出任务（开票明细.xlsx）已完成" in first
    assert not any("开票明细" in m for m in _messages(client.get(home, **HTML)))
    assert UserNotice.objects.get(user=fiona).shown_at is not None


def test_a_failed_job_is_announced_as_an_error_in_the_users_language(client, fiona):
    job_id = _finish(fiona, status=jobs.FAILED, message="导出出错")
    jobs.update(job_id, status=jobs.FAILED)  # the same outcome again: still one notice
    assert UserNotice.objects.filter(user=fiona).count() == 1

    client.force_login(fiona)
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en", **HTML)
    texts = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("error", "Export job (开票明细.xlsx) failed; open the job page to see why") in texts


def test_jobs_not_marked_for_notice_leave_none(fiona):
    job_id = jobs.create("receiving_excel", user_id=fiona.pk, filename="a.xlsx")
    jobs.update(job_id, status=jobs.SUCCEEDED)
    assert not UserNotice.objects.exists()
