"""The English catalogue: complete, compiled from the current .po, and used by the admin.

The .po is parsed here in plain Python (no polib, no msgfmt), so these tests run the same on a machine without
gettext tools: a fresh checkout relies on the committed .mo, and the comparison below catches a .mo that was not
recompiled after the .po changed.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.base import InvoiceKind
from tests.issuing.factories import make_document

MESSAGES = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES"
PO = MESSAGES / "django.po"
MO = MESSAGES / "django.mo"

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"$')
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: msgctxt, msgid, msgid_plural, msgstr ({index: text}) and flags.

    Enough of the format for what makemessages writes: comments, flags, multi-line strings, plurals. A new entry
    starts at a comment or msgctxt/msgid after a msgstr, so a missing blank line (makemessages leaves none after
    the header) does not merge two entries.
    """
    entries: list[dict] = []
    entry: dict | None = None
    last: tuple[str, int | None] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        starts_entry = line.startswith("#") or line.startswith("msgctxt") or line.startswith("msgid ")
        if entry is not None and (not line or (starts_entry and entry["msgstr"])):
            entries.append(entry)
            entry = None
        if not line:
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := _KEYWORD.match(line):
            keyword, index, text = match.groups()
            if keyword.startswith("msgstr"):
                last = ("msgstr", int(index) if index is not None else 0)
                entry["msgstr"][last[1]] = _unquote(text)
            else:
                last = (keyword, None)
                entry[keyword] = _unquote(text)
        elif line.startswith('"') and last is not None:
            text = _unquote(line[1:-1])
            if last[0] == "msgstr":
                entry["msgstr"][last[1]] += text
            else:
                entry[last[0]] += text
        else:
            raise AssertionError(f"{path.name}: cannot read line {raw!r}")
    if entry is not None:
        entries.append(entry)
    return entries


def _key(entry: dict) -> str:
    return entry["msgid"] if entry["msgctxt"] is None else f"{entry['msgctxt']}\x04{entry['msgid']}"


def po_catalog(entries: list[dict]) -> dict:
    """The translations as GNUTranslations keeps them: msgid → text, or (msgid, n) → text for plurals."""
    catalog: dict = {}
    for entry in entries:
        if entry["msgid"] == "":
            continue
        if entry["msgid_plural"] is None:
            catalog[_key(entry)] = entry["msgstr"][0]
        else:
            for index, text in entry["msgstr"].items():
                catalog[(_key(entry), index)] = text
    return catalog


@pytest.fixture(scope="module")
def po_entries():
    assert PO.exists(), f"{PO} is missing: run make messages"
    return parse_po(PO)


def test_every_entry_is_translated_and_none_is_fuzzy(po_entries):
    header, *entries = po_entries
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert len(entries) > 500  # the whole product, not a stub
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    untranslated = [e["msgid"] for e in entries if not e["msgstr"] or not all(s.strip() for s in e["msgstr"].values())]
    assert untranslated == []
    if any(e["msgid_plural"] is not None for e in entries):
        assert all(set(e["msgstr"]) == {0, 1} for e in entries if e["msgid_plural"] is not None)


def test_the_header_names_english_and_its_plural_rule(po_entries):
    header = dict(
        line.split(": ", 1) for line in po_entries[0]["msgstr"][0].splitlines() if ": " in line
    )
    assert header["Language"] == "en"
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    assert header["Plural-Forms"] == "nplurals=2; plural=(n != 1);"


def test_placeholders_survive_translation(po_entries):
    changed = [
        (e["msgid"], text)
        for e in po_entries[1:]
        for text in e["msgstr"].values()
        if sorted(_PLACEHOLDER.findall(text)) != sorted(_PLACEHOLDER.findall(e["msgid_plural"] or e["msgid"]))
    ]
    assert changed == []


def test_the_english_text_has_no_chinese_left_but_the_language_name(po_entries):
    chinese = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
    left = [e["msgid"] for e in po_entries[1:] if any(chinese.search(s) for s in e["msgstr"].values())]
    assert left == ["简体中文"]  # "Simplified Chinese (简体中文)": findable by a Chinese reader in the menu


def test_the_compiled_catalogue_matches_the_po(po_entries):
    """The committed .mo holds exactly the .po's translations: recompile (make messages) after editing the .po."""
    assert MO.exists(), f"{MO} is missing: run make messages"
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    mo = {key: text for key, text in compiled._catalog.items() if key != ""}
    po = po_catalog(po_entries)
    assert sorted(set(po) - set(mo), key=str) == [], "in the .po but not the .mo: recompile"
    assert sorted(set(mo) - set(po), key=str) == [], "in the .mo but not the .po: recompile"
    assert [key for key in po if po[key] != mo[key]] == [], "translations differ: recompile"
    assert compiled.info()["plural-forms"] == "nplurals=2; plural=(n != 1);"


def test_model_and_choice_labels_come_out_in_english():
    with translation.override("en"):
        # Django's convention: model and field names in lower case; the admin capitalises them where they lead.
        assert str(InvoiceApplication._meta.verbose_name) == "invoice application"
        assert str(InvoiceApplication._meta.verbose_name_plural) == "invoice applications"  # its own msgid
        assert str(InvoiceApplication._meta.get_field("total").verbose_name) == "total (tax included)"
        assert str(ApplicationStatus.PENDING_REVIEW.label) == "Pending review"
        assert str(ApplicationStatus.REJECTED.label) == "Rejected"
        assert str(ApplicationStatus.PARTLY_RED.label) == "Partly red-flushed"
        assert str(InvoiceKind.SHUDIAN_SPECIAL.label) == "Digital special VAT invoice"
    with translation.override("zh-hans"):
        assert str(InvoiceApplication._meta.verbose_name_plural) == "开票申请"
        assert str(ApplicationStatus.PENDING_REVIEW.label) == "待审核"


@pytest.fixture
def application(yuntu, buyer):
    return application_services.application_create(actor=None, taxpayer=yuntu, sources=[make_document(yuntu, counterparty=buyer)])


@pytest.mark.django_db
def test_the_admin_speaks_english_to_an_english_browser(client, fiona, application):
    client.force_login(fiona)
    changelist = client.get(reverse("admin:issuing_invoiceapplication_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert changelist.status_code == 200
    page = changelist.content.decode()
    assert 'lang="en"' in page
    assert "Select invoice application to change" in page
    assert "Pending review" in page  # the status filter and the row
    assert "开票申请" not in page and "待审核" not in page

    change = client.get(
        reverse("admin:issuing_invoiceapplication_change", args=[application.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    for label in ("Buyer", "Delivery and remarks", "Review", "Total (tax included)", "Status shown to customer"):
        assert label in change, label

    index = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Issuing" in index and "Master data" in index


@pytest.mark.django_db
@pytest.mark.parametrize("accept_language", [None, "zh-CN,zh;q=0.9"])
def test_the_admin_stays_chinese_by_default(client, fiona, application, accept_language):
    client.force_login(fiona)
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    page = client.get(reverse("admin:issuing_invoiceapplication_changelist"), **headers).content.decode()
    assert 'lang="zh-hans"' in page
    assert "开票申请" in page and "待审核" in page
    assert "invoice application" not in page.lower() and "Pending review" not in page
