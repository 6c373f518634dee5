"""``seed_demo`` is for development: it refuses production settings unless forced, and never changes a user that
exists already (password, flags, groups, entity scope)."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from invoicing import roles
from invoicing.demo import DEMO_PASSWORD, DEMO_USERS
from invoicing.models import EntityScope, Taxpayer

pytestmark = pytest.mark.django_db


def test_with_debug_off_it_refuses_and_creates_nothing(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")
    assert not User.objects.exists()
    assert not Taxpayer.objects.exists()


def test_with_debug_off_it_does_not_print_the_demo_password(settings):
    settings.DEBUG = False
    out = StringIO()
    call_command("seed_demo", logins=True, stdout=out)
    assert DEMO_PASSWORD not in out.getvalue()


def test_with_debug_off_and_force_it_seeds_with_a_loud_warning(settings):
    settings.DEBUG = False
    out, err = StringIO(), StringIO()
    call_command("seed_demo", force=True, stdout=out, stderr=err)
    assert "WARNING" in err.getvalue() and "PUBLIC demo password" in err.getvalue()
    assert User.objects.filter(username__in=[u[0] for u in DEMO_USERS]).count() == len(DEMO_USERS)
    assert Taxpayer.objects.count() == 2


def test_seeding_again_never_changes_an_existing_user(settings):
    settings.DEBUG = True
    # A user named like a demo user that the demo never created.
    own = User.objects.create_user("service", password="their-own-password-2026", is_staff=False, is_active=False)
    call_command("seed_demo", stdout=StringIO())
    admin = User.objects.get(username="admin")
    assert admin.check_password(DEMO_PASSWORD) and not admin.is_superuser  # created by the demo
    # The operator takes the installation over: a new password, a superuser, another group, one entity only.
    admin.set_password("a-long-private-passphrase-2026")
    admin.is_superuser = True
    admin.first_name = "运维"
    admin.save()
    admin.groups.set([Group.objects.get(name=roles.FINANCE)])
    scope = admin.entity_scope
    scope.all_entities = False
    scope.save()
    scope.taxpayers.set([Taxpayer.objects.get(credit_code="91440300MA5FM1NGYB")])

    out = StringIO()
    call_command("seed_demo", stdout=out)

    admin = User.objects.get(username="admin")
    assert admin.check_password("a-long-private-passphrase-2026")
    assert not admin.check_password(DEMO_PASSWORD)
    assert admin.is_superuser and admin.is_staff and admin.first_name == "运维"
    assert list(admin.groups.values_list("name", flat=True)) == [roles.FINANCE]
    scope = EntityScope.objects.get(user=admin)
    assert not scope.all_entities
    assert list(scope.taxpayers.values_list("credit_code", flat=True)) == ["91440300MA5FM1NGYB"]
    own.refresh_from_db()
    assert own.check_password("their-own-password-2026") and not own.is_staff and not own.is_active
    assert not own.groups.exists()
    assert "existing users left unchanged" in out.getvalue()


def test_the_demo_users_it_created_keep_working_when_seeded_again(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    for username, role, _name, limited in DEMO_USERS:
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD) and user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.entity_scope.all_entities is (limited is None)
