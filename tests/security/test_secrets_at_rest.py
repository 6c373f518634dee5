"""Secrets at rest: stored encrypted under FIELD_ENCRYPTION_KEYS, rotatable, never looked up, write-only in forms."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.forms import modelform_factory
from django.urls import reverse

from invoicing import roles
from invoicing.checks import field_encryption_keys
from invoicing.fields import PREFIX
from invoicing.models import Taxpayer

pytestmark = pytest.mark.django_db
SECRET = "yuntu-sandbox-secret"


def raw(model, pk, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def keyed(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return settings


def test_channel_secret_is_stored_encrypted_and_read_back(keyed, yuntu):
    yuntu.channel_secret = SECRET
    yuntu.save()
    stored = raw(Taxpayer, yuntu.pk, "channel_secret")
    assert stored.startswith(PREFIX) and SECRET not in stored
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == SECRET


def test_other_stored_secrets_are_encrypted(keyed, yuntu):
    from api.models import ApiClient
    from api.services import api_client_prepare
    from delivery.models import WebhookEndpoint
    from sandbox.models import SandboxAccount

    endpoint = WebhookEndpoint.objects.create(taxpayer=yuntu, url="https://shop.example.com/h", events=["*"])
    client = ApiClient(name="shop")
    credentials = api_client_prepare(client)
    client.save()
    account = SandboxAccount.objects.create(credit_code="X1", name="x", app_key="ak", secret="sandbox-secret")
    for model, pk, column, plain in ((WebhookEndpoint, endpoint.pk, "secret", endpoint.secret),
                                     (ApiClient, client.pk, "hmac_secret", credentials.hmac_secret),
                                     (SandboxAccount, account.pk, "secret", "sandbox-secret")):
        stored = raw(model, pk, column)
        assert stored.startswith(PREFIX) and plain not in stored, model
        assert getattr(model.objects.get(pk=pk), column) == plain


@pytest.mark.parametrize("lookup", ["exact", "regex", "startswith", "contains", "gt", "in"])
def test_the_encrypted_column_cannot_be_looked_up(keyed, yuntu, lookup):
    with pytest.raises(FieldError):
        list(Taxpayer.objects.filter(**{f"channel_secret__{lookup}": ["y"] if lookup == "in" else "y"}))
    assert Taxpayer.objects.filter(channel_secret__isnull=False).exists()


def test_key_rotation_and_reencrypt_command(settings, yuntu):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    yuntu.channel_secret = SECRET
    yuntu.save()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # the new key first: it encrypts, both decrypt
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == SECRET
    call_command("reencrypt_fields", stdout=__import__("io").StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key dropped
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == SECRET
    settings.FIELD_ENCRYPTION_KEYS = [old]  # and the old key alone no longer opens it
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        Taxpayer.objects.get(pk=yuntu.pk)


def test_production_refuses_to_start_without_keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    assert [e.id for e in field_encryption_keys(None)] == ["fapiao.E010"]
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    assert [e.id for e in field_encryption_keys(None)] == ["fapiao.E011"]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert field_encryption_keys(None) == []


def test_forms_are_write_only_and_blank_keeps_the_secret(keyed, yuntu):
    yuntu.channel_secret = SECRET
    yuntu.save()
    form_class = modelform_factory(Taxpayer, fields=["channel_secret"])
    assert SECRET not in str(form_class(instance=yuntu))
    form = form_class(data={"channel_secret": ""}, instance=yuntu)
    assert form.is_valid() and not form.has_changed()
    form.save()
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == SECRET
    form = form_class(data={"channel_secret": "a-new-secret"}, instance=yuntu)
    assert form.is_valid()
    form.save()
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == "a-new-secret"


def test_serialisation_masks_the_secret(keyed, yuntu):
    yuntu.channel_secret = SECRET
    yuntu.save()
    assert SECRET not in serializers.serialize("json", [yuntu])


def test_admin_change_form_never_renders_the_secret_and_blank_keeps_it(keyed, client, ada, yuntu):
    roles.sync_role_permissions()
    yuntu.channel_secret = SECRET
    yuntu.save()
    client.force_login(ada)
    url = reverse("admin:invoicing_taxpayer_change", args=[yuntu.pk])
    page = client.get(url)
    assert page.status_code == 200 and SECRET not in page.content.decode()
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    data.update({"channel_secret": "", "is_active": "on"})
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == SECRET


@pytest.mark.django_db(transaction=True)
def test_data_migration_encrypts_existing_rows_and_reverses(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    before = [("invoicing", "0003_channelcall"), ("delivery", "0003_print_job"),
              ("api", "0004_hmac_nonce_client_delivery"), ("sandbox", "0001_initial")]
    after = [("invoicing", "0004_encrypt_channel_secret"), ("delivery", "0004_encrypt_webhook_secret"),
             ("api", "0005_encrypt_hmac_secret"), ("sandbox", "0002_encrypt_account_secret")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_apps = MigrationExecutor(connection).loader.project_state(before).apps
        OldTaxpayer = old_apps.get_model("invoicing", "Taxpayer")  # noqa: N806
        plain = OldTaxpayer.objects.create(name="旧主体", credit_code="91440101MA5OLD001X", channel_secret=SECRET)
        empty = OldTaxpayer.objects.create(name="无密钥", credit_code="91440101MA5OLD002X", channel_secret="")
        OldAccount = old_apps.get_model("sandbox", "SandboxAccount")  # noqa: N806
        account = OldAccount.objects.create(credit_code="X9", name="x", app_key="ak9", secret="acct-secret")
        assert raw(Taxpayer, plain.pk, "channel_secret") == SECRET

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        stored = raw(Taxpayer, plain.pk, "channel_secret")
        assert stored.startswith(PREFIX) and SECRET not in stored
        assert raw(Taxpayer, empty.pk, "channel_secret") == ""
        assert Taxpayer.objects.get(pk=plain.pk).channel_secret == SECRET
        from sandbox.models import SandboxAccount

        assert SandboxAccount.objects.get(pk=account.pk).secret == "acct-secret"

        executor = MigrationExecutor(connection)
        executor.migrate(before)  # reversible: the plain values come back, no data lost
        assert raw(Taxpayer, plain.pk, "channel_secret") == SECRET
        assert raw(SandboxAccount, account.pk, "secret") == "acct-secret"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_new_webhook_endpoints_generated_secret_is_shown_once(keyed, client, fiona, yuntu):
    from django.contrib.messages import get_messages

    from delivery.models import WebhookEndpoint

    roles.sync_role_permissions()
    client.force_login(fiona)
    response = client.post(reverse("admin:delivery_webhookendpoint_add"),
                           {"taxpayer": yuntu.pk, "name": "shop", "url": "https://shop.example.com/hook",
                            "secret": "", "events": '["*"]', "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert len(endpoint.secret) >= 32
    assert any(endpoint.secret in str(m) for m in get_messages(response.wsgi_request))
    shown = client.get(response.url)  # the page after saving shows the message, once
    assert endpoint.secret in shown.content.decode()
    page = client.get(reverse("admin:delivery_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
