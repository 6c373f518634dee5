"""The platform download: the sandbox's received list into the pool, incremental by a watermark per entity, one
record per invoice whatever way it came in, the platform's status on the record, and a platform that fails half way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelUnavailable
from invoicing.models import Event
from receiving import platform, services
from receiving.models import (
    Carrier,
    Collection,
    CollectionStatus,
    Method,
    PlatformStatus,
    PlatformSync,
    ReceivedInvoice,
    Source,
)
from sandbox import services as sandbox
from sandbox.models import LedgerInvoice, LedgerStatus
from tests.channels.conftest import connect, issue_request


@pytest.fixture
def entity(mingyuan):
    return connect(mingyuan)


@pytest.fixture
def channel(entity):
    return get_channel(entity, transport="inprocess")


@pytest.fixture
def seller_world(yuntu, entity):
    """云途 on the platform, issuing to 明远 (the invoices one demo entity issues to the other)."""
    return get_channel(connect(yuntu), transport="inprocess")


def seed(entity, count, days=5, prefix="t"):
    return sandbox.received_seed(buyer_credit_code=entity.credit_code, buyer_name=entity.name, count=count,
                                 days=days, prefix=prefix)


def platform_sources(entity):
    return Source.objects.filter(invoice__taxpayer=entity, method=Method.PLATFORM)


class FailingChannel:
    """The channel, until the platform becomes unavailable after ``fail_after`` file downloads."""

    def __init__(self, inner, fail_after):
        self.inner, self.fail_after, self.downloads = inner, fail_after, 0

    def list_received(self, **kwargs):
        return self.inner.list_received(**kwargs)

    def download_files(self, number, formats=("xml",)):
        if self.downloads >= self.fail_after:
            raise ChannelUnavailable("bureau gateway down", kind="server")
        self.downloads += 1
        return self.inner.download_files(number, formats)


def test_the_first_download_files_the_third_party_invoices_with_their_files_and_status(entity, channel):
    seed(entity, 5)
    result = platform.platform_download(taxpayer=entity, channel=channel)
    assert result.ok and (result.listed, result.created) == (5, 5)
    records = ReceivedInvoice.objects.filter(taxpayer=entity)
    assert records.count() == 5
    assert set(records.values_list("platform_status", flat=True)) == {PlatformStatus.NORMAL}
    assert set(records.values_list("seller_tax_id", flat=True)) <= {s[1] for s in sandbox.THIRD_PARTY_SELLERS}
    assert Carrier.objects.filter(taxpayer=entity, format="xml", invoice__isnull=False).count() == 5
    assert platform_sources(entity).count() == 5
    sync = PlatformSync.objects.get(taxpayer=entity)
    assert sync.synced_through == platform.china_today() - timedelta(days=1) and sync.last_ok
    batch = Collection.objects.get(pk=result.collection_id)
    assert (batch.method, batch.status, batch.created_count) == (Method.PLATFORM, CollectionStatus.DONE, 5)
    assert Event.objects.filter(action="platform_status_change").count() == 5


def test_a_second_run_collects_nothing_twice(entity, channel):
    seed(entity, 4)
    platform.platform_download(taxpayer=entity, channel=channel)
    again = platform.platform_download(taxpayer=entity, channel=channel)
    assert again.ok and again.created == 0 and again.known == again.listed == 4
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 4
    assert platform_sources(entity).count() == 4  # no second platform source for the same invoice


def test_the_watermark_makes_the_download_incremental(entity, channel, settings):
    settings.RECEIVING_PLATFORM_STATUS_DAYS = 0
    seed(entity, 3, days=6)
    platform.platform_download(taxpayer=entity, channel=channel)
    result = platform.platform_download(taxpayer=entity, channel=channel)
    assert result.date_from == platform.china_today()  # only today is listed again


def test_upload_then_platform_download_is_one_record_with_two_sources(entity, channel, seller_world):
    blue = seller_world.issue_invoice(issue_request(seller_world.taxpayer))
    ofd = channel.download_files(blue.invoice_number, ("ofd",)).get("ofd")
    upload = services.collection_start(taxpayer=entity, method=Method.UPLOAD, actor=None)
    item = services.collection_add_file(collection=upload, name="invoice.ofd", data=ofd, actor=None)
    assert item.invoice is not None
    result = platform.platform_download(taxpayer=entity, channel=channel)
    assert result.ok and result.created == 0 and result.joined == 1
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    assert sorted(record.sources.values_list("method", flat=True)) == [Method.PLATFORM, Method.UPLOAD]
    assert sorted(record.carriers.values_list("format", flat=True)) == ["ofd", "xml"]
    assert record.platform_status == PlatformStatus.NORMAL


def test_the_same_file_uploaded_then_downloaded_is_kept_once(entity, channel, seller_world):
    blue = seller_world.issue_invoice(issue_request(seller_world.taxpayer))
    xml = channel.download_files(blue.invoice_number, ("xml",)).get("xml")
    upload = services.collection_start(taxpayer=entity, method=Method.UPLOAD, actor=None)
    services.collection_add_file(collection=upload, name="invoice.xml", data=xml, actor=None)
    platform.platform_download(taxpayer=entity, channel=channel)
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    assert record.sources.count() == 2 and record.carriers.count() == 1


def test_mail_then_platform_then_upload_is_one_record_with_three_sources(entity, channel, seller_world):
    blue = seller_world.issue_invoice(issue_request(seller_world.taxpayer))
    bundle = channel.download_files(blue.invoice_number, ("ofd", "pdf"))
    mail = services.collection_start(taxpayer=entity, method=Method.MAILBOX, actor=None)
    services.collection_add_file(collection=mail, name="mail.ofd", data=bundle.get("ofd"), actor=None)
    platform.platform_download(taxpayer=entity, channel=channel)
    upload = services.collection_start(taxpayer=entity, method=Method.UPLOAD, actor=None)
    services.collection_add_file(collection=upload, name="scan.pdf", data=bundle.get("pdf"), actor=None)
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    assert sorted(record.sources.values_list("method", flat=True)) == [Method.MAILBOX, Method.PLATFORM, Method.UPLOAD]
    assert sorted(record.carriers.values_list("format", flat=True)) == ["ofd", "pdf", "xml"]


def test_the_platform_unavailable_half_way_resumes_from_the_watermark(entity, channel, settings):
    settings.RECEIVING_PLATFORM_PAGE_SIZE = 2
    settings.RECEIVING_PLATFORM_STATUS_DAYS = 0
    seed(entity, 8, days=8)
    first = platform.platform_download(taxpayer=entity, channel=FailingChannel(channel, fail_after=5))
    assert not first.ok and "暂不可用" in first.message
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 5
    sync = PlatformSync.objects.get(taxpayer=entity)
    assert not sync.last_ok and sync.running_since is None
    watermark = sync.synced_through
    assert watermark is not None and watermark < platform.china_today() - timedelta(days=1)
    assert Collection.objects.get(pk=first.collection_id).status == CollectionStatus.FAILED

    second = platform.platform_download(taxpayer=entity, channel=channel)
    assert second.ok and second.date_from == watermark + timedelta(days=1)
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 8
    assert platform_sources(entity).count() == 8  # what the first run collected is not collected again
    assert PlatformSync.objects.get(taxpayer=entity).synced_through == platform.china_today() - timedelta(days=1)


@pytest.mark.parametrize(("code", "status"), [(LedgerStatus.VOIDED, PlatformStatus.VOIDED),
                                              (LedgerStatus.RED_FULL, PlatformStatus.RED_FULL)])
def test_a_status_change_on_the_platform_updates_the_record_with_an_event(entity, channel, code, status):
    (inv,) = seed(entity, 1, days=3)
    platform.platform_download(taxpayer=entity, channel=channel)
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    LedgerInvoice.objects.filter(pk=inv.pk).update(status=code)
    result = platform.platform_download(taxpayer=entity, channel=channel)
    assert result.status_changed == 1
    record = ReceivedInvoice.objects.get(pk=record.pk)
    assert (record.platform_status, record.platform_status_code) == (status, code)
    event = Event.objects.filter(action="platform_status_change", object_id=str(record.pk)).latest("id")
    assert (event.from_state, event.to_state) == (PlatformStatus.NORMAL, status)
    assert platform_sources(entity).count() == 1


def test_without_a_file_the_platform_values_file_the_invoice(entity, channel):
    (inv,) = seed(entity, 1, days=0)

    class NoFiles(FailingChannel):
        def download_files(self, number, formats=("xml",)):
            from invoicing.channels.base import ChannelRejected

            raise ChannelRejected("4004", "no file")

    result = platform.platform_download(taxpayer=entity, channel=NoFiles(channel, 0))
    assert result.created == 1
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    assert (record.number, record.data_source, record.total) == (inv.number, "platform", inv.total_with_tax)
    assert record.platform_status == PlatformStatus.NORMAL


def test_a_run_in_progress_is_not_started_twice(entity, channel):
    sync = platform.platform_sync_start(taxpayer=entity, actor=None)
    assert sync is not None
    assert platform.platform_download(taxpayer=entity, channel=channel).skipped


def test_the_query_count_per_page_does_not_grow_with_known_invoices(entity, channel, django_assert_max_num_queries):
    seed(entity, 6)
    platform.platform_download(taxpayer=entity, channel=channel)
    few = platform.platform_download(taxpayer=entity, channel=channel)
    assert few.known == 6
    seed(entity, 12, prefix="more")
    platform.platform_download(taxpayer=entity, channel=channel)
    # a run over 18 known invoices (one page) costs the same fixed number of queries as one over 6, plus one status
    # comparison per invoice that the page's queries already answer
    with django_assert_max_num_queries(60 + 18 * 2):
        assert platform.platform_download(taxpayer=entity, channel=channel).known == 18


def test_the_daily_task_downloads_for_every_entity_on_a_listing_channel(entity, yuntu):
    from receiving.tasks import platform_download_all_task

    connect(yuntu)
    seed(entity, 2)
    sandbox.received_seed(buyer_credit_code=yuntu.credit_code, buyer_name=yuntu.name, count=3, days=2, prefix="y")
    platform_download_all_task()  # queues one task per entity (run at once here)
    assert ReceivedInvoice.objects.filter(taxpayer=entity).count() == 2
    assert ReceivedInvoice.objects.filter(taxpayer=yuntu).count() == 3
    assert set(PlatformSync.objects.values_list("last_ok", flat=True)) == {True}


def test_every_change_of_the_watermark_and_each_run_leave_an_event(entity, channel):
    seed(entity, 3, days=3)
    platform.platform_download(taxpayer=entity, channel=channel)
    sync = PlatformSync.objects.get(taxpayer=entity)
    events = Event.objects.filter(object_id=str(sync.pk), content_type__model="platformsync")
    progress = events.filter(action="platform_download_progress").order_by("id")
    assert progress.exists() and progress.last().to_state == sync.synced_through.isoformat()
    assert events.filter(action="platform_download_finish", to_state="ok").count() == 1


def test_the_record_page_names_a_platform_status_change_in_words(entity, channel, admin_client):
    (inv,) = seed(entity, 1, days=3)
    platform.platform_download(taxpayer=entity, channel=channel)
    LedgerInvoice.objects.filter(pk=inv.pk).update(status=LedgerStatus.VOIDED)
    platform.platform_download(taxpayer=entity, channel=channel)
    record = ReceivedInvoice.objects.get(taxpayer=entity)
    page = admin_client.get(f"/admin/receiving/receivedinvoice/{record.pk}/change/").content.decode()
    trail = page[page.index("平台发票状态变更"):]
    assert "正常 → 作废" in trail[:200]
    assert "→ voided" not in page and "normal →" not in page
