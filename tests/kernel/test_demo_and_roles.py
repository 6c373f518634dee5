import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from invoicing import roles
from invoicing.demo import DEMO_PASSWORD
from invoicing.models import Counterparty, Taxpayer

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_world_and_is_idempotent(settings):
    settings.DEBUG = True  # seed_demo is for development (it refuses production settings)
    call_command("seed_demo")
    counts = (Taxpayer.objects.count(), Counterparty.objects.count(), User.objects.count())
    call_command("seed_demo")
    assert (Taxpayer.objects.count(), Counterparty.objects.count(), User.objects.count()) == counts
    assert counts[0] == 2 and counts[1] >= 20
    finance_sz = User.objects.get(username="finance_sz")
    assert finance_sz.check_password(DEMO_PASSWORD)
    assert list(finance_sz.entity_scope.taxpayers.values_list("credit_code", flat=True)) == ["91440300MA5FM1NGYB"]


def test_the_role_groups_exist_and_customer_service_cannot_download_files():
    roles.sync_role_permissions()
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLE_NAMES)
    cs = Group.objects.get(name=roles.CUSTOMER_SERVICE)
    finance = Group.objects.get(name=roles.FINANCE)
    assert not cs.permissions.filter(codename="download_invoice_file").exists()
    assert not cs.permissions.filter(content_type__app_label="auth").exists()
    assert not finance.permissions.filter(content_type__app_label="auth").exists()
    assert finance.permissions.filter(codename="change_taxpayer").exists()
    assert not finance.permissions.filter(codename="delete_taxpayer").exists()


def test_every_permission_named_in_roles_exists():
    from django.contrib.auth.models import Permission

    named = roles.CUSTOMER_SERVICE_PERMISSIONS | roles.FINANCE_DENIED | roles.FINANCE_EXTRA
    missing = sorted(
        label for label in named
        if not Permission.objects.filter(content_type__app_label=label.split(".")[0],
                                         codename=label.split(".", 1)[1]).exists()
    )
    assert missing == []


def test_finance_cannot_read_the_integration_log_but_customer_service_can_resend_deliveries():
    roles.sync_role_permissions()
    finance = Group.objects.get(name=roles.FINANCE)
    cs = Group.objects.get(name=roles.CUSTOMER_SERVICE)
    assert not finance.permissions.filter(codename="view_channelcall").exists()
    assert finance.permissions.filter(content_type__app_label="delivery", codename="view_delivery").exists()
    assert cs.permissions.filter(content_type__app_label="delivery", codename="resend_delivery").exists()
    assert not cs.permissions.filter(codename="confirm_redletterform").exists()


def test_only_administrators_read_celery_task_results(client, fiona, lily, ada):
    """Task arguments and results are not scoped to entities: an entity-limited finance user must not read them."""
    from django.urls import reverse

    url = reverse("admin:django_celery_results_taskresult_changelist")
    for user, status in ((fiona, 403), (lily, 403), (ada, 200)):
        client.force_login(user)
        assert client.get(url).status_code == status, user
