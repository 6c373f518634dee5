"""The kernel's card for background jobs: imports and collections of the last days that failed or found rows in
error. One query, scoped like the jobs list (``invoicing.intake.jobs.scoped_jobs``)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.dashboard import Card, count_tone, dashboard_card_register
from invoicing.intake.jobs import problem_jobs, scoped_jobs

LOOKBACK = timedelta(days=7)


def job_cards(user: User) -> list[Card]:
    count = scoped_jobs(user).filter(problem_jobs(), created_at__gte=timezone.now() - LOOKBACK).count()
    url = (reverse("admin:invoicing_job_changelist") + "?problem=1" if user.has_perm("invoicing.view_job") else "")
    return [
        Card(title=gettext("导入/采集任务失败或有错误行"), value=str(count), tone=count_tone(count, bad=True), url=url,
             help=gettext("近7天失败或发现错误行的导入与采集任务"), order=6),
    ]


def register() -> None:
    dashboard_card_register(job_cards)
