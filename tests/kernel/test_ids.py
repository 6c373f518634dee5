"""Taxpayer ids, invoice numbers and QR payloads against the shared vectors (every row) and domain.md §§2, 3, 9."""

from __future__ import annotations

import csv
import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from invoicing.ids import (
    SANDBOX_TAX_IDS,
    USCC_ALPHABET,
    QrPayloadError,
    UsccError,
    build_invoice_qr,
    id_card_check_char,
    is_acceptable_tax_id,
    is_legacy_invoice_code,
    is_legacy_invoice_number,
    is_shudian_number,
    is_valid_id_card,
    is_valid_uscc,
    normalize_legacy_code,
    normalize_legacy_number,
    parse_invoice_qr,
    uscc_check_char,
    validate_uscc,
)

VECTORS = Path(__file__).resolve().parent.parent / "fixtures" / "vectors"


def _read(name: str) -> list[dict[str, str]]:
    with (VECTORS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


USCC_ROWS = _read("uscc_vectors.tsv")
QR_ROWS = _read("qr_payloads.tsv")

# python-stdnum's error names, as the `note` column carries them for invalid rows.
STDNUM_REASON = {"InvalidLength": "length", "InvalidFormat": "format", "InvalidChecksum": "checksum"}


def expected_tax_id_verdict(row: dict[str, str]) -> tuple[bool, str | None]:
    """The tax-id verdict the row's columns define: a valid USCC is a USCC; the two real seller ids that the `source`
    column calls a 20-char legacy number and a 17-char id are legacy ids (§9.3); every other invalid row is refused."""
    if row["expected"] == "valid":
        return True, "uscc"
    if "20-char legacy" in row["source"]:
        return True, "legacy20"
    if "17 chars" in row["source"]:
        return True, "legacy17"
    return False, None


@pytest.mark.parametrize("row", USCC_ROWS, ids=[f"{i + 2}:{r['value']}" for i, r in enumerate(USCC_ROWS)])
def test_it_gives_each_vector_its_uscc_verdict_and_its_tax_id_verdict(row: dict[str, str]) -> None:
    valid = row["expected"] == "valid"
    assert is_valid_uscc(row["value"]) is valid
    assert stdnum_uscc.is_valid(row["value"]) is valid  # the oracle agrees with the file
    if valid:
        assert validate_uscc(row["value"]) == row["value"].replace(" ", "")
    else:
        reason = next((STDNUM_REASON[w] for w in row["note"].split() if w in STDNUM_REASON), None)
        with pytest.raises(UsccError) as exc:
            validate_uscc(row["value"])
        if reason is not None:
            assert exc.value.reason == reason

    ok, kind = expected_tax_id_verdict(row)
    verdict = is_acceptable_tax_id(row["value"])
    assert verdict.ok is ok
    if ok:
        assert verdict.kind == kind
    else:
        assert verdict.message


def test_the_uscc_vector_file_has_its_252_rows() -> None:
    assert len(USCC_ROWS) == 252


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91350100M000100Y43", True),
        ("91440101MA5APD8X8J", True),
        ("91330106MA2AYNWD8M", True),
        ("91440300582733406C", True),
        ("9153000077859986X2", True),
        ("915300007194052520", True),
        ("91110108801489416U", True),
        ("92230102MAECWNQX6M", True),
        ("91110000600037341L", True),
        ("91350100M000100Y4Z", False),
        ("91110108MA01ABCD1E", True),
        ("91310000MA1FL0000N", True),
    ],
)
def test_it_agrees_with_the_table_in_domain_9_1(code: str, valid: bool) -> None:
    assert is_valid_uscc(code) is valid


def test_the_standard_worked_example_has_check_character_3() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"


@given(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9), st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_the_check_character_matches_python_stdnum(tail: str, head: str) -> None:
    first17 = head + tail
    assert uscc_check_char(first17) == stdnum_uscc.calc_check_digit(first17)
    assert is_valid_uscc(first17 + uscc_check_char(first17))


def test_it_normalises_spaces_hyphens_and_case() -> None:
    assert is_valid_uscc(" 91-110000-600037341l ")


def test_a_sandbox_id_fails_uscc_and_is_accepted_only_in_the_sandbox() -> None:
    sandbox_id = "339902999999789113"
    assert sandbox_id in SANDBOX_TAX_IDS and not is_valid_uscc(sandbox_id)
    assert not is_acceptable_tax_id(sandbox_id).ok
    verdict = is_acceptable_tax_id(sandbox_id, sandbox=True)
    assert verdict.ok and verdict.kind == "legacy18" and "sandbox" in verdict.message


def test_an_unverified_18_character_id_is_accepted_only_on_request() -> None:
    assert not is_acceptable_tax_id("91500102563638729E").ok
    verdict = is_acceptable_tax_id("91500102563638729E", allow_legacy18=True)
    assert verdict.ok and verdict.kind == "legacy18" and verdict.message


def test_old_15_17_and_20_character_ids_are_accepted_with_a_warning() -> None:
    for value, kind in [("110108801489416", "legacy15"), ("91110101202001201", "legacy17"),
                        ("32040419760706081301", "legacy20")]:  # fmt: skip
        verdict = is_acceptable_tax_id(value)
        assert verdict.ok and verdict.kind == kind and verdict.message


def test_a_resident_id_number_is_an_acceptable_tax_id() -> None:
    assert is_valid_id_card("320404197607060813")
    verdict = is_acceptable_tax_id("320404197607060813")
    assert verdict.ok and verdict.kind == "id_card"


def test_garbage_and_empty_are_not_tax_ids() -> None:
    for value in ["", "   ", "12345", "91110000600037341L!", "中文中文中文中文中文中文中文中文中文"]:
        assert not is_acceptable_tax_id(value).ok


def test_the_id_card_check_follows_gb_11643() -> None:
    assert id_card_check_char("11010519491231002") == "X"
    assert is_valid_id_card("11010519491231002X")
    assert not is_valid_id_card("110105194912310021")  # wrong check character
    assert not is_valid_id_card("11010519491331002X")  # month 13


# --- invoice numbers (§2) -------------------------------------------------------------------------------------------


def test_a_shudian_number_is_exactly_20_digits() -> None:
    assert is_shudian_number("23442000000014209621")
    for bad in ["2344200000001420962", "234420000000142096211", "2344200000001420962A", " 23442000000014209621"]:
        assert not is_shudian_number(bad)


def test_legacy_codes_have_10_or_12_digits_and_numbers_8() -> None:
    assert is_legacy_invoice_code("4200161350") and is_legacy_invoice_code("042002200411")
    assert not is_legacy_invoice_code("42002200411")
    assert is_legacy_invoice_number("00015045") and not is_legacy_invoice_number("15045")


def test_an_11_digit_code_is_left_padded_and_a_short_number_too() -> None:
    assert normalize_legacy_code("42002200411") == "042002200411"
    assert normalize_legacy_code(" 4200161350 ") == "4200161350"
    assert normalize_legacy_number("15045") == "00015045"
    with pytest.raises(ValueError):
        normalize_legacy_code("123")
    with pytest.raises(TypeError):
        normalize_legacy_code(42002200411)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        normalize_legacy_number("123456789")


# --- QR payloads (§3) -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", QR_ROWS, ids=[f"{i + 2}" for i in range(len(QR_ROWS))])
def test_it_reads_every_real_qr_payload(row: dict[str, str]) -> None:
    raw = row["payload"]
    qr = parse_invoice_qr(raw)
    fields = [f.strip() for f in raw.split(",")]
    assert qr.version == "01"
    assert qr.type == fields[1]
    assert qr.number == fields[3]
    assert qr.code == (fields[2] or None)
    assert qr.is_shudian is (len(fields[3]) == 20)
    assert qr.amount == Decimal(fields[4])
    ymd = fields[5].replace("-", "")
    assert qr.date == datetime.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    assert qr.check_code == (fields[6] or None)
    assert qr.tail == ((fields[7] if len(fields) > 7 else "") or None)
    if qr.is_shudian:
        assert qr.code is None and qr.check_code is None
    # Canonical form round-trips.
    again = parse_invoice_qr(build_invoice_qr(**_build_args(qr)))
    assert again == qr


def test_the_qr_vector_file_has_its_25_rows() -> None:
    assert len(QR_ROWS) == 25


def _build_args(qr):
    return {
        "version": qr.version,
        "type": qr.type,
        "code": qr.code,
        "number": qr.number,
        "amount": qr.amount,
        "date": qr.date,
        "check_code": qr.check_code,
        "tail": qr.tail,
    }


@pytest.mark.parametrize(
    "payload",
    [
        "01,32,,23442000000014209621,112,20230215,,74AE",
        "01,31, ,23512000000005197325,2150.63,20230130, ,F366",
        "01,32,,25317000002856140513,73.20,2025-11-08,,",
        "\ufeff 01,32,,23442000000014209621,112,20230215,,74ae \n",
        "01，32，，23442000000014209621，112，20230215，，74AE",
        "01,32,,23442000000014209621,112,20230215",
        "01,01,1200154130,03630024,94339.62,20160621,,9335,",
    ],
)
def test_it_tolerates_the_irregular_forms_listed_in_domain_3(payload: str) -> None:
    qr = parse_invoice_qr(payload)
    assert qr.number.isdigit() and qr.date.year >= 2016


def test_a_legacy_special_invoice_has_a_code_and_no_check_code() -> None:
    qr = parse_invoice_qr("01,01,1200154130,03630024,94339.62,20160621,,9335,")
    assert (qr.code, qr.number, qr.check_code, qr.tail, qr.is_shudian) == (
        "1200154130",
        "03630024",
        None,
        "9335",
        False,
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "https://inv-veri.chinatax.gov.cn/",
        "01,32,,2344200000001420962X,112,20230215,,74AE",
        "01,32,,23442000000014209621,1.1.2,20230215,,74AE",
        "01,32,,23442000000014209621,112,20231315,,74AE",
        "01,32,,23442000000014209621,112,2023021,,74AE",
        "1,32,,23442000000014209621,112,20230215,,74AE",
        "01,32,123,23442000000014209621,112,20230215,,74AE",
        "01,32,,23442000000014209621,112,20230215,,74AE,,extra",
    ],
)
def test_it_raises_a_typed_error_on_garbage(garbage: str) -> None:
    with pytest.raises(QrPayloadError):
        parse_invoice_qr(garbage)


def test_build_writes_the_canonical_form() -> None:
    text = build_invoice_qr(
        type="32", number="23442000000014209621", amount=Decimal("112.00"), date=datetime.date(2023, 2, 15), tail="74AE"
    )
    assert text == "01,32,,23442000000014209621,112.00,20230215,,74AE"
    with pytest.raises(TypeError):
        build_invoice_qr(type="32", number="23442000000014209621", amount=1.5, date=datetime.date(2023, 2, 15))  # type: ignore[arg-type]


@given(
    number=st.text(alphabet="0123456789", min_size=20, max_size=20),
    fen=st.integers(min_value=0, max_value=10**12),
    date=st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2099, 12, 31)),
    tail=st.one_of(st.none(), st.text(alphabet="0123456789ABCDEFabcdef", min_size=4, max_size=4)),
)
def test_build_then_parse_round_trips(number: str, fen: int, date: datetime.date, tail: str | None) -> None:
    amount = Decimal(fen).scaleb(-2)
    qr = parse_invoice_qr(build_invoice_qr(type="32", number=number, amount=amount, date=date, tail=tail))
    assert (qr.number, qr.amount, qr.date, qr.tail, qr.code, qr.is_shudian) == (number, amount, date, tail, None, True)
