"""Every admin page of the seeded demo, walked as each demo role (the demo has rows of both entities in every list):

- a user limited to one entity finds no list filter offering another entity, nor rows of another entity;
- no page links a raw storage address (``/media/…`` or a signed S3 one): files are served only by the views that
  check the user's permission and entity;
- no page links an admin page the role may not open (a link that answers 403 is a dead end: show the text).

The walk enumerates ``admin.site._registry`` (every list the role may open and the first rows' pages of each), so an
admin registered later is covered without editing this file. The demo is seeded once for the module.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayer_ids

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="([^"]+)"')
ROLES = ["finance", "finance_sz", "service", "reviewer"]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """``manage.py seed_demo`` (every app's demo), once for the module, rolled back after it."""
    from django.test import override_settings

    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        call_command("seed_demo", verbosity=0)
        yield
        transaction.set_rollback(True)


class _Request:
    """What the admins' permission and queryset methods read of a request."""

    def __init__(self, user: User):
        self.user = user
        self.GET: dict[str, str] = {}
        self.COOKIES: dict[str, str] = {}
        self.META: dict[str, str] = {}


def _pages(client, user, *, rows: int = 2):
    """(url, response) of each list the user may open and of its first rows' pages."""
    request = _Request(user)
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        try:
            urls = [reverse(f"admin:{info}_changelist")]
        except NoReverseMatch:
            continue
        urls += [reverse(f"admin:{info}_change", args=[pk])
                 for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:rows]]
        for url in urls:
            response = client.get(url)
            if response.status_code == 200:
                yield url, response


# --- entity filters ----------------------------------------------------------------------------------------------


def _foreign_choices(spec, allowed: set[int]) -> list[str]:
    """The choices of a filter over a relation (to an entity, or to rows that belong to one) that are another's."""
    if not isinstance(spec, admin.RelatedFieldListFilter):
        return []
    related, pks = spec.field.related_model, [pk for pk, _label in spec.lookup_choices]
    if related is Taxpayer:
        return [label for pk, label in spec.lookup_choices if pk not in allowed]
    if any(f.name == "taxpayer" for f in related._meta.get_fields()):
        return [str(o) for o in related._default_manager.filter(pk__in=pks).exclude(taxpayer_id__in=allowed)]
    return []


def test_no_list_filter_offers_an_entity_the_user_may_not_see(client, demo):
    """A seller filter may name the other entity (明远 received invoices 云途 issued): those are 明远's records. An
    entity filter, or one over another entity's rows (its mailboxes, its accounts), may not."""
    user = User.objects.get(username="finance_sz")
    allowed = allowed_taxpayer_ids(user)
    assert allowed and Taxpayer.objects.exclude(pk__in=allowed).exists()
    client.force_login(user)
    leaks: list[str] = []
    walked = 0
    for url, response in _pages(client, user, rows=0):
        changelist = response.context["cl"]
        for spec in changelist.filter_specs:
            walked += 1
            leaks += [f"{url} 「{spec.title}」 offers {text}" for text in _foreign_choices(spec, allowed)]
    assert walked > 20  # the filters of every list the user may open, not a handful
    assert leaks == []


def test_the_job_list_filter_by_entity_offers_only_the_users_entities(client, demo):
    """The job list is not an ``EntityScopedAdminMixin`` (a user also sees their own jobs without an entity): its
    plain ``"taxpayer"`` filter is scoped all the same."""
    client.force_login(User.objects.get(username="finance_sz"))
    response = client.get(reverse("admin:invoicing_job_changelist"))
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "field_path", "") == "taxpayer")
    assert [pk for pk, _label in spec.lookup_choices] == [Taxpayer.objects.get(credit_code="91440300MA5FM1NGYB").pk]


# --- links -------------------------------------------------------------------------------------------------------


def _target(href: str) -> str | None:
    """The admin view a link goes to, by its URL name (one check per kind of target, not per row)."""
    path = urlsplit(href).path
    if not path.startswith("/admin/"):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.url_name in ("logout", "index", "password_change", "jsi18n", "view_on_site", "autocomplete"):
        return None
    return match.url_name


@pytest.mark.parametrize("role", ROLES)
def test_no_page_links_a_raw_stored_file(client, demo, role):
    user = User.objects.get(username=role)
    client.force_login(user)
    media = "/" + settings.MEDIA_URL.strip("/") + "/"
    raw = []
    for url, response in _pages(client, user):
        raw += [f"{url} → {href}" for href in HREF.findall(response.content.decode())
                if urlsplit(href).path.startswith(media) or "X-Amz-Signature" in href]
    assert raw == []


@pytest.mark.parametrize("role", ROLES)
def test_no_page_links_an_admin_page_the_role_may_not_open(client, demo, role):
    user = User.objects.get(username=role)
    client.force_login(user)
    first_link: dict[str, tuple[str, str]] = {}  # the target's URL name → the first link to it seen, and where
    for url, response in _pages(client, user):
        for href in HREF.findall(response.content.decode()):
            href = href.replace("&amp;", "&")
            name = _target(href)
            if name is not None and name not in first_link:
                first_link[name] = (url, href)
    assert len(first_link) > 5
    dead = [f"{url} → {href}: {status}" for url, href in first_link.values()
            if (status := client.get(href).status_code) in (403, 404)]
    assert dead == []
