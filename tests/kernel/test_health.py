"""/health/live and /health/ready: JSON without a login, each check ok or unavailable, no details in the answer."""

import pytest
from django.test import Client

from invoicing import health

pytestmark = pytest.mark.django_db


def test_live_answers_without_a_login():
    response = Client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_checks_database_broker_and_storage():
    response = Client().get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "storage": "ok"}}


def test_ready_is_503_naming_the_failed_check_without_its_details(monkeypatch, caplog):
    secret = "redis://:hunter2@broker.internal:6379/0"

    def broken() -> None:
        raise ConnectionError(f"cannot reach {secret}")

    monkeypatch.setitem(health.CHECKS, "broker", broken)
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable",
                               "checks": {"database": "ok", "broker": "unavailable", "storage": "ok"}}
    assert b"hunter2" not in response.content
    assert "readiness check broker failed" in caplog.text


def test_a_storage_failure_makes_the_process_unready(monkeypatch):
    def refuse(name: str) -> bool:
        raise OSError("permission denied")

    monkeypatch.setattr(health.default_storage, "exists", refuse)
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unavailable"


def test_health_answers_get_only():
    assert Client().post("/health/ready").status_code == 405
