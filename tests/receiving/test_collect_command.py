"""``manage.py collect_invoices``: files, folders and ZIPs in, one JSON object per file out, status 1 on a refusal."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from receiving.models import Collection, CollectionStatus, Method, ReceivedInvoice
from tests.receiving.conftest import PUJIANG, as_ofd, as_xml, small_document

pytestmark = pytest.mark.django_db

A = small_document(number="25312000000000000201")
B = small_document(number="25312000000000000202", amount="88.50", rate="0.13")
KEYS = {"file", "outcome", "invoice", "rule", "reason"}
INVOICE_KEYS = {"kind", "number", "code", "issue_date", "seller_name", "seller_tax_id", "buyer_name", "buyer_tax_id",
                "amount", "tax", "total", "lines"}


def run(*args) -> tuple[list[dict], str, int]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("collect_invoices", *args, stdout=out, stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue(), code


def test_a_folder_and_a_zip_are_collected_and_printed_one_json_object_per_file(pujiang, tmp_path):
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.xml").write_bytes(as_xml(A))
    (folder / "sub" / "a.ofd").write_bytes(as_ofd(A))
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("b.xml", as_xml(B))
    rows, err, code = run("--entity", PUJIANG[1], str(folder), str(archive))
    assert code == 0, err
    assert [(r["file"].rsplit("/", 1)[-1], r["outcome"]) for r in rows] == [
        ("a.xml", "created"), ("a.ofd", "attached"), ("b.xml", "created")]
    assert all(set(r) == KEYS for r in rows)
    first = rows[0]["invoice"]
    assert set(first) == INVOICE_KEYS
    assert (first["kind"], first["number"], first["code"], first["issue_date"]) == ("81", A.number, "",
                                                                                    A.issue_date.isoformat())
    assert (first["amount"], first["tax"], first["total"]) == ("1000.00", "60.00", "1060.00")  # exact strings
    assert (first["buyer_name"], first["buyer_tax_id"]) == PUJIANG
    assert first["lines"][0]["amount"] == "1000.00" and first["lines"][0]["tax_rate"] == "0.06"
    assert rows[2]["invoice"]["tax"] == f"{B.total_tax:f}"
    batch = Collection.objects.get()
    assert (batch.method, batch.status, batch.processed) == (Method.CLI, CollectionStatus.DONE, 3)
    assert batch.actor_label == "cli"
    assert "created 2" in err


def test_any_rejected_file_makes_the_exit_status_1_and_the_others_are_still_collected(pujiang, tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(as_xml(A))
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as fh:  # a sparse 300 MB file: refused from its size, never read into memory
        fh.truncate(300 * 1024 * 1024)
    rows, err, code = run("--entity", PUJIANG[1], str(empty), str(huge), str(good), str(tmp_path / "missing.pdf"))
    assert code == 1
    assert [r["outcome"] for r in rows] == ["rejected", "rejected", "created", "rejected"]
    assert [r["invoice"] for r in rows if r["outcome"] == "rejected"] == [None, None, None]
    assert rows[1]["rule"] == "oversize" and "huge.pdf" in rows[1]["reason"]
    assert rows[3]["rule"] == "not_found"
    assert ReceivedInvoice.objects.count() == 1
    assert "3 file(s) rejected" in err


def test_a_duplicate_prints_the_record_it_duplicates(pujiang, tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(as_xml(A))
    run("--entity", PUJIANG[1], str(path))
    rows, _err, code = run("--entity", PUJIANG[1], str(path))
    assert code == 0
    assert rows[0]["outcome"] == "duplicate" and rows[0]["invoice"]["number"] == A.number
    assert rows[0]["invoice"]["total"] == "1060.00"


def test_an_unknown_entity_or_user_is_an_error(db, tmp_path):
    with pytest.raises(CommandError):
        call_command("collect_invoices", "--entity", "91110108MA01ABCD1E", str(tmp_path))
