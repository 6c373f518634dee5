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


def test_the_expense_reviewer_sees_the_receiving_side_only():
    roles.sync_role_permissions()
    reviewer = Group.objects.get(name=roles.EXPENSE_REVIEWER)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in reviewer.permissions.select_related("content_type")}
    assert granted == roles.EXPENSE_REVIEWER_PERMISSIONS
    assert {label.split(".")[0] for label in granted} == {"invoicing", "receiving"}
    assert "receiving.approve_expenseclaim" in granted and "receiving.pay_expenseclaim" not in granted
    assert not {"receiving.add_expenseclaim", "receiving.book_receivedinvoice", "receiving.view_mailbox",
                "receiving.override_rule", "invoicing.view_event"} & granted
    assert not reviewer.permissions.filter(content_type__app_label__in=("issuing", "delivery", "auth")).exists()
    finance = Group.objects.get(name=roles.FINANCE)
    assert finance.permissions.filter(codename__in=("approve_expenseclaim", "pay_expenseclaim")).count() == 2
    assert not finance.permissions.filter(codename__in=("delete_expenseclaim", "delete_claimline")).exists()
    cs = Group.objects.get(name=roles.CUSTOMER_SERVICE)
    assert not cs.permissions.filter(codename__contains="expenseclaim").exists()


def test_the_demo_reviewer_sees_only_its_entities_and_the_submitted_claim_can_be_approved(settings, client):
    from django.urls import reverse

    from receiving import claims
    from receiving.claims_models import ClaimState, ExpenseClaim

    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    reviewer = User.objects.get(username="reviewer")
    assert reviewer.check_password(DEMO_PASSWORD) and reviewer.groups.get().name == roles.EXPENSE_REVIEWER
    assert not reviewer.entity_scope.all_entities
    assert sorted(reviewer.entity_scope.taxpayers.values_list("credit_code", flat=True)) == [
        "91440101MA5CYUN00U", "91440300MA5FM1NGYB"]  # the group's expense desk: 云途 and 明远 (the story's claim)
    claim = ExpenseClaim.objects.get(state=ClaimState.SUBMITTED)
    assert claim.state == ClaimState.SUBMITTED and claim.taxpayer.credit_code == "91440101MA5CYUN00U"
    client.force_login(reviewer)
    assert client.get(reverse("admin:receiving_expenseclaim_change", args=[claim.pk])).status_code == 200
    assert client.get(reverse("admin:receiving_receivedinvoice_changelist")).status_code == 200
    for page in ("admin:issuing_invoice_changelist", "admin:issuing_invoiceapplication_changelist",
                 "admin:receiving_mailbox_changelist", "admin:auth_user_changelist"):
        assert client.get(reverse(page)).status_code == 403, page
    approved = claims.claim_approve(claim=claim, actor=User.objects.get(username="finance"))
    assert approved.state == ClaimState.APPROVED
    claims_before = ExpenseClaim.objects.count()
    call_command("seed_demo", verbosity=0)
    assert ExpenseClaim.objects.count() == claims_before
