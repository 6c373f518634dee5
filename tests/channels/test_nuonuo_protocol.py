"""Nuonuo's signing string and value formats, against vectors published by two independent clients."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from invoicing.channels import nuonuo_protocol as proto


@pytest.mark.parametrize(
    ("secret", "app_key", "senid", "body", "expected"),
    [
        # jellyfrank/nuonuo-sdk docs/api-contract.md: the output of Nuonuo's own Python sample for these inputs.
        ("secret", "app", "a" * 32, '{"name":"中文"}', "4BzcKzrcoqxPis0W/W3X2ae0uIo="),
        # Odoo's l10n_cn_edi_nuonuo tests: an input that got past sdk.nuonuo.com's check.
        ("SECRET", "APPKEY", "SENID", '{"a":1}', "7iSZiR+0g+376QEJ38xLM+3vGDs="),
    ],
)
def test_the_signature_matches_the_published_vectors(secret, app_key, senid, body, expected):
    assert proto.sign(app_secret=secret, app_key=app_key, senid=senid, nonce="12345678", timestamp="1700000000",
                      body=body) == expected
    assert proto.signature_matches(app_secret=secret, app_key=app_key, senid=senid, nonce="12345678",
                                   timestamp="1700000000", body=body, signature=expected)


def test_any_change_to_the_signed_parts_breaks_the_signature():
    base = dict(app_secret="s", app_key="k", senid="a" * 32, nonce="12345678", timestamp="1700000000", body="{}")
    good = proto.sign(**base)
    for key, value in (("app_secret", "t"), ("app_key", "j"), ("senid", "b" * 32), ("nonce", "12345679"),
                       ("timestamp", "1700000001"), ("body", '{"a":1}')):
        assert proto.sign(**{**base, key: value}) != good, key
    assert not proto.signature_matches(**base, signature=good[:-2] + "xx")


def test_the_signing_string_reads_the_path_backwards_then_the_public_parameters_then_the_body():
    assert proto.signing_string(app_key="K", senid="I", nonce="N", timestamp="T", body="B") == (
        "a=services&l=v1&p=open&k=K&i=I&n=N&t=T&f=B"
    )


def test_fresh_public_parameters_have_the_documented_shape():
    params = proto.PublicParams.fresh("app")
    assert len(params.senid) == 32 and params.senid.isalnum()
    assert len(params.nonce) == 8 and params.nonce.isdigit() and params.nonce[0] != "0"
    assert params.timestamp.isdigit() and len(params.timestamp) == 10  # seconds
    assert params.as_query() == {"senid": params.senid, "nonce": params.nonce, "timestamp": params.timestamp,
                                 "appkey": "app"}
    assert proto.PublicParams.fresh("app").senid != params.senid


def test_the_body_is_compact_json_with_chinese_as_is():
    text = proto.body_text({"buyerName": "诺诺网", "n": ["1"]})
    assert text == '{"buyerName":"诺诺网","n":["1"]}'
    assert json.loads(text)["buyerName"] == "诺诺网"


@pytest.mark.parametrize(
    ("value", "text"),
    [("0.13", "0.13"), ("0.130", "0.13"), ("5.650000000000", "5.65"), ("2", "2"), ("100", "100"), ("1E+2", "100"),
     ("-1.50", "-1.5"), ("1.1234567891234", "1.12345679"), ("0.00000001", "0.00000001")],
)
def test_rates_quantities_and_prices_are_plain_with_at_most_eight_decimals(value, text):
    assert proto.plain(Decimal(value)) == text


def test_amounts_have_two_decimals():
    assert proto.money(Decimal("5")) == "5.00"
    assert proto.money(Decimal("-0.125")) == "-0.13"


def test_kinds_and_reasons_map_both_ways():
    assert {proto.INVOICE_LINES[k] for k in ("81", "82", "85", "86")} == {"bs", "pc", "es", "ec"}
    assert all(proto.KINDS[proto.INVOICE_LINES[k]] == k for k in proto.INVOICE_LINES)
    assert proto.RED_REASONS["01"] == "2" and proto.RED_REASONS["02"] == "1"  # 开票有误 / 销货退回 swap places
    assert all(proto.RED_REASONS_BACK[proto.RED_REASONS[r]] == r for r in proto.RED_REASONS)
