"""Notifications: the daily e-mail digest of the admin home's red cards, and the one-time admin message when a
background job the user started has finished or failed.

Digest: each active user who opted in (``NotificationPreference.daily_digest``) and has an e-mail address gets one
e-mail with the cards that are red (``tone == "bad"``) for them. The cards come from ``invoicing.dashboard``, whose
providers scope every number to the user's entities, so a digest never holds another entity's numbers. Nothing red,
no e-mail. Sent by the beat task ``invoicing.send_dashboard_digests`` (``invoicing.tasks``), outside any transaction.

Job notices: ``intake.jobs.update`` records a ``UserNotice`` when a job created with ``notify=True`` reaches its
outcome; ``JobNoticeMiddleware`` turns the user's pending notices into admin messages on their next admin page
(an HTML page load, not a status poll) and marks them shown, so each is shown once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from invoicing.dashboard import Card, dashboard_audience, dashboard_cards
from invoicing.models import NotificationPreference, UserNotice

logger = logging.getLogger(__name__)

# Job kinds in words (marked for the catalogue, translated when shown); any other kind reads as 后台任务.
JOB_KIND_LABELS = {"import": gettext_noop("导入任务"), "export": gettext_noop("导出任务")}


# --- the daily digest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestCard:
    title: str
    value: str
    help: str
    url: str  # absolute (SITE_URL + the card's link)


def digest_cards(user: User) -> list[DigestCard]:
    """The cards red for ``user`` (scoped to their entities by the providers), in the active language."""
    return [
        DigestCard(title=str(card.title), value=card.value, help=str(card.help or ""),
                   url=_absolute(card.url))
        for card in dashboard_cards(user) if _is_red(card)
    ]


def _is_red(card: Card) -> bool:
    return card.tone == "bad"


def _absolute(url: str) -> str:
    if not url or url.startswith(("http://", "https://")):
        return url
    return f"{settings.SITE_URL}{url}"


def digest_recipients() -> list[tuple[User, str]]:
    """Active users who opted in, have an e-mail address and see the finance cards: (user, language)."""
    prefs = (NotificationPreference.objects.filter(daily_digest=True, user__is_active=True)
             .exclude(user__email="").select_related("user").order_by("user_id"))
    return [(p.user, p.language) for p in prefs if dashboard_audience(p.user) == "all"]


def digest_message(user: User, language: str) -> EmailMultiAlternatives | None:
    """The digest e-mail for ``user`` in ``language``; None when nothing is red for them."""
    with translation.override(language):
        cards = digest_cards(user)
        if not cards:
            return None
        context = {"user": user, "cards": cards, "home_url": _absolute(reverse("admin:index")),
                   "settings_url": _absolute(reverse("admin:invoicing_notificationpreference_changelist")),
                   "date": timezone.localdate()}
        subject = gettext("发票台每日摘要：%(count)d 项需要处理") % {"count": len(cards)}
        text = render_to_string("email/dashboard_digest.txt", context)
        html = render_to_string("email/dashboard_digest.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[user.email])
    message.attach_alternative(html, "text/html")
    return message


def dashboard_digests_send() -> int:
    """Send today's digest to every recipient with something red; one failed address does not stop the others.
    Returns the number of e-mails sent."""
    sent = 0
    for user, language in digest_recipients():
        message = digest_message(user, language)
        if message is None:
            continue
        try:
            sent += message.send()
        except Exception:  # noqa: BLE001 - a refused address or a mail server hiccup: log it, send the rest
            logger.exception("dashboard digest to user %s not sent", user.pk)
    return sent


# --- job notices ------------------------------------------------------------------------------------------------------


def job_notice_record(*, user_id: int, job_id: str, kind: str, succeeded: bool, filename: str = "") -> None:
    """Remember that the user's job ended (at most once per job: a redelivered task records nothing new)."""
    try:
        with transaction.atomic():
            UserNotice.objects.create(user_id=user_id, job_id=job_id, job_kind=kind[:30], succeeded=succeeded,
                                      filename=(filename or "")[:255])
    except IntegrityError:
        pass  # already recorded (or the user is gone)


def job_notice_text(notice: UserNotice) -> str:
    label = JOB_KIND_LABELS.get(notice.job_kind)
    what = gettext(label) if label else gettext("后台任务")
    params = {"what": what, "file": notice.filename}
    if notice.succeeded:
        if notice.filename:
            return gettext("%(what)s（%(file)s）已完成") % params
        return gettext("%(what)s已完成") % params
    if notice.filename:
        return gettext("%(what)s（%(file)s）失败，请打开任务页面查看原因") % params
    return gettext("%(what)s失败，请打开任务页面查看原因") % params


def job_notices_take(user: User) -> list[UserNotice]:
    """The user's notices not shown yet, marked shown (each is taken once, even by two pages at the same time)."""
    with transaction.atomic():
        pending = list(UserNotice.objects.select_for_update(skip_locked=True)
                       .filter(user=user, shown_at__isnull=True).order_by("created_at", "id"))
        if pending:
            UserNotice.objects.filter(pk__in=[n.pk for n in pending]).update(shown_at=timezone.now())
    return pending


class JobNoticeMiddleware:
    """On an admin HTML page load of a signed-in staff user, show their pending job notices as messages (after
    ``MessageMiddleware``). Status polls (JSON) and other requests leave them for the next page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (request.method == "GET" and isinstance(user, User) and user.is_active and user.is_staff
                and request.path.startswith(reverse("admin:index")) and "text/html" in request.headers.get("Accept", "")):
            for notice in job_notices_take(user):
                level = messages.SUCCESS if notice.succeeded else messages.ERROR
                messages.add_message(request, level, job_notice_text(notice), fail_silently=True)
        return self.get_response(request)
