"""Help texts and field names speak to finance users: no developer notes (design-doc references, unverified-rule
remarks, the platform's pinyin field codes) and no field left with Django's English default name."""

from __future__ import annotations

import re

from django.apps import apps
from django.utils import translation

PROJECT_APPS = ("invoicing", "issuing", "delivery", "api", "receiving", "deduction", "sandbox")
# The sandbox stands in for the tax platform: its ledger tables mirror the platform's own and only administrators
# see them. Developer notes are still not allowed there.
NAMED_APPS = tuple(a for a in PROJECT_APPS if a != "sandbox")

DEVELOPER_NOTE = re.compile(r"\.md\b|§|未经?核实|TODO|FIXME|XXX")
# Lowercase ASCII words in a help text are codes (bz, jzfwfsd) unless they are values the user types or sees.
ALLOWED_WORDS = {"shop", "erp", "app", "min", "day", "invoice.issued"}


def _fields():
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.get_fields():
            if field.auto_created or not getattr(field, "concrete", False) and not field.many_to_many:
                continue
            yield model, field


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"(?<![A-Za-z0-9_])[a-z][a-z_.]*[a-z](?![A-Za-z0-9_])", text)} - ALLOWED_WORDS


def test_no_developer_notes_in_help_texts_or_field_names():
    found = []
    with translation.override("zh-hans"):
        for model, field in _fields():
            for attr in ("help_text", "verbose_name"):
                text = str(getattr(field, attr, "") or "")
                if DEVELOPER_NOTE.search(text):
                    found.append(f"{model.__name__}.{field.name}.{attr}: {text}")
                elif attr == "help_text" and model._meta.app_label in NAMED_APPS and _words(text):
                    found.append(f"{model.__name__}.{field.name}.{attr}: {text} (codes {sorted(_words(text))})")
    assert not found, "\n".join(found)


def test_every_field_has_a_name_in_words():
    defaults = []
    for model, field in _fields():
        if model._meta.app_label not in NAMED_APPS:
            continue
        if str(field.verbose_name) == field.name.replace("_", " "):
            defaults.append(f"{model._meta.label}.{field.name}")
    assert not defaults, defaults


def test_the_scan_catches_what_it_is_for():
    assert DEVELOPER_NOTE.search("数电上限 2000 行（domain.md §5.3）")
    assert DEVELOPER_NOTE.search("税局规则未经核实")
    assert _words("数电 bz 450；通道限制见开票设置") == {"bz"}
    assert _words("如建筑服务 jzfwfsd / jzxmmc") == {"jzfwfsd", "jzxmmc"}
    assert not _words("如 shop、erp；HTTP 状态、SHA-256")
