"""An S3 server for tests (moto's, over HTTP on a free port) and a fixture pointing the default storage at it.

Usage: ``from tests.s3 import moto_s3, s3_storage  # noqa: F401`` in a test module, then take ``s3_storage``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer

ACCESS_KEY, SECRET_KEY, REGION = "test-access", "test-secret", "us-east-1"


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name=REGION, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def storage_settings(endpoint: str, bucket: str) -> dict[str, object]:
    """The ``STORAGES["default"]`` that invoicing/settings.py builds from the FAPIAO_S3_* variables."""
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket, "default_acl": "private", "querystring_auth": True, "querystring_expire": 300,
        "file_overwrite": False, "location": "", "signature_version": "s3v4", "addressing_style": "path",
        "endpoint_url": endpoint, "region_name": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
    }}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(moto_s3: str, settings) -> Iterator[tuple[str, str]]:
    """The default storage is a fresh private bucket on the moto server: yields (endpoint, bucket)."""
    bucket = f"fapiao-{uuid.uuid4().hex[:12]}"
    s3_client(moto_s3).create_bucket(Bucket=bucket)
    default = storage_settings(moto_s3, bucket)
    jobs = {**default, "OPTIONS": {**default["OPTIONS"], "file_overwrite": True}}  # as invoicing/settings.py
    settings.STORAGES = {**settings.STORAGES, "default": default, "jobs": jobs}
    settings.S3_BUCKET = bucket
    assert default_storage.bucket_name == bucket  # the storages were reset by the setting_changed signal
    yield moto_s3, bucket
