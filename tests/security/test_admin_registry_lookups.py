"""Every registered admin model, for every role: no changelist filters, searches or sorts by a field the role may
not read, and no page shows a stored secret or (to those who may not download files) a customer link.

The test enumerates ``admin.site._registry``, so models registered later are covered without editing it. What a role
may not read is decided here, independently of the guard's own table: fields named like secrets, tokens, hashes,
passwords or session data, every file field and every encrypted field for everyone, and a delivery's target (it is the
customer link for QR deliveries) for roles that may not download invoice files.

Precisely:
- a query-string lookup is accepted only if it is one of the parameters that the admin's declared list filters and
  date hierarchy generate (computed with Django's own filter classes); pattern and comparison lookups on every
  concrete field (``regex``, ``startswith``, ``contains``, ``gt``…) and paths through relations to unreadable fields
  are refused, and over HTTP such a request answers 400 (or 403 without the view permission), never 200 or 500;
- the effective search fields and sortable columns (and the default ordering) never touch an unreadable field;
- the changelist and change pages never contain a stored secret, nor a customer link token for non-downloaders.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from api.services import api_client_prepare
from delivery.models import Delivery, InvoiceLink, WebhookEndpoint
from delivery.services import delivery_send
from delivery.views import user_may_download
from invoicing import roles
from invoicing.admin_guard import LookupGuardMixin
from invoicing.fields import EncryptedTextField
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db

_UNREADABLE_NAME = re.compile(r"secret|token|password|hash|sha256|session_(key|data)")
PATTERN_LOOKUPS = ("regex", "iregex", "startswith", "istartswith", "contains", "icontains", "endswith", "gt", "in")
CHANNEL_SECRET = "yuntu-channel-SECRET-4711"
SANDBOX_SECRET = "sandbox-account-SECRET-4712"
WEBHOOK_SECRET = "webhook-endpoint-SECRET-4713"


def unreadable(model: type[models.Model], field: models.Field, user) -> bool:
    """The test's own notion of what ``user`` may not read (deliberately not the guard's table)."""
    if isinstance(field, models.FileField | EncryptedTextField) or _UNREADABLE_NAME.search(field.name):
        return True
    return model is Delivery and field.name == "target" and not user_may_download(user)


def path_is_unreadable(model, path: str, user) -> bool:
    current = model
    for part in path.lstrip("^=@-").split("__"):
        try:
            field = current._meta.get_field(current._meta.pk.name if part == "pk" else part)
        except FieldDoesNotExist:
            return False
        if getattr(field, "concrete", False) and unreadable(current, field, user):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        current = field.related_model
    return False


def declared_parameters(model_admin, request) -> set[str]:
    """The query-string parameters the admin's declared filters generate (Django's own filter classes)."""
    params: set[str] = set()
    for item in model_admin.get_list_filter(request):
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            params.add(item.parameter_name)
            continue
        path, filter_class = item if isinstance(item, (list, tuple)) else (item, FieldListFilter.create)
        field = get_fields_from_path(model_admin.model, path)[-1]
        spec = filter_class(field, request, {}, model_admin.model, model_admin, field_path=path)
        params.update(spec.expected_parameters())
    if model_admin.date_hierarchy:
        params.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    # The list of given rows by their own key (a bulk action lands on ``?id__in=…``): keys are in every change
    # page's address, so this reads nothing; every other lookup on the key (``id__gt``, ``id__regex``) stays refused.
    pk = model_admin.model._meta.pk.name
    params.update({f"{pk}__in", f"{pk}__exact"})
    return params


def related_sensitive_paths(model, user) -> list[str]:
    """One hop through every relation (forward and reverse) to every unreadable field of the related model."""
    paths = []
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None or field.related_model == "self":
            continue
        name = field.name  # a reverse relation's name is its query name
        for target in field.related_model._meta.concrete_fields:
            if unreadable(field.related_model, target, user):
                paths.append(f"{name}__{target.name}")
    return paths


def order_path(model_admin, column) -> str | None:
    if callable(column):
        return getattr(column, "admin_order_field", None)
    try:
        return model_admin.model._meta.get_field(column).name
    except FieldDoesNotExist:
        attr = getattr(model_admin, column, None) or getattr(model_admin.model, column, None)
        if isinstance(attr, property):
            attr = attr.fget
        order = getattr(attr, "admin_order_field", None)
        return order if isinstance(order, str) else None


@pytest.fixture
def world(yuntu, mingyuan, fiona, sam, lily, ada):
    """Rows holding every kind of secret and a customer link, and the four roles (as the demo's users)."""
    roles.sync_role_permissions()
    yuntu.channel_secret = CHANNEL_SECRET
    yuntu.save()
    from sandbox.models import SandboxAccount

    SandboxAccount.objects.create(credit_code=yuntu.credit_code, name=yuntu.name, app_key="ak-yuntu",
                                  secret=SANDBOX_SECRET, is_demo=True)
    WebhookEndpoint.objects.create(taxpayer=yuntu, name="shop", url="https://shop.example.com/hook",
                                   secret=WEBHOOK_SECRET, events=["*"])
    from api.models import ApiClient

    client = ApiClient(name="shop")
    credentials = api_client_prepare(client)
    client.save()
    client.taxpayers.add(yuntu)
    invoice = make_invoice(yuntu)
    qr = delivery_send(invoice=invoice, channel="qr")
    token = InvoiceLink.objects.get().token
    InvoiceLink.objects.create(invoice=invoice, expires_at=timezone.now() + timedelta(days=3))
    return {
        "users": {"finance": fiona, "service": sam, "finance_sz": lily, "admin": ada},
        "secrets": [CHANNEL_SECRET, SANDBOX_SECRET, WEBHOOK_SECRET, credentials.hmac_secret, credentials.token],
        "token": token,
        "qr": qr,
    }


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_every_registered_admin_is_guarded(world):
    unguarded = [m._meta.label for m, ma in admin.site._registry.items() if not isinstance(ma, LookupGuardMixin)]
    assert unguarded == []


@pytest.mark.parametrize("role", ["finance", "service", "finance_sz", "admin"])
def test_no_lookup_search_or_sort_on_fields_the_role_may_not_read(world, role):
    user = world["users"][role]
    request = _request(user)
    problems: list[str] = []
    tried = 0
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        declared = declared_parameters(model_admin, request)
        lookups = [f"{f.name}__{lookup}" for f in model._meta.concrete_fields for lookup in PATTERN_LOOKUPS]
        lookups += [f"{path}__{lookup}" for path in related_sensitive_paths(model, user)
                    for lookup in ("regex", "startswith", "exact", "gt")]
        for lookup in lookups:
            tried += 1
            if model_admin.lookup_allowed(lookup, "x", request) and lookup not in declared:
                problems.append(f"{label}: ?{lookup}= accepted")
        for param in declared:
            if path_is_unreadable(model, param, user):
                problems.append(f"{label}: declared filter {param} reads an unreadable field")
        for field in model_admin.get_search_fields(request):
            if path_is_unreadable(model, field, user):
                problems.append(f"{label}: searches {field}")
        sortable = model_admin.get_sortable_by(request)
        for column in sortable:
            path = order_path(model_admin, column)
            if path and path_is_unreadable(model, path, user):
                problems.append(f"{label}: sortable by {column} ({path})")
        for ordering in model_admin.get_ordering(request) or ():
            if isinstance(ordering, str) and path_is_unreadable(model, ordering, user):
                problems.append(f"{label}: ordered by {ordering}")
    assert tried > 1000  # every model's every field, not a handful
    assert problems == []


@pytest.mark.parametrize("role", ["finance", "service", "finance_sz", "admin"])
def test_refused_lookups_answer_400_over_http(client, world, role):
    user = world["users"][role]
    client.force_login(user)
    request = _request(user)
    seen = 0
    for model, model_admin in admin.site._registry.items():
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        sensitive = [f for f in fields if unreadable(model, f, user)]
        field = (sensitive or fields)[0]
        response = client.get(url, {f"{field.name}__regex": "^."})
        expected = 400 if model_admin.has_view_permission(request) else 403
        assert response.status_code == expected, (model._meta.label, field.name, response.status_code)
        seen += 1
    assert seen == len(admin.site._registry)


@pytest.mark.parametrize("role", ["finance", "service", "finance_sz", "admin"])
def test_no_page_shows_a_secret_or_a_link_the_role_may_not_read(client, world, role):
    user = world["users"][role]
    client.force_login(user)
    request = _request(user)
    needles = list(world["secrets"])
    if not user_may_download(user):
        needles.append(world["token"])
    leaks = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        urls = [reverse(f"admin:{info}_changelist")]
        urls += [reverse(f"admin:{info}_change", args=[pk])
                 for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:3]]
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"admin:{info}_add"))
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 302), (url, response.status_code)
            body = response.content.decode()
            leaks += [f"{url} shows {needle[:8]}…" for needle in needles if needle in body]
    assert leaks == []
