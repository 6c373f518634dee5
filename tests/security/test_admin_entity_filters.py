"""Every registered admin's changelist, for a user limited to one entity: no list filter offers another entity, nor
anything of it (its name, its short name, its tax id).

The test enumerates ``admin.site._registry`` over the seeded demo (both entities have rows in every list), so an
admin registered later is covered without editing it.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, reverse

from invoicing.models import Taxpayer
from invoicing.scoping import allowed_taxpayer_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    from invoicing.demo import seed

    settings.DEBUG = True
    seed()


def _hidden_words(user: User) -> list[str]:
    allowed = allowed_taxpayer_ids(user)
    assert allowed, "the user must be limited to some entities"
    words: list[str] = []
    for name, short_name, credit_code in Taxpayer.objects.exclude(pk__in=allowed).values_list(
            "name", "short_name", "credit_code"):
        words += [w for w in (name, short_name, credit_code) if w]
    assert words, "the demo must hold an entity the user may not see"
    return words


def _filter_choices(changelist) -> list[tuple[str, str]]:
    """(filter title, choice text) of every choice every list filter of the changelist offers."""
    return [(str(spec.title), str(choice["display"]))
            for spec in changelist.filter_specs for choice in spec.choices(changelist)]


@pytest.mark.parametrize("username", ["finance_sz"])
def test_no_list_filter_offers_an_entity_the_user_may_not_see(client, demo, username):
    user = User.objects.get(username=username)
    hidden = _hidden_words(user)
    client.force_login(user)
    request = type("R", (), {"user": user})()
    leaks: list[str] = []
    walked = 0
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        response = client.get(url)
        if response.status_code == 302:  # a list of one row the user owns (their preferences) opens that row
            continue
        assert response.status_code == 200, (url, response.status_code)
        changelist = response.context["cl"]
        walked += len(changelist.filter_specs)
        for title, text in _filter_choices(changelist):
            leaks += [f"{url} 「{title}」 offers {text}" for word in hidden if word in text]
        body = response.content.decode()
        leaks += [f"{url} shows {word}" for word in hidden if word in body]
    assert walked > 20  # the filters of every list the user may open, not a handful
    assert leaks == []


def test_the_job_list_filter_by_entity_offers_only_the_users_entities(client, demo):
    """The job list is not an ``EntityScopedAdminMixin`` (a user also sees their own jobs without an entity): its
    plain ``"taxpayer"`` filter is scoped all the same."""
    user = User.objects.get(username="finance_sz")
    client.force_login(user)
    response = client.get(reverse("admin:invoicing_job_changelist"))
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "field_path", "") == "taxpayer")
    assert [pk for pk, _label in spec.lookup_choices] == [Taxpayer.objects.get(credit_code="91440300MA5FM1NGYB").pk]
