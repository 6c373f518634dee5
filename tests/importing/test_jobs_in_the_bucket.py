"""With files in an S3 bucket, an import job keeps its record, upload and error workbook there, not on local disk:
the web process that takes the upload, the worker and the web process that hands out the workbook may be on
different hosts."""

import pytest
import requests
from django.urls import reverse

from invoicing.intake import jobs as intake_jobs
from tests.importing.conftest import counts, row, write_xlsx
from tests.s3 import moto_s3, s3_client, s3_storage  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.importing.admin_urls")]


def test_an_import_job_and_its_error_workbook_live_in_the_bucket(client, tmp_path, master, fiona, lily, settings,
                                                                  s3_storage):  # noqa: F811
    endpoint, bucket = s3_storage
    settings.MEDIA_ROOT = str(tmp_path / "media")  # would receive any file written to local disk
    client.force_login(fiona)
    path = write_xlsx(tmp_path / "bad.xlsx", [row(), row(external_no="SO-2", amount="abc")])
    with open(path, "rb") as fh:
        response = client.post(reverse("issuing:import"), {"file": fh})
    job_id = response.url.rstrip("/").split("/")[-1]
    status = client.get(reverse("issuing:job_status", args=[job_id])).json()
    assert status["status"] == "failed" and status["issues"][0]["code"] == "cell.not_number"
    assert counts() == (0, 0)

    keys = {o["Key"] for o in s3_client(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {f"jobs/{job_id}-errors.xlsx"}  # the upload is gone once read; the record is a row
    assert not (tmp_path / "media").exists()

    download = client.get(status["errors_url"])
    assert download.status_code == 302
    workbook = requests.get(download["Location"], timeout=10)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert "attachment" in workbook.headers["Content-Disposition"]

    client.force_login(lily)  # another user's job: no record, no link
    assert client.get(status["errors_url"]).status_code == 404
    assert intake_jobs.read(job_id)["user_id"] == fiona.pk


def test_an_export_job_writes_its_file_to_the_bucket_and_hands_it_out_signed(client, master, fiona, s3_storage):  # noqa: F811
    from issuing.billing.models import BillingDocument
    from issuing.reports import tasks

    endpoint, bucket = s3_storage
    job_id = intake_jobs.create("export", user_id=fiona.pk, filename="单据.csv")
    tasks.export_task(job_id, "billing_documents", tasks.sign_query(BillingDocument.objects.all()), "csv", fiona.pk)
    job = intake_jobs.read(job_id)
    assert job["status"] == intake_jobs.SUCCEEDED and job["output_file"] == f"{job_id}-export.csv"
    assert s3_client(endpoint).head_object(Bucket=bucket, Key=f"jobs/{job_id}-export.csv")["ContentLength"] > 0
    client.force_login(fiona)
    link = client.get(reverse("issuing:job_download", args=[job_id, "output"]))
    assert link.status_code == 302
    fetched = requests.get(link["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\xef\xbb\xbf")  # the CSV, with its BOM
    assert fetched.headers["Content-Type"].startswith("text/csv")


def test_an_import_delivered_again_after_it_finished_keeps_its_outcome(master, fiona):
    from issuing.intake.tasks import import_billing_file_task

    job_id = intake_jobs.create("import", user_id=fiona.pk, filename="x.xlsx")
    intake_jobs.update(job_id, status=intake_jobs.SUCCEEDED, result={"rows": 3})
    # Its upload was removed when it finished; a second delivery neither fails nor runs it again.
    assert import_billing_file_task(job_id, f"{job_id}-upload.xlsx", None, fiona.pk) == {"rows": 3}
    assert intake_jobs.read(job_id)["status"] == intake_jobs.SUCCEEDED


def test_a_worker_killed_after_the_rows_committed_leaves_a_succeeded_job_not_a_second_import(
        master, fiona, tmp_path, monkeypatch):
    """The outcome commits with the rows: a redelivery after the worker died between the import's commit and the job's
    last update finds the job succeeded and imports nothing again (no duplicate-number failure either)."""
    from issuing.intake import tasks

    path = write_xlsx(tmp_path / "good.xlsx", [row(external_no="SO-K1"), row(external_no="SO-K2")])
    job_id = intake_jobs.create("import", user_id=fiona.pk, filename="good.xlsx")
    stored = intake_jobs.save_file(job_id, "upload.xlsx", path.read_bytes())
    real_update = intake_jobs.update

    class WorkerKilled(BaseException):
        pass

    def dies_on_the_outcome(job, **changes):
        if changes.get("status") == intake_jobs.SUCCEEDED:
            raise WorkerKilled
        return real_update(job, **changes)

    monkeypatch.setattr(tasks.intake_jobs, "update", dies_on_the_outcome)
    with pytest.raises(WorkerKilled):
        tasks.import_billing_file_task(job_id, stored, None, fiona.pk)
    assert counts() == (2, 2)
    job = intake_jobs.read(job_id)
    assert job["status"] == intake_jobs.SUCCEEDED and job["processed"] == 2 and "2 张单据" in job["message"]

    monkeypatch.setattr(tasks.intake_jobs, "update", real_update)
    tasks.import_billing_file_task(job_id, stored, None, fiona.pk)  # the message delivered again
    assert counts() == (2, 2)
    assert intake_jobs.read(job_id)["status"] == intake_jobs.SUCCEEDED
