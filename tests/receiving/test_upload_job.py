"""Uploads: many files or a ZIP, expanded within the limits, read by a Celery job into one batch with progress."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from receiving import bundles, collecting
from receiving.models import Collection, CollectionStatus, Outcome, ReceivedInvoice
from receiving.tasks import collect_upload_task
from tests.receiving.conftest import as_ofd, as_xml, fixture_bytes, small_document

pytestmark = pytest.mark.django_db

A = small_document(number="25312000000000000101")
B = small_document(number="25312000000000000102", amount="2000.00")


def _zip(entries) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return out.getvalue()


def stage(pujiang, fiona, files, capture):
    with capture(execute=True):
        collection = collecting.upload_stage(taxpayer=pujiang, files=files, actor=fiona)
    return Collection.objects.get(pk=collection.pk)


def test_a_zip_of_invoices_is_read_by_the_job_into_one_batch(pujiang, fiona, django_capture_on_commit_callbacks):
    archive = _zip([("发票/a.xml", as_xml(A)), ("发票/a.ofd", as_ofd(A)), ("发票/b.xml", as_xml(B)),
                    ("样本/ofdrw-1.ofd", fixture_bytes("ofd", "ofdrw-1.ofd"))])
    batch = stage(pujiang, fiona, [SimpleUploadedFile("三月发票.zip", archive)], django_capture_on_commit_callbacks)
    assert batch.status == CollectionStatus.DONE
    assert (batch.total, batch.processed, batch.created_count, batch.attached_count) == (4, 4, 3, 1)
    names = list(batch.items.values_list("name", flat=True))
    assert names[0] == "三月发票.zip/发票/a.xml"
    assert ReceivedInvoice.objects.filter(taxpayer=pujiang).count() == 3
    assert default_storage.listdir(collecting.staging_dir(batch.pk)) == ([], [])  # the staged copy is gone once read
    assert batch.percent == 100


def test_many_files_at_once(pujiang, fiona, django_capture_on_commit_callbacks):
    files = [SimpleUploadedFile("a.xml", as_xml(A)), SimpleUploadedFile("b.ofd", as_ofd(B)),
             SimpleUploadedFile("empty.pdf", b"")]
    batch = stage(pujiang, fiona, files, django_capture_on_commit_callbacks)
    assert list(batch.items.values_list("name", "outcome")) == [
        ("a.xml", Outcome.CREATED), ("b.ofd", Outcome.CREATED), ("empty.pdf", Outcome.REJECTED)]


def test_more_files_than_the_limit_are_refused_before_anything_is_queued(pujiang, fiona, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.RECEIVING_MAX_UPLOAD_FILES = 3
    archive = _zip([(f"{i}.xml", as_xml(A)) for i in range(4)])
    with pytest.raises(ValidationError) as exc, django_capture_on_commit_callbacks(execute=True) as callbacks:
        collecting.upload_stage(taxpayer=pujiang, files=[SimpleUploadedFile("many.zip", archive)], actor=fiona)
    assert "4" in str(exc.value) and "3" in str(exc.value)
    assert not callbacks and not Collection.objects.exists()
    folders = default_storage.listdir(collecting.STAGING)[0] if default_storage.exists(collecting.STAGING) else []
    assert not [f for f in folders if default_storage.listdir(f"{collecting.STAGING}/{f}")[1]]  # nothing stored


def test_an_archive_that_expands_past_the_byte_limit_is_refused(pujiang, fiona, settings):
    settings.RECEIVING_MAX_UPLOAD_BYTES = 1024 * 1024
    archive = _zip([("a.xml", as_xml(A)), ("padding.bin", b"\0" * (2 * 1024 * 1024))])
    assert len(archive) < 100 * 1024
    with pytest.raises(ValidationError) as exc:
        collecting.upload_stage(taxpayer=pujiang, files=[SimpleUploadedFile("z.zip", archive)], actor=fiona)
    assert "MB" in str(exc.value)
    assert not Collection.objects.exists()


def test_a_300_mb_upload_is_refused_from_its_size(pujiang, fiona):
    huge = UploadedFile(io.BytesIO(b"not read"), name="archive.zip", size=300 * 1024 * 1024)
    with pytest.raises(ValidationError) as exc:
        collecting.upload_stage(taxpayer=pujiang, files=[huge], actor=fiona)
    assert "300" in str(exc.value) and "200" in str(exc.value)


def test_a_zip_inside_a_zip_is_refused_and_an_ofd_inside_a_zip_is_read(pujiang, fiona,
                                                                      django_capture_on_commit_callbacks):
    inner = _zip([("x.xml", as_xml(B))])
    archive = _zip([("inner.zip", inner), ("a.ofd", as_ofd(A))])
    batch = stage(pujiang, fiona, [SimpleUploadedFile("outer.zip", archive)], django_capture_on_commit_callbacks)
    items = {i.name: i for i in batch.items.all()}
    assert (items["outer.zip/inner.zip"].outcome, items["outer.zip/inner.zip"].rule) == (Outcome.REJECTED,
                                                                                           "zip_in_zip")
    assert "outer.zip/inner.zip" in items["outer.zip/inner.zip"].reason
    assert items["outer.zip/a.ofd"].outcome == Outcome.CREATED


def test_hostile_archive_members_are_refused_one_by_one(tmp_path):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../etc/passwd", b"root:x:0:0")
        zf.writestr("/abs.xml", b"<x/>")
        zf.writestr("bomb.xml", b"<" + b" " * (5 * 1024 * 1024) + b"/>")
        zf.writestr("__MACOSX/._a.xml", b"junk")
        zf.writestr("ok.xml", as_xml(A))
    got = {e.name.removeprefix("h.zip/"): e for e in
           bundles.entries([archive], names=["h.zip"], limits=bundles.Limits(500, 200 * 1024 * 1024, 20 * 1024 * 1024))}
    assert got["../../etc/passwd"].rule == "unsafe_name"
    assert got["/abs.xml"].rule == "unsafe_name"
    assert got["bomb.xml"].rule == "zip_bomb"
    assert "__MACOSX/._a.xml" not in got
    assert got["ok.xml"].data == as_xml(A)


def test_an_encrypted_archive_member_is_refused(tmp_path):
    data = bytearray(_zip([("locked.xml", as_xml(A))]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag in both headers
        at = data.index(signature) + offset
        data[at] |= 0x1
    archive = tmp_path / "locked.zip"
    archive.write_bytes(bytes(data))
    (entry,) = bundles.entries([archive], names=["locked.zip"], limits=bundles.Limits.from_settings())
    assert (entry.name, entry.rule, entry.data) == ("locked.zip/locked.xml", "encrypted_archive", None)


def test_member_names_written_by_chinese_windows_are_read_as_gbk(tmp_path):
    """An archiver that writes the name's GBK bytes and no UTF-8 flag, as the Windows shell does."""
    name = "增值税发票.xml"
    placeholder = "A" * (len(name.encode("gbk")) - 4) + ".xml"
    archive = tmp_path / "gbk.zip"
    archive.write_bytes(_zip([(placeholder, as_xml(A))]).replace(placeholder.encode(), name.encode("gbk")))
    (entry,) = bundles.entries([archive], limits=bundles.Limits.from_settings())
    assert entry.name.endswith("/增值税发票.xml")


def test_a_job_stopped_half_way_resumes_where_it_stopped(pujiang, fiona, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        batch = collecting.upload_stage(taxpayer=pujiang, files=[SimpleUploadedFile("a.xml", as_xml(A)),
                                                                 SimpleUploadedFile("b.xml", as_xml(B))], actor=fiona)
    from receiving import services

    running = services.collection_begin_processing(collection=batch, actor=fiona)
    services.collection_add_file(collection=running, name="a.xml", data=as_xml(A), actor=fiona)  # then killed
    collect_upload_task(batch.pk, fiona.pk)
    batch = Collection.objects.get(pk=batch.pk)
    assert batch.status == CollectionStatus.DONE
    assert list(batch.items.values_list("name", "outcome")) == [("a.xml", Outcome.CREATED),
                                                                ("b.xml", Outcome.CREATED)]
    assert collect_upload_task(batch.pk, fiona.pk)["status"] == CollectionStatus.DONE  # a duplicate does nothing
    assert Collection.objects.get(pk=batch.pk).processed == 2


def test_a_job_whose_files_are_gone_fails_with_a_message(pujiang, fiona, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        batch = collecting.upload_stage(taxpayer=pujiang, files=[SimpleUploadedFile("a.xml", as_xml(A))],
                                        actor=fiona)
    collecting.upload_discard(batch.pk)
    collect_upload_task(batch.pk, fiona.pk)
    batch = Collection.objects.get(pk=batch.pk)
    assert batch.status == CollectionStatus.FAILED and batch.message
