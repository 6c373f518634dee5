"""The API client admin: administrators only; creating a client shows its credentials once."""

from __future__ import annotations

import re

import pytest

from api.models import ApiClient, token_digest
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def test_creating_a_client_in_the_admin_shows_the_token_once(client, ada, yuntu):
    client.force_login(ada)
    response = client.post("/admin/api/apiclient/add/", {
        "name": "erp", "taxpayers": [yuntu.pk], "is_active": "on", "throttle_rate": "600/min",
    })
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    token = re.search(rb"<code>(fpd_[^<]+)</code>", response.content).group(1).decode()
    created = ApiClient.objects.get(name="erp")
    assert created.token_hash == token_digest(token)
    assert list(created.taxpayers.all()) == [yuntu]
    assert Api(token).get("billing-documents/").status_code == 200
    change_page = client.get(f"/admin/api/apiclient/{created.pk}/change/")
    assert token.encode() not in change_page.content
    assert created.hmac_secret.encode() not in change_page.content


def test_rotating_shows_new_credentials_and_retires_the_old(client, ada, shop_credentials):
    client.force_login(ada)
    response = client.post("/admin/api/apiclient/", {
        "action": "rotate_credentials", "_selected_action": [shop_credentials.client.pk],
    })
    token = re.search(rb"<code>(fpd_[^<]+)</code>", response.content).group(1).decode()
    assert token != shop_credentials.token
    assert Api(shop_credentials.token).get("billing-documents/").status_code == 401
    assert Api(token).get("billing-documents/").status_code == 200


def test_a_bad_throttle_rate_is_refused(client, ada, yuntu):
    client.force_login(ada)
    response = client.post("/admin/api/apiclient/add/", {"name": "bad", "taxpayers": [yuntu.pk],
                                                         "throttle_rate": "lots"})
    assert response.status_code == 200 and not ApiClient.objects.filter(name="bad").exists()


@pytest.mark.parametrize("user", ["sam", "fiona"])
def test_customer_service_and_finance_cannot_manage_clients(client, user, request):
    client.force_login(request.getfixturevalue(user))
    assert client.get("/admin/api/apiclient/").status_code == 403
