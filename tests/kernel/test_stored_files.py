"""Stored files in a private S3 bucket (moto's server over HTTP): handed out as short-lived signed URLs only."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from invoicing.stored_files import signs_urls, stored_file_response
from tests.s3 import moto_s3, s3_storage  # noqa: F401


def test_a_file_in_the_bucket_is_private_and_handed_out_as_a_signed_url(s3_storage):  # noqa: F811
    endpoint, bucket = s3_storage
    name = default_storage.save("receiving/carriers/发票.pdf", ContentFile(b"%PDF-1.7 test"))
    assert requests.get(f"{endpoint}/{bucket}/{name}", timeout=10).status_code == 403  # no public read

    response = stored_file_response(name, filename="发票 1.pdf", content_type="application/pdf")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    url = response["Location"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"]
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == b"%PDF-1.7 test"
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''%E5%8F%91%E7%A5%A8%201.pdf" in fetched.headers["Content-Disposition"]


def test_inline_and_the_expiry_follow_the_call_and_the_setting(s3_storage, settings):  # noqa: F811
    settings.S3_URL_SECONDS = 60
    name = default_storage.save("prints/1/2-a4.pdf", ContentFile(b"%PDF"))
    response = stored_file_response(name, filename="p.pdf", content_type="application/pdf", inline=True)
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["X-Amz-Expires"] == ["60"]
    assert query["response-content-disposition"][0].startswith("inline;")


def test_a_missing_file_is_not_found_rather_than_a_dead_link(s3_storage):  # noqa: F811
    with pytest.raises(FileNotFoundError):
        stored_file_response("receiving/none.pdf", filename="x.pdf", content_type="application/pdf")


def test_names_are_never_overwritten_as_on_a_file_system(s3_storage):  # noqa: F811
    first = default_storage.save("jobs/a.xlsx", ContentFile(b"1"))
    second = default_storage.save("jobs/a.xlsx", ContentFile(b"2"))
    assert first != second
    assert default_storage.open(first).read() == b"1"


def test_on_a_file_system_the_bytes_go_through_the_web_process(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    assert not signs_urls(default_storage)
    name = default_storage.save("x/y.xml", ContentFile(b"<a/>"))
    response = stored_file_response(name, filename="y.xml", content_type="application/xml")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<a/>"
    assert response["Content-Disposition"] == 'attachment; filename="y.xml"'


def test_settings_build_the_s3_storage_from_the_environment(tmp_path):
    import subprocess
    import sys

    code = ("from django.conf import settings; import json; "
            "print(json.dumps(settings.STORAGES['default'], sort_keys=True))")
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "FAPIAO_VAR_DIR": str(tmp_path), "SECRET_KEY": "x",
           "DJANGO_SETTINGS_MODULE": "invoicing.settings", "FAPIAO_S3_BUCKET": "fapiao-prod",
           "FAPIAO_S3_ENDPOINT_URL": "https://s3.example.cn", "FAPIAO_S3_URL_SECONDS": "120"}
    proc = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], env=env,
                          capture_output=True, text=True, cwd=".", check=True)
    assert '"bucket_name": "fapiao-prod"' in proc.stdout
    assert '"default_acl": "private"' in proc.stdout
    assert '"querystring_expire": 120' in proc.stdout
    assert '"endpoint_url": "https://s3.example.cn"' in proc.stdout
    assert "secret_key" not in proc.stdout  # not set: boto3's own chain
