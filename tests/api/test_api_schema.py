"""The OpenAPI schema validates, and a bounded schemathesis run over every /api/v1/ operation finds no 5xx and no
response the schema does not describe (status, content type, headers, body, formats included)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import ApiClient
from invoicing.wsgi import application
from tests.api.conftest import document_body
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def test_the_schema_and_the_swagger_page_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


@contextmanager
def _same_connection():
    """Serve WSGI calls inside the test's transaction, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzed_world(shop, yuntu):
    """Something to find: a document, an application and an invoice of the shop's entity."""
    ApiClient.objects.filter(name="shop").update(throttle_rate="100000/min")
    doc = shop.post("billing-documents/", document_body("SO-FUZZ")).json()
    shop.post("applications/", {"billing_documents": [{"id": doc["id"]}]})
    make_invoice(yuntu)


# Loaded at collection through the WSGI app (the schema view touches no database). ``schemathesis.pytest.from_fixture``
# would be the natural fit, but schemathesis 4.32 reads ``request.node._nodeid``, which pytest 9 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application).include(path_regex=r"^/api/v1/")
schema.config.checks.response_schema_conformance.validate_formats = True
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]


def test_response_conformance_checks_formats():
    assert schema.config.checks_config_for(operation=None).response_schema_conformance.validate_formats


@schema.parametrize()
@settings(max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "5")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_operation_answers_a_server_error(case, shop_credentials, fuzzed_world):
    with _same_connection():
        response = case.call(headers={"Authorization": f"Bearer {shop_credentials.token}"})
    case.validate_response(response, checks=CONFORMANCE)
