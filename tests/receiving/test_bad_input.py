"""Bad input, one test per class of issue 15: each file gets an outcome, its rule and a reason naming it in words a
person reads (a reader's own exception text goes to the log only); nothing is half-written, and the batch goes on
after it."""

from __future__ import annotations

import io
import logging
import re
import zipfile

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from receiving import services
from receiving.models import Carrier, Collection, Outcome, ReceivedInvoice, UseState
from tests.receiving.conftest import as_ofd, as_pdf, as_xml, fixture_bytes, small_document

pytestmark = pytest.mark.django_db

DOC = small_document(number="25312000000000000777")


def add(collection, name, data, actor):
    return services.collection_add_file(collection=collection, name=name, data=data, actor=actor)


# A run of four or more Latin letters: a library's words (the format names PDF, OFD, XML are three).
LATIN_WORD = re.compile(r"[A-Za-z]{4,}")


def rejected(item, rule):
    assert item.outcome == Outcome.REJECTED, item.reason
    assert item.rule == rule, item.reason  # the rule, for support and the API, is the item's own field
    assert item.reason.startswith(f"{item.name}："), item.reason  # the reason names the file
    assert "规则" not in item.reason and not LATIN_WORD.search(item.reason.removeprefix(item.name)), item.reason
    assert item.invoice is None and item.carrier is None
    return item


def nothing_written():
    assert not ReceivedInvoice.objects.exists() and not Carrier.objects.exists()


# --- PDF -----------------------------------------------------------------------------------------------------------


def test_a_corrupt_pdf_is_rejected(upload, fiona):
    rejected(add(upload, "corrupt.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, fiona), "malformed")
    nothing_written()


def test_a_truncated_pdf_is_rejected(upload, fiona):
    data = as_pdf(DOC)
    rejected(add(upload, "truncated.pdf", data[: len(data) // 3], fiona), "malformed")
    nothing_written()


def test_an_encrypted_pdf_is_rejected_as_encrypted(upload, fiona):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(as_pdf(DOC))))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    item = rejected(add(upload, "locked.pdf", out.getvalue(), fiona), "encrypted_pdf")
    assert "加密" in item.reason
    nothing_written()


def _image_pdf(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PDF", resolution=150)
    return out.getvalue()


def test_an_image_only_pdf_with_its_qr_code_makes_a_prefilled_record_that_needs_entry(upload, fiona):
    page = pdfium.PdfDocument(as_pdf(DOC))[0].render(scale=2).to_pil()
    item = add(upload, "scan.pdf", _image_pdf(page), fiona)
    assert item.outcome == Outcome.REVIEW, item.reason
    record = item.invoice
    assert record.number == DOC.number and record.issue_date == DOC.issue_date
    assert record.total == DOC.total_with_tax and record.amount is None  # only what the QR code carries
    assert record.use_state == UseState.IN_REVIEW
    assert "needs_entry" in {r["code"] for r in record.review_reasons}
    assert record.carriers.get().format == "pdf"


def test_an_image_only_pdf_without_a_qr_code_is_kept_for_entry_without_a_record(upload, fiona):
    item = add(upload, "blank-scan.pdf", _image_pdf(Image.new("RGB", (800, 600), "white")), fiona)
    assert item.outcome == Outcome.REVIEW and item.rule == "needs_entry"
    assert item.invoice is None and item.carrier is not None and item.carrier.invoice is None
    assert "blank-scan.pdf" in item.reason
    assert not ReceivedInvoice.objects.exists()


def test_a_photo_of_an_invoice_is_read_by_its_qr_code_and_a_photo_without_one_waits_for_entry(upload, fiona):
    page = pdfium.PdfDocument(as_pdf(DOC))[0].render(scale=2).to_pil()
    png = io.BytesIO()
    page.save(png, format="PNG")
    item = add(upload, "photo.png", png.getvalue(), fiona)
    assert item.outcome == Outcome.REVIEW and item.invoice.number == DOC.number
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(blank, format="JPEG")
    item = add(upload, "receipt.jpg", blank.getvalue(), fiona)
    assert (item.outcome, item.rule, item.invoice) == (Outcome.REVIEW, "needs_entry", None)


# --- OFD -----------------------------------------------------------------------------------------------------------


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return out.getvalue()


def _ofd_entries() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(as_ofd(DOC))) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def test_an_ofd_zip_bomb_is_rejected_unread(upload, fiona, caplog):
    bomb = _zip([*_ofd_entries(), ("Doc_0/Res/huge.bin", b"\0" * (60 * 1024 * 1024))])
    assert len(bomb) < 1024 * 1024
    with caplog.at_level(logging.INFO, logger="receiving.reading"):
        item = rejected(add(upload, "bomb.ofd", bomb, fiona), "unsafe")
    assert "为安全起见已拒收" in item.reason
    assert "too large" in caplog.text or "ratio" in caplog.text  # the reader's detail is in the log
    nothing_written()


def test_an_ofd_with_a_path_traversal_entry_is_rejected(upload, fiona):
    rejected(add(upload, "evil.ofd", _zip([*_ofd_entries(), ("../../etc/cron.d/x", b"* * * * * root id")]), fiona),
             "unsafe")
    nothing_written()


def test_an_ofd_missing_its_entry_point_or_document_is_rejected(upload, fiona):
    entries = _ofd_entries()
    rejected(add(upload, "no-entry.ofd", _zip([e for e in entries if e[0] != "OFD.xml"]), fiona), "malformed")
    rejected(add(upload, "no-doc.ofd", _zip([e for e in entries if not e[0].endswith("Document.xml")]), fiona),
             "malformed")
    nothing_written()


def test_an_ofd_missing_its_page_content_is_never_filed_with_guessed_figures(upload, fiona):
    """A 数电 OFD with no embedded XML (its figures are custom tags pointing into the page): without the page there
    is nothing to read the figures from."""
    with zipfile.ZipFile(io.BytesIO(fixture_bytes("ofd", "ofdrw-20240531141733.ofd"))) as zf:
        entries = [(n, zf.read(n)) for n in zf.namelist() if not n.endswith("Content.xml")]
    item = add(upload, "no-pages.ofd", _zip(entries), fiona)
    assert item.outcome in (Outcome.REJECTED, Outcome.REVIEW), item.reason
    if item.invoice is not None:
        assert item.invoice.use_state == UseState.IN_REVIEW


def test_an_ofd_whose_page_is_gone_still_reads_from_its_embedded_xml(upload, fiona):
    entries = [e for e in _ofd_entries() if "Content.xml" not in e[0]]
    item = add(upload, "xml-inside.ofd", _zip(entries), fiona)
    assert item.outcome == Outcome.CREATED and item.invoice.total == DOC.total_with_tax


# --- XML -----------------------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EInvoice><Header><EIid>&lol3;</EIid></Header></EInvoice>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE EInvoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EInvoice><EInvoiceData><BasicInformation><Remark>&xxe;</Remark></BasicInformation></EInvoiceData></EInvoice>"""


@pytest.mark.parametrize("name,data", [
    ("doctype.xml", as_xml(DOC).replace(b"<EInvoice", b"<!DOCTYPE EInvoice>\n<EInvoice", 1)),
    ("xxe.xml", XXE),
    ("laughs.xml", BILLION_LAUGHS),
])
def test_xml_with_a_doctype_or_entities_is_rejected(upload, fiona, name, data):
    rejected(add(upload, name, data, fiona), "unsafe")
    nothing_written()


def test_a_broken_xml_is_rejected(upload, fiona):
    rejected(add(upload, "broken.xml", as_xml(DOC)[:200], fiona), "malformed")


# --- anything ------------------------------------------------------------------------------------------------------


def test_a_zero_byte_file_is_rejected(upload, fiona):
    rejected(add(upload, "empty.pdf", b"", fiona), "empty_file")


def test_a_file_is_read_by_its_content_not_its_extension(upload, fiona):
    item = add(upload, "really-an-xml.pdf", as_xml(DOC), fiona)
    assert item.outcome == Outcome.CREATED and item.carrier.format == "xml"
    assert "extension_mismatch" in item.detail
    item = rejected(add(upload, "notes.pdf", "这不是发票，只是一段文字".encode(), fiona), "unknown_format")
    assert ".pdf" not in item.reason or "pdf" in item.reason


def test_a_file_over_the_size_limit_is_rejected_unread(upload, fiona, settings, monkeypatch):
    settings.RECEIVING_MAX_FILE_BYTES = 1000

    def must_not_read(*args, **kwargs):
        raise AssertionError("an oversize file was read")

    monkeypatch.setattr("receiving.reading.read_file", must_not_read)
    item = rejected(add(upload, "big.xml", as_xml(DOC), fiona), "oversize")
    assert "1000" in item.reason


def test_a_bare_archive_is_not_a_carrier(upload, fiona):
    rejected(add(upload, "bundle.zip", _zip([("a.xml", as_xml(DOC))]), fiona), "archive")


def test_after_every_bad_file_the_batch_goes_on_and_counts_each_outcome(upload, fiona):
    add(upload, "empty.pdf", b"", fiona)
    add(upload, "laughs.xml", BILLION_LAUGHS, fiona)
    add(upload, "good.xml", as_xml(DOC), fiona)
    batch = Collection.objects.get(pk=upload.pk)
    assert (batch.processed, batch.rejected_count, batch.created_count) == (3, 2, 1)
    assert list(batch.items.values_list("position", "outcome")) == [(1, "rejected"), (2, "rejected"), (3, "created")]


# --- what a person reads ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "rule", "reason"), [
    ("fake.pdf", b"%PDF-1.4\nthis is not a PDF at all\n%%EOF\n", "malformed",
     "fake.pdf：PDF 文件已损坏或不完整，无法打开，请重新下载或向开票方索取"),
    ("other.xml", b"<root><child>1</child></root>", "not_invoice",
     "other.xml：XML 文件不是可识别的发票，请上传发票的 XML、OFD 或 PDF 原件"),
    ("laughs.xml", BILLION_LAUGHS, "unsafe",
     "laughs.xml：XML 文件的结构异常（如超大、嵌套过深或含外部引用），为安全起见已拒收"),
    ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "malformed",
     "broken.png：图片文件已损坏或不完整，无法打开，请重新下载或向开票方索取"),
])
def test_no_reader_exception_text_reaches_the_reason(upload, fiona, caplog, name, data, rule, reason):
    with caplog.at_level(logging.INFO, logger="receiving.reading"):
        item = rejected(add(upload, name, data, fiona), rule)
    assert item.reason == reason
    assert rule in caplog.text  # the reader's own words stay with support, in the log
    nothing_written()


def test_a_damaged_archive_and_a_bad_qr_payload_are_told_without_library_text(upload, fiona, tmp_path):
    from receiving import bundles

    broken = tmp_path / "bundle.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    entry = next(bundles.entries([broken], limits=bundles.Limits.from_settings(), names=[broken.name]))
    assert entry.rule == "bad_archive" and not LATIN_WORD.search(entry.reason), entry.reason
    item = services.collection_add_qr(collection=upload, payload="01,32,,123,1.00,20250101,,", actor=fiona)
    assert item.rule == "qr_invalid" and not LATIN_WORD.search(item.reason), item.reason
