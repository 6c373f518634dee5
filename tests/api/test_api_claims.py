"""Expense claims through the API (/api/v1/claims/): created by the expense system for its employees, idempotent,
listed and read with their lines, submitted; scoped to the client's entities."""

from __future__ import annotations

import pytest

from receiving.claims_models import ClaimSource, ClaimState, ExpenseClaim
from tests.api.conftest import assert_error
from tests.receiving.controls import pool_invoice

pytestmark = pytest.mark.django_db


def body(*lines, **changes):
    data = {"claimant_name": "张三", "claimant_code": "E001", "department": "研发部", "title": "12月差旅",
            "external_ref": "EXP-2026-0001", "lines": list(lines)}
    data.update(changes)
    return data


def test_the_expense_system_creates_a_claim_once_per_key_and_submits_it(shop, yuntu):
    a, b = pool_invoice(yuntu), pool_invoice(yuntu)
    request = body({"invoice": a.pk, "amount": "300.00"}, {"number": b.number})
    first = shop.post("claims/", request, key="claim-1")
    assert first.status_code == 201, first.content
    again = shop.post("claims/", request, key="claim-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert ExpenseClaim.objects.count() == 1
    claim = first.json()
    assert claim["state"] == "draft" and claim["claim_no"].startswith("BX") and claim["taxpayer"] == yuntu.credit_code
    assert [(x["invoice"], x["amount"]) for x in claim["lines"]] == [(a.pk, "300.00"), (b.pk, "1060.00")]
    assert claim["claimed_total"] == "1360.00" and claim["line_count"] == 2
    assert ExpenseClaim.objects.get().source == ClaimSource.API
    submitted = shop.post(f"claims/{claim['id']}/submit/", key="submit-1")
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    assert_error(shop.post(f"claims/{claim['id']}/submit/"), 409, "invalid_state")
    listed = shop.get("claims/", {"state": "submitted"}).json()
    assert [x["id"] for x in listed["results"]] == [claim["id"]]
    assert shop.get("claims/", {"external_ref": "EXP-2026-0001"}).json()["count"] == 1


def test_amounts_over_what_is_left_are_refused_by_line(shop, yuntu):
    record = pool_invoice(yuntu)
    assert shop.post("claims/", body({"invoice": record.pk, "amount": "1000.00"}), key="a").status_code == 201
    error = assert_error(shop.post("claims/", body({"invoice": record.pk, "amount": "60.01"},
                                                   external_ref="EXP-2")), 400, "validation_error")
    assert "超过可报销余额 60.00" in error["fields"]["lines[1]"][0]
    assert ExpenseClaim.objects.count() == 1
    dup = assert_error(shop.post("claims/", body({"invoice": record.pk, "amount": "1.00"})), 400,
                       "validation_error")
    assert "external_ref" in dup["fields"]


def test_bad_input_names_the_field(shop, yuntu):
    error = assert_error(shop.post("claims/", body()), 400, "validation_error")
    assert "lines" in error["fields"]
    error = assert_error(shop.post("claims/", body({"amount": "1"})), 400, "validation_error")
    assert "lines[1].invoice" in error["fields"]
    error = assert_error(shop.post("claims/", body({"number": "99999999999999999999"})), 400, "validation_error")
    assert "lines[1]" in error["fields"]
    error = assert_error(shop.post("claims/", body({"invoice": pool_invoice(yuntu).pk, "amount": "-5"})), 400,
                         "validation_error")
    assert "lines[1].amount" in error["fields"]
    assert not ExpenseClaim.objects.exists()


def test_a_client_sees_and_claims_only_its_entities(shop, erp, yuntu, mingyuan):
    theirs = pool_invoice(mingyuan)
    error = assert_error(shop.post("claims/", body({"invoice": theirs.pk})), 400, "validation_error")
    assert "lines[1]" in error["fields"]
    assert_error(shop.post("claims/", body({"invoice": theirs.pk}, taxpayer=mingyuan.credit_code)), 400,
                 "validation_error")
    made = erp.post("claims/", body({"invoice": theirs.pk})).json()
    assert shop.get("claims/").json()["count"] == 0
    assert_error(shop.get(f"claims/{made['id']}/"), 404, "not_found")
    assert_error(shop.post(f"claims/{made['id']}/submit/"), 404, "not_found")
    assert ExpenseClaim.objects.get().state == ClaimState.DRAFT
