"""Review reasons read in words: each rule code a reader or the pool records has a label, and the record's page
shows the label (the code only on hover)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from receiving.services import REVIEW_CODE_WORDS
from tests.receiving.controls import pool_invoice

ROOT = Path(__file__).resolve().parents[2]

# Where review reasons are made: Checker.flag(field, "code", …), ReviewReason(field, "code", …), the PDF face's
# problems, and the pool's own reason dictionaries.
PATTERNS = [
    re.compile(r"""\.flag\(\s*[^,()]+(?:\([^()]*\))?,\s*["'](\w+)["']"""),
    re.compile(r"""ReviewReason\(\s*[^,()]+,\s*["'](\w+)["']"""),
    re.compile(r"""problems\.append\(\(.*?,\s*["'](\w+)["'],""", re.S),
    re.compile(r"""\bcode, message = ["'](\w+)["']"""),
    re.compile(r"""["']code["']:\s*["'](\w+)["'],\s*["'](?:message|origin)["']"""),
]


def _recorded_codes() -> set[str]:
    codes: set[str] = set()
    for folder in ("invoicing/documents", "receiving"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                text = path.read_text(encoding="utf-8")
                for pattern in PATTERNS:
                    codes.update(pattern.findall(text))
    return codes


def test_the_scan_finds_the_codes_it_should():
    assert {"line_rate", "not_corroborated", "needs_file", "needs_entry", "qr_mismatch", "carrier_conflict",
            "wrong_way", "party_by_position", "no_text_mapping"} <= _recorded_codes()


def test_every_review_code_has_a_label():
    missing = sorted(_recorded_codes() - set(REVIEW_CODE_WORDS))
    assert not missing, f"review reason codes without a label in receiving.services.REVIEW_CODE_WORDS: {missing}"


@pytest.mark.django_db
def test_the_record_page_names_each_reason_s_rule_in_words(client, fiona, pujiang):
    record = pool_invoice(pujiang, review_state="review", use_state="in_review", review_reasons=[
        {"field": "document", "code": "needs_file", "message": "扫码录入：需上传发票文件或查验后确认"},
        {"field": "lines", "code": "line_rate", "message": "第 1 行税额 ≠ 金额 × 税率"},
        {"field": "amount", "code": "not_corroborated", "message": "合计金额无法与明细、大写金额或二维码核对"},
        {"field": "tax", "code": "something_new", "message": "新规则"},
    ])
    client.force_login(fiona)
    page = client.get(reverse("admin:receiving_receivedinvoice_change", args=[record.pk])).content.decode()
    table = page.split('class="fapiao-review-reasons"')[1].split("</table>")[0]
    assert '<td title="needs_file">需上传发票文件或查验</td>' in table
    assert '<td title="line_rate">明细税额与税率不符</td>' in table
    assert '<td title="not_corroborated">金额无法核对</td>' in table
    assert '<td title="something_new">something_new</td>' in table  # an unknown code is shown as it is
    assert "<code>" not in table
