"""Job rows: progress is committed on the jobs connection at once, so another process sees it while the import's
own transaction is still open, and it survives that transaction's rollback. Scoping of job pages by entity."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.urls import reverse

from invoicing.intake import jobs as intake_jobs
from invoicing.models import Job
from tests.threads import run_together

needs_second_connection = pytest.mark.skipif(
    "jobs" not in django_settings.DATABASES, reason="the jobs connection exists on PostgreSQL only")


def _seen_elsewhere(job_id: str) -> int:
    """What another connection (another host's web process) reads of the job's progress now."""
    (processed,), errors = run_together(1, lambda: Job.objects.get(pk=job_id).processed)
    assert not errors, errors
    return processed


@needs_second_connection
@pytest.mark.django_db(transaction=True, databases=["default", "jobs"])
def test_progress_written_inside_the_import_transaction_is_visible_at_once_and_survives_its_rollback(
        settings, fiona):
    settings.JOBS_DATABASE = "jobs"
    job_id = intake_jobs.create("import", user_id=fiona.pk, filename="x.xlsx")
    with pytest.raises(RuntimeError), transaction.atomic():  # the import's transaction, on the default connection
        intake_jobs.Progress(job_id, interval=0)(120, 300)
        assert _seen_elsewhere(job_id) == 120
        raise RuntimeError("the import fails: its rows are rolled back")
    job = intake_jobs.read(job_id)
    assert (job["status"], job["processed"], job["total"]) == ("running", 120, 300)
    intake_jobs.update(job_id, status=intake_jobs.FAILED, rows_in_error=2, message="发现 2 个错误，未写入任何数据")
    row = Job.objects.get(pk=job_id)
    assert row.status == "failed" and row.rows_in_error == 2 and row.finished_at is not None


@needs_second_connection
@pytest.mark.django_db(transaction=True, databases=["default", "jobs"])
def test_on_the_default_connection_the_same_progress_would_stay_hidden(settings, fiona):
    """The reason for the second connection: written in the import's transaction, nobody else sees it."""
    settings.JOBS_DATABASE = "default"
    job_id = intake_jobs.create("import", user_id=fiona.pk, filename="x.xlsx")
    with transaction.atomic():
        intake_jobs.Progress(job_id, interval=0)(120, 300)
        assert _seen_elsewhere(job_id) == 0


@pytest.mark.django_db
def test_details_and_fields_read_back_as_one_dict(fiona, yuntu):
    job_id = intake_jobs.create("export", user_id=fiona.pk, filename="单据.csv", spec="invoices", format="csv",
                                taxpayer_id=yuntu.pk)
    intake_jobs.update(job_id, status=intake_jobs.SUCCEEDED, processed=7, total=7, output_file=f"{job_id}-export.csv",
                       result={"rows": 7})
    job = intake_jobs.read(job_id)
    assert job["spec"] == "invoices" and job["format"] == "csv" and job["result"] == {"rows": 7}
    assert job["taxpayer_id"] == yuntu.pk and job["user_id"] == fiona.pk and job["output_file"].endswith(".csv")
    assert Job.objects.get(pk=job_id).details == {"spec": "invoices", "format": "csv", "result": {"rows": 7}}
    assert intake_jobs.percent(job) == 100


@pytest.mark.django_db
def test_a_job_page_is_its_owners_and_only_while_the_owner_may_see_its_entity(client, lily, yuntu, mingyuan):
    from invoicing.models import EntityScope

    other = intake_jobs.create("import", user_id=lily.pk, filename="x.xlsx", taxpayer_id=yuntu.pk)
    own = intake_jobs.create("import", user_id=lily.pk, filename="y.xlsx", taxpayer_id=mingyuan.pk)
    client.force_login(lily)
    assert client.get(reverse("issuing:job_status", args=[own])).status_code == 200
    assert client.get(reverse("issuing:job_status", args=[other])).status_code == 404  # 云途 is not lily's
    assert set(intake_jobs.scoped_jobs(lily).values_list("pk", flat=True)) == {own}
    EntityScope.objects.get(user=lily).taxpayers.add(yuntu)
    lily = type(lily).objects.get(pk=lily.pk)
    assert set(intake_jobs.scoped_jobs(lily).values_list("pk", flat=True)) == {own, other}
