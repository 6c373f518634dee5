"""Received files in a private S3 bucket: kept through the storage API, handed out as signed URLs only after the
permission and entity checks (admin and API)."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from invoicing import roles
from receiving import services
from receiving.models import ReceivedInvoice
from tests.factories import TaxpayerFactory, UserFactory
from tests.receiving.conftest import as_xml, small_document
from tests.s3 import moto_s3, s3_client, s3_storage  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_received_file_is_kept_in_the_bucket_and_downloaded_through_a_signed_url(
        client, fiona, upload, s3_storage):  # noqa: F811
    endpoint, bucket = s3_storage
    data = as_xml(small_document(number="25312000000000000401"))
    services.collection_add_file(collection=upload, name="a.xml", data=data, actor=None)
    carrier = ReceivedInvoice.objects.get(number="25312000000000000401").carriers.get()
    stored = s3_client(endpoint).get_object(Bucket=bucket, Key=carrier.file.name)["Body"].read()
    assert stored == data

    url = reverse("admin:receiving_carrier_download", args=[carrier.pk])
    client.force_login(fiona)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{endpoint}/{bucket}/")
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert requests.get(f"{endpoint}/{bucket}/{carrier.file.name}", timeout=10).status_code == 403

    elsewhere = UserFactory(username="elsewhere", role=roles.FINANCE, entities=[TaxpayerFactory()])
    client.force_login(elsewhere)
    assert client.get(url).status_code == 404  # the entity check comes before any URL


def test_an_upload_is_staged_in_the_bucket_and_read_from_there_by_the_job(
        pujiang, fiona, s3_storage, django_capture_on_commit_callbacks):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    from receiving import collecting
    from receiving.models import CollectionStatus

    endpoint, bucket = s3_storage
    files = [SimpleUploadedFile("a.xml", as_xml(small_document(number="25312000000000000501"))),
             SimpleUploadedFile("b.xml", as_xml(small_document(number="25312000000000000502")))]
    seen: list[set[str]] = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = collecting.upload_stage(taxpayer=pujiang, files=files, actor=fiona)
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=collecting.staging_dir(batch.pk))
    seen.append({o["Key"].rsplit("/", 1)[-1] for o in listing.get("Contents", [])})
    assert seen[0] == {"0001-a.xml", "0002-b.xml", collecting.MANIFEST}
    for callback in callbacks:  # the job, as a worker on another host runs it
        callback()
    batch = type(batch).objects.get(pk=batch.pk)
    assert batch.status == CollectionStatus.DONE and batch.created_count == 2
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=collecting.staging_dir(batch.pk))
    assert listing.get("KeyCount", 0) == 0  # the staged copy is gone once read
    assert ReceivedInvoice.objects.filter(number="25312000000000000502").exists()
