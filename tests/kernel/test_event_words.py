"""The audit trail reads in words: every action code recorded anywhere has a translated label."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import translation

from invoicing.events import ACTION_LABELS, action_label
from issuing.redletter.sync import form_transition_to

ROOT = Path(__file__).resolve().parents[2]
APPS = ("invoicing", "issuing", "delivery", "api", "receiving", "deduction", "sandbox")

LITERALS = [
    re.compile(r"""(?<![\w.])action\s*=\s*["']([\w.]+)["']"""),  # event_record(action="claim")
    re.compile(r"""["']action["']\s*:\s*["']([\w.]+)["']"""),  # events_record_many rows
    re.compile(r"""\.audit\(\s*\w+\s*,\s*["']([\w.]+)["']"""),  # the API's audit(obj, "api_create")
    re.compile(r"""^[A-Z_]+_ACTION\s*=\s*["']([\w.]+)["']""", re.M),  # FLAG_ACTION = "reconcile_flagged"
]


def _recorded_codes() -> set[str]:
    codes: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                if "add_argument" in line or "@admin.action" in line:
                    continue
                for pattern in LITERALS:
                    codes.update(pattern.findall(line))
    # Transitions record their own name (services.application_transition, redletter's platform moves).
    for model in apps.get_models():
        codes.update(n for n in dir(model) if hasattr(getattr(model, n, None), "_django_fsm"))
    codes.update(re.findall(r'return "(\w+)"', inspect.getsource(form_transition_to)))
    # Delivery outcomes: f"delivery.{status}".
    from delivery.models import DeliveryStatus

    codes.update(f"delivery.{status}" for status in DeliveryStatus.values)
    return codes - ARGPARSE_ACTIONS


ARGPARSE_ACTIONS = {"append", "store", "store_true", "store_false", "count"}  # management commands' options


def test_the_scan_finds_the_codes_it_should():
    codes = _recorded_codes()
    assert {"claim", "approve", "submit_failed", "issue_failed", "reconcile_flagged", "api_create",
            "file.downloaded", "delivery.bounced", "registered", "quota_consume"} <= codes


def test_every_recorded_action_has_a_label():
    missing = sorted(_recorded_codes() - set(ACTION_LABELS))
    assert not missing, f"event actions without a label in invoicing.events.ACTION_LABELS: {missing}"


@pytest.mark.parametrize("code,zh,en", [("claim", "领取", "Claimed"), ("approve", "批准", "Approved"),
                                        ("submit_failed", "提交失败", "Submission failed")])
def test_labels_are_words_in_both_languages(code, zh, en):
    with translation.override("zh-hans"):
        assert action_label(code) == zh
    with translation.override("en"):
        assert action_label(code) == en


def test_an_unknown_code_is_shown_as_it_is():
    assert action_label("something_new") == "something_new"
